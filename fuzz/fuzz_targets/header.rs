//! Any bytes as a `.safetensors` file: reading the header gives a checkpoint
//! whose every tensor lies inside the file, or an error; never a panic, and
//! never an allocation beyond what the file holds.

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wmap::checkpoint::Checkpoint;

static FILE: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let path = FILE.get_or_init(|| common::scratch().join("model.safetensors"));
    std::fs::write(path, data).expect("write the scratch file");
    let Ok(checkpoint) = Checkpoint::open(path) else {
        return;
    };
    let len = data.len() as u64;
    for pair in checkpoint.tensors.windows(2) {
        assert!(pair[0].name < pair[1].name, "names sorted and unique");
    }
    assert_eq!(checkpoint.tensors.len(), checkpoint.places.len());
    for (t, p) in checkpoint.tensors.iter().zip(&checkpoint.places) {
        let numel: u64 = t.shape.iter().product();
        assert_eq!(numel * t.dtype.size() as u64, t.nbytes());
        assert!(p.offset + t.nbytes() <= len, "{} runs past the file", t.name);
        assert!(p.offset >= 8, "{} overlaps the length prefix", t.name);
    }
});
