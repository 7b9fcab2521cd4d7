//! `wmap invert`: reverse mappings derived from plans, checked by running
//! the mapping, then its reverse, and comparing with the original checkpoint
//! byte for byte (read with the safetensors crate, not with wmap).

use std::path::{Path, PathBuf};

use crate::common::wmap;
use predicates::prelude::*;
use safetensors::SafeTensors;

fn fixture(name: &str) -> PathBuf {
    Path::new("tests/fixtures/models").join(name)
}

/// Every tensor of `a` and `b`: same names, dtypes, shapes and bytes.
fn assert_bit_identical(a: &Path, b: &Path) {
    let file = |p: &Path| {
        if p.is_dir() {
            p.join("model.safetensors")
        } else {
            p.to_path_buf()
        }
    };
    let (a_bytes, b_bytes) = (
        std::fs::read(file(a)).unwrap(),
        std::fs::read(file(b)).unwrap(),
    );
    let (a_st, b_st) = (
        SafeTensors::deserialize(&a_bytes).unwrap(),
        SafeTensors::deserialize(&b_bytes).unwrap(),
    );
    let mut a_names = a_st.names();
    let mut b_names = b_st.names();
    a_names.sort();
    b_names.sort();
    assert_eq!(a_names, b_names, "{} and {}", a.display(), b.display());
    for name in a_names {
        let (x, y) = (a_st.tensor(name).unwrap(), b_st.tensor(name).unwrap());
        assert_eq!(x.dtype(), y.dtype(), "{name}");
        assert_eq!(x.shape(), y.shape(), "{name}");
        assert!(x.data() == y.data(), "{name}: the bytes differ");
    }
}

/// Runs `rules` on `src`, inverts it, runs the reverse on the output and
/// checks that the original comes back; returns the reverse's text.
fn round_trip(rules: &Path, src: &Path, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let forward = dir.path().join("forward");
    let reverse = dir.path().join("reverse.wmap");
    let back = dir.path().join("back");
    wmap()
        .args(["run", "--quiet"])
        .arg(rules)
        .arg(src)
        .arg(&forward)
        .args(extra)
        .assert()
        .success();
    wmap()
        .arg("invert")
        .arg(rules)
        .arg(src)
        .arg("-o")
        .arg(&reverse)
        .args(extra)
        .assert()
        .success()
        .stderr(predicate::str::contains("checked against their headers"));
    // Written formatted, and clean against the converted checkpoint.
    wmap()
        .args(["fmt", "--check"])
        .arg(&reverse)
        .assert()
        .success();
    wmap()
        .arg("check")
        .arg(&reverse)
        .arg(&forward)
        .args(extra)
        .assert()
        .success();
    wmap()
        .args(["run", "--quiet"])
        .arg(&reverse)
        .arg(&forward)
        .arg(&back)
        .args(extra)
        .assert()
        .success();
    assert_bit_identical(src, &back);
    std::fs::read_to_string(&reverse).unwrap()
}

#[test]
fn shipped_mappings_reverse_bit_exactly_on_every_fixture() {
    let cases = [
        ("gpt2/hf-to-burn", "gpt2"),
        ("bert/hf-to-burn", "bert"),
        ("llama/hf-to-burn", "llama_gqa"),
        ("llama/hf-to-burn", "llama_tied"),
        ("llama/hf-to-burn", "llama3_rope"),
        ("llama/hf-to-burn", "qwen2"),
        ("llama/hf-to-burn", "mistral"),
        ("llama/hf-to-meta", "llama_gqa"),
        ("llama/hf-to-meta", "mistral"),
        ("llama/hf-to-meta", "llama_tied"),
        ("mixtral/hf-to-fused", "mixtral"),
    ];
    for (mapping, model) in cases {
        let rules = Path::new("mappings").join(format!("{mapping}.wmap"));
        round_trip(&rules, &fixture(model), &[]);
    }
}

#[test]
fn reverse_mappings_of_converted_checkpoints_round_trip_too() {
    // The mappings whose sources are other mappings' outputs.
    let dir = tempfile::tempdir().unwrap();
    for (first, model, second) in [
        ("gpt2/hf-to-burn", "gpt2", "gpt2/burn-to-hf"),
        ("mixtral/hf-to-fused", "mixtral", "mixtral/fused-to-hf"),
        ("llama/hf-to-meta", "llama_gqa", "llama/meta-to-hf"),
    ] {
        let converted = dir.path().join(model);
        wmap()
            .args(["run", "--quiet"])
            .arg(format!("mappings/{first}.wmap"))
            .arg(fixture(model))
            .arg(&converted)
            .assert()
            .success();
        round_trip(
            &Path::new("mappings").join(format!("{second}.wmap")),
            &converted,
            &[],
        );
    }
}

