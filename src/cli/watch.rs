//! `wmap watch RULES SRC [DST] [--verify REF]`: check again whenever the
//! mapping or a file it `use`s changes; with DST, convert after a clean check.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher};

use super::common::{print_error, Inputs, Status};
use super::SourceArgs;
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Convert into DST after every clean check. An existing DST is refused;
    /// what this watch wrote there itself is replaced.
    pub dst: Option<PathBuf>,
    /// After converting, verify the output against this reference (needs DST).
    #[arg(long, value_name = "REF.safetensors")]
    pub verify: Option<PathBuf>,
    #[command(flatten)]
    pub verify_options: super::verify::VerifyOptions,
}

/// How long the files must be quiet before a new check: editors save in
/// several steps (write a temporary file, rename it over the original).
const DEBOUNCE: Duration = Duration::from_millis(150);

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    if args.verify.is_some() && args.dst.is_none() {
        return Err(Error::Usage(crate::error::Usage::WatchVerifyNeedsDst));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Failed(crate::error::Failure::Signals(e.to_string())))?;
    }
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx)
        .map_err(|e| Error::Failed(crate::error::Failure::Watch(e.to_string())))?;
    let mut watched_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    // The identity (device, inode) of the DST this watch wrote last: the
    // only DST it will replace.
    let mut created: Option<Identity> = None;
    let mut files = cycle(args, color, &mut created);
    loop {
        // Watch the folders of the mapping and of every file it uses, so a
        // file that is replaced, briefly missing, or newly `use`d is seen.
        let dirs: BTreeSet<PathBuf> = files.iter().map(|f| folder_of(f)).collect();
        for d in dirs.difference(&watched_dirs) {
            let _ = watcher.watch(d, RecursiveMode::NonRecursive);
        }
        for d in watched_dirs.difference(&dirs) {
            let _ = watcher.unwatch(d);
        }
        watched_dirs = dirs;
        // Only now, with every folder watched, is a change sure to be seen.
        println!("waiting for changes");
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        // Wait for a change to one of the files, then for quiet.
        let mut changed = false;
        let mut last_event = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst) {
                println!("wmap watch: stopped");
                return Ok(Status::Ok);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(event)) => {
                    // Reading the files (as every check does) is not a change.
                    let writes =
                        matches!(
                            event.kind,
                            EventKind::Create(_)
                                | EventKind::Modify(_)
                                | EventKind::Remove(_)
                                | EventKind::Any
                        ) && !matches!(event.kind, EventKind::Modify(ModifyKind::Metadata(_)));
                    if writes && event.paths.iter().any(|p| concerns(p, &files)) {
                        changed = true;
                        last_event = Instant::now();
                    }
                }
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Failed(crate::error::Failure::WatcherStopped))
                }
            }
            if changed && last_event.elapsed() >= DEBOUNCE {
                break;
            }
        }
        files = cycle(args, color, &mut created);
    }
}

/// What a file is, for telling this watch's output from anything put in its
/// place: device and inode (an inode number can be reused at once by a new
/// file, so with its change time and size too).
type Identity = (u64, u64, i64, i64, u64);

fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec(), m.size()))
}

fn folder_of(path: &Path) -> PathBuf {
    let dir = crate::checkpoint::header::parent_dir(path);
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// Whether an event's path is one of the watched files (compared by folder
/// and name, since the file itself may have been replaced).
fn concerns(path: &Path, files: &[PathBuf]) -> bool {
    files
        .iter()
        .any(|f| f.file_name() == path.file_name() && folder_of(f) == folder_of(path))
}

/// One check (and conversion); returns the files to watch: the mapping and
/// every file it uses, as far as they could be read.
fn cycle(args: &Args, color: bool, created: &mut Option<Identity>) -> Vec<PathBuf> {
    if std::io::stdout().is_terminal() {
        print!("\x1b[2J\x1b[H");
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!(
        "wmap watch: {} at {:02}:{:02}:{:02} UTC",
        args.source.rules.display(),
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    );
    let mut files = vec![args.source.rules.clone()];
    let inputs = match Inputs::load(&args.source) {
        Ok(inputs) => inputs,
        Err(e) => {
            print_error(&e, color);
            return files;
        }
    };
    files.extend(
        inputs
            .loaded
            .sources
            .files()
            .filter_map(|(_, f)| f.path.clone()),
    );
    let result = match &args.dst {
        None => super::check::check(&args.source, color, false),
        Some(dst) => {
            // Replace DST only if it is what this watch wrote; anything else
            // there (a file the user put back, another run's output) is kept.
            let now = identity(dst);
            if now.is_some() && now != *created {
                print_error(
                    &Error::Destination {
                        path: dst.clone(),
                        problem: crate::error::Refusal::NotThisWatchs,
                    },
                    color,
                );
                return files;
            }
            let result = super::run::convert(
                &super::run::Conversion {
                    source: &args.source,
                    dst,
                    max_shard_size: None,
                    extras: true,
                    force: now.is_some(),
                    quiet: true,
                    jobs: None,
                    verify: args.verify.as_deref(),
                    verify_options: &args.verify_options,
                },
                color,
            )
            .inspect(|s| {
                if *s == Status::Ok && args.verify.is_none() {
                    println!("ok: converted into {}", dst.display());
                }
            });
            // What the run wrote there (a failed verification still wrote it).
            let after = identity(dst);
            if after != now {
                *created = after;
            }
            result
        }
    };
    if let Err(e) = result {
        print_error(&e, color);
    }
    files
}
