//! Checkpoints on disk: headers, config files, and (for `run`) tensor data.

pub mod config;
pub mod header;
pub(crate) mod layout;

pub use config::Config;
pub use header::{Checkpoint, Mapped, Place, Shard, Tensor};
