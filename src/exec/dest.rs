//! What a run may write over, and the names it writes under.
//!
//! The rule: wmap removes or replaces nothing it did not write. A destination
//! that does not exist is written; one that exists is replaced only with
//! `--force`, and only when it is recognisably a previous wmap output (a
//! safetensors file whose header carries `wmap_mapping_sha256`, or a folder
//! holding nothing but such files, their index and the config and tokenizer
//! files a run copies) or an empty folder. A destination that is, holds or
//! lies inside one of the run's inputs (the source, the mapping, a file it
//! uses, the config, the verification reference) is refused, with or without
//! `--force`, and so is a link, a device, a FIFO or a socket. All of this is
//! decided before a byte of tensor data is read.
//!
//! Temporary names carry the process id and a per-process counter
//! (`.NAME.wmap-tmp-PID-N`), so two runs never share one, and a run first
//! clears what a killed earlier run left beside its destination: an
//! unfinished output is removed, and a previous output that was moved aside
//! (`.NAME.wmap-old-PID-N`) is put back if nothing replaced it.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Refusal, Result};

/// The metadata key every wmap output carries in its safetensors header.
pub const MARKER: &str = "wmap_mapping_sha256";

/// An input of the run that the destination must not touch.
#[derive(Debug, Clone)]
pub struct Protected {
    pub path: PathBuf,
    /// What it is, for the message: "the source", "the mapping"...
    pub what: String,
}

impl Protected {
    pub fn new(path: impl Into<PathBuf>, what: impl Into<String>) -> Protected {
        Protected {
            path: path.into(),
            what: what.into(),
        }
    }
}

fn refuse(dst: &Path, problem: Refusal) -> Error {
    Error::Destination {
        path: dst.to_path_buf(),
        problem,
    }
}

/// Where `dst` resolves to: its parent resolved through links, joined with
/// its own name (which is not followed).
fn resolve(dst: &Path) -> Result<(PathBuf, PathBuf)> {
    let parent = crate::checkpoint::header::parent_dir(dst);
    let Some(name) = dst.file_name() else {
        return Err(refuse(dst, Refusal::NoName));
    };
    let meta = fs::metadata(&parent).map_err(|_| refuse(dst, Refusal::NoParent))?;
    if !meta.is_dir() {
        return Err(refuse(dst, Refusal::NoParent));
    }
    let canon_parent = fs::canonicalize(&parent).map_err(|e| Error::io(&parent, e))?;
    Ok((canon_parent.clone(), canon_parent.join(name)))
}

/// Decides whether `dst` may be written (and, with `force`, replaced),
/// given the run's inputs. Reads at most the headers of files already at
/// `dst`; writes nothing.
pub fn vet(dst: &Path, protected: &[Protected], force: bool) -> Result<()> {
    let (_, canon_dst) = resolve(dst)?;
    // Inputs that exist, resolved, with their identities (a hard link to an
    // input is the input).
    // (resolved path, the input, its (device, inode), whether a folder)
    type Input<'a> = (PathBuf, &'a Protected, Option<(u64, u64)>, bool);
    let mut inputs: Vec<Input> = Vec::new();
    for p in protected {
        if let Ok(canon) = fs::canonicalize(&p.path) {
            let meta = fs::metadata(&canon).ok();
            let id = meta.as_ref().map(|m| (m.dev(), m.ino()));
            let is_dir = meta.is_some_and(|m| m.is_dir());
            inputs.push((canon, p, id, is_dir));
        }
    }
    for (canon, p, _, is_dir) in &inputs {
        let (what, shown) = (p.what.clone(), p.path.display().to_string());
        if *canon == canon_dst {
            return Err(refuse(dst, Refusal::IsInput { what, shown }));
        }
        if canon.starts_with(&canon_dst) {
            return Err(refuse(dst, Refusal::HoldsInput { what, shown }));
        }
        if *is_dir && canon_dst.starts_with(canon) {
            return Err(refuse(dst, Refusal::InsideInput { what, shown }));
        }
    }
    let meta = match fs::symlink_metadata(&canon_dst) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dst, e)),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refuse(dst, Refusal::Link));
    }
    if let Some(what) = special_kind(&kind) {
        return Err(refuse(
            dst,
            Refusal::Special {
                kind: what.to_string(),
            },
        ));
    }
    if !force {
        return Err(refuse(dst, Refusal::Exists));
    }
    let same_as_input = |m: &fs::Metadata| {
        inputs
            .iter()
            .find(|(_, _, id, _)| *id == Some((m.dev(), m.ino())))
            .map(|(_, p, _, _)| p)
    };
    if let Some(p) = same_as_input(&meta) {
        return Err(refuse(
            dst,
            Refusal::InputByAnotherName {
                what: p.what.clone(),
                shown: p.path.display().to_string(),
            },
        ));
    }
    if kind.is_file() {
        return if is_wmap_output(&canon_dst) {
            Ok(())
        } else {
            Err(refuse(dst, Refusal::NotWmapOutput))
        };
    }
    // A folder: empty, or a previous output and nothing else.
    let entries = fs::read_dir(&canon_dst).map_err(|e| Error::io(dst, e))?;
    let mut foreign = Vec::new();
    let mut outputs = 0usize;
    let mut count = 0usize;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dst, e))?;
        count += 1;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        let Ok(m) = fs::symlink_metadata(&path) else {
            foreign.push(name);
            continue;
        };
        if let Some(p) = same_as_input(&m) {
            return Err(refuse(
                dst,
                Refusal::HoldsInputByAnotherName {
                    name,
                    what: p.what.clone(),
                    shown: p.path.display().to_string(),
                },
            ));
        }
        if !m.file_type().is_file() {
            foreign.push(name);
        } else if name.ends_with(".safetensors") && is_wmap_output(&path) {
            outputs += 1;
        } else if name == "model.safetensors.index.json" || super::is_extra(&name) {
            // Written by a run beside its shards.
        } else {
            foreign.push(name);
        }
    }
    if count == 0 {
        return Ok(());
    }
    if !foreign.is_empty() {
        let more = foreign.len().saturating_sub(5);
        foreign.truncate(5);
        return Err(refuse(
            dst,
            Refusal::HoldsForeign {
                names: foreign,
                more,
            },
        ));
    }
    if outputs == 0 {
        return Err(refuse(dst, Refusal::HoldsNoOutput));
    }
    Ok(())
}

