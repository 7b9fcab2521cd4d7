//! `wmap plan RULES SRC [--json]`: every target of the checked plan.

use super::common::{human_bytes, Inputs, Status};
use super::SourceArgs;
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the plan as JSON (schema: docs/plan-json.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    let inputs = Inputs::load(&args.source)?;
    let checked = inputs.check();
    inputs.report(&checked, color);
    let plan = match checked {
        Ok(plan) => plan,
        Err(problems) => {
            super::common::say_problems(problems.len(), &args.source.rules, "no plan");
            return Ok(Status::Problems);
        }
    };
    if args.json {
        let text = serde_json::to_string_pretty(&plan.to_json())
            .map_err(|e| Error::Failed(crate::error::Failure::Json(e.to_string())))?;
        println!("{text}");
        return Ok(Status::Ok);
    }
    for t in &plan.targets {
        println!(
            "{}  {}  {}  <- {}",
            t.name,
            crate::diagnostics::ShapeText(t.node.shape.clone()),
            t.node.dtype,
            t.node.describe(&plan.sources)
        );
    }
    for d in &plan.dropped {
        println!("(dropped) {d}");
    }
    println!(
        "{} target tensors, {}",
        plan.targets.len(),
        human_bytes(plan.target_bytes())
    );
    Ok(Status::Ok)
}
