//! `make` rules (tensors no source holds), `also` rules (a source read by a
//! second rule), and the ops that reshape and fill: checked, run on the
//! Qwen2 fixture transformers saved, read back with the safetensors crate,
//! and reversed by `wmap invert`.

use std::path::Path;

use safetensors::SafeTensors;
use wmap::dtype::DType;

use crate::common::case::Case;

const QWEN2: &str = "tests/fixtures/models/qwen2";

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

const MAKES: &str = r#"let layers = config.num_hidden_layers
fallback "{name:**}" -> "{name}"
make zeros(shape=[config.hidden_size], dtype=f32) -> "model.layers.{i}.self_attn.o_proj.bias" for i in 0..layers
make ones like "model.layers.{i}.self_attn.k_proj.bias" | mul(0.5) -> "model.layers.{i}.self_attn.k_half"
make full(-3, shape=[2, shape[0]], dtype=bf16) like "model.norm.weight" -> "made.full"
make zeros(shape=[3], dtype=i32) -> "made.{e}.{j}" for e in 0..2, j in 5..7
also "model.embed_tokens.weight" | pad(axis=0, after=24, fill=mean) -> "extended.embed"
"#;

#[test]
fn made_tensors_hold_their_fill_and_shared_sources_are_read_twice() {
    let case = Case::new().mapping(MAKES);
    let out = case.path().join("out");
    case.run(["check", "m.wmap", &repo(QWEN2)])
        .exits(0)
        .prints("27 source tensors -> 37 target tensors (9 made)");
    case.run(["run", "m.wmap", &repo(QWEN2), out.to_str().unwrap()])
        .exits(0);
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let src_bytes = std::fs::read(repo(&format!("{QWEN2}/model.safetensors"))).unwrap();
    let src = SafeTensors::deserialize(&src_bytes).unwrap();
    assert_eq!(st.len(), 37);

    let bias = st.tensor("model.layers.1.self_attn.o_proj.bias").unwrap();
    assert_eq!(bias.shape(), [64]);
    assert!(f32s(bias.data())
        .iter()
        .all(|&x| x == 0.0 && x.is_sign_positive()));
    let half = st.tensor("model.layers.0.self_attn.k_half").unwrap();
    assert_eq!(
        half.shape(),
        [32],
        "the k_proj.bias of the fixture has 32 entries"
    );
    assert!(f32s(half.data()).iter().all(|&x| x == 0.5));
    let full = st.tensor("made.full").unwrap();
    assert_eq!(
        (full.shape(), full.dtype()),
        ([2, 64].as_slice(), safetensors::Dtype::BF16)
    );
    // -3 in bf16 is 0xC040.
    assert!(full.data().chunks_exact(2).all(|b| b == [0x40, 0xC0]));
    for (e, j) in [(0, 5), (0, 6), (1, 5), (1, 6)] {
        let t = st.tensor(&format!("made.{e}.{j}")).unwrap();
        assert_eq!(
            (t.dtype(), t.data()),
            (safetensors::Dtype::I32, &[0u8; 12][..])
        );
    }
    assert!(st.tensor("made.0.7").is_err() && st.tensor("made.2.5").is_err());

    // The source is still mapped by the fallback, and read again, padded.
    let embed = src.tensor("model.embed_tokens.weight").unwrap();
    assert_eq!(
        st.tensor("model.embed_tokens.weight").unwrap().data(),
        embed.data()
    );
    let extended = st.tensor("extended.embed").unwrap();
    assert_eq!(extended.shape(), [1024, 64]);
    let (old, new) = extended.data().split_at(embed.data().len());
    assert_eq!(old, embed.data());
    let rows = f32s(embed.data());
    for c in 0..64 {
        let mean = (0..1000).map(|r| rows[r * 64 + c] as f64).sum::<f64>() / 1000.0;
        for r in 0..24 {
            assert_eq!(f32s(&new[(r * 64 + c) * 4..][..4])[0], mean as f32);
        }
    }
}

/// Runs the case's mapping on the Qwen2 fixture, inverts it, runs the
/// reverse on the output and asserts that gives the fixture back bit for
/// bit; returns the reverse mapping's text.
fn round_trip(case: &Case) -> String {
    let (out, back) = (case.path().join("out"), case.path().join("back"));
    let (out, back) = (out.to_str().unwrap(), back.to_str().unwrap());
    case.run(["run", "m.wmap", &repo(QWEN2), out]).exits(0);
    case.run(["invert", "m.wmap", &repo(QWEN2), "-o", "r.wmap"])
        .exits(0);
    case.run(["run", "r.wmap", out, back]).exits(0);
    case.run(["diff", &repo(QWEN2), back])
        .exits(0)
        .prints("27 bit-identical");
    std::fs::read_to_string(case.path().join("r.wmap")).unwrap()
}

