//! The checker against hostile headers and mappings: reserved and impossible
//! target names, rules that cannot be compiled, work that a 100-byte header
//! could make unbounded, and diagnostics that say what is true. Every case
//! runs the CLI: `check` must exit 1 with the diagnostic at its place (or 2
//! for a bad input), never 0 with "0 problems", never a panic, and `run`
//! must write nothing.

use std::path::Path;

use super::common::case::{run_in, Case};
use super::common::write_safetensors;
use super::support::*;
use wmap::dtype::DType;

/// A case with `m.wmap` (the given text) and `src.safetensors` (the given
/// tensors, as F32).
fn setup(mapping: &str, tensors: &[(&str, &[u64])]) -> Case {
    let list: Vec<(&str, DType, &[u64])> =
        tensors.iter().map(|(n, s)| (*n, DType::F32, *s)).collect();
    Case::new()
        .mapping(mapping)
        .checkpoint("src.safetensors", &list)
}

/// A safetensors file from a raw header (no data beyond what it says).
fn raw(path: &Path, header: &str, data: usize) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    std::fs::write(path, bytes).unwrap();
}

/// `check` exits 1 naming `code` and saying `says`; `run` writes nothing.
fn problem(dir: &Path, code: &str, says: &str) -> String {
    let checked = run_in(dir, ["check", "m.wmap", "src.safetensors"]);
    checked.exits(1).says(&format!("wmap::{code}")).says(says);
    assert!(!checked.stderr.contains("0 problems"), "{}", checked.stderr);
    run_in(dir, ["run", "m.wmap", "src.safetensors", "out.safetensors"])
        .exits(1)
        .changes_nothing();
    checked.stderr.clone()
}

#[test]
fn a_target_named_metadata_is_refused_at_its_rule() {
    let dir = setup("\"a\" -> \"__metadata__\"\n", &[("a", &[2])]);
    problem(
        dir.path(),
        "invalid_target_name",
        "safetensors keeps it for the file's metadata",
    );
}

#[test]
fn a_target_named_metadata_through_a_capture_is_refused() {
    let dir = setup(
        "\"x.{n:*}\" -> \"{n}\"\n",
        &[("x.__metadata__", &[2]), ("x.b", &[1])],
    );
    problem(
        dir.path(),
        "invalid_target_name",
        "`__metadata__` cannot name a tensor",
    );
}

#[test]
fn a_tie_copy_named_metadata_is_refused() {
    let dir = setup(
        "\"a\" -> \"b\"\ntie \"__metadata__\" = \"b\"\n",
        &[("a", &[2])],
    );
    problem(dir.path(), "invalid_target_name", "__metadata__");
}

#[test]
fn an_empty_target_name_is_refused() {
    let dir = setup("\"a{x:*}\" -> \"{x}\"\n", &[("a", &[2]), ("ab", &[1])]);
    // `{x:*}` needs one character at least, so "a" is unmatched; the empty
    // name comes from a regex.
    let dir2 = setup("regex \"a(.*)\" -> \"$1\"\n", &[("a", &[2]), ("ab", &[1])]);
    drop(dir);
    problem(dir2.path(), "invalid_target_name", "a target name is empty");
}

#[test]
fn names_that_would_make_a_header_past_100_mb_are_refused_before_writing() {
    // 60 tensors whose names are 2 MB each: 120 MB of header.
    let long = "n".repeat(2_000_000);
    let mapping = format!("\"t.{{i}}\" -> \"{long}.{{i}}\"\n");
    let names: Vec<String> = (0..60).map(|i| format!("t.{i}")).collect();
    let tensors: Vec<(&str, &[u64])> = names.iter().map(|n| (n.as_str(), &[1u64][..])).collect();
    let dir = setup(&mapping, &tensors);
    problem(dir.path(), "header_too_large", "more than the 104857600");
}

