//! The executor: applies a checked [`Plan`] to a checkpoint. Output headers
//! are laid out from the plan before any data is read; every output file is
//! sized up front, and tensors are evaluated in parallel and written with
//! positioned writes straight to their final offsets, each range handed to
//! the kernel's writeback as soon as it is written. Everything is written
//! under a temporary name beside the destination and renamed into place only
//! when complete and flushed.

pub(crate) mod convert;
pub(crate) mod dest;
pub(crate) mod eval;
pub(crate) mod guard;
pub(crate) mod quant;

mod transpose;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use crate::checkpoint::layout::{Layout, OutFile};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::plan::Plan;
use eval::{Notes, SourceData};

/// Options of `wmap run`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Split the output into shards of at most this many bytes of data.
    pub max_shard_size: Option<u64>,
    /// Replace an existing destination.
    pub force: bool,
    /// Copy config.json, tokenizer files etc. into a folder destination.
    pub extras: bool,
    /// `__metadata__` entries to add (mapping name and hash).
    pub metadata: BTreeMap<String, String>,
    /// Inputs besides the source that the destination must not be, hold or
    /// lie inside: the mapping, the files it uses, the config, a reference.
    pub protected: Vec<dest::Protected>,
}

/// Progress and cancellation shared with the command layer.
#[derive(Debug, Default, Clone)]
pub struct Control {
    /// Set by a signal handler; checked between tensors.
    pub cancel: Arc<AtomicBool>,
    /// Bytes of output written so far.
    pub written: Arc<AtomicU64>,
    /// Tensors written so far.
    pub tensors: Arc<AtomicU64>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Bytes of tensor data written.
    pub bytes: u64,
    /// Tensors in which a cast overflowed, with the element counts.
    pub overflows: Vec<(String, u64)>,
}

/// Fault injection, for tests of what a failed or interrupted run leaves
/// behind. Read from `WMAP_FAULT` in debug builds only (release builds ignore
/// it): `error-after:N` fails the run once N tensors are written;
/// `pause-after:N` stops once N tensors are written until the run is
/// cancelled by a signal; `sleep-after:N:MS` sleeps MS milliseconds once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Fault {
    ErrorAfter(u64),
    PauseAfter(u64),
    SleepAfter(u64, u64),
}

impl Fault {
    fn from_env() -> Option<Fault> {
        if !cfg!(debug_assertions) {
            return None;
        }
        let text = std::env::var("WMAP_FAULT").ok()?;
        let mut parts = text.split(':');
        let kind = parts.next()?;
        let n = parts.next()?.parse().ok()?;
        match kind {
            "error-after" => Some(Fault::ErrorAfter(n)),
            "pause-after" => Some(Fault::PauseAfter(n)),
            "sleep-after" => Some(Fault::SleepAfter(n, parts.next()?.parse().ok()?)),
            _ => None,
        }
    }

