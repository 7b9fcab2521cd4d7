//! `wmap fmt [--check] FILES...`: rewrite mapping files in the canonical layout.

use std::path::PathBuf;

use super::common::{Status, WIDTH};
use crate::diagnostics::{self, Style};
use crate::error::Error;
use crate::syntax::format::format;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Change nothing; list the files that are not formatted and exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// The `.wmap` files to format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &Args, color: bool) -> Result<Status, Error> {
    let mut status = Status::Ok;
    for path in &args.files {
        let text = crate::fsio::read_text(path, crate::fsio::MAX_MAPPING, "a mapping")?;
        let Some(formatted) = format(&text) else {
            // Not parseable: report it as `check` would, and leave the file alone.
            let loaded = crate::loader::load_text(&path.display().to_string(), &text);
            eprint!(
                "{}",
                diagnostics::render(
                    &loaded.diagnostics,
                    &loaded.sources,
                    Style {
                        color,
                        width: WIDTH
                    }
                )
            );
            status = Status::Problems;
            continue;
        };
        if formatted == text {
            continue;
        }
        if args.check {
            println!("{}: not formatted", path.display());
            status = Status::Problems;
            continue;
        }
        // Written beside the file and renamed over it, so a crash never leaves
        // half a mapping behind; the file keeps its mode, a link stays a link.
        crate::fsio::write_atomic(path, formatted.as_bytes())?;
        println!("formatted {}", path.display());
    }
    Ok(status)
}