#[test]
fn every_output_wmap_writes_reads_back_with_both_readers() {
    // Names with quotes, backslashes, braces, unicode and control
    // characters: written, then read by wmap's reader and the crate's.
    let names = [
        "q\"uote",
        "back\\slash",
        "br{ace}s",
        "größe.ü",
        "tab\there",
        "nl\nx",
        "\u{1}ctl",
    ];
    let tensors: Vec<(&str, &[u64])> = names.iter().map(|n| (*n, &[2u64][..])).collect();
    let dir = setup("fallback \"{n:**}\" -> \"out.{n}\"\n", &tensors);
    let out = wmap()
        .current_dir(dir.path())
        .args(["run", "m.wmap", "src.safetensors", "out.safetensors"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.path().join("out.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut got: Vec<String> = st.names().into_iter().map(String::from).collect();
    got.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("out.{n}")).collect();
    want.sort();
    assert_eq!(got, want);
    wmap()
        .current_dir(dir.path())
        .args(["inspect", "out.safetensors"])
        .assert()
        .success();
}

#[test]
fn a_pattern_too_large_to_compile_is_a_diagnostic_not_a_dropped_rule() {
    // One word list of 4,000 words of 100 letters: past the regex engine's
    // size limit (and within the parser's 4,096 elements).
    let words: Vec<String> = (0..4_000)
        .map(|i| format!("w{i}{}", "x".repeat(100)))
        .collect();
    let mapping = format!(
        "\"a.{{p:{}}}\" -> \"b.{{p}}\"\nfallback \"{{n:**}}\" -> \"{{n}}\"\n",
        words.join("|")
    );
    let dir = setup(&mapping, &[("a.w7x", &[2])]);
    let stderr = problem(dir.path(), "pattern_too_large", "too large to match with");
    // The fallback did not silently take the rule's tensor.
    assert!(!stderr.contains("0 problems"));
}

#[test]
fn a_very_long_literal_pattern_is_a_diagnostic() {
    // 1 MB of text compiles to more than the regex engine's 10 MB.
    let long = "x".repeat(1_000_000);
    let mapping = format!("\"{long}{{i}}\" -> \"y.{{i}}\"\n\"a\" -> \"a\"\n");
    let dir = setup(&mapping, &[("a", &[2])]);
    problem(dir.path(), "pattern_too_large", "regex engine");
}

#[test]
fn many_rules_past_the_regex_set_limit_are_all_matched() {
    // 3,000 rules: more than one regex set holds; each must still match
    // its own tensor (none dropped, none left to the fallback).
    let mut mapping = String::new();
    let names: Vec<String> = (0..3000).map(|i| format!("layer_{i}.w")).collect();
    for (i, n) in names.iter().enumerate() {
        mapping.push_str(&format!("\"{n}\" -> \"renamed_{i}\"\n"));
    }
    mapping.push_str("fallback \"{n:**}\" -> \"{n}\"\n");
    let tensors: Vec<(&str, &[u64])> = names.iter().map(|n| (n.as_str(), &[1u64][..])).collect();
    let dir = setup(&mapping, &tensors);
    let out = wmap()
        .current_dir(dir.path())
        .args(["plan", "--json", "m.wmap", "src.safetensors"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 3000);
    assert!(
        targets.iter().all(|t| t.starts_with("renamed_")),
        "{:?}",
        &targets[..5]
    );
}

#[test]
fn an_unstack_over_4_billion_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "\"a\" | unstack(e) -> \"a.{e}\"\n",
    )
    .unwrap();
    raw(
        &dir.path().join("src.safetensors"),
        r#"{"a":{"dtype":"F32","shape":[4000000000,0],"data_offsets":[0,0]}}"#,
        0,
    );
    let start = std::time::Instant::now();
    problem(
        dir.path(),
        "limit_exceeded",
        "4000000000 values from one op call",
    );
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn an_unstack_over_many_layers_is_bounded_in_total() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "\"a.{i}\" | unstack(e) -> \"a.{i}.{e}\"\n",
    )
    .unwrap();
    let entries: Vec<String> = (0..20)
        .map(|i| format!(r#""a.{i}":{{"dtype":"F32","shape":[900000,0],"data_offsets":[0,0]}}"#))
        .collect();
    raw(
        &dir.path().join("src.safetensors"),
        &format!("{{{}}}", entries.join(",")),
        0,
    );
    problem(dir.path(), "limit_exceeded", "target tensors");
}

#[test]
fn a_split_into_billions_of_parts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "\"a\" | split(axis=0, parts=4000000000) -> [\"b\"]\n",
    )
    .unwrap();
    raw(
        &dir.path().join("src.safetensors"),
        r#"{"a":{"dtype":"F32","shape":[4000000000,0],"data_offsets":[0,0]}}"#,
        0,
    );
    problem(dir.path(), "limit_exceeded", "values from one op call");
}