fn special_kind(kind: &fs::FileType) -> Option<&'static str> {
    if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Whether `path` is a safetensors file written by wmap: its header parses
/// and its `__metadata__` carries [`MARKER`]. Reads the header only.
pub fn is_wmap_output(path: &Path) -> bool {
    fn read(path: &Path) -> Option<bool> {
        let mut file = File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut len = [0u8; 8];
        file.read_exact(&mut len).ok()?;
        let n = u64::from_le_bytes(len);
        if n > crate::checkpoint::header::MAX_HEADER_LEN {
            return None;
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).ok()?;
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "__metadata__")]
            metadata: Option<std::collections::BTreeMap<String, String>>,
        }
        let head: Head = serde_json::from_slice(&header).ok()?;
        Some(head.metadata?.contains_key(MARKER))
    }
    read(path).unwrap_or(false)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name beside `dst` that no other run uses: `.NAME.wmap-KIND-PID-N`.
pub fn unique_beside(dst: &Path, kind: &str) -> PathBuf {
    let parent = crate::checkpoint::header::parent_dir(dst);
    let base = dst
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent.join(format!(".{base}.wmap-{kind}-{}-{n}", std::process::id()))
}

/// The process id in a name made by [`unique_beside`] for `base` and `kind`.
fn leftover_pid(name: &str, base: &str, kind: &str) -> Option<i32> {
    let rest = name.strip_prefix(&format!(".{base}.wmap-{kind}-"))?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this id exists (or may: unknown counts as alive).
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only asks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Clears what killed earlier runs left beside `dst`: their unfinished
/// outputs are removed; a previous output they had moved aside is put back
/// where nothing took its place, and removed where their new output did.
/// Names of runs still alive are left alone. Returns what it did, one line
/// per entry, for the caller to print.
pub fn recover(dst: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let parent = crate::checkpoint::header::parent_dir(dst);
    let Some(base) = dst.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return done;
    };
    let Ok(entries) = fs::read_dir(&parent) else {
        return done;
    };
    let me = std::process::id() as i32;
    let mut tmps = Vec::new();
    let mut olds = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(pid) = leftover_pid(&name, &base, "tmp") {
            if pid != me && !alive(pid) {
                tmps.push(entry.path());
            }
        } else if let Some(pid) = leftover_pid(&name, &base, "old") {
            if pid != me && !alive(pid) {
                olds.push(entry.path());
            }
        }
    }
    for path in tmps {
        if remove_any(&path).is_ok() {
            done.push(format!(
                "removed {}, left by an interrupted run",
                path.display()
            ));
        }
    }
    for path in olds {
        let dst_exists = fs::symlink_metadata(dst).is_ok();
        if !dst_exists {
            if rename_new(&path, dst).is_ok() {
                done.push(format!(
                    "restored {} from {}, which an interrupted run had moved aside",
                    dst.display(),
                    path.display()
                ));
            }
        } else if remove_any(&path).is_ok() {
            done.push(format!(
                "removed {}, a previous output an interrupted run had already replaced",
                path.display()
            ));
        }
    }
    done
}

/// Renames `from` to `to` only if nothing is at `to` (where the file system
/// can say so atomically; elsewhere after a check).
pub fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(from.as_os_str().as_bytes())?;
        let b = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: two NUL-terminated paths that live across the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

/// Removes a file, or a folder with what it holds (links are removed, not
/// followed).
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names_are_recognised_only_in_full() {
        assert_eq!(leftover_pid(".out.wmap-tmp-123-4", "out", "tmp"), Some(123));
        assert_eq!(leftover_pid(".out.wmap-tmp-123", "out", "tmp"), None);
        assert_eq!(leftover_pid(".out.wmap-tmp-123-x", "out", "tmp"), None);
        assert_eq!(leftover_pid(".out2.wmap-tmp-123-4", "out", "tmp"), None);
        assert_eq!(leftover_pid(".out.wmap-old-123-4", "out", "tmp"), None);
    }
}