    /// Called after each tensor is written, with the count so far.
    fn hit(fault: Option<Fault>, done: u64, control: &Control) -> Result<()> {
        match fault {
            Some(Fault::ErrorAfter(n)) if done >= n => {
                Err(Error::Failed(crate::error::Failure::Injected { after: n }))
            }
            Some(Fault::PauseAfter(n)) if done >= n => {
                eprintln!("wmap: paused after {n} tensors (WMAP_FAULT)");
                while !control.cancel.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(())
            }
            Some(Fault::SleepAfter(n, ms)) if done == n => {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Memory-mapped source shards.
struct Sources {
    /// The shards' paths, for messages.
    paths: Vec<PathBuf>,
    mapped: crate::checkpoint::Mapped,
}

impl SourceData for Sources {
    fn bytes(&self, tensor: usize) -> &[u8] {
        self.mapped.bytes(tensor)
    }
}

fn map_sources(checkpoint: &Checkpoint) -> Result<Sources> {
    Ok(Sources {
        paths: checkpoint.shards.iter().map(|s| s.path.clone()).collect(),
        mapped: checkpoint.map()?,
    })
}

/// Removes a temporary path when dropped, unless committed.
struct TempGuard {
    path: PathBuf,
    committed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if !self.committed {
            let _ = dest::remove_any(&self.path);
        }
    }
}

/// The inputs a run must not write over: every source shard, the source as
/// given, its folder when it is one, and `extra` (the mapping, config...).
pub fn protected_inputs(
    src: &Checkpoint,
    src_path: &Path,
    extra: &[dest::Protected],
) -> Vec<dest::Protected> {
    // The source as given first: what a refusal names when it holds several.
    let mut all = vec![dest::Protected::new(src_path, "the source")];
    if src_path.is_dir() {
        all.push(dest::Protected::new(&src.dir, "the source folder"));
    }
    all.extend(
        src.shards
            .iter()
            .map(|s| dest::Protected::new(&s.path, "a source shard")),
    );
    all.extend(extra.iter().cloned());
    all
}

/// Checks that `dst` can be written (see [`dest`]): nothing that is, holds or
/// lies inside an input, and an existing destination only with `force` and
/// only when it is a previous wmap output or an empty folder.
pub fn check_destination(
    src: &Checkpoint,
    src_path: &Path,
    dst: &Path,
    force: bool,
    extra: &[dest::Protected],
) -> Result<()> {
    dest::vet(dst, &protected_inputs(src, src_path, extra), force)
}

/// Runs `plan` on `checkpoint`, writing `dst` atomically.
pub fn run(
    plan: &Plan,
    checkpoint: &Checkpoint,
    src_path: &Path,
    dst: &Path,
    options: &Options,
    control: &Control,
) -> Result<Report> {
    for line in dest::recover(dst) {
        eprintln!("note: {line}");
    }
    check_destination(checkpoint, src_path, dst, options.force, &options.protected)?;
    let single_file = dst.extension().is_some_and(|e| e == "safetensors");
    if single_file && !plan.files.is_empty() {
        return Err(Error::Usage(crate::error::Usage::FilesNeedFolder {
            files: plan.files.iter().map(|f| f.name.clone()).collect(),
        }));
    }
    let mut metadata = checkpoint.metadata();
    metadata.extend(options.metadata.clone());
    let layout = Layout::new(
        plan,
        &metadata,
        if single_file {
            None
        } else {
            options.max_shard_size
        },
    );
    for file in &layout.files {
        let len = file.header_bytes().len() as u64 - 8;
        let limit = crate::checkpoint::header::MAX_HEADER_LEN;
        if len > limit {
            return Err(Error::Failed(crate::error::Failure::HeaderTooLarge {
                dst: dst.display().to_string(),
                file: file.name.clone(),
                len,
                limit,
            }));
        }
    }
    let shard_paths: Vec<PathBuf> = checkpoint.shards.iter().map(|s| s.path.clone()).collect();
    let before = guard::Snapshot::of(&shard_paths);
    let sources = map_sources(checkpoint)?;

    let parent = crate::checkpoint::header::parent_dir(dst);
    let temp = dest::unique_beside(dst, "tmp");
    let mut guard = TempGuard {
        path: temp.clone(),
        committed: false,
    };
    // Everything this run may create under `temp`, for the SIGBUS handler.
    let planned: Vec<PathBuf> = if single_file {
        vec![temp.clone()]
    } else {
        let mut names: Vec<String> = layout.files.iter().map(|f| f.name.clone()).collect();
        names.push("model.safetensors.index.json".into());
        names.extend(plan.files.iter().map(|f| f.name.clone()));
        if options.extras {
            if let Ok(entries) = fs::read_dir(&checkpoint.dir) {
                names.extend(
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .filter(|n| is_extra(n)),
                );
            }
        }
        names.iter().map(|n| temp.join(n)).collect()
    };
    let armed = guard::Armed::new(
        &shard_paths,
        &planned,
        (!single_file).then_some(temp.as_path()),
    );
    let mut report = Report::default();
    if single_file {
        let file = &layout.files[0];
        report.overflows = write_file(plan, file, &sources, &temp, control)?;
    } else {
        fs::create_dir(&temp).map_err(|e| Error::io(&temp, e))?;
        for file in &layout.files {
            let path = temp.join(&file.name);
            report
                .overflows
                .extend(write_file(plan, file, &sources, &path, control)?);
        }
        if let Some(index) = layout.index_json() {
            let path = temp.join("model.safetensors.index.json");
            fs::write(&path, index).map_err(|e| Error::io(&path, e))?;
        }
        let written: Vec<&str> = plan.files.iter().map(|f| f.name.as_str()).collect();
        if options.extras {
            copy_extras(&checkpoint.dir, &temp, &written)?;
        }
        for file in &plan.files {
            let path = temp.join(&file.name);
            let mut text = serde_json::to_string_pretty(&file.value)
                .map_err(|e| Error::Failed(crate::error::Failure::Json(e.to_string())))?;
            text.push('\n');
            fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        sync_dir(&temp)?;
    }
    drop(armed);
    if control.cancel.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    // A source replaced or rewritten during the run: its output is not one checkpoint.
    before.unchanged(&shard_paths)?;
    // The destination may have changed while the run was writing.
    check_destination(checkpoint, src_path, dst, options.force, &options.protected)?;
    replace(&temp, dst)?;
    guard.committed = true;
    sync_dir(&parent)?;
    report.bytes = layout.files.iter().map(|f| f.data_len).sum();
    report.files = if single_file {
        vec![dst.to_path_buf()]
    } else {
        layout.files.iter().map(|f| dst.join(&f.name)).collect()
    };
    Ok(report)
}

/// Renames `temp` to `dst`; an existing `dst` (already vetted) is moved
/// aside under a name of this run's own first, and removed only after the
/// new one is in place.
fn replace(temp: &Path, dst: &Path) -> Result<()> {
    if fs::symlink_metadata(dst).is_ok() {
        let aside = dest::unique_beside(dst, "old");
        fs::rename(dst, &aside).map_err(|e| Error::io(dst, e))?;
        if let Err(e) = dest::rename_new(temp, dst) {
            let _ = dest::rename_new(&aside, dst);
            return Err(Error::io(dst, e));
        }
        let _ = dest::remove_any(&aside);
        return Ok(());
    }
    dest::rename_new(temp, dst).map_err(|e| Error::io(dst, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Bytes of computed tensors that may be held in memory at once, beyond the
/// largest single tensor (which is always allowed, so any plan can run).
const BUFFER_BUDGET: u64 = 24 << 20;

/// What the per-thread buffers that streamed transposes are written from
/// may hold together, however many threads there are; each is at most
/// [`CHUNK_MAX`] and at least [`CHUNK_MIN`]. With the budget above, memory
/// stays under the largest tensor plus 64 MiB on any number of cores.
const CHUNKS_TOTAL: usize = 24 << 20;
const CHUNK_MAX: usize = 4 << 20;
const CHUNK_MIN: usize = 256 << 10;

fn chunk_bytes(threads: usize) -> usize {
    (CHUNKS_TOTAL / threads.max(1)).clamp(CHUNK_MIN, CHUNK_MAX)
}

thread_local! {
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A counting semaphore over bytes: bounds the memory of tensors being
/// computed in parallel, however many threads there are.
struct Budget {
    free: std::sync::Mutex<u64>,
    ready: std::sync::Condvar,
}

impl Budget {
    fn new(bytes: u64) -> Budget {
        Budget {
            free: std::sync::Mutex::new(bytes),
            ready: std::sync::Condvar::new(),
        }
    }

    fn acquire(&self, bytes: u64) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < bytes {
            free = self.ready.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= bytes;
        Permit {
            budget: self,
            bytes,
        }
    }
}

struct Permit<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.budget.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += self.bytes;
        self.budget.ready.notify_all();
    }
}

/// Copies `len` bytes from `src` at `src_off` to `dst` at `dst_off` inside the
/// kernel (`copy_file_range`, as `cp` does), falling back to a positioned write
/// from the mapped source where the kernel cannot.
fn copy_range(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let len = bytes.len() as u64;
    let mut done = 0u64;
    while done < len {
        let mut off_in = (src_off + done) as libc::loff_t;
        let mut off_out = (dst_off + done) as libc::loff_t;
        let chunk = (len - done).min(1 << 30) as usize;
        // SAFETY: both descriptors are open files owned by the caller; the
        // offsets are plain integers the kernel reads and updates.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                chunk,
                0,
            )
        };
        if n > 0 {
            done += n as u64;
            continue;
        }
        if n == 0 {
            break; // the source is shorter than its header said: write what the map holds
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
            Some(libc::EXDEV)
            | Some(libc::ENOSYS)
            | Some(libc::EINVAL)
            | Some(libc::EOPNOTSUPP) => break,
            _ => return Err(err),
        }
    }
    if done < len {
        dst.write_all_at(&bytes[done as usize..], dst_off + done)?;
    }
    Ok(())
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk
/// now, without waiting for it. Without this, nothing is written back until
/// dirty pages pass the kernel's threshold (a tenth of memory by default), so
/// a checkpoint smaller than that is first copied into the page cache and
/// only then, in the final fsync, written out; with it the disk works while
/// the rest is computed, and dirty memory stays bounded for checkpoints of
/// any size. Only a hint: the final `sync_all` is what makes the file durable.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if len > 0 {
        // (A length of 0 would mean "to the end of the file".)
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on a descriptor the caller owns; it
        // neither reads nor writes our memory. Failure is harmless (the
        // fsync at the end writes whatever this did not).
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Writes one safetensors file: the header, then every tensor at its final
/// offset, in parallel. Plain copies go through `copy_file_range`; computed
/// tensors are evaluated into a buffer (their total bounded by [`Budget`]) and
/// written with one positioned write each. The output is never memory-mapped,
/// so the kernel neither zero-fills its pages nor holds them all dirty.
fn write_file(
    plan: &Plan,
    file: &OutFile,
    sources: &Sources,
    path: &Path,
    control: &Control,
) -> Result<Vec<(String, u64)>> {
    use std::os::unix::fs::FileExt;
    let fault = Fault::from_env();
    let header = file.header_bytes();
    let data_start = header.len() as u64;
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    out.set_len(data_start + file.data_len)
        .map_err(|e| Error::io(path, e))?;
    out.write_all_at(&header, 0)
        .map_err(|e| Error::io(path, e))?;
    let largest = file.tensors.iter().map(|t| t.nbytes).max().unwrap_or(0);
    let budget = Budget::new(largest + BUFFER_BUDGET);
    let chunk_bytes = chunk_bytes(rayon::current_num_threads());
    // Writes into one file serialise on its inode lock in the kernel anyway;
    // taking turns here lets a waiting thread sleep (or compute) instead of
    // spinning on that lock.
    let turn = std::sync::Mutex::new(());
    // One write of `len` bytes at `offset`, taking its turn, then handed to
    // the kernel's writeback.
    let write = |offset: u64, len: u64, op: &dyn Fn() -> std::io::Result<()>| -> Result<()> {
        let taken = turn.lock().unwrap_or_else(|e| e.into_inner());
        op().map_err(|e| {
            if e.raw_os_error() == Some(libc::EFAULT) {
                // The kernel could not read the mapped source: it shrank.
                truncated(&sources.paths)
            } else {
                Error::io(path, e)
            }
        })?;
        drop(taken);
        start_writeback(&out, offset, len);
        Ok(())
    };
    let overflows: Vec<(String, u64)> = file
        .tensors
        .par_iter()
        .map(|placed| {
            if control.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let t = &plan.targets[placed.target];
            let at = data_start + placed.offset;
            let mut notes = Notes::default();
            let streamed = if placed.nbytes > 0 {
                eval::StreamedTranspose::of(&t.node, sources)
            } else {
                None
            };
            match (&t.node.op, streamed) {
                (crate::plan::NodeOp::Source(ti), _) => {
                    let (shard, start) = sources.mapped.place(*ti);
                    write(at, placed.nbytes, &|| {
                        copy_range(
                            &sources.mapped.files[shard],
                            start,
                            &out,
                            at,
                            sources.bytes(*ti),
                        )
                    })?;
                }
                (_, Some(tr)) => {
                    // Written in chunks of output rows from a per-thread buffer:
                    // no tensor-sized allocation, and writing overlaps computing.
                    CHUNK.with(|chunk| -> Result<()> {
                        let mut chunk = chunk.borrow_mut();
                        let mut row = 0;
                        while row < tr.out_rows() {
                            let n = tr.rows_in(row, chunk_bytes);
                            let len = n * tr.row_bytes();
                            if chunk.len() < len {
                                chunk.resize(len, 0);
                            }
                            tr.fill(row, &mut chunk[..len]);
                            let offset = at + (row * tr.row_bytes()) as u64;
                            write(offset, len as u64, &|| {
                                out.write_all_at(&chunk[..len], offset)
                            })?;
                            row += n;
                        }
                        Ok(())
                    })?;
                }
                (_, None) => {
                    let _permit = budget.acquire(placed.nbytes);
                    let mut buffer = vec![0u8; placed.nbytes as usize];
                    eval::eval_into(&t.node, sources, &mut buffer, &mut notes);
                    write(at, placed.nbytes, &|| out.write_all_at(&buffer, at))?;
                }
            }
            control.written.fetch_add(placed.nbytes, Ordering::Relaxed);
            let done = control.tensors.fetch_add(1, Ordering::SeqCst) + 1;
            Fault::hit(fault, done, control)?;
            Ok((t.name.clone(), notes.overflows))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    out.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(overflows)
}

/// The error for a source that shrank while it was read.
fn truncated(paths: &[PathBuf]) -> Error {
    let shown: Vec<String> = paths
        .iter()
        .map(|p| crate::text::printable(&p.display().to_string()).into_owned())
        .collect();
    Error::Failed(crate::error::Failure::Truncated(shown))
}

/// Files beside the weights that belong with a converted checkpoint.
pub(crate) fn is_extra(name: &str) -> bool {
    if name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json") {
        return false;
    }
    matches!(
        name,
        "config.json"
            | "params.json"
            | "generation_config.json"
            | "tokenizer.json"
            | "tokenizer_config.json"
            | "tokenizer.model"
            | "special_tokens_map.json"
            | "added_tokens.json"
            | "vocab.json"
            | "vocab.txt"
            | "merges.txt"
            | "chat_template.json"
            | "chat_template.jinja"
            | "preprocessor_config.json"
    ) || name.starts_with("tokenizer")
}

/// The files that describe a model's architecture: a mapping that writes one
/// states the output's, so the source's (of its own layout) stay behind.
const MODEL_CONFIGS: [&str; 2] = ["config.json", "params.json"];

/// Copies the extra files of `src_dir`, except those the mapping writes (and
/// the source's model configs when it writes one of its own).
fn copy_extras(src_dir: &Path, dst_dir: &Path, written: &[&str]) -> Result<()> {
    let mut written = written.to_vec();
    if written.iter().any(|w| MODEL_CONFIGS.contains(w)) {
        written.extend(MODEL_CONFIGS);
    }
    let entries = fs::read_dir(src_dir).map_err(|e| Error::io(src_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(src_dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if is_extra(&name) && !written.contains(&name.as_str()) && entry.path().is_file() {
            let to = dst_dir.join(&name);
            fs::copy(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_buffers_share_a_fixed_total_over_any_number_of_threads() {
        assert_eq!(chunk_bytes(1), CHUNK_MAX);
        assert_eq!(chunk_bytes(2), CHUNK_MAX);
        assert_eq!(chunk_bytes(16), (24 << 20) / 16);
        assert_eq!(chunk_bytes(1024), CHUNK_MIN);
        for threads in [1, 6, 16, 64] {
            assert!(chunk_bytes(threads) * threads <= CHUNKS_TOTAL.max(CHUNK_MAX));
        }
    }
}
