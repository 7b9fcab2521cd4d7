//! What happens when a source file shrinks under wmap's feet.
//!
//! Sources are memory-mapped. If another program truncates one while a run
//! reads it, touching a page past the new end raises SIGBUS, which would kill
//! wmap at once and leave its temporary output behind. While a run reads
//! mapped sources, [`Armed`] installs a SIGBUS handler that does only what is
//! safe in a signal handler: it writes a prepared message naming the cause,
//! removes the temporary files the run was writing (`unlink`, `rmdir`) and
//! ends the process with exit status 2.
//!
//! A source that is replaced (renamed over) or rewritten in place without
//! shrinking raises no signal; [`Snapshot`] sees it by comparing the files'
//! identity, size and modification time before and after, and the run then
//! fails without replacing the destination.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

struct Prepared {
    message: Vec<u8>,
    /// Removed in order: files first, then the folder that held them.
    paths: Vec<(CString, bool)>,
}

static PREPARED: AtomicPtr<Prepared> = AtomicPtr::new(std::ptr::null_mut());
/// Runs arm one at a time (watch and tests run several in one process).
static ONE: Mutex<()> = Mutex::new(());

extern "C" fn on_sigbus(_: libc::c_int) {
    let p = PREPARED.load(Ordering::SeqCst);
    // SAFETY: only async-signal-safe calls (write, unlink, rmdir, _exit,
    // signal, raise) on data that stays alive while armed (it is leaked).
    unsafe {
        if p.is_null() {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
            libc::raise(libc::SIGBUS);
            return;
        }
        let prepared = &*p;
        libc::write(2, prepared.message.as_ptr().cast(), prepared.message.len());
        for (path, is_dir) in &prepared.paths {
            if *is_dir {
                libc::rmdir(path.as_ptr());
            } else {
                libc::unlink(path.as_ptr());
            }
        }
        libc::_exit(2);
    }
}

/// A SIGBUS handler armed for the life of this value.
pub struct Armed {
    _one: std::sync::MutexGuard<'static, ()>,
    previous: libc::sighandler_t,
}

impl Armed {
    /// Arms the handler: on SIGBUS, print that one of `sources` shrank while
    /// being read, remove `files` and then `folder` (the run's temporary
    /// output), and exit 2.
    pub fn new(sources: &[PathBuf], files: &[PathBuf], folder: Option<&Path>) -> Armed {
        let one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let shown: Vec<String> = sources
            .iter()
            .map(|p| crate::text::printable(&p.display().to_string()).into_owned())
            .collect();
        let message = format!(
            "error: a source file was truncated while wmap read it ({}); the run stopped and nothing was written\n",
            shown.join(", ")
        )
        .into_bytes();
        let mut paths: Vec<(CString, bool)> = files
            .iter()
            .filter_map(|f| CString::new(f.as_os_str().as_bytes()).ok())
            .map(|c| (c, false))
            .collect();
        if let Some(dir) = folder {
            if let Ok(c) = CString::new(dir.as_os_str().as_bytes()) {
                paths.push((c, true));
            }
        }
        let prepared = Box::into_raw(Box::new(Prepared { message, paths }));
        let old = PREPARED.swap(prepared, Ordering::SeqCst);
        if !old.is_null() {
            // SAFETY: made by Box::into_raw above, in an earlier arming that
            // has ended (ONE is held), so no handler can be using it.
            drop(unsafe { Box::from_raw(old) });
        }
        // SAFETY: installing a handler that only makes async-signal-safe calls.
        let previous =
            unsafe { libc::signal(libc::SIGBUS, on_sigbus as *const () as libc::sighandler_t) };
        Armed {
            _one: one,
            previous,
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        // SAFETY: restoring the handler that was there before.
        unsafe {
            libc::signal(libc::SIGBUS, self.previous);
        }
        // The prepared data stays allocated until the next arming: a signal
        // being delivered right now may still read it.
        PREPARED.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Identity, size and modification time of each source file.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<Option<Stamp>>);

/// Device, inode, size, modification time (seconds, nanoseconds).
type Stamp = (u64, u64, u64, i64, i64);

impl Snapshot {
    pub fn of(paths: &[PathBuf]) -> Snapshot {
        Snapshot(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
                })
                .collect(),
        )
    }

    /// An error naming the files that differ from `self` now.
    pub fn unchanged(&self, paths: &[PathBuf]) -> Result<()> {
        let now = Snapshot::of(paths);
        let changed: Vec<String> = paths
            .iter()
            .zip(self.0.iter().zip(&now.0))
            .filter(|(_, (a, b))| a != b)
            .map(|(p, _)| crate::text::printable(&p.display().to_string()).into_owned())
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        Err(Error::Failed(crate::error::Failure::Changed(changed)))
    }
}
