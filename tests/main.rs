//! wmap's integration tests, as one test binary: one module per area, so the
//! library and burn are linked once rather than once per file. Each module's
//! own doc comment says what it covers; `common` makes the fixture
//! checkpoints, and `adversarial` is the suite of hostile inputs and faults.

mod common;

mod adversarial;
mod branches;
mod cli;
mod configs;
mod diff;
mod docs;
mod dtypes;
mod fmt;
mod golden;
mod grammar;
mod hostile;
mod infer;
mod invert;
mod ir;
mod made;
mod mappings;
mod quant;
mod run;
mod shapes;
mod verify;
mod watch;
mod words;
