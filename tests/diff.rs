//! `wmap diff`: two checkpoints compared, directly or through a mapping.

use std::path::Path;

use crate::common::wmap;
use predicates::prelude::*;
use safetensors::SafeTensors;

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

type Owned = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// Copies the fixture with `transformer.ln_f.bias` edited by `edit`.
fn edited(dir: &Path, edit: impl FnOnce(&mut Owned)) -> std::path::PathBuf {
    let bytes = std::fs::read(Path::new(GPT2).join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<Owned> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(
        owned
            .iter_mut()
            .find(|t| t.0 == "transformer.ln_f.bias")
            .unwrap(),
    );
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

/// Copies the fixture with one element of one tensor changed by `delta`.
fn changed(dir: &Path, delta: f32) -> std::path::PathBuf {
    edited(dir, |t| {
        let x = f32::from_le_bytes(t.3[0..4].try_into().unwrap()) + delta;
        t.3[0..4].copy_from_slice(&x.to_le_bytes());
    })
}

#[test]
fn a_tensor_of_another_shape_or_dtype_is_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    // Same bytes, another shape.
    let reshaped = edited(dir.path(), |t| t.2 = vec![2, t.2[0] / 2]);
    wmap()
        .args(["diff", GPT2])
        .arg(&reshaped)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "transformer.ln_f.bias: shape [64] vs [2, 32]",
        ))
        .stdout(predicate::str::contains(
            "0 differ, 1 of another shape or dtype",
        ));
    // Same values in f64: equal values, but not what a loader of f32 expects,
    // so different even with a tolerance.
    let widened = edited(dir.path(), |t| {
        t.1 = safetensors::Dtype::F64;
        t.3 =
            t.3.chunks_exact(4)
                .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
                .collect();
    });
    wmap()
        .args(["diff", GPT2])
        .arg(&widened)
        .args(["--tolerance", "1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "transformer.ln_f.bias: dtype f32 vs f64, max |diff| 0.000e0",
        ))
        .stdout(predicate::str::contains("27 bit-identical"));
}

#[test]
fn integer_tensors_are_compared_exactly() {
    // 2^53 + 1 and 2^53 are one f64 apart only after rounding; as i64 they differ by 1.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, x: i64| {
        let bytes = x.to_le_bytes();
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &bytes).unwrap();
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            safetensors::serialize([("ids", view)], None).unwrap(),
        )
        .unwrap();
        path
    };
    let (a, b) = (
        write("a.safetensors", (1 << 53) + 1),
        write("b.safetensors", 1 << 53),
    );
    wmap()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ids: max |diff| 1.000e0"));
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
