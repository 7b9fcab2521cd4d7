//! The shipped mappings of `mappings/` and the stdlib modules of `stdlib/`.
//!
//! - Checkpoint-to-checkpoint mappings are run with `wmap run` on the
//!   transformers fixtures of `tests/fixtures/models/` and their output is
//!   compared, tensor by tensor and byte for byte, with a checkpoint made by
//!   transformers or by the reference scripts (scripts/fixtures/make_models.py),
//!   never by wmap.
//! - Round trips through a mapping and its inverse give back the fixture bit
//!   for bit.
//! - Every `.wmap` file of `mappings/` and `stdlib/` checks cleanly against a
//!   fixture; a new file without an entry in the tables below fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::wmap;
use safetensors::SafeTensors;

const MODELS: &str = "tests/fixtures/models";

fn model(rel: &str) -> PathBuf {
    Path::new(MODELS).join(rel)
}

/// Converts `src` with `mapping` into the folder `dst` with `wmap run`, and
/// returns the path of the weights written there.
fn run(mapping: impl AsRef<Path>, src: &Path, config: Option<&Path>, dst: &Path) -> PathBuf {
    let mapping = mapping.as_ref();
    let mut cmd = wmap();
    cmd.args(["run", "--quiet"]).arg(mapping).arg(src).arg(dst);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.assert().success();
    let weights = dst.join("model.safetensors");
    assert!(
        weights.is_file(),
        "{} wrote no {}",
        mapping.display(),
        weights.display()
    );
    weights
}

/// Asserts that the safetensors files `got` and `want` hold the same tensors:
/// the same set of names and, for every name, the same dtype, shape and bytes.
fn assert_same_tensors(got: &Path, want: &Path) {
    let got_bytes = std::fs::read(got).unwrap_or_else(|e| panic!("{}: {e}", got.display()));
    let want_bytes = std::fs::read(want).unwrap_or_else(|e| panic!("{}: {e}", want.display()));
    let got_st = SafeTensors::deserialize(&got_bytes).unwrap();
    let want_st = SafeTensors::deserialize(&want_bytes).unwrap();
    let mut got_names = got_st.names();
    let mut want_names = want_st.names();
    got_names.sort_unstable();
    want_names.sort_unstable();
    assert_eq!(
        got_names,
        want_names,
        "{} and {} hold different tensors",
        got.display(),
        want.display()
    );
    for (name, want_view) in want_st.tensors() {
        let got_view = got_st.tensor(&name).unwrap();
        assert_eq!(got_view.dtype(), want_view.dtype(), "{name}: dtype");
        assert_eq!(got_view.shape(), want_view.shape(), "{name}: shape");
        assert_eq!(
            got_view.data().len(),
            want_view.data().len(),
            "{name}: size"
        );
        if let Some(k) = got_view
            .data()
            .iter()
            .zip(want_view.data())
            .position(|(a, b)| a != b)
        {
            panic!(
                "{name}: byte {k} differs from {}: {} vs {}",
                want.display(),
                got_view.data()[k],
                want_view.data()[k]
            );
        }
    }
}

// ------------------------------------------ checkpoint-to-checkpoint mappings

#[test]
fn llama_hf_to_meta_matches_the_meta_checkpoint() {
    // meta/consolidated.safetensors: llama.cpp's permute of the HF q/k weights.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "mappings/llama/hf-to-meta.wmap",
        &model("llama_gqa"),
        None,
        &dir.path().join("meta"),
    );
    assert_same_tensors(&out, &model("llama_gqa/meta/consolidated.safetensors"));
}

