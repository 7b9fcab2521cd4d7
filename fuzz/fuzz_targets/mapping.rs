//! Any bytes as a `.wmap` file: loading, parsing, checking against a
//! checkpoint header and rendering the diagnostics never panic or hang, and a
//! mapping without diagnostics always has a plan.

#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wmap::checkpoint::{Config, Tensor};
use wmap::diagnostics::{render, Style};

static FIXTURE: OnceLock<(Vec<Tensor>, Config)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (tensors, config) = FIXTURE.get_or_init(|| (common::tensors(), common::config()));
    let loaded = wmap::loader::load_bytes("fuzz.wmap", data.to_vec());
    let checked = wmap::check::check(&loaded, tensors, config);
    // A plan, or diagnostics: never neither (the type says so; this says the
    // list is not empty either).
    let diagnostics: Vec<_> = match &checked {
        Ok(_) => Vec::new(),
        Err(problems) => {
            assert!(!problems.is_empty(), "no plan and no diagnostics");
            problems.to_vec()
        }
    };
    let text = render(
        &diagnostics,
        &loaded.sources,
        Style {
            color: false,
            width: 100,
        },
    );
    assert_eq!(diagnostics.is_empty(), text.is_empty());
});
