//! Opening the files a user names, safely: only regular files are read (a
//! FIFO would block forever, a device could be endless), and whole-file
//! reads are bounded, so no input can hang wmap or take unbounded memory.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// What a non-regular file is, for messages.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file (following links).
/// The open itself never blocks: a FIFO is opened non-blocking, seen for
/// what it is, and refused.
pub fn open_regular(path: &Path) -> Result<File> {
    // Refused before opening where possible: opening a device can have
    // effects of its own (a tape rewinds, a serial line raises its signals).
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_a_file(path, &meta));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    // And checked again on what was opened: the name may have been replaced.
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_a_file(path, &meta));
    }
    // Regular files ignore O_NONBLOCK; clear it anyway so that nothing
    // downstream sees EAGAIN.
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor this function owns.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

fn not_a_file(path: &Path, meta: &std::fs::Metadata) -> Error {
    Error::io(
        path,
        std::io::Error::other(format!(
            "is {}, not a file; wmap reads only regular files",
            kind_of(meta)
        )),
    )
}

/// Reads the whole of a regular file of at most `limit` bytes; `what` names
/// it in the refusal ("an index", "a config").
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > limit {
        return Err(Error::io(
            path,
            std::io::Error::other(format!(
                "is {len} bytes; wmap reads {what} of at most {limit} bytes"
            )),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: the file may grow while it is read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::io(
            path,
            std::io::Error::other(format!(
                "grew past {limit} bytes while being read; wmap reads {what} of at most {limit} bytes"
            )),
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String> {
    String::from_utf8(read_bounded(path, limit, what)?).map_err(|_| {
        Error::io(
            path,
            std::io::Error::other(format!("{what} must be UTF-8 text")),
        )
    })
}

/// The largest mapping file (or module it uses) wmap reads: real ones are
/// kilobytes; parsing and reporting take memory in proportion.
pub const MAX_MAPPING: u64 = 16 << 20;
/// The largest config file.
pub const MAX_CONFIG: u64 = 64 << 20;
/// The largest `*.safetensors.index.json` (a 100,000-tensor index is ~10 MB).
pub const MAX_INDEX: u64 = 100 << 20;

/// Checks that `-o PATH` may be written: never one of `inputs` (by name or
/// as a link to it), never a folder, link-less special file or device, and
/// an existing file only with `force`.
pub fn vet_output(path: &Path, force: bool, inputs: &[(&Path, &str)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |problem: crate::error::Refusal| Error::Destination {
        path: path.to_path_buf(),
        problem,
    };
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // nothing there (or a dangling link, which the rename replaces)
    };
    for (input, what) in inputs {
        if let Ok(m) = std::fs::metadata(input) {
            if (m.dev(), m.ino()) == (meta.dev(), meta.ino()) {
                return Err(refuse(crate::error::Refusal::OutputIsInput {
                    what: what.to_string(),
                    shown: input.display().to_string(),
                }));
            }
        }
    }
    if !meta.is_file() {
        return Err(refuse(crate::error::Refusal::OutputNotAFile {
            kind: kind_of(&meta).to_string(),
        }));
    }
    if !force {
        return Err(refuse(crate::error::Refusal::OutputExists));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: into a new temporary file beside
/// it (a name no other run uses), flushed, then renamed over it. A link is
/// followed, so the link stays and its target is replaced; an existing
/// file's permissions are kept. On any failure (a full disk) the temporary
/// file is removed and `path` is as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let real = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => target,
            // A dangling link: write where it points.
            Err(_) => {
                let target = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
                crate::checkpoint::header::parent_dir(path).join(target)
            }
        },
        _ => path.to_path_buf(),
    };
    let mode = std::fs::metadata(&real)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    // What a killed earlier write left; then Ctrl-C waits until this one has
    // either renamed its file into place or removed it.
    let _ = crate::exec::dest::recover(&real);
    let _blocked = BlockSignals::new();
    let temp = crate::exec::dest::unique_beside(&real, "tmp");
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Some(mode) = mode {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &real)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// SIGINT, SIGTERM and SIGHUP held back (on this thread) while alive; one
/// that arrived meanwhile is delivered when it is dropped.
struct BlockSignals(libc::sigset_t);

impl BlockSignals {
    fn new() -> BlockSignals {
        // SAFETY: plain signal-mask calls on sets owned here.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            BlockSignals(old)
        }
    }
}

impl Drop for BlockSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}
