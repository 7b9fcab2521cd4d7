//! Conversions verified in burn: every transformers fixture (made by
//! scripts/fixtures/make_models.py, committed with its reference outputs) is
//! converted with the project's own mapping and its burn model compared with
//! transformers' outputs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use safetensors::SafeTensors;

use wmap::verify::{compare, Backend, Comparison, Model, ModelKind, Reference, Weights};

const MODELS: &str = "tests/fixtures/models";

/// (fixture, mapping folder, model)
const FIXTURES: [(&str, &str, ModelKind); 8] = [
    ("gpt2", "gpt2", ModelKind::Gpt2),
    ("bert", "bert", ModelKind::Bert),
    ("bert_legacy", "bert", ModelKind::Bert),
    ("llama_gqa", "llama", ModelKind::Llama),
    ("llama_tied", "llama", ModelKind::Llama),
    ("llama3_rope", "llama", ModelKind::Llama),
    ("qwen2", "llama", ModelKind::Llama),
    ("mistral", "llama", ModelKind::Llama),
];

fn wmap() -> Command {
    Command::cargo_bin("wmap").unwrap()
}

fn mapping(family: &str) -> PathBuf {
    PathBuf::from(format!("mappings/{family}/hf-to-burn.wmap"))
}

/// Converts a fixture with `rules` (a file) into `dst` with `wmap run`.
fn convert(rules: &Path, fixture: &str, dst: &Path) {
    wmap()
        .args(["run", "--quiet"])
        .arg(rules)
        .arg(Path::new(MODELS).join(fixture))
        .arg(dst)
        .assert()
        .success();
}

fn verify_dir(
    kind: ModelKind,
    weights: &Path,
    config: Option<&Path>,
    fixture: &str,
) -> Vec<Comparison> {
    verify_on(Backend::Ndarray, kind, weights, config, fixture)
}

/// Loads converted weights on `backend` and compares with the fixture's reference.
fn verify_on(
    backend: Backend,
    kind: ModelKind,
    weights: &Path,
    config: Option<&Path>,
    fixture: &str,
) -> Vec<Comparison> {
    let weights = Weights::resolve(weights, config).unwrap();
    let device = backend.device().unwrap();
    let model = Model::load(kind, &weights, &device).unwrap();
    let reference = Reference::load(
        &Path::new(MODELS)
            .join(fixture)
            .join("reference.safetensors"),
    )
    .unwrap();
    compare(&model, &reference).unwrap()
}

#[test]
fn every_fixture_converted_with_its_mapping_matches_transformers_in_f32() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, family, kind) in FIXTURES {
        let dst = dir.path().join(fixture);
        convert(&mapping(family), fixture, &dst);
        let result = verify_dir(kind, &dst, None, fixture);
        for c in &result {
            eprintln!(
                "{fixture} {}: max {:.3e} mean {:.3e} cos {:.7} top-1 {}",
                c.output, c.max_abs_diff, c.mean_abs_diff, c.cosine, c.top1
            );
            assert!(c.max_abs_diff <= 1e-4, "{fixture}: {c:?}");
            assert_eq!(c.top1, 1.0, "{fixture}: {c:?}");
        }
        if kind == ModelKind::Bert {
            assert_eq!(
                result.len(),
                2,
                "BERT compares last_hidden_state and pooler_output"
            );
        }
    }
}

#[test]
fn older_config_layouts_build_the_same_model() {
    // config_legacy.json: rope_theta and rope_scaling at the top level, no head_dim.
    let dir = tempfile::tempdir().unwrap();
    for fixture in ["llama_gqa", "llama3_rope"] {
        let dst = dir.path().join(fixture);
        convert(&mapping("llama"), fixture, &dst);
        let legacy = Path::new(MODELS).join(fixture).join("config_legacy.json");
        let text = std::fs::read_to_string(&legacy).unwrap();
        assert!(!text.contains("rope_parameters") && !text.contains("head_dim"));
        for c in verify_dir(ModelKind::Llama, &dst, Some(&legacy), fixture) {
            assert!(c.max_abs_diff <= 1e-4, "{fixture}: {c:?}");
        }
    }
}

#[test]
fn llama3_rope_scaling_matters() {
    // Ignoring the llama3 scaling (plain rope_theta) must break the fixture, so
    // the test above would catch a scaling bug.
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out");
    convert(&mapping("llama"), "llama3_rope", &dst);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dst.join("config.json")).unwrap()).unwrap();
    config["rope_parameters"]["rope_type"] = "default".into();
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, config.to_string()).unwrap();
    let c = &verify_dir(ModelKind::Llama, &dst, Some(&plain), "llama3_rope")[0];
    assert!(c.max_abs_diff > 1e-3, "{c:?}");
}

