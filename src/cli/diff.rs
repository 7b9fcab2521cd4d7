//! `wmap diff A B [--rules RULES]`: compare two checkpoints tensor by tensor,
//! directly or through a mapping applied to A.

use std::collections::BTreeMap;
use std::path::PathBuf;

use memmap2::Mmap;

use super::common::{Inputs, Status};
use super::SourceArgs;
use crate::checkpoint::{Checkpoint, TensorInfo};
use crate::dtype::DType;
use crate::error::Error;
use crate::exec::convert::{decode, Value};
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
        return Err(Error::Usage(format!(
            "--tolerance {} must be a non-negative number",
            args.tolerance
        )));
    }
    let b = Checkpoint::open(&args.b)?;
    let Some(rules) = &args.rules else {
        let a = Checkpoint::open(&args.a)?;
        return compare(&a, &b, args.tolerance, &[], None);
    };
    // Convert A into a temporary file, then compare that with B.
    let inputs = Inputs::load(&SourceArgs {
        rules: rules.clone(),
        src: args.a.clone(),
        config: args.config.clone(),
        set: Vec::new(),
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
            .map_err(|e| Error::Failed(format!("cannot install signal handler: {e}")))?;
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
    compare(
        &mapped,
        &b,
        args.tolerance,
        std::slice::from_ref(&out),
        Some(&temp.0),
    )
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
        Err(Error::Failed(format!(
            "cannot create a temporary folder in {}",
            base.display()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn map_all(c: &Checkpoint) -> Result<Vec<Mmap>, Error> {
    Ok(c.map_shards()?.into_iter().map(|(_, map)| map).collect())
}

fn data<'a>(maps: &'a [Mmap], t: &TensorInfo) -> &'a [u8] {
    &maps[t.shard][t.offset as usize..(t.offset + t.nbytes) as usize]
}

/// The largest absolute difference between two tensors with the same number
/// of elements, element by element (no widened copies, however large they
/// are): exact for two integer elements, otherwise as f64 (NaN where one side
/// is NaN and the other is not).
fn max_abs_diff(da: DType, a: &[u8], db: DType, b: &[u8]) -> f64 {
    let mut max = 0f64;
    for (x, y) in a.chunks_exact(da.size()).zip(b.chunks_exact(db.size())) {
        let d = match (decode(da, x), decode(db, y)) {
            (Value::I(x), Value::I(y)) => x.abs_diff(y) as f64,
            (x, y) => {
                let (x, y) = (x.to_f64(), y.to_f64());
                if x == y || x.is_nan() && y.is_nan() {
                    continue;
                }
                (x - y).abs()
            }
        };
        if d.is_nan() {
            return f64::NAN;
        }
        max = max.max(d);
    }
    max
}

/// Compares `a` with `b`; a SIGBUS from a file truncated meanwhile removes
/// `cleanup` and `folder` (a temporary conversion) and exits 2.
fn compare(
    a: &Checkpoint,
    b: &Checkpoint,
    tolerance: f64,
    cleanup: &[PathBuf],
    folder: Option<&std::path::Path>,
) -> Result<Status, Error> {
    let (ma, mb) = (map_all(a)?, map_all(b)?);
    let sources: Vec<PathBuf> = a
        .shards
        .iter()
        .chain(&b.shards)
        .map(|s| s.path.clone())
        .collect();
    let _armed = exec::guard::Armed::new(&sources, cleanup, folder);
    let bmap: BTreeMap<&str, &TensorInfo> =
        b.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let amap: BTreeMap<&str, &TensorInfo> =
        a.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let only_a: Vec<&str> = amap
        .keys()
        .filter(|n| !bmap.contains_key(*n))
        .copied()
        .collect();
    let only_b: Vec<&str> = bmap
        .keys()
        .filter(|n| !amap.contains_key(*n))
        .copied()
        .collect();
    let (mut identical, mut within, mut differ, mut mismatched) = (0, 0, 0, 0);
    for (name, ta) in &amap {
        let Some(tb) = bmap.get(name) else { continue };
        if ta.shape != tb.shape {
            println!("{name}: shape {:?} vs {:?}", ta.shape, tb.shape);
            mismatched += 1;
            continue;
        }
        let (xa, xb) = (data(&ma, ta), data(&mb, tb));
        if ta.dtype == tb.dtype && xa == xb {
            identical += 1;
            continue;
        }
        let d = max_abs_diff(ta.dtype, xa, tb.dtype, xb);
        if ta.dtype != tb.dtype {
            // Values may agree, but a loader expecting one dtype gets another.
            println!(
                "{name}: dtype {} vs {}, max |diff| {d:.3e}",
                ta.dtype, tb.dtype
            );
            mismatched += 1;
        } else if d <= tolerance {
            within += 1;
            println!("{name}: max |diff| {d:.3e} (within {tolerance:.0e})");
        } else {
            differ += 1;
            println!("{name}: max |diff| {d:.3e}");
        }
    }
    for n in &only_a {
        println!("{n}: only in A");
    }
    for n in &only_b {
        println!("{n}: only in B");
    }
    let equal = differ == 0 && mismatched == 0 && only_a.is_empty() && only_b.is_empty();
    println!(
        "{}: {} tensors in both: {identical} bit-identical, {within} within tolerance, {differ} differ, {mismatched} of another shape or dtype; {} only in A, {} only in B",
        if equal { "equal" } else { "different" },
        identical + within + differ + mismatched,
        only_a.len(),
        only_b.len(),
    );
    Ok(if equal { Status::Ok } else { Status::Problems })
}
