//! Any bytes as a `.wmap` file: loading, parsing, checking against a
//! checkpoint header and rendering the diagnostics never panic or hang, and a
//! mapping without diagnostics always has a plan.

#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wmap::checkpoint::{Config, TensorInfo};
use wmap::diagnostics::{render, Style};

static FIXTURE: OnceLock<(Vec<TensorInfo>, Config)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (tensors, config) = FIXTURE.get_or_init(|| (common::tensors(), common::config()));
    let loaded = wmap::loader::load_bytes("fuzz.wmap", data.to_vec());
    let checked = wmap::check::check(&loaded, tensors, config);
    assert_eq!(
        checked.plan.is_some(),
        checked.diagnostics.is_empty(),
        "a plan exactly when there are no diagnostics"
    );
    let text = render(
        &checked.diagnostics,
        &loaded.sources,
        Style {
            color: false,
            width: 100,
        },
    );
    assert_eq!(checked.diagnostics.is_empty(), text.is_empty());
});
