//! `wmap infer SRC TARGET -o DRAFT.wmap [--hint FROM=TO]...`: a draft
//! mapping, then a check of it against SRC and a comparison of what it
//! writes with TARGET.

use std::path::PathBuf;

use super::common::Status;
use crate::check;
use crate::checkpoint::{Checkpoint, Config};
use crate::error::Error;
use crate::infer;
use crate::loader;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkpoint the mapping reads.
    pub src: PathBuf,
    /// What it should write: a checkpoint, or a spec from `wmap spec` (.json).
    pub target: PathBuf,
    /// Where to write the draft (`-` prints it).
    #[arg(short, long, value_name = "DRAFT.wmap")]
    pub output: PathBuf,
    /// Replace an existing output file (never the source or the target).
    #[arg(long)]
    pub force: bool,
    /// Read FROM in source names as TO when comparing names (`--hint h=blocks`).
    #[arg(long = "hint", value_name = "FROM=TO")]
    pub hints: Vec<String>,
    /// The JSON file that `config.` keys read when the draft is checked.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<Status, Error> {
    let checkpoint = Checkpoint::open(&args.src)?;
    if args.output.as_os_str() != "-" {
        let target_shards = Checkpoint::open(&args.target)
            .map(|c| c.shards.iter().map(|s| s.path.clone()).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut inputs = vec![
            (args.src.as_path(), "the source"),
            (args.target.as_path(), "the target"),
        ];
        inputs.extend(
            checkpoint
                .shards
                .iter()
                .map(|s| (s.path.as_path(), "a source shard")),
        );
        inputs.extend(
            target_shards
                .iter()
                .map(|p| (p.as_path(), "a target shard")),
        );
        if let Some(config) = &args.config {
            inputs.push((config.as_path(), "the config"));
        }
        crate::fsio::vet_output(&args.output, args.force, &inputs)?;
    }
    let src = checkpoint.tensors.clone();
    let dst = crate::wanted::tensors(&args.target)?;
    let mut hints = Vec::new();
    for h in &args.hints {
        let Some((from, to)) = h.split_once('=') else {
            return Err(Error::Usage(crate::error::Usage::Hint(h.clone())));
        };
        hints.push((from.to_string(), to.to_string()));
    }
    let title = vec![
        format!(
            "Draft by `wmap infer` from {} to {}: review before use.",
            args.src.display(),
            args.target.display()
        ),
        "Pairs were made by layer indices, shapes (direct or transposed) and names.".into(),
    ];
    let config = Config::discover(&checkpoint.dir, args.config.as_deref())?;
    // A target checkpoint's config (a spec has none), for a drafted `write`.
    let target_config = match Checkpoint::open(&args.target) {
        Ok(target) => Config::discover(&target.dir, None).ok(),
        Err(_) => None,
    };
    let configs = target_config.as_ref().map(|t| (&config, t));
    let draft = infer::infer(&src, &dst, &hints, configs, &title);

    if args.output.as_os_str() == "-" {
        print!("{}", draft.text);
    } else {
        crate::fsio::write_atomic(&args.output, draft.text.as_bytes())?;
    }

    // How far the draft is from done.
    let loaded = loader::load_text(&args.output.display().to_string(), &draft.text);
    let checked = check::check(&loaded, &checkpoint.tensors, &config);
    eprintln!(
        "draft: {} rules; {} source and {} target patterns left as comments",
        draft.rules, draft.unresolved_sources, draft.unresolved_targets
    );
    if draft.made > 0 {
        eprintln!(
            "draft: {} target bias pattern{} no source holds, made as zeros",
            draft.made,
            if draft.made == 1 { "" } else { "s" }
        );
    }
    if draft.wrote_config {
        eprintln!("draft: writes the target's config, keys the source shares read from its config");
    }
    if draft.guesses > 0 {
        eprintln!(
            "draft: {} pairing{} decided by a tie, marked `# guess:` with the alternatives; review {}",
            draft.guesses,
            if draft.guesses == 1 { " was" } else { "s were" },
            if draft.guesses == 1 { "it" } else { "them" }
        );
    }
    let plan = match checked {
        Ok(plan) => plan,
        Err(problems) => {
            let n = problems.len();
            eprintln!(
                "check: {n} problem{} against {} (run `wmap check` on the draft to see {})",
                if n == 1 { "" } else { "s" },
                args.src.display(),
                if n == 1 { "it" } else { "them" }
            );
            return Ok(Status::Problems);
        }
    };
    let fit = plan.fit(&dst);
    let (missing, extra) = (fit.missing.len(), fit.extra.len());
    let wanted = &dst;
    if missing == 0 && extra == 0 {
        eprintln!(
            "check: clean; writes exactly the {} tensors of {}",
            wanted.len(),
            args.target.display()
        );
        // Clean but guessed: the shapes fit, the names did not decide.
        Ok(if draft.guesses == 0 {
            Status::Ok
        } else {
            Status::Problems
        })
    } else {
        eprintln!(
            "check: clean, but {missing} of {}'s tensors are not written as it has them, and {extra} written tensors are not in it",
            args.target.display()
        );
        Ok(Status::Problems)
    }
}