#[test]
fn a_tensor_listed_twice_in_a_source_list_is_named_as_such() {
    let dir = setup(
        "[\"h.{i}.w\", \"h.{i}.w\"] | concat(axis=0) -> \"h.{i}.both\"\n",
        &[("h.0.w", &[2]), ("h.1.w", &[2])],
    );
    let stderr = problem(
        dir.path(),
        "duplicate_source",
        "is listed twice in this rule's sources",
    );
    assert!(!stderr.contains("matched by two rules"), "{stderr}");
    assert!(!stderr.contains("incomplete_source_group"), "{stderr}");
}

#[test]
fn two_rules_matching_one_tensor_are_still_an_ambiguity() {
    let dir = setup("\"a\" -> \"b\"\n\"{x:*}\" -> \"c.{x}\"\n", &[("a", &[2])]);
    problem(dir.path(), "ambiguous_match", "matched by two rules");
}

/// `inspect` and `check` on `file` exit 2 saying `says`.
fn named_as(bytes: &[u8], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pytorch_model.bin");
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    for args in [
        vec!["inspect", "pytorch_model.bin"],
        vec!["check", "m.wmap", "pytorch_model.bin"],
    ] {
        let out = wmap().current_dir(dir.path()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            super::support::says(&stderr, says),
            "{args:?}: want {says:?} in\n{stderr}"
        );
        assert!(!stderr.contains("header claims"), "{stderr}");
    }
}

#[test]
fn a_pytorch_zip_checkpoint_is_named_for_what_it_is() {
    let mut bytes = b"PK\x03\x04\x00\x00\x08\x08".to_vec();
    bytes.extend(vec![0u8; 100]);
    named_as(&bytes, "ZIP archive (PyTorch");
}

#[test]
fn a_pickle_is_named_for_what_it_is() {
    let mut bytes = b"\x80\x02}q\x00(X\x05\x00\x00\x00".to_vec();
    bytes.extend(vec![0u8; 100]);
    named_as(&bytes, "a Python pickle");
}

#[test]
fn a_gguf_file_is_named_for_what_it_is() {
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    bytes.extend(vec![0u8; 100]);
    named_as(&bytes, "a GGUF file");
}

#[test]
fn a_numpy_file_is_named_for_what_it_is() {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(vec![0u8; 100]);
    named_as(&bytes, "a NumPy array file");
}

#[test]
fn a_folder_of_pytorch_weights_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"PK\x03\x04").unwrap();
    let out = wmap().args(["inspect"]).arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        super::support::says(&stderr, "only `pytorch_model.bin`"),
        "{stderr}"
    );
}

#[test]
fn a_safetensors_header_length_that_looks_like_a_pickle_still_reads() {
    // A 640-byte header starts with 0x80 0x02, as a pickle does.
    let dir = tempfile::tempdir().unwrap();
    let mut header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.to_string();
    while header.len() < 640 {
        header.push(' ');
    }
    raw(&dir.path().join("src.safetensors"), &header, 4);
    assert_eq!(
        &std::fs::read(dir.path().join("src.safetensors")).unwrap()[..2],
        b"\x80\x02"
    );
    wmap()
        .current_dir(dir.path())
        .args(["inspect", "src.safetensors"])
        .assert()
        .success();
}

