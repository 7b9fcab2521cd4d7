//! `wmap infer`: drafts from the HF fixtures to the burn models' specs are
//! converted and verified against transformers' outputs, so a draft that
//! pairs the wrong tensors (or transposes a square matrix wrongly) fails.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::wmap;
use predicates::prelude::*;
use wmap::dtype::DType;

fn fixture(name: &str) -> PathBuf {
    Path::new("tests/fixtures/models").join(name)
}

/// `wmap spec` for the fixture's model, then `wmap infer` to it; returns
/// (draft path, the infer command's result).
fn draft(dir: &Path, model: &str, fixture_name: &str) -> (PathBuf, assert_cmd::assert::Assert) {
    let spec = dir.join(format!("{fixture_name}.spec.json"));
    wmap()
        .args(["spec", "--model", model, "--config"])
        .arg(fixture(fixture_name).join("config.json"))
        .arg("-o")
        .arg(&spec)
        .assert()
        .success();
    let out = dir.join(format!("{fixture_name}.wmap"));
    let assert = wmap()
        .arg("infer")
        .arg(fixture(fixture_name))
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .assert();
    (out, assert)
}

fn convert_and_verify(dir: &Path, rules: &Path, model: &str, fixture_name: &str) {
    let converted = dir.join(format!("{fixture_name}-converted"));
    wmap()
        .args(["run", "--quiet"])
        .arg(rules)
        .arg(fixture(fixture_name))
        .arg(&converted)
        .assert()
        .success();
    wmap()
        .args(["verify", "--model", model])
        .arg(&converted)
        .arg("--reference")
        .arg(fixture(fixture_name).join("reference.safetensors"))
        .assert()
        .success()
        .stdout(predicate::str::contains("top-1 100.0%"));
}

#[test]
fn drafts_to_the_burn_specs_need_no_editing_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (model, name) in [
        ("gpt2", "gpt2"),
        ("bert", "bert"),
        ("llama", "llama_gqa"),
        ("llama", "llama_tied"),
        ("llama", "llama3_rope"),
        ("llama", "qwen2"),
        ("llama", "mistral"),
    ] {
        let (draft, assert) = draft(dir.path(), model, name);
        assert
            .success()
            .stderr(predicate::str::contains(
                "0 source and 0 target patterns left",
            ))
            .stderr(predicate::str::contains("check: clean; writes exactly the"));
        convert_and_verify(dir.path(), &draft, model, name);
    }
}

#[test]
fn drafts_use_patterns_and_find_the_fused_qkv_and_the_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let (gpt2, _) = draft(dir.path(), "gpt2", "gpt2");
    let text = std::fs::read_to_string(gpt2).unwrap();
    // One rule per layer pattern, not one line per tensor.
    assert!(!text.contains(".h.0."), "{text}");
    assert!(text.contains(
        "\"transformer.h.{i}.attn.c_attn.weight\"\n    | split(axis=1, parts=3)\n    -> [\"blocks.{i}.attn.query.weight\", \"blocks.{i}.attn.key.weight\", \"blocks.{i}.attn.value.weight\"]"
    ), "{text}");
    // GPT-2's Conv1D is [in, out] like burn's Linear: nothing transposed.
    assert!(!text.contains("| transpose"), "{text}");

    let (llama, _) = draft(dir.path(), "llama", "llama_gqa");
    let text = std::fs::read_to_string(llama).unwrap();
    // nn.Linear is [out, in]: every projection transposed, the square ones
    // too (they follow the others); the embedding is not.
    for line in [
        "\"model.layers.{i}.self_attn.q_proj.weight\" | transpose -> \"layers.{i}.attention.wq.weight\"",
        "\"model.layers.{i}.mlp.gate_proj.weight\" | transpose -> \"layers.{i}.feed_forward.w1.weight\"",
        "\"model.layers.{i}.post_attention_layernorm.weight\" -> \"layers.{i}.ffn_norm.gamma\"",
        "\"lm_head.weight\" | transpose -> \"output.weight\"",
    ] {
        let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(squeezed.contains(line), "{line}\n{text}");
    }
    assert!(text.contains("\"model.embed_tokens.weight\""), "{text}");
    assert!(
        !text.contains("embed_tokens.weight\" | transpose"),
        "{text}"
    );
}

#[test]
fn what_cannot_be_paired_is_left_as_a_comment_and_one_line_fixes_it() {
    // The older BERT saved embeddings.position_ids, which the model does not take.
    let dir = tempfile::tempdir().unwrap();
    let (draft, assert) = draft(dir.path(), "bert", "bert_legacy");
    assert
        .code(1)
        .stderr(predicate::str::contains(
            "1 source and 0 target patterns left",
        ))
        .stderr(predicate::str::contains("check: 1 problem against"));
    let text = std::fs::read_to_string(&draft).unwrap();
    assert!(
        text.contains("# \"embeddings.position_ids\" [1, 64] i64 x1: no target found"),
        "{text}"
    );
    // The one line edited by hand.
    std::fs::write(&draft, format!("{text}drop \"embeddings.position_ids\"\n")).unwrap();
    convert_and_verify(dir.path(), &draft, "bert", "bert_legacy");
}