#[test]
fn reverses_read_as_their_authors_would_write_them() {
    let gpt2 = round_trip(
        Path::new("mappings/gpt2/hf-to-burn.wmap"),
        &fixture("gpt2"),
        &[],
    );
    // The fused QKV: three targets joined back along the axis they were split on.
    assert!(gpt2.contains(
        "[\"blocks.{i}.attn.query.weight\", \"blocks.{i}.attn.key.weight\", \"blocks.{i}.attn.value.weight\"]\n    | concat(axis=1)\n    -> \"transformer.h.{i}.attn.c_attn.weight\""
    ), "{gpt2}");
    assert!(
        gpt2.contains("\"blocks.{i}.ln_{n:1|2}.{p:gamma|beta}\" -> \"transformer.h.{i}.ln_{n}.{p:weight|bias}\""),
        "{gpt2}"
    );
    assert!(
        gpt2.starts_with("# The reverse of hf-to-burn.wmap"),
        "{gpt2}"
    );

    // The rotary permute is undone by the stdlib op meant for it, with the
    // head counts still read from the config.
    let meta = round_trip(
        Path::new("mappings/llama/hf-to-meta.wmap"),
        &fixture("llama_gqa"),
        &[],
    );
    assert!(meta.contains("use \"std/rotary\""), "{meta}");
    assert!(
        meta.contains("let kv_heads = config.num_key_value_heads"),
        "{meta}"
    );
    assert!(meta.contains("| permute_rotary(heads)"), "{meta}");
    assert!(meta.contains("| permute_rotary(kv_heads)"), "{meta}");

    // Linear layouts: linear_to_burn is undone by linear_from_burn (every
    // transpose undoes every other; the inverse by name is chosen).
    let llama = round_trip(
        Path::new("mappings/llama/hf-to-burn.wmap"),
        &fixture("qwen2"),
        &[],
    );
    assert!(llama.contains("| linear_from_burn"), "{llama}");
    assert!(!llama.contains("conv1d"), "{llama}");
    assert!(
        llama.contains("optional \"layers.{i}.attention.w{p:q|k|v|o}.bias\""),
        "{llama}"
    );

    // Experts: unstacked from the fused tensor, then split into w1 and w3.
    let moe = round_trip(
        Path::new("mappings/mixtral/hf-to-fused.wmap"),
        &fixture("mixtral"),
        &[],
    );
    assert!(
        moe.contains("| unstack(e, axis=0)\n    | split(axis=0, parts=2)"),
        "{moe}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn shifted_captures_regex_rules_casts_scales_and_ties() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "m.wmap",
        r#"wmap 1
cast f32 -> f64
"transformer.h.{i}.ln_1.weight" -> "blocks.{i + 1}.norm.weight"
regex "^transformer\.h\.(\d+)\.mlp\.c_fc\.(weight|bias)$" -> "fc.$1.$2"
"transformer.wte.weight" | mul(4) -> "embed.weight"
"transformer.wpe.weight" | transpose -> "pos.weight"
"transformer.h.{i}.attn.c_proj.weight" | heads_first(4) -> "proj.{i}"
op heads_first(h) = reshape(h, shape[0] / h, shape[1]) | permute(1, 0, 2) | reshape(shape[0], shape[1])
tie "lm_head.weight" = "embed.weight"
fallback "{name:**}" -> "{name}"
"#,
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(
        text.contains(
            "\"blocks.{i}.norm.weight\" | cast(f32) -> \"transformer.h.{i - 1}.ln_1.weight\""
        ),
        "{text}"
    );
    // The regex rule, folded back into patterns through its matches.
    assert!(
        text.contains("\"fc.{i}.weight\" | cast(f32) -> \"transformer.h.{i}.mlp.c_fc.weight\""),
        "{text}"
    );
    assert!(
        text.contains("\"fc.{i}.bias\" | cast(f32) -> \"transformer.h.{i}.mlp.c_fc.bias\""),
        "{text}"
    );
    assert!(
        text.contains("\"embed.weight\" | mul(0.25) | cast(f32) -> \"transformer.wte.weight\""),
        "{text}"
    );
    assert!(
        text.contains("\"pos.weight\" | transpose | cast(f32) -> \"transformer.wpe.weight\""),
        "{text}"
    );
    assert!(text.contains("drop \"lm_head.weight\""), "{text}");
    // An op with no inverse among the defined ops: its body is undone step
    // by step, with the shapes it went through.
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squeezed.contains("\"proj.{i}\" | reshape(16, 4, 64) | permute(1, 0, 2) | reshape(64, 64) | cast(f32) -> \"transformer.h.{i}.attn.c_proj.weight\""),
        "{text}"
    );
    assert!(text.contains("op heads_first(h) ="), "{text}");
    assert!(
        text.contains("fallback \"{name:**}\" | cast(f32) -> \"{name}\""),
        "{text}"
    );

    // A rule's own widening cast is undone by the narrowing one.
    let rules = write(
        dir.path(),
        "wide.wmap",
        "wmap 1\n\"transformer.wpe.weight\" | cast(f64) | transpose -> \"pos\"\nfallback \"{name:**}\" -> \"{name}\"\n",
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(
        text.contains("\"pos\" | transpose | cast(f32) -> \"transformer.wpe.weight\""),
        "{text}"
    );
}

#[test]
fn positional_arguments_are_read_as_the_checker_reads_them() {
    // `split(1, 3)` is `split(axis=1, parts=3)`: its reverse joins along axis
    // 1, and `concat(1)` splits along axis 1, not along a default.
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "positional.wmap",
        r#"wmap 1
"transformer.h.{i}.attn.c_attn.weight" | split(1, 3) -> ["q.{i}", "k.{i}", "v.{i}"]
["transformer.h.{i}.mlp.c_fc.weight", "transformer.h.{i}.attn.c_proj.weight"] | concat(1) -> "joined.{i}"
fallback "{name:**}" -> "{name}"
"#,
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(
        text.contains(r#"["q.{i}", "k.{i}", "v.{i}"] | concat(axis=1) -> "transformer.h.{i}.attn.c_attn.weight""#),
        "{text}"
    );
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squeezed.contains(r#""joined.{i}" | split(axis=1, sizes=[256, 64]) -> ["transformer.h.{i}.mlp.c_fc.weight", "transformer.h.{i}.attn.c_proj.weight"]"#),
        "{text}"
    );
}

#[test]
fn an_optional_tie_is_undone_by_dropping_exactly_the_copies_it_made() {
    // Layer 0's shadow comes from a rule, so the tie copies only layer 1's.
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "optional-tie.wmap",
        r#"wmap 1
"transformer.h.{i}.ln_1.weight" -> "blocks.{i}.ln1.gamma"
"transformer.h.0.ln_2.weight" -> "blocks.0.shadow.gamma"
optional tie "blocks.{i}.shadow.gamma" = "blocks.{i}.ln1.gamma"
fallback "{name:**}" -> "{name}"
"#,
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(text.contains("drop \"blocks.1.shadow.gamma\""), "{text}");
    assert!(!text.contains("drop \"blocks.0.shadow.gamma\""), "{text}");
    assert!(
        text.contains("\"blocks.0.shadow.gamma\" -> \"transformer.h.0.ln_2.weight\""),
        "{text}"
    );
}

#[test]
fn what_cannot_be_undone_is_refused_all_at_once_naming_each_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "lossy.wmap",
        r#"wmap 1
"transformer.wte.weight" | slice(axis=0, 0, 10) -> "wte"
"transformer.wpe.weight" | cast(f16) -> "wpe"
"transformer.ln_f.weight" | add(1.0) -> "ln_f.weight"
"transformer.ln_f.bias" | mul(3) -> "ln_f.bias"
drop "transformer.h.{i}.attn.c_proj.bias"
fallback "{name:**}" -> "{name}"
"#,
    );
    let out = dir.path().join("reverse.wmap");
    let assert = wmap()
        .args(["invert", "--color", "never"])
        .arg(&rules)
        .arg(fixture("gpt2"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("error: 5 problems"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(
        stderr.matches("wmap::not_invertible").count(),
        5,
        "{stderr}"
    );
    for (line, what) in [
        (2, "slice keeps part of a tensor"),
        (3, "the cast from f32 to f16 rounds"),
        (4, "`add(1)` rounds"),
        (5, "`mul(3)` rounds"),
        (6, "discards 2 source tensors"),
    ] {
        assert!(stderr.contains(what), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("lossy.wmap:{line}:")),
            "line {line}: {stderr}"
        );
    }
    assert!(!out.exists());
    assert!(!dir.path().join("reverse.wmap.invert-tmp").exists());
}

#[test]
fn a_drop_that_took_something_is_refused_and_an_unmatched_one_is_not() {
    // bert_legacy saved embeddings.position_ids, which the mapping drops;
    // on the newer fixture the same optional drop matches nothing.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.wmap");
    let text = std::fs::read_to_string("mappings/bert/hf-to-burn.wmap").unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("optional drop \"embeddings.position_ids\""))
        .unwrap();
    wmap()
        .args([
            "invert",
            "--color",
            "never",
            "mappings/bert/hf-to-burn.wmap",
        ])
        .arg(fixture("bert_legacy"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "this drop discards 1 source tensor,",
        ))
        .stderr(predicate::str::contains(format!(
            "hf-to-burn.wmap:{line}:1"
        )));
    assert!(!out.exists());
    wmap()
        .args(["invert", "mappings/bert/hf-to-burn.wmap"])
        .arg(fixture("bert"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert!(out.exists());
}

#[test]
fn a_global_narrowing_cast_is_refused_at_the_cast() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "half.wmap",
        "wmap 1\ncast f32 -> bf16\nfallback \"{name:**}\" -> \"{name}\"\n",
    );
    wmap()
        .args(["invert", "--color", "never"])
        .arg(&rules)
        .arg(fixture("gpt2"))
        .args(["-o", "-"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("and the cast to bf16 rounds"))
        .stderr(predicate::str::contains("half.wmap:2:1"));
}

#[test]
fn a_mapping_with_problems_is_reported_as_check_would() {
    wmap()
        .args([
            "invert",
            "--color",
            "never",
            "mappings/gpt2/hf-to-burn.wmap",
        ])
        .arg(fixture("bert"))
        .args(["-o", "-"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wmap::unmatched_rule"));
}

#[test]
fn dash_prints_the_reverse() {
    wmap()
        .args(["invert", "mappings/llama/hf-to-meta.wmap"])
        .arg(fixture("llama_gqa"))
        .args(["-o", "-"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r#""output.weight" +-> "lm_head.weight""#).unwrap());
}

#[test]
fn an_op_that_changes_nothing_is_undone_by_nothing() {
    // `permute(0, 1)` keeps the axes as they are; its inverse must not be
    // read off the transpose before it. The matrices are square (64 x 64),
    // so a wrong inverse would still check: only the bytes tell.
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "m.wmap",
        r#"wmap 1
"transformer.h.{i}.attn.c_proj.weight" | transpose | permute(0, 1) | reshape(64, 64) -> "p.{i}"
fallback "{name:**}" -> "{name}"
"#,
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(
        text.contains(
            "\"p.{i}\" | reshape(64, 64) | permute(0, 1) | transpose -> \"transformer.h.{i}.attn.c_proj.weight\""
        ),
        "{text}"
    );
}

#[test]
fn unsqueeze_is_undone_by_the_shape_it_met() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "m.wmap",
        r#"wmap 1
"transformer.h.{i}.ln_1.bias" | unsqueeze(-1) | unsqueeze(0) -> "row.{i}"
fallback "{name:**}" -> "{name}"
"#,
    );
    let text = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(
        text.contains(
            "\"row.{i}\" | reshape(64, 1) | reshape(64) -> \"transformer.h.{i}.ln_1.bias\""
        ),
        "{text}"
    );
}

#[test]
fn a_size_read_from_a_source_tensor_is_a_number_in_the_reverse() {
    // The forward renames the tensor it reads the size from, so the reverse's
    // source has no such name: the `let` becomes the value it had.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("sized.wmap");
    std::fs::write(
        &rules,
        "let d = shape(\"transformer.wte.weight\")[1]\n\
         \"transformer.wte.weight\" -> \"embed\"\n\
         \"transformer.h.{i}.attn.c_attn.weight\" | reshape(d, 3, d) -> \"qkv.{i}\"\n\
         fallback \"{name:**}\" -> \"{name}\"\n",
    )
    .unwrap();
    let reverse = round_trip(&rules, &fixture("gpt2"), &[]);
    assert!(reverse.contains("let d = 64\n"), "{reverse}");
    assert!(!reverse.contains("shape(\""), "{reverse}");
}