#[test]
fn the_reverse_drops_what_was_made_or_read_twice() {
    let reverse = round_trip(&Case::new().mapping(MAKES));
    assert!(
        reverse.contains("drop \"model.layers.{i}.self_attn.o_proj.bias\""),
        "{reverse}"
    );
    assert!(reverse.contains("drop \"extended.embed\""), "{reverse}");
}

#[test]
fn reshaping_and_filling_ops_are_undone_exactly() {
    let mapping = format!(
        "fallback \"{{name:**}}\" -> \"{{name}}\"\n\
         \"model.norm.weight\" | neg | pad(axis=0, before=2, after=3, fill=1.5) | repeat(2, axis=0) \
         | unsqueeze(0) | repeat_interleave(3, axis=0) | index_select(axis=1, index=[{}]) -> \"norm.twisted\"\n\
         \"model.layers.{{i}}.self_attn.q_proj.bias\" | index_select(axis=0, index=[-1, 0]) -> \"q_ends.{{i}}\"\n",
        swapped(138)
    );
    // An index_select that leaves entries out has no inverse.
    let case = Case::new().mapping(&mapping);
    case.run(["invert", "m.wmap", &repo(QWEN2), "-o", "r.wmap"])
        .exits(1)
        .says("62 entries of the axis picked from are left out");
    // One that picks every entry (one twice) has.
    let mapping = mapping
        .replace("index=[-1, 0]", &format!("index=[{}]", swapped(64)))
        .replace("q_ends", "q_swapped");
    round_trip(&Case::new().mapping(&mapping));
}

