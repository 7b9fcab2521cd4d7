//! `wmap spec --model M --config CONFIG.json [-o SPEC.json]`: the tensors a
//! burn model expects, without loading any weights.

use std::path::PathBuf;

use serde_json::json;

use super::common::Status;
use super::verify::ModelArg;
use crate::error::Error;
use crate::verify;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model.
    #[arg(long, value_enum)]
    pub model: ModelArg,
    /// The Hugging Face config.json the model is built from.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Write the spec here instead of printing it.
    #[arg(short, long, value_name = "SPEC.json")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file (never the config).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args) -> Result<Status, Error> {
    if let Some(path) = &args.output {
        crate::fsio::vet_output(path, args.force, &[(&args.config, "the config")])?;
    }
    let kind: verify::ModelKind = args.model.into();
    let tensors = verify::spec(kind, &args.config)?;
    let value = json!({
        "model": kind.name(),
        "config": args.config.display().to_string(),
        "tensors": tensors.iter().map(|t| json!({
            "name": t.name,
            "shape": t.shape,
            "dtype": t.dtype,
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::Failed(crate::error::Failure::Json(e.to_string())))?
        + "\n";
    match &args.output {
        Some(path) => crate::fsio::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(Status::Ok)
}
