//! `wmap invert RULES SRC -o REVERSED.wmap`: the reverse mapping, derived
//! from the plan of RULES against SRC, checked before it is written.

use std::path::PathBuf;

use super::common::{Inputs, Status, WIDTH};
use super::SourceArgs;
use crate::diagnostics::{self, Style};
use crate::error::Error;
use crate::invert::SelfCheck;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where to write the reverse mapping (`-` prints it).
    #[arg(short, long, value_name = "REVERSED.wmap")]
    pub output: PathBuf,
    /// Replace an existing output file (never the mapping or the source).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    let inputs = Inputs::load(&args.source)?;
    if args.output.as_os_str() != "-" {
        let used: Vec<PathBuf> = inputs
            .loaded
            .sources
            .files()
            .filter_map(|(_, f)| f.path.clone())
            .collect();
        let mut protected: Vec<(&std::path::Path, &str)> = vec![
            (&args.source.rules, "the mapping"),
            (&args.source.src, "the source"),
        ];
        protected.extend(
            used.iter()
                .map(|p| (p.as_path(), "a file the mapping uses")),
        );
        protected.extend(
            inputs
                .checkpoint
                .shards
                .iter()
                .map(|s| (s.path.as_path(), "a source shard")),
        );
        if let Some(config) = &args.source.config {
            protected.push((config.as_path(), "the config"));
        }
        let beside = inputs.checkpoint.dir.join("config.json");
        protected.push((beside.as_path(), "the config"));
        crate::fsio::vet_output(&args.output, args.force, &protected)?;
    }
    let rules = args.source.rules.display().to_string();
    let file_name = args
        .source
        .rules
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| rules.clone());
    let title = vec![
        format!("The reverse of {file_name}, derived by `wmap invert` from its plan against"),
        format!(
            "{} ({} tensors).",
            args.source.src.display(),
            inputs.checkpoint.tensors.len()
        ),
        format!("Source: what {file_name} writes. Target: what it reads."),
        format!("Needs from the config file: the keys {file_name} reads."),
    ];
    let inverted = crate::invert::invert(
        &inputs.loaded,
        &inputs.checkpoint.tensors,
        &inputs.config,
        &title,
    );
    let style = Style {
        color,
        width: WIDTH,
    };
    let (Some(text), Some(plan)) = (inverted.text, inverted.plan) else {
        eprint!(
            "{}",
            diagnostics::render(&inverted.diagnostics, &inputs.loaded.sources, style)
        );
        super::common::say_problems(
            inverted.diagnostics.len(),
            &args.source.rules,
            "no reverse written",
        );
        return Ok(Status::Problems);
    };

    // The reverse must check cleanly against what the mapping writes, and
    // give back exactly the names, shapes and dtypes it read.
    let out_name = args.output.display().to_string();
    match crate::invert::self_check(&text, &out_name, &plan, &inputs.config) {
        SelfCheck::Clean => {}
        SelfCheck::DoesNotCheck { loaded, problems } => {
            eprint!("{}", diagnostics::render(&problems, &loaded.sources, style));
            return Err(Error::Failed(crate::error::Failure::ReverseDoesNotCheck {
                mapping: rules,
            }));
        }
        SelfCheck::Differs(fit) => {
            let show =
                |t: &crate::checkpoint::Tensor| format!("`{}` {:?} {}", t.name, t.shape, t.dtype);
            let mut differences: Vec<String> = fit
                .missing
                .iter()
                .map(|t| format!("{} is not given back", show(t)))
                .chain(
                    fit.extra
                        .iter()
                        .map(|t| format!("{} is not a source tensor", show(t))),
                )
                .collect();
            differences.truncate(5);
            return Err(Error::Failed(crate::error::Failure::ReverseDiffers {
                mapping: rules,
                differences,
            }));
        }
    }

    if args.output.as_os_str() == "-" {
        print!("{text}");
        return Ok(Status::Ok);
    }
    crate::fsio::write_atomic(&args.output, text.as_bytes())?;
    eprintln!(
        "wrote {out_name}: reverses {} target tensors into the {} source tensors \
         (checked against their headers)",
        plan.targets.len(),
        plan.sources.len()
    );
    Ok(Status::Ok)
}