#[test]
fn jobs_outside_1_to_1024_are_refused_at_once() {
    let dir = setup("fallback \"{n:**}\" -> \"{n}\"\n", &[("a", &[2])]);
    for jobs in ["0", "1025", "20000", "1e9", "many"] {
        let out = wmap()
            .current_dir(dir.path())
            .args([
                "run",
                "--jobs",
                jobs,
                "m.wmap",
                "src.safetensors",
                "out.safetensors",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{jobs}: {stderr}");
        assert!(
            super::support::says(&stderr, "from 1 to 1024"),
            "{jobs}: {stderr}"
        );
        assert!(!dir.path().join("out.safetensors").exists());
    }
}

#[test]
fn an_index_larger_than_100_mb_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("model.safetensors.index.json");
    let file = std::fs::File::create(&index).unwrap();
    file.set_len(200 << 20).unwrap(); // sparse: no disk used
    let out = wmap().args(["inspect"]).arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        super::support::says(&stderr, "is 209715200 bytes; wmap reads an index of at"),
        "{stderr}"
    );
}

#[test]
fn a_config_larger_than_64_mib_is_refused() {
    let dir = setup("fallback \"{n:**}\" -> \"{n}\"\n", &[("a", &[2])]);
    let config = dir.path().join("config.json");
    std::fs::File::create(&config)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let out = wmap()
        .current_dir(dir.path())
        .args(["check", "m.wmap", "src.safetensors"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        super::support::says(&stderr, "wmap reads a config of at most"),
        "{stderr}"
    );
}

/// A Llama config with the given sizes.
fn llama_config(
    dir: &Path,
    hidden: u64,
    layers: u64,
    vocab: u64,
    inter: u64,
) -> std::path::PathBuf {
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"model_type":"llama","hidden_size":{hidden},"num_hidden_layers":{layers},"num_attention_heads":64,"num_key_value_heads":8,"intermediate_size":{inter},"vocab_size":{vocab},"rms_norm_eps":1e-5}}"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn spec_of_a_70b_config_allocates_no_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = llama_config(dir.path(), 8192, 80, 32000, 28672);
    let start = std::time::Instant::now();
    let out = wmap()
        .args(["spec", "--model", "llama", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tensors = spec["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 1 + 80 * 9 + 2);
    let params: u64 = tensors
        .iter()
        .map(|t| {
            t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>()
        })
        .sum();
    assert_eq!(params, 68_976_648_192); // Llama-2-70B's count
                                        // 276 GB of f32 would have taken minutes to allocate, or the machine.
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn spec_refuses_absurd_sizes_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (hidden, layers, vocab, inter, says) in [
        (
            8192u64,
            80u64,
            1u64 << 50,
            28672u64,
            "more than the 1099511627776 wmap builds",
        ),
        (8192, 1 << 40, 32000, 28672, "at most 100000 layers"),
        (
            100,
            2,
            32000,
            28672,
            "is not a multiple of num_attention_heads",
        ),
    ] {
        let config = llama_config(dir.path(), hidden, layers, vocab, inter);
        let out = wmap()
            .args(["spec", "--model", "llama", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            super::support::says(&stderr, says),
            "want {says:?} in\n{stderr}"
        );
    }
}

#[test]
fn verify_refuses_a_config_far_larger_than_its_weights_before_building() {
    let dir = tempfile::tempdir().unwrap();
    llama_config(dir.path(), 8192, 80, 32000, 28672);
    write_safetensors(
        &dir.path().join("model.safetensors"),
        &[("norm.gamma".into(), DType::F32, vec![4], vec![0; 16])],
    );
    std::fs::copy(
        "tests/fixtures/models/llama_gqa/reference.safetensors",
        dir.path().join("ref.safetensors"),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let out = wmap()
        .args(["verify", "--model", "llama"])
        .arg(dir.path())
        .arg("--reference")
        .arg(dir.path().join("ref.safetensors"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        super::support::says(&stderr, "but the weights hold only 4"),
        "{stderr}"
    );
    assert!(start.elapsed().as_secs() < 30);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// Characters names are made of: the ones the language, JSON and
    /// terminals treat specially among ordinary ones.
    fn name_char() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            'a', 'b', 'z', '0', '7', '.', '.', '_', '-', '{', '}', '"', '\\', '|', '$', ' ', '\n',
            '\t', '\u{1}', '\u{7f}', 'é', 'ß', '中', '🙂',
        ])
    }

    fn header() -> impl Strategy<Value = Vec<(String, DType, Vec<u64>)>> {
        let tensor = (
            prop::collection::vec(name_char(), 1..12)
                .prop_map(|c| c.into_iter().collect::<String>()),
            prop::sample::select(vec![
                DType::F32,
                DType::F16,
                DType::BF16,
                DType::I64,
                DType::U8,
            ]),
            prop::collection::vec(0u64..4, 0..3),
        );
        prop::collection::vec(tensor, 1..8).prop_map(|mut ts| {
            ts.sort_by(|a, b| a.0.cmp(&b.0));
            ts.dedup_by(|a, b| a.0 == b.0);
            ts.retain(|t| t.0 != "__metadata__");
            ts
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random names and shapes, a rename with a random prefix or a cast:
        /// `run` succeeds, and both readers read back exactly the names and
        /// shapes the mapping says.
        #[test]
        fn every_output_reads_back_with_both_readers(
            tensors in header(),
            prefix in prop::collection::vec(name_char(), 0..6).prop_map(|c| c.into_iter().collect::<String>()),
            cast in any::<bool>(),
        ) {
            prop_assume!(!tensors.is_empty());
            let dir = tempfile::tempdir().unwrap();
            let list: Vec<(String, DType, Vec<u64>, Vec<u8>)> = tensors
                .iter()
                .map(|(n, d, s)| {
                    let bytes = d.size() * s.iter().product::<u64>() as usize;
                    (n.clone(), *d, s.clone(), (0..bytes).map(|i| i as u8).collect())
                })
                .collect();
            write_safetensors(&dir.path().join("src.safetensors"), &list);
            let target = wmap::syntax::format::pattern_literal(&prefix);
            let ops = if cast { " | cast(f32)" } else { "" };
            std::fs::write(
                dir.path().join("m.wmap"),
                format!("fallback \"{{n:**}}\"{ops} -> \"{target}{{n}}\"\n"),
            )
            .unwrap();
            let out = wmap()
                .current_dir(dir.path())
                .args(["run", "m.wmap", "src.safetensors", "out.safetensors"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            prop_assert_eq!(out.status.code(), Some(0), "{}", stderr);
            let bytes = std::fs::read(dir.path().join("out.safetensors")).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut got: Vec<(String, Vec<usize>)> = st
                .tensors()
                .into_iter()
                .map(|(n, v)| (n, v.shape().to_vec()))
                .collect();
            got.sort();
            let mut want: Vec<(String, Vec<usize>)> = tensors
                .iter()
                .map(|(n, _, s)| (format!("{prefix}{n}"), s.iter().map(|&d| d as usize).collect()))
                .collect();
            want.sort();
            prop_assert_eq!(got, want);
            let inspect = wmap()
                .current_dir(dir.path())
                .args(["inspect", "--json", "out.safetensors"])
                .output()
                .unwrap();
            prop_assert_eq!(inspect.status.code(), Some(0), "{}", String::from_utf8_lossy(&inspect.stderr));
            let summary: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
            prop_assert_eq!(summary["tensors"].as_u64(), Some(tensors.len() as u64), "{}", summary);
        }
    }
}
