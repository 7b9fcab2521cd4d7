//! What the subcommands share: loading inputs, printing diagnostics and errors.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::{Color, SourceArgs};
use crate::check::{self, Checked};
use crate::checkpoint::{Checkpoint, Config};
use crate::diagnostics::{self, Style};
use crate::error::Error;
use crate::loader::{self, Loaded};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success: exit 0.
    Ok,
    /// The mapping (or a verification) has problems: exit 1.
    Problems,
    /// Usage or I/O error: exit 2.
    Error,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(match s {
            Status::Ok => 0,
            Status::Problems => 1,
            Status::Error => 2,
        })
    }
}

pub fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
    }
}

/// Width of rendered diagnostics.
pub const WIDTH: usize = 100;

pub fn print_error(error: &Error, color: bool) {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(WIDTH);
    // The message may hold names and paths from strangers: control characters
    // are shown escaped, never sent to the terminal.
    let code = miette::Diagnostic::code(error).map(|c| c.to_string());
    let mut shown = miette::MietteDiagnostic::new(
        crate::text::printable_lines(&error.to_string()).into_owned(),
    );
    if let Some(code) = code {
        shown = shown.with_code(code);
    }
    let mut out = String::new();
    if handler.render_report(&mut out, &shown).is_err() {
        out = format!(
            "error: {}\n",
            crate::text::printable_lines(&error.to_string())
        );
    }
    eprint!("{out}");
}

/// Everything checking needs, read from disk.
pub struct Inputs {
    pub loaded: Loaded,
    pub checkpoint: Checkpoint,
    pub config: Config,
    /// `--target PATH`: its name, and the tensors wanted (with dtypes for a
    /// checkpoint, without for a spec).
    pub wanted: Option<(String, Vec<check::Wanted>)>,
}

impl Inputs {
    pub fn load(args: &SourceArgs) -> Result<Inputs, Error> {
        let loaded = loader::load(&args.rules)?;
        let checkpoint = Checkpoint::open(&args.src)?;
        let mut config = Config::discover(&checkpoint.dir, args.config.as_deref())?;
        for assignment in &args.set {
            config.set(assignment)?;
        }
        let wanted = match &args.target {
            None => None,
            Some(path) => Some((path.display().to_string(), crate::wanted::load(path)?)),
        };
        Ok(Inputs {
            loaded,
            checkpoint,
            config,
            wanted,
        })
    }

    pub fn check(&self) -> Checked {
        let checked = check::check(&self.loaded, &self.checkpoint.tensors, &self.config);
        match (checked, &self.wanted) {
            (Ok(plan), Some((name, wanted))) => match check::compare(&plan, wanted) {
                None => Ok(plan),
                Some(fit) => Err(check::Diagnostics::new(
                    vec![diagnostics::Diagnostic::TargetMismatch {
                        span: None,
                        model: name.clone(),
                        file: true,
                        fit: Box::new(fit),
                    }],
                    plan.rules,
                )),
            },
            (checked, _) => checked,
        }
    }

    /// Prints a check's diagnostics to stderr.
    pub fn report(&self, checked: &Checked, color: bool) {
        if let Err(problems) = checked {
            let text = diagnostics::render(
                problems,
                &self.loaded.sources,
                Style {
                    color,
                    width: WIDTH,
                },
            );
            eprint!("{text}");
        }
    }
}

/// `3 problems in gpt2.wmap`: the words every command uses for a mapping
/// that made no plan.
fn problems_in(n: usize, mapping: &std::path::Path) -> String {
    format!(
        "{n} problem{} in {}",
        if n == 1 { "" } else { "s" },
        mapping.display()
    )
}

/// Ends a report of `n` problems in `mapping` with the one summary line
/// every command prints, on stderr after the diagnostics (stdout carries
/// only what a command makes: a plan, a report, a mapping):
/// `error: 3 problems in m.wmap; THEN`.
pub fn say_problems(n: usize, mapping: &std::path::Path, then: &str) {
    eprintln!("error: {}; {then}", problems_in(n, mapping));
}

/// `1.5 GB`, `320.0 kB`, `12 B` (decimal units, as model hubs use).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}
