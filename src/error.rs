//! Errors that are not problems of a mapping: files that cannot be read,
//! checkpoints that lie about themselves, destinations that cannot be
//! written. They end a command with exit status 2.

use std::path::{Path, PathBuf};

/// An I/O or input-format error, with the file (and tensor) it concerns.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("{}: {error}", path.display())]
    #[diagnostic(code(wmap::io))]
    Io {
        path: PathBuf,
        // Not a `source`: the message already says it, and miette would
        // print it a second time as the cause.
        error: std::io::Error,
    },

    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_checkpoint))]
    BadCheckpoint { path: PathBuf, problem: String },

    #[error("{}: tensor `{tensor}`: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_tensor))]
    BadTensor {
        path: PathBuf,
        tensor: String,
        problem: String,
    },

    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_config))]
    BadConfig { path: PathBuf, problem: String },

    #[error("{0}")]
    #[diagnostic(code(wmap::usage))]
    Usage(String),

    /// A destination that wmap will not write or replace, and why.
    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::destination))]
    Destination {
        /// The destination as given.
        path: PathBuf,
        /// Why it is refused.
        problem: Refusal,
    },

    #[error("{0}")]
    #[diagnostic(code(wmap::failed))]
    Failed(String),

    #[error("interrupted")]
    #[diagnostic(code(wmap::interrupted))]
    Interrupted,
}

/// Why a destination (of `run`, `watch`, or an `-o` output) is refused.
/// `what` names an input of the command ("the source", "a source shard")
/// and `shown` the path it was given as.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A path that names no file or folder (`.`, `/`).
    NoName,
    /// The folder it would go in is missing, or no folder.
    NoParent,
    /// It is one of the inputs.
    IsInput { what: String, shown: String },
    /// It holds one of the inputs.
    HoldsInput { what: String, shown: String },
    /// It lies inside an input folder.
    InsideInput { what: String, shown: String },
    /// It is one of the inputs under another name (a hard link).
    InputByAnotherName { what: String, shown: String },
    /// A folder holding an input under another name.
    HoldsInputByAnotherName {
        name: String,
        what: String,
        shown: String,
    },
    /// A symbolic link.
    Link,
    /// A device, FIFO or socket (`kind` says which).
    Special { kind: String },
    /// It exists, and `--force` was not given.
    Exists,
    /// A file without wmap's marker in its header.
    NotWmapOutput,
    /// A folder holding files wmap did not write (the first five, and how many more).
    HoldsForeign { names: Vec<String>, more: usize },
    /// A folder holding no wmap output at all.
    HoldsNoOutput,
    /// An `-o` output that is one of the inputs.
    OutputIsInput { what: String, shown: String },
    /// An `-o` output that is no regular file (`kind` says what it is).
    OutputNotAFile { kind: String },
    /// An `-o` output that exists, without `--force`.
    OutputExists,
    /// A DST that `watch` did not write itself.
    NotThisWatchs,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Refusal::*;
        const FORCE: &str = "--force replaces only a previous wmap output or an empty folder";
        match self {
            NoName => f.write_str(
                "names no file or folder to write (give a new name, such as out/ or model.safetensors)",
            ),
            NoParent => {
                f.write_str("the destination's parent folder does not exist or is not a folder")
            }
            IsInput { what, shown } => write!(f, "is {what} ({shown})"),
            HoldsInput { what, shown } => {
                write!(f, "holds {what} ({shown}); writing here would replace it")
            }
            InsideInput { what, shown } => write!(f, "is inside {what} ({shown})"),
            InputByAnotherName { what, shown } => {
                write!(f, "is {what} ({shown}) under another name")
            }
            HoldsInputByAnotherName { name, what, shown } => {
                write!(f, "holds `{name}`, which is {what} ({shown}) under another name")
            }
            Link => f.write_str(
                "is a symbolic link; wmap replaces neither a link nor what it points to",
            ),
            Special { kind } => write!(f, "is {kind}, not a file wmap wrote"),
            Exists => f.write_str(
                "already exists (--force replaces a previous wmap output or an empty folder)",
            ),
            NotWmapOutput => write!(
                f,
                "was not written by wmap (its header has no `{}`); --force replaces only a previous wmap output",
                crate::exec::dest::MARKER
            ),
            HoldsForeign { names, more } => {
                let shown: Vec<String> = names
                    .iter()
                    .map(|n| format!("`{}`", crate::text::printable(n)))
                    .collect();
                let more = if *more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                write!(
                    f,
                    "holds {}{more}, which wmap did not write; {FORCE}",
                    shown.join(", ")
                )
            }
            HoldsNoOutput => write!(
                f,
                "holds no wmap output (no safetensors file with `{}`); {FORCE}",
                crate::exec::dest::MARKER
            ),
            OutputIsInput { what, shown } => write!(f, "is {what} ({shown}); choose another output"),
            OutputNotAFile { kind } => write!(f, "is {kind}, not a file"),
            OutputExists => f.write_str("already exists (--force replaces it)"),
            NotThisWatchs => f.write_str(
                "exists, and this watch did not write it; watch replaces only its own output (remove it or choose another DST)",
            ),
        }
    }
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            error: source,
        }
    }

    pub fn checkpoint(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::BadCheckpoint {
            path: path.as_ref().to_path_buf(),
            problem: problem.into(),
        }
    }

    pub fn tensor(path: impl AsRef<Path>, tensor: &str, problem: impl Into<String>) -> Self {
        Error::BadTensor {
            path: path.as_ref().to_path_buf(),
            tensor: tensor.to_string(),
            problem: problem.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
