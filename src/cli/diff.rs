//! `wmap diff A B [--rules RULES]`: compare two checkpoints tensor by tensor,
//! directly or through a mapping applied to A.

use std::path::PathBuf;

use super::common::{Inputs, Status};
use super::SourceArgs;
use crate::checkpoint::Checkpoint;
use crate::compare::{compare, Comparison};
use crate::error::Error;
use crate::exec::{self, Control, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The first checkpoint (with --rules, the source the mapping is applied to).
    pub a: PathBuf,
    /// The second checkpoint.
    pub b: PathBuf,
    /// Apply this mapping to A first, and compare its output with B.
    #[arg(long, value_name = "RULES")]
    pub rules: Option<PathBuf>,
    /// The config file for the mapping (default: config.json beside A).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The largest absolute difference that counts as equal.
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    pub tolerance: f64,
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    if args.tolerance.is_nan() || args.tolerance < 0.0 {
        return Err(Error::Usage(crate::error::Usage::Tolerance(args.tolerance)));
    }
    let b = Checkpoint::open(&args.b)?;
    let Some(rules) = &args.rules else {
        let a = Checkpoint::open(&args.a)?;
        return Ok(print(&compare(&a, &b, args.tolerance, &[], None)?));
    };
    // Convert A into a temporary file, then compare that with B.
    let inputs = Inputs::load(&SourceArgs {
        rules: rules.clone(),
        src: args.a.clone(),
        config: args.config.clone(),
        set: Vec::new(),
        target: None,
    })?;
    let checked = inputs.check();
    inputs.report(&checked, color);
    let plan = match checked {
        Ok(plan) => plan,
        Err(problems) => {
            super::common::say_problems(problems.len(), rules, "nothing compared");
            return Ok(Status::Problems);
        }
    };
    // Ctrl-C or SIGTERM ends the conversion cleanly, so the temporary
    // folder is removed on the way out instead of left in the temp folder.
    let control = Control::default();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, control.cancel.clone())
            .map_err(|e| Error::Failed(crate::error::Failure::Signals(e.to_string())))?;
    }
    let temp = TempDir::new()?;
    let out = temp.0.join("mapped.safetensors");
    exec::run(
        &plan,
        &inputs.checkpoint,
        &args.a,
        &out,
        &Options::default(),
        &control,
    )?;
    if control.cancel.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let mapped = Checkpoint::open(&out)?;
    let comparison = compare(
        &mapped,
        &b,
        args.tolerance,
        std::slice::from_ref(&out),
        Some(&temp.0),
    )?;
    Ok(print(&comparison))
}

/// A private temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, Error> {
        let base = std::env::temp_dir();
        // Folders of earlier diffs that were killed (SIGKILL leaves them).
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let pid = name
                    .strip_prefix("wmap-diff-")
                    .and_then(|rest| rest.split_once('-'))
                    .filter(|(_, k)| k.parse::<u32>().is_ok())
                    .and_then(|(pid, _)| pid.parse::<i32>().ok());
                if let Some(pid) = pid {
                    if pid != std::process::id() as i32 && !exec::dest::alive(pid) {
                        let _ = exec::dest::remove_any(&entry.path());
                    }
                }
            }
        }
        for k in 0..1000u32 {
            let p = base.join(format!("wmap-diff-{}-{k}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        Err(Error::Failed(crate::error::Failure::TempDir {
            base: base.display().to_string(),
        }))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints a comparison: one line per tensor that is not bit-identical,
/// the names only one side has, and a summary.
fn print(c: &Comparison) -> Status {
    use crate::compare::Difference;
    let tolerance = c.tolerance;
    for (name, d) in &c.tensors {
        match d {
            Difference::Identical => {}
            Difference::Shape(a, b) => println!("{name}: shape {a:?} vs {b:?}"),
            Difference::Dtype(a, b, d) => println!("{name}: dtype {a} vs {b}, max |diff| {d:.3e}"),
            Difference::Within(d) => {
                println!("{name}: max |diff| {d:.3e} (within {tolerance:.0e})")
            }
            Difference::Beyond(d) => println!("{name}: max |diff| {d:.3e}"),
        }
    }
    for n in &c.only_a {
        println!("{n}: only in A");
    }
    for n in &c.only_b {
        println!("{n}: only in B");
    }
    let (identical, within, differ, mismatched) = c.counts();
    let equal = c.equal();
    println!(
        "{}: {} tensors in both: {identical} bit-identical, {within} within tolerance, {differ} differ, {mismatched} of another shape or dtype; {} only in A, {} only in B",
        if equal { "equal" } else { "different" },
        c.tensors.len(),
        c.only_a.len(),
        c.only_b.len(),
    );
    if equal {
        Status::Ok
    } else {
        Status::Problems
    }
}
