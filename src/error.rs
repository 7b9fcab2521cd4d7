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
    Destination { path: PathBuf, problem: String },

    #[error("{0}")]
    #[diagnostic(code(wmap::failed))]
    Failed(String),

    #[error("interrupted")]
    #[diagnostic(code(wmap::interrupted))]
    Interrupted,
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
