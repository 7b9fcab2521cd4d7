//! `write` statements (the output's JSON files, from the source config),
//! the refusal to copy a config of another model blindly, and the shipped
//! cross-architecture mappings, verified: Phi-3 and Qwen2 to Llama, the
//! outputs loaded into wmap's burn Llama through `llama/hf-to-burn` and
//! compared with the logits transformers computed from the *source* models.

use std::path::Path;

use wmap::dtype::DType;

use crate::common::case::Case;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const WRITES: &str = r#"target llama
let dim = config.hidden_size
fallback "{name:**}" -> "{name}"
write "params.json" {
    dim = dim
    n_kv_heads = config.num_key_value_heads ?? config.num_attention_heads
    norm_eps = config.rms_norm_eps
    rope_theta = config.rope_parameters.rope_theta ?? 10000.0
    missing = config.no_such_key ?? null
    multiple_of = 16
    list = ["a", 1.5, true]
}
write "config.json" from config {
    vocab_size = config.vocab_size + (config.add_tokens ?? 0)
    rope_parameters.rope_type = "default"
}
"#;

#[test]
fn written_files_hold_their_keys_and_leave_out_what_set_gave() {
    let case = Case::new().mapping(WRITES);
    let out = case.path().join("out");
    let qwen2 = repo("tests/fixtures/models/qwen2");
    case.run([
        "run",
        "m.wmap",
        &qwen2,
        out.to_str().unwrap(),
        "--set",
        "add_tokens=8",
    ])
    .exits(0);
    let params = json(&out.join("params.json"));
    assert_eq!(
        params,
        serde_json::json!({"dim": 64, "n_kv_heads": 2, "norm_eps": 1e-6, "rope_theta": 1e6,
            "missing": null, "multiple_of": 16, "list": ["a", 1.5, true]})
    );
    let config = json(&out.join("config.json"));
    let source = json(&Path::new(&qwen2).join("config.json"));
    assert_eq!(config["vocab_size"], 1008);
    assert!(
        config.get("add_tokens").is_none(),
        "a --set key is the run's"
    );
    assert_eq!(config["model_type"], "qwen2");
    let mut rest = config.as_object().unwrap().clone();
    rest.remove("vocab_size");
    let mut want = source.as_object().unwrap().clone();
    want.remove("vocab_size");
    assert_eq!(rest, want, "every other key is the source's");
    // The copied generation_config.json is still there; the written files replace nothing else.
    assert!(out.join("generation_config.json").is_file());
}

#[test]
fn a_foreign_config_is_not_copied_blindly() {
    let case = Case::new().mapping("target llama\nfallback \"{name:**}\" -> \"{name}\"\n");
    let phi3 = repo("tests/fixtures/models/phi3");
    case.run(["run", "m.wmap", &phi3, "out"])
        .exits(2)
        .says("model_type: phi3")
        .changes_nothing();
    case.run(["run", "m.wmap", &phi3, "out", "--no-extras"])
        .exits(0);
    // Without a target, or for a source of the target's family, it is copied.
    let case = Case::new().mapping("target llama\nfallback \"{name:**}\" -> \"{name}\"\n");
    case.run(["run", "m.wmap", &repo("tests/fixtures/models/qwen2"), "out"])
        .exits(0)
        .writes("out/config.json");
}

#[test]
fn bad_writes_are_reported_before_anything_is_written() {
    let tensors: &[(&str, DType, &[u64])] = &[("a", DType::F32, &[4])];
    crate::common::case::each_refused(&[
        (
            "write \"../x.json\" {\n    a = 1\n}",
            "wmap::invalid_file_name",
        ),
        ("write \"x.txt\" {\n    a = 1\n}", "wmap::invalid_file_name"),
        (
            "write \"model.safetensors.index.json\" {\n}",
            "wmap::invalid_file_name",
        ),
        ("write \".hidden.json\" {\n}", "wmap::invalid_file_name"),
        (
            "write \"x.json\" {\n}\nwrite \"x.json\" {\n}",
            "wmap::duplicate_definition",
        ),
        (
            "write \"x.json\" {\n    a = config.nothing\n}",
            "wmap::unknown_config_key",
        ),
        (
            "write \"x.json\" {\n    a = 1 / 0\n}",
            "wmap::division_by_zero",
        ),
    ]);
    let case = Case::new()
        .mapping("\"a\" -> \"a\"\nwrite \"x.json\" {\n    a = 1\n}\n")
        .checkpoint("src.safetensors", tensors);
    case.run(["run", "m.wmap", "src.safetensors", "out.safetensors"])
        .exits(2)
        .says("no place for")
        .changes_nothing();
}

/// Converts `fixture` with `mapping`, then into the burn Llama, verified
/// against the fixture's own reference logits.
fn verified_through_burn(mapping: &str, fixture: &str) {
    let case = Case::new();
    let (hf, burn) = (case.path().join("hf"), case.path().join("burn"));
    case.run(["run", &repo(mapping), &repo(fixture), hf.to_str().unwrap()])
        .exits(0);
    let config = json(&hf.join("config.json"));
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    case.run([
        "run",
        &repo("mappings/llama/hf-to-burn.wmap"),
        hf.to_str().unwrap(),
        burn.to_str().unwrap(),
        "--verify",
        &repo(&format!("{fixture}/reference.safetensors")),
        "--tolerance",
        "1e-5",
    ])
    .exits(0)
    .prints("ok: max |diff|");
}

#[test]
fn phi3_to_llama_computes_what_phi3_computes() {
    verified_through_burn("mappings/phi3/to-llama.wmap", "tests/fixtures/models/phi3");
}

#[test]
fn qwen2_to_llama_computes_what_qwen2_computes() {
    verified_through_burn(
        "mappings/qwen2/to-llama.wmap",
        "tests/fixtures/models/qwen2",
    );
}
