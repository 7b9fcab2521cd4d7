//! `wmap inspect SRC [--json]`: a checkpoint's tensors collapsed into patterns.

use std::fmt::Write;

use super::common::{human_bytes, Status};
use crate::checkpoint::Checkpoint;
use crate::diagnostics::ShapeText;
use crate::error::Error;
use crate::inspect::{human_count, Summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkpoint: a .safetensors file, or a folder holding
    /// model.safetensors or a sharded checkpoint with its index.
    pub src: std::path::PathBuf,
    /// Print the summary as JSON (schema: docs/inspect-json.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> Result<Status, Error> {
    let checkpoint = Checkpoint::open(&args.src)?;
    let summary = Summary::of(&checkpoint);
    if args.json {
        let text = serde_json::to_string_pretty(&summary.to_json())
            .map_err(|e| Error::Failed(crate::error::Failure::Json(e.to_string())))?;
        println!("{text}");
    } else {
        print!("{}", render(&summary));
    }
    Ok(Status::Ok)
}

/// The text report: one line per pattern, columns aligned, then totals.
pub fn render(s: &Summary) -> String {
    let rows: Vec<[String; 4]> = s
        .groups
        .iter()
        .map(|g| {
            [
                g.pattern.clone(),
                ShapeText(g.shape.clone()).to_string(),
                g.dtype.to_string(),
                if g.count > 1 {
                    format!("x{}", g.count)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let width = |k: usize| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    for r in &rows {
        let line = format!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let files = match s.files.len() {
        1 => s.files[0].clone(),
        n => format!("{n} shards"),
    };
    let dtypes: Vec<String> = s
        .dtypes
        .iter()
        .map(|(d, (n, _))| format!("{d} x{n}"))
        .collect();
    let _ = writeln!(
        out,
        "{} tensors in {} patterns ({}), {} parameters, {} ({files})",
        s.tensors,
        s.groups.len(),
        dtypes.join(", "),
        human_count(s.parameters),
        human_bytes(s.bytes),
    );
    if !s.metadata.is_empty() {
        let meta: Vec<String> = s.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "metadata: {}", meta.join(", "));
    }
    out
}