#[test]
fn bf16_conversions_verify_with_a_measured_error() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, family, kind) in FIXTURES {
        let text = std::fs::read_to_string(mapping(family)).unwrap() + "\ncast f32 -> bf16\n";
        let rules = dir.path().join(format!("{fixture}.wmap"));
        std::fs::write(&rules, text).unwrap();
        let dst = dir.path().join(fixture);
        convert(&rules, fixture, &dst);
        // The weights really are bf16.
        let bytes = std::fs::read(dst.join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert!(st
            .tensors()
            .iter()
            .all(|(_, v)| v.dtype() == safetensors::Dtype::BF16));
        for c in verify_dir(kind, &dst, None, fixture) {
            eprintln!(
                "bf16 {fixture} {}: max {:.3e} mean {:.3e} cos {:.6} top-1 {:.3}",
                c.output, c.max_abs_diff, c.mean_abs_diff, c.cosine, c.top1
            );
            // Rounding every weight to 8 bits of mantissa moves the outputs
            // (so it is not exact), but keeps them close.
            assert!(c.max_abs_diff > 1e-4, "{fixture}: suspiciously exact {c:?}");
            assert!(c.cosine > 0.999, "{fixture}: {c:?}");
        }
    }
}

/// A safetensors file's tensors, as the safetensors crate lists them.
type Views<'a> = Vec<(String, safetensors::tensor::TensorView<'a>)>;

/// Rewrites a safetensors file with the data of tensors `a` and `b` swapped.
fn swap_tensors(path: &Path, a: &str, b: &str) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut views: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let ia = views.iter().position(|(n, _)| n == a).unwrap();
    let ib = views.iter().position(|(n, _)| n == b).unwrap();
    let va = views[ia].1.clone();
    views[ia].1 = views[ib].1.clone();
    views[ib].1 = va;
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn swapped_query_weights_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, family, a, b) in [
        (
            "llama_gqa",
            "llama",
            "layers.0.attention.wq.weight",
            "layers.1.attention.wq.weight",
        ),
        (
            "gpt2",
            "gpt2",
            "blocks.0.attn.query.weight",
            "blocks.1.attn.query.weight",
        ),
    ] {
        let dst = dir.path().join(fixture);
        convert(&mapping(family), fixture, &dst);
        swap_tensors(&dst.join("model.safetensors"), a, b);
        let reference = Path::new(MODELS)
            .join(fixture)
            .join("reference.safetensors");
        wmap()
            .args(["verify", "--model", family])
            .arg(&dst)
            .arg("--reference")
            .arg(&reference)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("FAILED"));
    }
}

#[test]
fn run_with_verify_picks_the_model_from_the_target_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("bert");
    let out = wmap()
        .args(["run", "--quiet", "mappings/bert/hf-to-burn.wmap"])
        .arg(Path::new(MODELS).join("bert"))
        .arg(&dst)
        .arg("--verify")
        .arg(Path::new(MODELS).join("bert/reference.safetensors"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("verify bert"), "{stdout}");
    assert!(stdout.contains("last_hidden_state: max |diff|"), "{stdout}");
    assert!(stdout.contains("pooler_output: max |diff|"), "{stdout}");
    assert!(stdout.contains("top-1 100.0%"), "{stdout}");
    // A mapping without `target` cannot pick a model: refused before converting.
    let rules = dir.path().join("untargeted.wmap");
    let text = std::fs::read_to_string("mappings/bert/hf-to-burn.wmap")
        .unwrap()
        .replace("target bert", "");
    std::fs::write(&rules, text).unwrap();
    wmap()
        .args(["run", "--quiet"])
        .arg(&rules)
        .arg(Path::new(MODELS).join("bert"))
        .arg(dir.path().join("never"))
        .arg("--verify")
        .arg(Path::new(MODELS).join("bert/reference.safetensors"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("target"));
    assert!(!dir.path().join("never").exists());
}

#[test]
fn missing_unexpected_and_misshaped_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("gpt2");
    convert(&mapping("gpt2"), "gpt2", &dst);
    let reference = Path::new(MODELS).join("gpt2/reference.safetensors");
    let file = dst.join("model.safetensors");
    let original = std::fs::read(&file).unwrap();
    let rewrite = |edit: &dyn Fn(&mut Views)| {
        let st = SafeTensors::deserialize(&original).unwrap();
        let mut views = st.tensors();
        edit(&mut views);
        std::fs::write(&file, safetensors::serialize(views, None).unwrap()).unwrap();
    };
    let check = |expected: &str| {
        wmap()
            .args(["verify", "--model", "gpt2"])
            .arg(&dst)
            .arg("--reference")
            .arg(&reference)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(expected));
    };
    rewrite(&|v| v.retain(|(n, _)| n != "blocks.1.mlp.fc.bias"));
    check("missing: `blocks.1.mlp.fc.bias`");
    rewrite(&|v| {
        let extra = v.iter().find(|(n, _)| n == "ln_f.beta").unwrap().1.clone();
        v.push(("lm_head.weight".into(), extra));
    });
    check("unexpected: `lm_head.weight`");
    rewrite(&|v| {
        let i = v
            .iter()
            .position(|(n, _)| n == "blocks.0.attn.query.weight")
            .unwrap();
        let j = v
            .iter()
            .position(|(n, _)| n == "blocks.0.mlp.fc.weight")
            .unwrap();
        v[i].1 = v[j].1.clone();
    });
    check("blocks.0.attn.query.weight");
}

