//! wmap: a checked, declarative language for converting model checkpoints.
//!
//! The pipeline, one module per stage:
//! text --[`loader`]--> files --[`syntax`]--> AST --[`check`]--> [`plan::Plan`]
//! --[`exec`]--> checkpoint.

#![warn(missing_docs)]

pub mod check;
pub mod checkpoint;
#[cfg(feature = "verify")]
pub(crate) mod cli;
pub(crate) mod collapse;
pub mod compare;
pub mod diagnostics;
pub mod dtype;
pub mod error;
pub mod exec;
pub(crate) mod fsio;
pub(crate) mod infer;
pub mod inspect;
pub mod invert;
pub mod loader;
pub mod ops;
pub mod plan;
pub mod source;
pub(crate) mod stdlib;
pub(crate) mod suggest;
pub mod syntax;
pub(crate) mod text;
#[cfg(feature = "verify")]
pub mod verify;
pub mod wanted;

#[cfg(feature = "verify")]
pub use cli::run;
