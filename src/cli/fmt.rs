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
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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
        // half a mapping behind.
        let temp = path.with_extension("wmap.fmt-tmp");
        std::fs::write(&temp, &formatted).map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| Error::io(path, e))?;
        println!("formatted {}", path.display());
    }
    Ok(status)
}