#[test]
fn llama_hf_to_meta_writes_the_output_layer_of_a_tied_checkpoint() {
    // llama_tied saved no lm_head.weight: Meta's `output` is the embedding.
    // Back through meta-to-hf, every tensor of the fixture comes back, plus
    // an lm_head.weight equal to the embedding (what a tied model holds).
    let dir = tempfile::tempdir().unwrap();
    let meta = run(
        "mappings/llama/hf-to-meta.wmap",
        &model("llama_tied"),
        None,
        &dir.path().join("meta"),
    );
    let hf = run(
        "mappings/llama/meta-to-hf.wmap",
        meta.parent().unwrap(),
        Some(&model("llama_tied/config.json")),
        &dir.path().join("hf"),
    );
    let (src, meta, hf) = (
        std::fs::read(model("llama_tied/model.safetensors")).unwrap(),
        std::fs::read(meta).unwrap(),
        std::fs::read(hf).unwrap(),
    );
    let (src, meta, hf) = (
        SafeTensors::deserialize(&src).unwrap(),
        SafeTensors::deserialize(&meta).unwrap(),
        SafeTensors::deserialize(&hf).unwrap(),
    );
    assert!(src.tensor("lm_head.weight").is_err(), "the fixture is tied");
    let embed = src.tensor("model.embed_tokens.weight").unwrap();
    for (st, name) in [
        (&meta, "output.weight"),
        (&meta, "tok_embeddings.weight"),
        (&hf, "lm_head.weight"),
    ] {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.shape(), embed.shape(), "{name}");
        assert!(t.data() == embed.data(), "{name} is not the embedding");
    }
    let mut want = src.names();
    want.push("lm_head.weight");
    want.sort_unstable();
    let mut got = hf.names();
    got.sort_unstable();
    assert_eq!(got, want);
    for (name, view) in src.tensors() {
        let back = hf.tensor(&name).unwrap();
        assert_eq!(
            (back.dtype(), back.shape()),
            (view.dtype(), view.shape()),
            "{name}"
        );
        assert!(
            back.data() == view.data(),
            "{name} differs after the round trip"
        );
    }
}

#[test]
fn llama_meta_to_hf_matches_the_transformers_checkpoint() {
    // The Meta folder has params.json, no config.json.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "mappings/llama/meta-to-hf.wmap",
        &model("llama_gqa/meta"),
        Some(&model("llama_gqa/meta/params.json")),
        &dir.path().join("hf"),
    );
    assert_same_tensors(&out, &model("llama_gqa/model.safetensors"));
}

#[test]
fn llama_meta_mappings_read_either_config() {
    // One mapping for both configs: config.json's num_attention_heads and
    // num_key_value_heads, or params.json's n_heads and n_kv_heads.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "mappings/llama/hf-to-meta.wmap",
        &model("llama_gqa"),
        Some(&model("llama_gqa/meta/params.json")),
        &dir.path().join("meta"),
    );
    assert_same_tensors(&out, &model("llama_gqa/meta/consolidated.safetensors"));
    let out = run(
        "mappings/llama/meta-to-hf.wmap",
        &model("llama_gqa/meta"),
        Some(&model("llama_gqa/config.json")),
        &dir.path().join("hf"),
    );
    assert_same_tensors(&out, &model("llama_gqa/model.safetensors"));
}

#[test]
fn mixtral_hf_to_fused_matches_the_transformers_state_dict() {
    // fused_state_dict.safetensors: transformers' own in-memory state_dict.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "mappings/mixtral/hf-to-fused.wmap",
        &model("mixtral"),
        None,
        &dir.path().join("fused"),
    );
    assert_same_tensors(&out, &model("mixtral/fused_state_dict.safetensors"));
}

#[test]
fn mixtral_fused_to_hf_matches_the_saved_checkpoint() {
    // model.safetensors: what save_pretrained wrote from that state_dict.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "mappings/mixtral/fused-to-hf.wmap",
        &model("mixtral/fused_state_dict.safetensors"),
        None,
        &dir.path().join("hf"),
    );
    assert_same_tensors(&out, &model("mixtral/model.safetensors"));
}

// ------------------------------------------------------------- round trips

#[test]
fn gpt2_hf_to_burn_to_hf_is_bit_exact() {
    // hf-to-burn.wmap is verified against transformers' logits (tests/verify.rs);
    // burn-to-hf.wmap must undo it exactly. No lm_head.weight on either side.
    let dir = tempfile::tempdir().unwrap();
    let burn = dir.path().join("burn");
    run("mappings/gpt2/hf-to-burn.wmap", &model("gpt2"), None, &burn);
    let back = run(
        "mappings/gpt2/burn-to-hf.wmap",
        &burn,
        None,
        &dir.path().join("back"),
    );
    assert_same_tensors(&back, &model("gpt2/model.safetensors"));
}

#[test]
fn llama_hf_to_meta_to_hf_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta");
    run(
        "mappings/llama/hf-to-meta.wmap",
        &model("llama_gqa"),
        None,
        &meta,
    );
    let back = run(
        "mappings/llama/meta-to-hf.wmap",
        &meta,
        Some(&model("llama_gqa/config.json")),
        &dir.path().join("back"),
    );
    assert_same_tensors(&back, &model("llama_gqa/model.safetensors"));
}

