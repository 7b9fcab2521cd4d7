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
}

pub fn run(args: &Args) -> Result<Status, Error> {
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
        .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?
        + "\n";
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| Error::io(path, e))?,
        None => print!("{text}"),
    }
    Ok(Status::Ok)
}