#[test]
fn the_target_may_be_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("burn");
    wmap()
        .args(["run", "--quiet", "mappings/gpt2/hf-to-burn.wmap"])
        .arg(fixture("gpt2"))
        .arg(&converted)
        .assert()
        .success();
    // Back from burn to HF: the three q/k/v become one fused c_attn only by
    // a concat, which infer does not draft; everything else pairs.
    let out = dir.path().join("back.wmap");
    wmap()
        .arg("infer")
        .arg(&converted)
        .arg(fixture("gpt2"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"blocks.{i}.ln_1.gamma\""), "{text}");
    assert!(
        text.contains("# nothing found for \"transformer.h.{i}.attn.c_attn.weight\""),
        "{text}"
    );
    assert!(text.contains("# \"blocks.{i}.attn.query.weight\" [64, 64] f32 x2: no target found; candidates: \"transformer.h.{i}.attn.c_attn.weight\""), "{text}");
}

#[test]
fn hints_teach_it_a_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.safetensors");
    let dst = dir.path().join("dst.safetensors");
    let t = |name: &str, shape: &[u64]| {
        let n: u64 = shape.iter().product();
        (
            name.to_string(),
            DType::F32,
            shape.to_vec(),
            common::pseudo_random_bytes(n as usize * 4, 1, DType::F32),
        )
    };
    common::write_safetensors(
        &src,
        &[
            t("enc.0.mix.weight", &[8, 4]),
            t("enc.1.mix.weight", &[8, 4]),
        ],
    );
    common::write_safetensors(
        &dst,
        &[
            t("layers.0.mlp.up.weight", &[4, 8]),
            t("layers.1.mlp.up.weight", &[4, 8]),
        ],
    );
    let out = dir.path().join("d.wmap");
    wmap()
        .arg("infer")
        .arg(&src)
        .arg(&dst)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "1 source and 1 target patterns left",
        ));
    wmap()
        .arg("infer")
        .arg(&src)
        .arg(&dst)
        .args(["-o", "-", "--hint", "enc=layers", "--hint", "mix=mlp.up"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r#""enc\.\{i\}\.mix\.weight" \| transpose -> "layers\.\{i\}\.mlp\.up\.weight""#,
            )
            .unwrap(),
        );
    wmap()
        .args(["infer"])
        .arg(&src)
        .arg(&dst)
        .args(["-o", "-", "--hint", "nonsense"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--hint expects FROM=TO"));
}

#[test]
fn a_bias_no_source_holds_is_made_and_the_targets_config_is_written() {
    // The target: Qwen2 as Llama with `attention_bias`, whose o_proj.bias
    // Qwen2 does not have, and Llama's config.json (shipped mapping's output,
    // which transformers loads and runs as Qwen2: scripts/verify_mappings.py).
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("as-llama");
    wmap()
        .args(["run", "--quiet", "mappings/qwen2/to-llama.wmap"])
        .arg(fixture("qwen2"))
        .arg(&target)
        .assert()
        .success();
    let drafted = dir.path().join("draft.wmap");
    wmap()
        .arg("infer")
        .arg(fixture("qwen2"))
        .arg(&target)
        .arg("-o")
        .arg(&drafted)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "0 source and 0 target patterns left",
        ))
        .stderr(predicate::str::contains(
            "1 target bias pattern no source holds, made as zeros",
        ))
        .stderr(predicate::str::contains("writes the target's config"))
        .stderr(predicate::str::contains(
            "check: clean; writes exactly the 29 tensors",
        ));
    let text = std::fs::read_to_string(&drafted).unwrap();
    assert!(
        text.contains("make zeros(shape=[64], dtype=f32) -> \"model.layers.{i}.self_attn.o_proj.bias\" for i in 0..2"),
        "{text}"
    );
    // Keys Qwen2 shares are read from its config; Llama's own are literals.
    for line in [
        "write \"config.json\" {",
        "    model_type = \"llama\"",
        "    hidden_size = config.hidden_size",
        "    num_key_value_heads = config.num_key_value_heads",
        "    attention_bias = true",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // Run unedited, the draft writes the target exactly, config included.
    let out = dir.path().join("out");
    wmap()
        .args(["run", "--quiet"])
        .arg(&drafted)
        .arg(fixture("qwen2"))
        .arg(&out)
        .assert()
        .success();
    wmap()
        .arg("diff")
        .arg(&target)
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("29 bit-identical"));
    let config = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(config(&out), config(&target));
    // Against a spec (no config) nothing is written.
    let (spec_draft, _) = draft(dir.path(), "llama", "qwen2");
    assert!(!std::fs::read_to_string(spec_draft)
        .unwrap()
        .contains("write "));
}
