//! The adversarial suite (a module of the one integration test binary): wmap attacked as a careful adversary and a careless
//! user would, one module per class of attack. Every case asserts a clear
//! error, a non-zero exit, no panic, and nothing removed, overwritten or left
//! behind that wmap did not write. The README's "Hostile inputs and faults"
//! table summarises what each module covers.

use crate::common;
pub(crate) mod support;

/// The checker: reserved and impossible names, dropped rules, bounded work.
mod checker;
/// Destinations: what `--force`, `watch`, `-o` and temporary files may touch.
mod destinations;
/// Elementwise ops, gathers and the mean of `pad` against torch.
mod elementwise;
/// Generated text: `infer`, `invert` and `fmt` output, names from strangers.
mod generated;
/// Inputs: file kinds, FIFOs, devices, sources changed or truncated mid-run, signals.
mod inputs;
/// Values: casts against torch, overflow reported.
mod values;
