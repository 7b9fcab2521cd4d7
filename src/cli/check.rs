//! `wmap check RULES SRC`: diagnostics and a one-line summary.

use super::common::{human_bytes, Inputs, Status};
use super::SourceArgs;
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    check(&args.source, color, true)
}

/// ` (2 made, 3 dropped)`, or what of it is not zero.
fn counted(made: usize, dropped: usize) -> String {
    let parts: Vec<String> = [(made, "made"), (dropped, "dropped")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Checks and reports; `exiting` says the process ends right after, so the
/// inputs need not be freed (`wmap watch` checks again and again, and frees them).
pub fn check(source: &SourceArgs, color: bool, exiting: bool) -> Result<Status, Error> {
    let inputs = Inputs::load(source)?;
    let checked = inputs.check();
    inputs.report(&checked, color);
    let n_sources = inputs.checkpoint.tensors.len();
    let status = match &checked {
        Ok(plan) => {
            println!(
                "ok: {} rules, {} source tensors -> {} target tensors{}, {}",
                plan.rules,
                n_sources,
                plan.targets.len(),
                counted(plan.made(), plan.dropped.len()),
                human_bytes(plan.target_bytes())
            );
            Status::Ok
        }
        Err(problems) => {
            super::common::say_problems(
                problems.len(),
                &source.rules,
                &format!("{} rules, {n_sources} source tensors", problems.rules),
            );
            Status::Problems
        }
    };
    // The process ends right after this; freeing tens of thousands of small
    // allocations one by one would only add to the time `wmap check` takes
    // on every keystroke of `wmap watch`.
    if exiting {
        std::mem::forget(checked);
        std::mem::forget(inputs);
    }
    Ok(status)
}
