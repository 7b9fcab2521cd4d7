//! `wmap run RULES SRC DST`: check, then convert, atomically.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::common::{human_bytes, Inputs, Status};
use super::SourceArgs;
use crate::error::Error;
use crate::exec::dest::Protected;
use crate::exec::{self, Control, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Destination: a `.safetensors` file, or a folder (created) for
    /// model.safetensors or shards plus index.
    pub dst: std::path::PathBuf,
    /// Shard the output when it exceeds this size (`5GB`, `500MB`, `100KB`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_shard_size: Option<u64>,
    /// Do not copy config.json, tokenizer files etc. into a folder destination.
    #[arg(long)]
    pub no_extras: bool,
    /// Replace an existing destination, if it is a previous wmap output or an
    /// empty folder (only once the new one is complete).
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Number of threads, 1 to 1024 (default: all cores).
    #[arg(long, short, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// After converting, verify the output with `wmap verify` against this reference,
    /// building the model that the mapping's `target` declaration names.
    #[arg(long, value_name = "REF.safetensors")]
    pub verify: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub verify_options: super::verify::VerifyOptions,
}

/// The run's inputs besides the source: the mapping, every file it uses,
/// the config, the verification reference.
fn protected(args: &Conversion, inputs: &Inputs) -> Vec<Protected> {
    let mut all = vec![Protected::new(&args.source.rules, "the mapping")];
    for (_, file) in inputs.loaded.sources.files() {
        if let Some(path) = &file.path {
            all.push(Protected::new(path, "a file the mapping uses"));
        }
    }
    let config = match &args.source.config {
        Some(path) => path.clone(),
        None => inputs.checkpoint.dir.join("config.json"),
    };
    all.push(Protected::new(config, "the config"));
    if let Some(reference) = args.verify {
        all.push(Protected::new(reference, "the verification reference"));
    }
    all
}