/// `1, 0, 2, ..., n-1, 0`: a permutation with one entry repeated.
fn swapped(n: usize) -> String {
    let mut v: Vec<usize> = vec![1, 0];
    v.extend(2..n);
    v.push(0);
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_shared_source_needs_a_claim_and_an_unmarked_one_is_ambiguous() {
    let tensors: &[(&str, DType, &[u64])] = &[("a", DType::F32, &[4]), ("b", DType::F32, &[2])];
    let case = Case::new()
        .mapping("\"b\" -> \"b\"\nalso \"a\" -> \"a2\"\n")
        .checkpoint("src.safetensors", tensors);
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(1)
        .says("wmap::unmapped_tensor");
    let case = Case::new()
        .mapping("\"b\" -> \"b\"\n\"a\" -> \"a1\"\n\"a\" -> \"a2\"\n")
        .checkpoint("src.safetensors", tensors);
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(1)
        .says("wmap::ambiguous_match");
    let case = Case::new()
        .mapping(
            "\"b\" -> \"b\"\n\"a\" -> \"a1\"\nalso \"a\" | neg -> \"a2\"\nalso \"a\" -> \"a3\"\n",
        )
        .checkpoint("src.safetensors", tensors);
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(0)
        .prints("2 source tensors -> 4 target tensors");
}

#[test]
fn bad_make_rules_are_reported_before_anything_is_written() {
    let tensors: &[(&str, DType, &[u64])] = &[("a", DType::F32, &[4])];
    crate::common::case::each_refused(&[
        ("make zeros(shape=[4]) -> \"z\"", "wmap::bad_arguments"),
        ("make zeros(dtype=f32) -> \"z\"", "wmap::bad_arguments"),
        (
            "make zeros(shape=4, dtype=f32) -> \"z\"",
            "wmap::bad_arguments",
        ),
        (
            "make zeros(shape=[-1], dtype=f32) -> \"z\"",
            "wmap::bad_arguments",
        ),
        (
            "make full(300, shape=[2], dtype=u8) -> \"z\"",
            "wmap::number_out_of_range",
        ),
        (
            "make full(1.5, shape=[2], dtype=i32) -> \"z\"",
            "wmap::number_out_of_range",
        ),
        (
            "make full(1e39, shape=[2], dtype=f32) -> \"z\"",
            "wmap::number_out_of_range",
        ),
        (
            "make zeros(shape=[4294967296, 4294967296], dtype=f32) -> \"z\"",
            "wmap::integer_overflow",
        ),
        (
            "make zeros(shape=[1], dtype=f32) -> \"z.{i}\" for i in 0..100000000000",
            "wmap::limit_exceeded",
        ),
        (
            "make zeros(shape=[1], dtype=f32) -> \"z.{i}\" for i in 0..2, i in 0..3",
            "wmap::bad_capture",
        ),
        (
            "make zeros like \"nothing.{i}\" -> \"z.{i}\"",
            "wmap::unmatched_rule",
        ),
        (
            "make zeros(shape=[1], dtype=f32) -> \"z.{j}\" for i in 0..2",
            "wmap::unbound_capture",
        ),
        (
            "make zeroes(shape=[1], dtype=f32) -> \"z\"",
            "wmap::unknown_op",
        ),
        ("make reshape(4) -> \"z\"", "wmap::misplaced_fill"),
        ("also \"a\" | ones -> \"z\"", "wmap::misplaced_fill"),
        (
            "make zeros(shape=[1], dtype=f32) -> \"a\"",
            "wmap::duplicate_target",
        ),
    ]);
    // Optional: a `like` that matches nothing is fine, and an empty range makes nothing.
    let case = Case::new()
        .mapping("\"a\" -> \"a\"\noptional make zeros like \"nothing\" -> \"z\"\nmake ones(shape=[1], dtype=f32) -> \"z.{i}\" for i in 3..3\n")
        .checkpoint("src.safetensors", tensors);
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(0)
        .prints("1 source tensors -> 1 target tensors");
}

#[test]
fn a_module_used_under_a_prefix_maps_a_tower_of_a_larger_checkpoint() {
    // A text model's tensors, alone and inside a "multimodal" checkpoint.
    let text: Vec<(String, DType, Vec<u64>)> = vec![
        ("model.embed.weight".into(), DType::F32, vec![8, 4]),
        ("model.layers.0.proj.weight".into(), DType::F32, vec![4, 6]),
        ("model.layers.1.proj.weight".into(), DType::F32, vec![4, 6]),
        ("model.layers.0.rotary.inv_freq".into(), DType::F32, vec![2]),
        ("model.layers.1.rotary.inv_freq".into(), DType::F32, vec![2]),
        ("model.norm.w".into(), DType::F32, vec![4]),
    ];
    let tower: Vec<(String, DType, Vec<u64>)> = text
        .iter()
        .map(|(n, d, s)| (format!("language_model.{n}"), *d, s.clone()))
        .chain([("vision_tower.patch.weight".to_string(), DType::F32, vec![3])])
        .collect();
    let text_refs: Vec<(&str, DType, &[u64])> = text
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    let tower_refs: Vec<(&str, DType, &[u64])> = tower
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    let module = "\"model.embed.weight\" -> \"embed\"\n\
                  \"model.layers.{i}.proj.weight\" | transpose -> \"layers.{i}.proj\"\n\
                  drop \"model.layers.{i}.rotary.inv_freq\"\n\
                  regex \"model\\.norm\\.(w)\" -> \"norm.$1\"\n\
                  tie \"head\" = \"embed\"\n";
    let case = Case::new()
        .file("text.wmap", module)
        .mapping("use \"./text.wmap\" under \"language_model.\" -> \"text.\"\n\"vision_tower.{p:**}\" -> \"vision.{p}\"\n")
        .checkpoint("text/model.safetensors", &text_refs)
        .checkpoint("mm/model.safetensors", &tower_refs);
    case.run(["run", "text.wmap", "text", "alone"]).exits(0);
    case.run(["check", "m.wmap", "mm"])
        .exits(0)
        .prints("7 source tensors -> 6 target tensors (2 dropped)");
    case.run(["run", "m.wmap", "mm", "both"]).exits(0);
    let read = |dir: &str| {
        let bytes = std::fs::read(case.path().join(dir).join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<(String, Vec<u8>)> = st
            .names()
            .into_iter()
            .map(|n| (n.to_string(), st.tensor(n).unwrap().data().to_vec()))
            .collect();
        all.sort();
        all
    };
    let alone = read("alone");
    let both = read("both");
    let text_part: Vec<(String, Vec<u8>)> = both
        .iter()
        .filter_map(|(n, d)| n.strip_prefix("text.").map(|n| (n.to_string(), d.clone())))
        .collect();
    assert_eq!(
        text_part, alone,
        "the tower maps as the text model alone does"
    );
    assert!(both.iter().any(|(n, _)| n == "vision.patch.weight"));
    // The module's names without the prefix match nothing in the larger checkpoint.
    let case = Case::new()
        .file("text.wmap", module)
        .mapping("use \"./text.wmap\"\n\"vision_tower.{p:**}\" -> \"vision.{p}\"\n")
        .checkpoint("mm/model.safetensors", &tower_refs);
    case.run(["check", "m.wmap", "mm"])
        .exits(1)
        .says("wmap::unmatched_rule");
}