#[test]
fn verify_usage_and_input_errors_exit_2() {
    let reference = Path::new(MODELS).join("gpt2/reference.safetensors");
    // A file with no config.json beside it, and no --config.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("weights.safetensors");
    std::fs::copy(Path::new(MODELS).join("gpt2/model.safetensors"), &lone).unwrap();
    wmap()
        .args(["verify", "--model", "gpt2"])
        .arg(&lone)
        .arg("--reference")
        .arg(&reference)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--config"));
    // Unconverted weights: every name is wrong, and the report says so.
    wmap()
        .args(["verify", "--model", "gpt2"])
        .arg(Path::new(MODELS).join("gpt2"))
        .arg("--reference")
        .arg(&reference)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "missing: `blocks.0.attn.key.bias`",
        ))
        .stderr(predicate::str::contains(
            "unexpected: `transformer.h.0.attn.c_attn.bias`",
        ));
    // A reference without inputs.
    wmap()
        .args(["verify", "--model", "gpt2"])
        .arg(Path::new(MODELS).join("gpt2"))
        .arg("--reference")
        .arg(Path::new(MODELS).join("gpt2/model.safetensors"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("input_ids"));
}

/// The wgpu backend (here Mesa's llvmpipe Vulkan driver on the CPU) gives the
/// same outputs within 1e-3.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_backend_verifies_within_1e_3() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, family, kind) in [
        ("gpt2", "gpt2", ModelKind::Gpt2),
        ("bert", "bert", ModelKind::Bert),
        ("llama3_rope", "llama", ModelKind::Llama),
    ] {
        let dst = dir.path().join(fixture);
        convert(&mapping(family), fixture, &dst);
        for c in verify_on(Backend::Wgpu, kind, &dst, None, fixture) {
            eprintln!(
                "wgpu {fixture} {}: max {:.3e} mean {:.3e} top-1 {}",
                c.output, c.max_abs_diff, c.mean_abs_diff, c.top1
            );
            assert!(c.max_abs_diff <= 1e-3, "{fixture}: {c:?}");
            assert_eq!(c.top1, 1.0, "{fixture}: {c:?}");
        }
    }
    // And through the command line.
    wmap()
        .args([
            "verify",
            "--model",
            "gpt2",
            "--backend",
            "wgpu",
            "--tolerance",
            "1e-3",
        ])
        .arg(dir.path().join("gpt2"))
        .arg("--reference")
        .arg(Path::new(MODELS).join("gpt2/reference.safetensors"))
        .assert()
        .success()
        .stdout(predicate::str::contains("on wgpu"));
}

/// Without the wgpu feature, asking for it is a usage error, not a panic.
#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_without_the_feature_is_a_usage_error() {
    wmap()
        .args(["verify", "--model", "gpt2", "--backend", "wgpu"])
        .arg(Path::new(MODELS).join("gpt2"))
        .arg("--reference")
        .arg(Path::new(MODELS).join("gpt2/reference.safetensors"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--features wgpu"));
}

/// `wmap spec` lists exactly the tensors (names, shapes) that the shipped
/// mappings produce and the models load.
#[test]
fn spec_matches_what_the_mappings_produce() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, family, kind) in FIXTURES {
        let dst = dir.path().join(fixture);
        convert(&mapping(family), fixture, &dst);
        let bytes = std::fs::read(dst.join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut produced: Vec<(String, Vec<u64>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.shape().iter().map(|&d| d as u64).collect()))
            .collect();
        produced.sort();
        let spec_path = dir.path().join(format!("{fixture}.json"));
        wmap()
            .args(["spec", "--model", kind.name(), "--config"])
            .arg(Path::new(MODELS).join(fixture).join("config.json"))
            .arg("-o")
            .arg(&spec_path)
            .assert()
            .success();
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
        let expected: Vec<(String, Vec<u64>)> = spec["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["dtype"], "f32");
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(expected, produced, "{fixture}");
    }
}
