//! The command line: argument parsing and dispatch, one file per subcommand.

mod check;
mod common;
mod diff;
mod fmt;
mod infer;
mod inspect;
mod invert;
mod plan;
mod run;
mod spec;
mod verify;
mod watch;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use common::Status;

/// wmap: convert model checkpoints with checked, declarative mappings.
#[derive(Debug, Parser)]
#[command(name = "wmap", version, about, max_term_width = 100)]
pub struct Cli {
    /// When to use colour in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Where the source checkpoint and its config come from.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// The mapping file.
    pub rules: std::path::PathBuf,
    /// The source checkpoint: a .safetensors file, or a folder holding
    /// model.safetensors or a sharded checkpoint with its index.
    pub src: std::path::PathBuf,
    /// The JSON file that `config.` keys read (default: config.json beside the weights).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Set a config key (dotted paths reach nested keys), overriding the config file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The wanted output layout: a checkpoint (names, shapes and dtypes) or a
    /// spec from `wmap spec` (names and shapes); the check reports any difference.
    #[arg(long = "target", value_name = "PATH")]
    pub target: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a mapping against a checkpoint's headers and config; read no tensor data.
    Check(check::Args),
    /// Print the checked plan: every target with its shape, dtype, sources and ops.
    Plan(plan::Args),
    /// Check, then convert SRC into DST (written atomically).
    Run(run::Args),
    /// Build the target model in burn from converted weights and compare its outputs
    /// with reference outputs from transformers.
    Verify(verify::Args),
    /// Check again whenever the mapping or a file it uses changes; with DST, convert
    /// after every clean check (and verify, with --verify).
    Watch(watch::Args),
    /// Rewrite mapping files in the canonical layout (`--check`: only report).
    Fmt(fmt::Args),
    /// Derive the reverse mapping from the plan of RULES against SRC, and check it.
    Invert(invert::Args),
    /// Draft a mapping from SRC to TARGET (a checkpoint, or a spec from `wmap spec`).
    Infer(infer::Args),
    /// Compare two checkpoints tensor by tensor, directly or through a mapping applied to A.
    Diff(diff::Args),
    /// Write the tensors a burn model expects (names, shapes, dtypes) without loading weights.
    Spec(spec::Args),
    /// List a checkpoint's tensors collapsed into name patterns, with shapes, dtypes and totals.
    Inspect(inspect::Args),
}

fn stop_on_signals() {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the action makes only async-signal-safe calls (write, _exit).
        let _ = unsafe {
            signal_hook::low_level::register(signal, || {
                let message = b"\nwmap: interrupted\n";
                libc::write(2, message.as_ptr().cast(), message.len());
                libc::_exit(2);
            })
        };
    }
}

/// Runs the command line; the exit code is 0 on success, 1 when the
/// mapping has problems, 2 on usage or I/O errors.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let color = common::use_color(cli.color);
    // `run`, `watch` and `diff` end cleanly on a signal themselves (they have
    // temporary output to remove); every other command writes at most one
    // file, renamed into place with signals held back, so on Ctrl-C or
    // SIGTERM it can stop at once: with a message and exit 2, as any error.
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Watch(_) | Command::Diff(_)
    ) {
        stop_on_signals();
    }
    let status = match &cli.command {
        Command::Check(args) => check::run(args, color),
        Command::Plan(args) => plan::run(args, color),
        Command::Run(args) => run::run(args, color),
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Spec(args) => spec::run(args),
        Command::Diff(args) => diff::run(args, color),
        Command::Invert(args) => invert::run(args, color),
        Command::Infer(args) => infer::run(args),
        Command::Watch(args) => watch::run(args, color),
    };
    match status {
        Ok(status) => status.into(),
        Err(error) => {
            common::print_error(&error, color);
            Status::Error.into()
        }
    }
}
