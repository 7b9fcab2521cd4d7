//! `wmap verify --model M WEIGHTS --reference REF`: run the burn model on the
//! reference inputs and compare its outputs with transformers'.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::ValueEnum;

use super::common::Status;
use crate::error::Error;
use crate::verify::{self, Backend, Comparison, Model, ModelKind, Reference, Weights};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Gpt2,
    Bert,
    Llama,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> ModelKind {
        match m {
            ModelArg::Gpt2 => ModelKind::Gpt2,
            ModelArg::Bert => ModelKind::Bert,
            ModelArg::Llama => ModelKind::Llama,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Ndarray,
    Wgpu,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Ndarray => Backend::Ndarray,
            BackendArg::Wgpu => Backend::Wgpu,
        }
    }
}

/// Options shared by `wmap verify` and `wmap run --verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyOptions {
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Ndarray)]
    pub backend: BackendArg,
    /// The largest absolute difference from the reference that passes.
    #[arg(long, default_value_t = 1e-4, value_name = "T")]
    pub tolerance: f64,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to build.
    #[arg(long, value_enum)]
    pub model: ModelArg,
    /// Converted weights: a folder written by `wmap run` (with its config.json), or a
    /// .safetensors file (then give --config).
    pub weights: PathBuf,
    /// Inputs and expected outputs from transformers (`input_ids`, optional
    /// `attention_mask` and `token_type_ids`; `logits` or `last_hidden_state`).
    #[arg(long, value_name = "REF.safetensors")]
    pub reference: PathBuf,
    /// The model's config.json (default: the one beside the weights).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub options: VerifyOptions,
}

pub fn run(args: &Args) -> Result<Status, Error> {
    verify(
        args.model.into(),
        &args.weights,
        args.config.as_deref(),
        &args.reference,
        &args.options,
    )
}

/// Loads, runs, compares and prints; `Status::Problems` when beyond tolerance.
pub fn verify(
    kind: ModelKind,
    weights: &Path,
    config: Option<&Path>,
    reference: &Path,
    options: &VerifyOptions,
) -> Result<Status, Error> {
    if options.tolerance.is_nan() || options.tolerance < 0.0 {
        return Err(Error::Usage(crate::error::Usage::Tolerance(
            options.tolerance,
        )));
    }
    let backend: Backend = options.backend.into();
    let reference_data = Reference::load(reference)?;
    let weights = Weights::resolve(weights, config)?;
    let device = backend.device()?;
    let started = Instant::now();
    let model = Model::load(kind, &weights, &device)?;
    let loaded = started.elapsed();
    let comparisons = verify::compare(&model, &reference_data)?;
    let ran = started.elapsed() - loaded;
    let b = &reference_data.batch;
    println!(
        "verify {} ({} parameters) on {}: {} sequences of {} tokens from {}",
        kind.name(),
        crate::inspect::human_count(model.num_params() as u64),
        match backend {
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        },
        b.batch,
        b.seq,
        reference.display()
    );
    for c in &comparisons {
        println!("  {}", describe(c));
    }
    println!(
        "  load {:.2} s, forward {:.2} s",
        loaded.as_secs_f64(),
        ran.as_secs_f64()
    );
    let worst = comparisons
        .iter()
        .map(|c| c.max_abs_diff)
        .fold(0f64, |a, b| if b.is_nan() || b > a { b } else { a });
    if comparisons.iter().all(|c| c.within(options.tolerance)) {
        println!(
            "ok: max |diff| {worst:.3e} is within the tolerance {:.0e}",
            options.tolerance
        );
        Ok(Status::Ok)
    } else {
        println!(
            "FAILED: max |diff| {worst:.3e} is beyond the tolerance {:.0e}",
            options.tolerance
        );
        Ok(Status::Problems)
    }
}

fn describe(c: &Comparison) -> String {
    format!(
        "{}: max |diff| {:.3e}, mean |diff| {:.3e}, cosine {:.6}, top-1 {:.1}% ({} of {})",
        c.output,
        c.max_abs_diff,
        c.mean_abs_diff,
        c.cosine,
        c.top1 * 100.0,
        (c.top1 * c.positions as f64).round() as usize,
        c.positions
    )
}