#[test]
fn mixtral_per_expert_to_fused_to_per_expert_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let fused = dir.path().join("fused");
    run(
        "mappings/mixtral/hf-to-fused.wmap",
        &model("mixtral"),
        None,
        &fused,
    );
    let back = run(
        "mappings/mixtral/fused-to-hf.wmap",
        &fused,
        None,
        &dir.path().join("back"),
    );
    assert_same_tensors(&back, &model("mixtral/model.safetensors"));
}

// ------------------------------------------------- every shipped .wmap file

/// What a shipped mapping is checked against.
enum Source {
    /// A fixture folder or file under tests/fixtures/models.
    Fixture(&'static str),
    /// The output of another shipped mapping (first) run on a fixture (second),
    /// for mappings whose source format has no fixture of its own.
    Output(&'static str, &'static str),
}

/// Every `.wmap` file under `mappings/`: (mapping, source, `--config` file
/// under tests/fixtures/models, if the source has no config.json of its own).
/// A mapping may be listed more than once; every file must be listed.
const SHIPPED: &[(&str, Source, Option<&str>)] = &[
    (
        "mappings/vit/timm-to-hf.wmap",
        Source::Fixture("vit_timm"),
        None,
    ),
    (
        "mappings/llama/extend-vocab.wmap",
        Source::Fixture("llama_gqa"),
        None,
    ),
    (
        "mappings/llama/extend-vocab.wmap",
        Source::Fixture("llama_tied"),
        None,
    ),
    ("mappings/phi3/to-llama.wmap", Source::Fixture("phi3"), None),
    (
        "mappings/qwen2/to-llama.wmap",
        Source::Fixture("qwen2"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Output("mappings/phi3/to-llama.wmap", "phi3"),
        None,
    ),
    (
        "mappings/gpt2/hf-to-burn.wmap",
        Source::Fixture("gpt2"),
        None,
    ),
    (
        "mappings/gpt2/burn-to-hf.wmap",
        Source::Output("mappings/gpt2/hf-to-burn.wmap", "gpt2"),
        None,
    ),
    (
        "mappings/bert/hf-to-burn.wmap",
        Source::Fixture("bert"),
        None,
    ),
    (
        "mappings/bert/hf-to-burn.wmap",
        Source::Fixture("bert_legacy"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Fixture("llama_gqa"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Fixture("llama_tied"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Fixture("llama3_rope"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Fixture("qwen2"),
        None,
    ),
    (
        "mappings/llama/hf-to-burn.wmap",
        Source::Fixture("mistral"),
        None,
    ),
    (
        "mappings/llama/hf-to-meta.wmap",
        Source::Fixture("llama_gqa"),
        None,
    ),
    (
        "mappings/llama/hf-to-meta.wmap",
        Source::Fixture("llama_gqa"),
        Some("llama_gqa/meta/params.json"),
    ),
    (
        "mappings/llama/hf-to-meta.wmap",
        Source::Fixture("llama_tied"),
        None,
    ),
    (
        "mappings/llama/meta-to-hf.wmap",
        Source::Fixture("llama_gqa/meta"),
        Some("llama_gqa/meta/params.json"),
    ),
    (
        "mappings/llama/meta-to-hf.wmap",
        Source::Fixture("llama_gqa/meta"),
        Some("llama_gqa/config.json"),
    ),
    (
        "mappings/mixtral/hf-to-fused.wmap",
        Source::Fixture("mixtral"),
        None,
    ),
    (
        "mappings/mixtral/fused-to-hf.wmap",
        Source::Fixture("mixtral/fused_state_dict.safetensors"),
        None,
    ),
];

/// A probe mapping for `std/torch`: every op, followed by its inverse, so that
/// the output equals the fixture (llama_gqa).
const TORCH_PROBE: &str = r#"
use "std/torch"
"model.layers.{i}.self_attn.q_proj.weight" | linear_to_burn | linear_from_burn
    -> "model.layers.{i}.self_attn.q_proj.weight"
"model.layers.{i}.self_attn.k_proj.weight" | linear_to_conv1d | conv1d_to_linear
    -> "model.layers.{i}.self_attn.k_proj.weight"
fallback "{name:**}" -> "{name}"
"#;

/// A probe mapping for `std/rotary`: every op, followed by its inverse, on the
/// q/k weights and biases of the qwen2 fixture (4 heads, 2 key/value heads).
const ROTARY_PROBE: &str = r#"
use "std/rotary"
let heads = config.num_attention_heads
let kv_heads = config.num_key_value_heads
"model.layers.{i}.self_attn.q_proj.weight" | unpermute_rotary(heads) | permute_rotary(heads)
    -> "model.layers.{i}.self_attn.q_proj.weight"
"model.layers.{i}.self_attn.k_proj.weight" | unpermute_rotary(kv_heads) | permute_rotary(kv_heads)
    -> "model.layers.{i}.self_attn.k_proj.weight"
"model.layers.{i}.self_attn.q_proj.bias" | unpermute_rotary_bias(heads) | permute_rotary_bias(heads)
    -> "model.layers.{i}.self_attn.q_proj.bias"
"model.layers.{i}.self_attn.k_proj.bias" | unpermute_rotary_bias(kv_heads) | permute_rotary_bias(kv_heads)
    -> "model.layers.{i}.self_attn.k_proj.bias"
fallback "{name:**}" -> "{name}"
"#;

/// Every `.wmap` file under `stdlib/`: (module file, fixture folder, probe).
/// A probe mapping for `std/norm`: each word list translates the gpt2
/// fixture's norm names; the output is the fixture with those names changed.
const NORM_PROBE: &str = r#"
use "std/norm"
"transformer.h.{i}.ln_1.{p:torch_norm}" -> "transformer.h.{i}.ln_1.{p:burn_norm}"
"transformer.ln_f.{p:torch_norm}" -> "transformer.ln_f.{p:flax_norm}"
fallback "{name:**}" -> "{name}"
"#;

const NORM_RENAMED: &[(&str, &str)] = &[
    (".ln_1.weight", ".ln_1.gamma"),
    (".ln_1.bias", ".ln_1.beta"),
    ("ln_f.weight", "ln_f.scale"),
];

/// (module, fixture, probe, what the probe renames in the fixture).
const QKV_PROBE: &str = r#"
use "std/qkv"
let heads = config.n_head
"transformer.h.{i}.attn.c_attn.weight" | transpose | split_per_head_qkv(heads) | fuse_per_head_qkv(heads)
    | split_grouped_qkv(heads, 2) | fuse_grouped_qkv(heads, 2) | qkv_groups(2, 12) | reshape(-1, shape[0])
    | transpose -> "transformer.h.{i}.attn.c_attn.weight"
"transformer.h.{i}.attn.c_attn.bias" | split_per_head_qkv_bias(heads) | fuse_per_head_qkv_bias(heads)
    -> "transformer.h.{i}.attn.c_attn.bias"
fallback "{name:**}" -> "{name}"
"#;

type Probe = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const STDLIB_PROBES: &[Probe] = &[
    ("stdlib/torch.wmap", "llama_gqa", TORCH_PROBE, &[]),
    ("stdlib/rotary.wmap", "qwen2", ROTARY_PROBE, &[]),
    ("stdlib/norm.wmap", "gpt2", NORM_PROBE, NORM_RENAMED),
    ("stdlib/qkv.wmap", "gpt2", QKV_PROBE, &[]),
];

/// The `.wmap` files under `dir`, recursively, as `dir/.../name.wmap`.
fn wmap_files(dir: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::from(dir)];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "wmap") {
                found.insert(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

/// Runs `wmap check` and asserts a clean result: exit 0, no diagnostics.
fn assert_checks_cleanly(mapping: &Path, src: &Path, config: Option<&Path>) {
    let mut cmd = wmap();
    cmd.arg("check").arg(mapping).arg(src);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    // llama/extend-vocab reads the tokens to add from the command line.
    if mapping.ends_with("extend-vocab.wmap") {
        cmd.args(["--set", "add_tokens=8"]);
    }
    let assert = cmd.assert().code(0).stderr("");
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.starts_with("ok: "),
        "{} on {}: {stdout}",
        mapping.display(),
        src.display()
    );
}

#[test]
fn every_shipped_mapping_is_listed_and_checks_cleanly() {
    let listed: BTreeSet<String> = SHIPPED.iter().map(|(m, _, _)| m.to_string()).collect();
    let found = wmap_files("mappings");
    let unlisted: Vec<&String> = found.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "add these mappings to SHIPPED in tests/mappings.rs: {unlisted:?}"
    );
    let missing: Vec<&String> = listed.difference(&found).collect();
    assert!(missing.is_empty(), "listed but not found: {missing:?}");

    let dir = tempfile::tempdir().unwrap();
    for (k, (mapping, source, config)) in SHIPPED.iter().enumerate() {
        let src = match source {
            Source::Fixture(fixture) => model(fixture),
            Source::Output(first, fixture) => {
                let dst = dir.path().join(format!("source-{k}"));
                run(first, &model(fixture), None, &dst);
                dst
            }
        };
        let config = config.map(model);
        assert_checks_cleanly(Path::new(mapping), &src, config.as_deref());
    }
}

/// The names of the ops that a module defines (`op NAME ...` lines).
fn defined_ops(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("op "))
        .filter_map(|rest| {
            rest.trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .map(String::from)
        })
        .collect()
}

/// The names of the ops that a mapping calls (the name after each `|`).
fn called_ops(text: &str) -> BTreeSet<String> {
    text.split('|')
        .skip(1)
        .filter_map(|step| {
            step.trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .map(String::from)
        })
        .collect()
}

#[test]
fn every_stdlib_module_is_probed_and_checks_cleanly() {
    let listed: BTreeSet<String> = STDLIB_PROBES
        .iter()
        .map(|(m, _, _, _)| m.to_string())
        .collect();
    let found = wmap_files("stdlib");
    let unlisted: Vec<&String> = found.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "add probes for these modules to STDLIB_PROBES in tests/mappings.rs: {unlisted:?}"
    );
    let missing: Vec<&String> = listed.difference(&found).collect();
    assert!(missing.is_empty(), "listed but not found: {missing:?}");

    let dir = tempfile::tempdir().unwrap();
    for (module, fixture, probe, renamed) in STDLIB_PROBES {
        // The probe uses the module as users do, `use "std/NAME"`: the copy
        // embedded in the binary, built from this file.
        let stem = Path::new(module).file_stem().unwrap().to_string_lossy();
        assert!(
            probe.contains(&format!("use \"std/{stem}\"")),
            "the probe of {module} must use std/{stem}"
        );
        let text = std::fs::read_to_string(module).unwrap();
        let ops = defined_ops(&text);
        let lists = defined_words(&text);
        assert!(
            !ops.is_empty() || !lists.is_empty(),
            "{module} defines no op and no word list"
        );
        let called = called_ops(probe);
        for op in &ops {
            assert!(
                called.contains(op),
                "the probe of {module} does not call `{op}`"
            );
        }
        for list in &lists {
            assert!(
                probe.contains(&format!(":{list}}}")),
                "the probe of {module} does not use the list `{list}`"
            );
        }

        let rules = dir.path().join(format!("probe-{stem}.wmap"));
        std::fs::write(&rules, probe).unwrap();
        assert_checks_cleanly(&rules, &model(fixture), None);
        // Each op is followed by its inverse: the fixture comes back unchanged.
        let out = run(
            &rules,
            &model(fixture),
            None,
            &dir.path().join(format!("out-{stem}")),
        );
        let want = model(fixture).join("model.safetensors");
        if renamed.is_empty() {
            assert_same_tensors(&out, &want);
        } else {
            // The fixture with the probe's renames, written by the safetensors crate.
            let bytes = std::fs::read(&want).unwrap();
            let st = SafeTensors::deserialize(&bytes).unwrap();
            let views: Vec<(String, safetensors::tensor::TensorView)> = st
                .tensors()
                .into_iter()
                .map(|(name, view)| {
                    let new = renamed
                        .iter()
                        .fold(name.clone(), |n, (from, to)| n.replace(from, to));
                    (new, view)
                })
                .collect();
            let expected = dir.path().join(format!("expected-{stem}.safetensors"));
            safetensors::tensor::serialize_to_file(views, None, &expected).unwrap();
            assert_same_tensors(&out, &expected);
        }
    }
}

/// The names of the word lists that a module defines (`words NAME = ...`).
fn defined_words(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("words "))
        .filter_map(|rest| rest.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn every_mapping_opens_with_its_source_target_and_config_needs() {
    for path in wmap_files("mappings") {
        let text = std::fs::read_to_string(&path).unwrap();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for label in ["# Source:", "# Target:", "# Needs from the config file:"] {
            assert!(
                header.contains(label),
                "{path}: the opening comment has no `{label}` line"
            );
        }
    }
}
