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

/// Writes `wmap spec --model llama` for the config of `fixture` to `name` in the case.
fn llama_spec(case: &Case, fixture: &str, name: &str) -> std::path::PathBuf {
    let spec = case.path().join(name);
    case.run([
        "spec",
        "--model",
        "llama",
        "--config",
        &format!("{fixture}/config.json"),
        "-o",
        spec.to_str().unwrap(),
    ])
    .exits(0);
    spec
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const WRITES: &str = r#"let dim = config.hidden_size
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
    // Llama weights beside Phi-3's config.json: the burn Llama mapping checks
    // (the shapes agree), but copying that config would describe Phi-3.
    let case = Case::new();
    let hf = case.path().join("hf");
    let phi3 = repo("tests/fixtures/models/phi3");
    case.run([
        "run",
        &repo("mappings/phi3/to-llama.wmap"),
        &phi3,
        hf.to_str().unwrap(),
    ])
    .exits(0);
    std::fs::copy(Path::new(&phi3).join("config.json"), hf.join("config.json")).unwrap();
    let to_burn = repo("mappings/llama/hf-to-burn.wmap");
    case.run(["check", &to_burn, hf.to_str().unwrap()]).exits(0);
    let before = crate::common::case::contents(case.path());
    case.run(["run", &to_burn, hf.to_str().unwrap(), "out"])
        .exits(2)
        .says("model_type: phi3");
    assert_eq!(
        crate::common::case::contents(case.path()),
        before,
        "nothing written"
    );
    case.run(["run", &to_burn, hf.to_str().unwrap(), "out", "--no-extras"])
        .exits(0);
    assert!(!case.path().join("out/config.json").exists());
    // A source of the target's family is copied.
    case.run([
        "run",
        &to_burn,
        &repo("tests/fixtures/models/qwen2"),
        "out2",
    ])
    .exits(0)
    .writes("out2/config.json");
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

#[test]
fn extend_vocab_adds_mean_or_zero_rows_and_says_so_in_the_config() {
    let fixture = repo("tests/fixtures/models/llama_gqa");
    let src_bytes = std::fs::read(Path::new(&fixture).join("model.safetensors")).unwrap();
    let src = safetensors::SafeTensors::deserialize(&src_bytes).unwrap();
    for zero_init in ["0", "1"] {
        let case = Case::new();
        let out = case.path().join("out");
        case.run([
            "run",
            &repo("mappings/llama/extend-vocab.wmap"),
            &fixture,
            out.to_str().unwrap(),
            "--set",
            "add_tokens=8",
            "--set",
            &format!("zero_init={zero_init}"),
        ])
        .exits(0);
        let config = json(&out.join("config.json"));
        assert_eq!(config["vocab_size"], 1008);
        assert!(config.get("add_tokens").is_none() && config.get("zero_init").is_none());
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for name in ["model.embed_tokens.weight", "lm_head.weight"] {
            let (old, new) = (src.tensor(name).unwrap(), st.tensor(name).unwrap());
            assert_eq!(new.shape(), [1008, 64], "{name}");
            assert_eq!(
                &new.data()[..old.data().len()],
                old.data(),
                "{name}: old rows kept"
            );
            let rows: Vec<f32> = old
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let added: Vec<f32> = new.data()[old.data().len()..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            for (k, x) in added.iter().enumerate() {
                let c = k % 64;
                let want = if zero_init == "1" {
                    0.0
                } else {
                    ((0..1000).map(|r| rows[r * 64 + c] as f64).sum::<f64>() / 1000.0) as f32
                };
                assert_eq!(
                    x.to_bits(),
                    want.to_bits(),
                    "{name}: new row {}, column {c}",
                    k / 64
                );
            }
        }
        // Every other tensor is the source's.
        for name in src.names() {
            if !name.contains("embed_tokens") && !name.contains("lm_head") {
                assert_eq!(
                    st.tensor(name).unwrap().data(),
                    src.tensor(name).unwrap().data()
                );
            }
        }
    }
    // Without add_tokens the mapping says what it needs, before writing.
    let case = Case::new();
    case.run(["check", &repo("mappings/llama/extend-vocab.wmap"), &fixture])
        .exits(1)
        .says("add_tokens");
}

#[test]
fn a_target_model_checks_the_output_side_before_any_data_is_read() {
    // The shipped burn Llama mapping checks against the model's own spec on
    // every Llama-family fixture (tests/mappings.rs); one that forgets the
    // final norm fails at `check`, naming what is missing.
    let shipped = std::fs::read_to_string(repo("mappings/llama/hf-to-burn.wmap")).unwrap();
    let line =
        "\"model.norm.{p:torch_norm}\"                                -> \"norm.{p:burn_norm}\"";
    assert!(shipped.contains(line));
    let forgets = shipped.replace(line, "drop \"model.norm.weight\"");
    let case = Case::new().mapping(&forgets);
    for fixture in ["llama_gqa", "qwen2", "mistral"] {
        let src = repo(&format!("tests/fixtures/models/{fixture}"));
        case.run(["check", &repo("mappings/llama/hf-to-burn.wmap"), &src])
            .exits(0);
        case.run(["run", "m.wmap", &src, "out"])
            .exits(1)
            .says("wmap::target_mismatch")
            .says("missing: norm.gamma [64]")
            .changes_nothing();
    }
    // A wrong shape is named with both shapes: a config that says 4 KV heads.
    let case = Case::new().mapping(&shipped);
    let src = repo("tests/fixtures/models/llama_gqa");
    case.run(["check", "m.wmap", &src, "--set", "num_key_value_heads=4"])
        .exits(1)
        .says("layers.0.attention.wk.weight: expected [64, 64], written [64, 32]")
        .says("wmap::target_mismatch");
}

#[test]
fn hf_to_meta_writes_a_params_json_that_sizes_the_model_as_metas_does() {
    let case = Case::new();
    let out = case.path().join("meta");
    let fixture = repo("tests/fixtures/models/llama_gqa");
    case.run([
        "run",
        &repo("mappings/llama/hf-to-meta.wmap"),
        &fixture,
        out.to_str().unwrap(),
    ])
    .exits(0);
    let params = json(&out.join("params.json"));
    // The fixture script wrote Meta's own params.json for these weights.
    let meta = json(&Path::new(&fixture).join("meta/params.json"));
    for key in [
        "dim",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "vocab_size",
        "ffn_dim_multiplier",
        "norm_eps",
        "rope_theta",
    ] {
        assert_eq!(params[key], meta[key], "{key}");
    }
    // Meta's model.py: hidden = int(2 * (4 * dim) / 3), times ffn_dim_multiplier
    // if set, rounded up to a multiple of multiple_of.
    let ffn = |p: &serde_json::Value| {
        let dim = p["dim"].as_f64().unwrap();
        let mut hidden = (2.0 * (4.0 * dim) / 3.0) as u64;
        if let Some(m) = p["ffn_dim_multiplier"].as_f64() {
            hidden = (m * hidden as f64) as u64;
        }
        let multiple = p["multiple_of"].as_u64().unwrap();
        multiple * hidden.div_ceil(multiple)
    };
    assert_eq!(ffn(&params), 176, "the FFN size of the weights");
    assert_eq!(ffn(&params), ffn(&meta));
}

#[test]
fn the_reverse_of_a_mapping_that_writes_the_config_writes_the_sources_back() {
    let case = Case::new();
    let phi3 = repo("tests/fixtures/models/phi3");
    let (out, back) = (case.path().join("out"), case.path().join("back"));
    let (out, back) = (out.to_str().unwrap(), back.to_str().unwrap());
    let mapping = repo("mappings/phi3/to-llama.wmap");
    case.run(["run", &mapping, &phi3, out]).exits(0);
    case.run(["invert", &mapping, &phi3, "-o", "r.wmap"])
        .exits(0);
    case.run(["run", "r.wmap", out, back]).exits(0);
    case.run(["diff", &phi3, back])
        .exits(0)
        .prints("15 bit-identical");
    assert_eq!(
        json(&Path::new(back).join("config.json")),
        json(&Path::new(&phi3).join("config.json")),
        "the Phi-3 config comes back"
    );
}

#[test]
fn target_on_the_command_line_is_a_checkpoint_or_a_spec() {
    let case = Case::new();
    let gqa = repo("tests/fixtures/models/llama_gqa");
    let meta = repo("tests/fixtures/models/llama_gqa/meta/consolidated.safetensors");
    let to_meta = repo("mappings/llama/hf-to-meta.wmap");
    // Meta's layout as the fixture script wrote it: names, shapes and dtypes.
    case.run(["check", &to_meta, &gqa, "--target", &meta])
        .exits(0);
    // Cast to bf16, the same names and shapes are of another dtype.
    let bf16 = format!(
        "{}cast f32 -> bf16\n",
        std::fs::read_to_string(&to_meta).unwrap()
    );
    let case = case.mapping(&bf16);
    case.run(["check", "m.wmap", &gqa, "--target", &meta])
        .exits(1)
        .says("wmap::target_mismatch")
        .says("21 of another dtype")
        .says("norm.weight: expected f32, written bf16");
    // A spec from `wmap spec` checks names and shapes only.
    let spec = llama_spec(&case, &gqa, "spec.json");
    let to_burn = repo("mappings/llama/hf-to-burn.wmap");
    case.run(["check", &to_burn, &gqa, "--target", spec.to_str().unwrap()])
        .exits(0);
    case.run(["check", &to_meta, &gqa, "--target", spec.to_str().unwrap()])
        .exits(1)
        .says("the output is not the layout of")
        .says("missing: norm.gamma [64]")
        .says("11 of another shape");
}

#[test]
fn meta_to_hf_writes_the_config_json_transformers_builds_the_model_from() {
    let case = Case::new();
    let hf = case.path().join("hf");
    let burn = case.path().join("burn");
    let gqa = repo("tests/fixtures/models/llama_gqa");
    // Meta's folder as the fixture script wrote it: consolidated weights and
    // params.json, which is read as the config since there is no config.json.
    case.run([
        "run",
        &repo("mappings/llama/meta-to-hf.wmap"),
        &format!("{gqa}/meta"),
        hf.to_str().unwrap(),
    ])
    .exits(0);
    assert!(
        !hf.join("params.json").exists(),
        "Meta's params.json stays behind when the mapping writes config.json"
    );
    let written = json(&hf.join("config.json"));
    // transformers' own config for the model the Meta weights came from.
    let original = json(&Path::new(&gqa).join("config.json"));
    for key in [
        "model_type",
        "architectures",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "vocab_size",
        "rms_norm_eps",
        "hidden_act",
        "tie_word_embeddings",
    ] {
        assert_eq!(written[key], original[key], "{key}");
    }
    assert_eq!(
        written["rope_theta"],
        original["rope_parameters"]["rope_theta"]
    );
    // The folder is a transformers checkpoint that the Llama model built
    // from that config.json runs as transformers ran the original.
    case.run([
        "run",
        &repo("mappings/llama/hf-to-burn.wmap"),
        hf.to_str().unwrap(),
        burn.to_str().unwrap(),
    ])
    .exits(0);
    case.run([
        "verify",
        "--model",
        "llama",
        burn.to_str().unwrap(),
        "--reference",
        &format!("{gqa}/reference.safetensors"),
    ])
    .exits(0)
    .prints("top-1 100.0%");
}

#[test]
fn a_target_file_in_the_mapping_is_checked_like_target_on_the_command_line() {
    let gqa = repo("tests/fixtures/models/llama_gqa");
    let meta = std::fs::read(format!("{gqa}/meta/consolidated.safetensors")).unwrap();
    let to_meta = std::fs::read_to_string(repo("mappings/llama/hf-to-meta.wmap")).unwrap();
    // The layout beside the mapping, named relative to it: Meta's own file.
    let with_target = to_meta.replace(
        "use \"std/rotary\"",
        "use \"std/rotary\"\ntarget \"layouts/meta.safetensors\"",
    );
    let case = Case::new()
        .file("layouts/meta.safetensors", &meta)
        .mapping(&with_target);
    case.run(["check", "m.wmap", &gqa]).exits(0);
    // A rule that writes the norm under another name fails before any data is read.
    let wrong = with_target.replace("-> \"norm.weight\"", "-> \"final_norm.weight\"");
    let case = case.mapping(&wrong);
    let out = case.path().join("out");
    case.run(["run", "m.wmap", &gqa, out.to_str().unwrap()])
        .exits(1)
        .says("wmap::target_mismatch")
        .says("the output is not the layout of layouts/meta.safetensors: 1 missing, 1 unexpected")
        .says("missing: norm.weight [64]")
        .says("unexpected: final_norm.weight")
        .says("the layout checked against");
    assert!(!out.exists(), "nothing is written");
    // Dtypes count in a checkpoint's layout.
    let case = case.mapping(&format!("{with_target}cast f32 -> bf16\n"));
    case.run(["check", "m.wmap", &gqa])
        .exits(1)
        .says("21 of another dtype");
    // A file that is not there is reported with the mapping's other problems.
    let missing = wrong.replace("layouts/meta.safetensors", "layouts/none.safetensors");
    let case = case.mapping(&missing);
    case.run(["check", "m.wmap", &gqa])
        .exits(1)
        .says("wmap::unreadable_target")
        .says("none.safetensors");
    // A spec from `wmap spec` gives names and shapes.
    llama_spec(&case, &gqa, "layouts/llama.json");
    let to_burn = std::fs::read_to_string(repo("mappings/llama/hf-to-burn.wmap")).unwrap();
    let spec_target =
        |text: &str| text.replace("wmap 1\n", "wmap 1\ntarget \"layouts/llama.json\"\n");
    let case = case.mapping(&spec_target(&to_burn));
    case.run(["check", "m.wmap", &gqa]).exits(0);
    let case = case.mapping(&spec_target(&to_meta));
    case.run(["check", "m.wmap", &gqa])
        .exits(1)
        .says("missing: norm.gamma [64]");
}
