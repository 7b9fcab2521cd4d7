//! wmap: a checked, declarative language for converting model checkpoints.
//!
//! The pipeline, one module per stage:
//! text --[`loader`]--> files --[`syntax`]--> AST --[`check`]--> [`plan::Plan`]
//! --[`exec`]--> checkpoint.

pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod collapse;
pub mod diagnostics;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod inspect;
pub mod loader;
pub mod plan;
pub mod source;
pub mod stdlib;
pub mod suggest;
pub mod syntax;
pub mod verify;

pub use cli::run;
