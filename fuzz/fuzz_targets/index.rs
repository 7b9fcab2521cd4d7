//! Any bytes as `model.safetensors.index.json` beside two valid shards (and
//! a file outside their folder): opening the checkpoint gives tensors that
//! all come from shards inside the folder, or an error; never a panic.

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wmap::checkpoint::Checkpoint;

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// A safetensors file holding f32 tensors of four elements each.
fn shard(path: &Path, names: &[&str]) {
    let mut header = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": [4], "data_offsets": [16 * i, 16 * (i + 1)]}),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.resize(bytes.len() + 16 * names.len(), 0);
    std::fs::write(path, bytes).unwrap();
}

fn setup() -> PathBuf {
    let root = common::scratch();
    let dir = root.join("ckpt");
    std::fs::create_dir_all(&dir).unwrap();
    shard(
        &dir.join("model-00001-of-00002.safetensors"),
        &["a.weight", "b.weight"],
    );
    shard(&dir.join("model-00002-of-00002.safetensors"), &["c.weight"]);
    shard(&root.join("outside.safetensors"), &["d.weight"]);
    dir
}

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(setup);
    std::fs::write(dir.join("model.safetensors.index.json"), data).unwrap();
    let Ok(checkpoint) = Checkpoint::open(dir) else {
        return;
    };
    for shard in &checkpoint.shards {
        assert_eq!(
            shard.path.parent(),
            Some(dir.as_path()),
            "shard outside the folder"
        );
    }
    for pair in checkpoint.tensors.windows(2) {
        assert!(pair[0].name < pair[1].name, "names sorted and unique");
    }
});
