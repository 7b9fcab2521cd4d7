//! wmap: a checked, declarative language for converting model checkpoints.
//!
//! The pipeline, one module per stage:
//! text --[`loader`]--> files --[`syntax`]--> AST --[`check`]--> [`plan::Plan`]
//! --[`exec`]--> checkpoint.

pub mod check;
pub mod checkpoint;
#[cfg(feature = "verify")]
pub mod cli;
pub mod collapse;
pub mod compare;
pub mod diagnostics;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod fsio;
pub mod infer;
pub mod inspect;
pub mod invert;
pub mod loader;
pub mod ops;
pub mod plan;
pub mod source;
pub mod stdlib;
pub mod suggest;
pub mod syntax;
pub mod text;
#[cfg(feature = "verify")]
pub mod verify;

#[cfg(feature = "verify")]
pub use cli::run;
