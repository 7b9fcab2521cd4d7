//! `wmap diff`: two checkpoints compared, directly or through a mapping.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use safetensors::SafeTensors;

fn wmap() -> Command {
    Command::cargo_bin("wmap").unwrap()
}

const GPT2: &str = "tests/fixtures/models/gpt2";

#[test]
fn a_checkpoint_equals_itself() {
    wmap()
        .args(["diff", GPT2, GPT2])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "equal: 28 tensors in both: 28 bit-identical, 0 within tolerance, 0 differ",
        ));
}

#[test]
fn through_a_mapping_the_source_equals_its_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("burn");
    wmap()
        .args(["run", "--quiet", "mappings/gpt2/hf-to-burn.wmap", GPT2])
        .arg(&out)
        .assert()
        .success();
    wmap()
        .args(["diff", GPT2])
        .arg(&out)
        .args(["--rules", "mappings/gpt2/hf-to-burn.wmap"])
        .assert()
        .success()
        .stdout(predicate::str::contains("36 bit-identical"));
    // Directly, names differ: the report lists them and exits 1.
    wmap()
        .args(["diff", GPT2])
        .arg(&out)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "transformer.wte.weight: only in A",
        ))
        .stdout(predicate::str::contains("wte.weight: only in B"));
    assert!(
        std::fs::read_dir(std::env::temp_dir()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("wmap-diff-{}", std::process::id()))),
        "temporary folder left"
    );
}

/// Copies the fixture with one element of one tensor changed by `delta`.
fn changed(dir: &Path, delta: f32) -> std::path::PathBuf {
    let bytes = std::fs::read(Path::new(GPT2).join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let t = owned
        .iter_mut()
        .find(|t| t.0 == "transformer.ln_f.bias")
        .unwrap();
    let x = f32::from_le_bytes(t.3[0..4].try_into().unwrap()) + delta;
    t.3[0..4].copy_from_slice(&x.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let path = dir.join("changed.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

#[test]
fn a_changed_tensor_is_named_with_its_difference() {
    let dir = tempfile::tempdir().unwrap();
    let b = changed(dir.path(), 0.5);
    wmap()
        .args(["diff", GPT2])
        .arg(&b)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "transformer.ln_f.bias: max |diff| 5.000e-1",
        ))
        .stdout(predicate::str::contains(
            "27 bit-identical, 0 within tolerance, 1 differ",
        ));
    // Within a tolerance it counts as equal.
    wmap()
        .args(["diff", GPT2])
        .arg(&b)
        .args(["--tolerance", "0.6"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 within tolerance"));
}