/// The most threads `--jobs` may ask for: more only costs start-up time.
pub const MAX_JOBS: usize = 1024;

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}`: give a number of threads from 1 to {MAX_JOBS}"
        )),
    }
}

/// Parses `5GB`, `500MB`, `100KB`, `1GiB`, `123` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 5GB or 500MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB)"
            ))
        }
    };
    let bytes = value * mult;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(bytes as u64)
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    convert(
        &Conversion {
            source: &args.source,
            dst: &args.dst,
            max_shard_size: args.max_shard_size,
            extras: !args.no_extras,
            force: args.force,
            quiet: args.quiet,
            jobs: args.jobs,
            verify: args.verify.as_deref(),
            verify_options: &args.verify_options,
        },
        color,
    )
}

/// One conversion, as `wmap run` and `wmap watch` ask for it: the parsed
/// arguments, without the command line they came from.
pub struct Conversion<'a> {
    pub source: &'a SourceArgs,
    pub dst: &'a std::path::Path,
    pub max_shard_size: Option<u64>,
    /// Copy config.json, tokenizer files etc. into a folder destination.
    pub extras: bool,
    pub force: bool,
    pub quiet: bool,
    pub jobs: Option<usize>,
    pub verify: Option<&'a std::path::Path>,
    pub verify_options: &'a super::verify::VerifyOptions,
}

/// Checks, then converts (and verifies, when asked), printing as `wmap run` does.
pub fn convert(args: &Conversion, color: bool) -> Result<Status, Error> {
    let inputs = Inputs::load(args.source)?;
    // Before anything else: what the destination would replace.
    let protected = protected(args, &inputs);
    for line in crate::exec::dest::recover(args.dst) {
        eprintln!("note: {line}");
    }
    exec::check_destination(
        &inputs.checkpoint,
        &args.source.src,
        args.dst,
        args.force,
        &protected,
    )?;
    let checked = inputs.check();
    inputs.report(&checked, color);
    let plan = match checked {
        Ok(plan) => plan,
        Err(problems) => {
            super::common::say_problems(problems.len(), &args.source.rules, "nothing was written");
            return Ok(Status::Problems);
        }
    };
    // A source config of another model than the target is not copied blindly.
    let writes_config = plan.files.iter().any(|f| f.name == "config.json");
    if let (true, false, Some(target)) = (args.extras, writes_config, &plan.target_model) {
        let found = match inputs.config.lookup(&["model_type".to_string()]) {
            crate::checkpoint::config::Lookup::Found(serde_json::Value::String(s)) => {
                Some(s.clone())
            }
            _ => None,
        };
        let kind = crate::verify::ModelKind::from_name(target);
        if let (Some(found), Some(kind)) = (found, kind) {
            if !kind.model_types().contains(&found.as_str()) {
                return Err(Error::Usage(crate::error::Usage::ForeignConfig {
                    found,
                    target: target.clone(),
                }));
            }
        }
    }
    // With --verify, the model comes from the mapping's `target`; know it before converting.
    let verify_model = match &args.verify {
        None => None,
        Some(_) => {
            let name = plan.target_model.as_deref().ok_or_else(|| {
                Error::Usage(crate::error::Usage::VerifyNeedsTarget {
                    mapping: args.source.rules.display().to_string(),
                })
            })?;
            Some(crate::verify::ModelKind::from_name(name).ok_or_else(|| {
                Error::Usage(crate::error::Usage::VerifyUnknownTarget {
                    name: name.to_string(),
                })
            })?)
        }
    };
    let control = Control::default();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, control.cancel.clone())
            .map_err(|e| Error::Failed(crate::error::Failure::Signals(e.to_string())))?;
    }
    let root_text = loaded_root_text(&inputs);
    let mut options = Options {
        max_shard_size: args.max_shard_size,
        force: args.force,
        extras: args.extras,
        protected,
        ..Options::default()
    };
    let mapping_name = args
        .source
        .rules
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    options.metadata.insert("wmap_mapping".into(), mapping_name);
    options.metadata.insert(
        "wmap_mapping_sha256".into(),
        format!("{:x}", Sha256::digest(root_text.as_bytes())),
    );
    let total = plan.target_bytes();
    let progress = Progress::start(&control, total, args.quiet);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Error::Failed(crate::error::Failure::Threads(e.to_string())))?;
    let result = pool.install(|| {
        exec::run(
            &plan,
            &inputs.checkpoint,
            &args.source.src,
            args.dst,
            &options,
            &control,
        )
    });
    progress.finish();
    let report = result?;
    for (tensor, n) in &report.overflows {
        eprintln!("warning: `{tensor}`: {n} element(s) out of range in a cast, `add`, `mul` or elementwise op (became ±inf or NaN; f8_e4m3 and float-to-integer casts saturate, NaN to an integer gives 0, integer casts wrap)");
    }
    if !args.quiet {
        println!(
            "wrote {} tensors ({}) to {}",
            plan.targets.len(),
            human_bytes(report.bytes),
            args.dst.display()
        );
    }
    if let (Some(kind), Some(reference)) = (verify_model, args.verify) {
        // A folder destination holds the copied config.json; otherwise use the source's.
        let copied = args.dst.join("config.json");
        let config = if args.dst.is_dir() && copied.is_file() {
            None
        } else {
            Some(
                args.source
                    .config
                    .clone()
                    .unwrap_or_else(|| inputs.checkpoint.dir.join("config.json")),
            )
        };
        return super::verify::verify(
            kind,
            args.dst,
            config.as_deref(),
            reference,
            args.verify_options,
        );
    }
    Ok(Status::Ok)
}

fn loaded_root_text(inputs: &Inputs) -> String {
    inputs
        .loaded
        .root()
        .map(|id| inputs.loaded.sources.get(id).text.clone())
        .unwrap_or_default()
}

/// A progress bar on a terminal, shown once a run takes over a second.
struct Progress {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(control: &Control, total: u64, quiet: bool) -> Progress {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { done, thread: None };
        }
        let written = control.written.clone();
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(written.load(Ordering::Relaxed));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress {
            done,
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
