//! Branches: `| [transpose(1, 2), _]` applies a pipeline to each value a
//! `split` leaves. DeepSeek's MLA `kv_b_proj` split and transposed as
//! llama.cpp's converter does it, compared bit for bit with torch's results
//! (tests/fixtures/exec/branches.safetensors, made by
//! scripts/fixtures/make_branch_fixtures.py); the checker's rules for
//! branches; `fmt` and `invert` of them.

use std::sync::OnceLock;

use safetensors::SafeTensors;
use wmap::dtype::DType;

use crate::adversarial::support::{fixture_in, run_on_fixture, tensor_of};
use crate::common::case::Case;

const FIXTURE: &str = "tests/fixtures/exec/branches.safetensors";

fn fixture() -> SafeTensors<'static> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    fixture_in(&BYTES, FIXTURE)
}

/// DeepSeek-V2/V3: heads 4, qk_nope_head_dim 6, v_head_dim 4, rank 8.
const MLA: &str = "let heads = 4\nlet nope = 6\nlet v = 4\n\
    \"in.{t:*}.kv_b_proj.weight\"\n\
    | reshape(heads, nope + v, shape[1])\n\
    | split(axis=1, sizes=[nope, v])\n\
    | [transpose(1, 2), _]\n\
    -> [\"{t}.k_b_proj.weight\", \"{t}.v_b_proj.weight\"]\n";

#[test]
fn mla_kv_b_splits_and_transposes_one_part_as_llama_cpp_does() {
    let inputs = ["in.f32.kv_b_proj.weight", "in.bf16.kv_b_proj.weight"];
    let (out, _) = run_on_fixture(FIXTURE, &fixture(), MLA, &inputs);
    for t in ["f32", "bf16"] {
        for part in ["k_b_proj", "v_b_proj"] {
            let name = format!("{t}.{part}.weight");
            assert_eq!(out[&name], tensor_of(fixture(), &name), "{name}");
        }
    }
}

#[test]
fn the_plan_applies_each_arm_to_its_value_only() {
    let case = Case::new().mapping(MLA).checkpoint(
        "src.safetensors",
        &[("in.f32.kv_b_proj.weight", DType::F32, &[40, 8])],
    );
    case.run(["plan", "m.wmap", "src.safetensors"])
        .exits(0)
        .prints("f32.k_b_proj.weight  [4, 8, 6]  f32  <- permute(slice(reshape(\"in.f32.kv_b_proj.weight\", [4, 10, 8]), axis=1, 0..6), [0, 2, 1])")
        .prints("f32.v_b_proj.weight  [4, 4, 8]  f32  <- slice(reshape(\"in.f32.kv_b_proj.weight\", [4, 10, 8]), axis=1, 6..10)\n");
}

#[test]
fn shape_in_an_arm_is_its_own_value() {
    // `shape` in the first arm is [4, 6, 8] (k_b), not the rule's [40, 8].
    let case = Case::new()
        .mapping(
            "\"w\" | reshape(4, 10, 8) | split(axis=1, sizes=[6, 4])\n\
             | [reshape(shape[0] * shape[1], shape[2]), reshape(-1)] -> [\"k\", \"v\"]\n",
        )
        .checkpoint("src.safetensors", &[("w", DType::F32, &[40, 8])]);
    case.run(["plan", "m.wmap", "src.safetensors"])
        .exits(0)
        .prints("k  [24, 8]  f32")
        .prints("v  [128]  f32");
}

#[test]
fn arms_must_fit_the_values() {
    let case = Case::new()
        .mapping("\"w\" | split(axis=0, parts=3) | [transpose, _] -> [\"a\", \"b\", \"c\"]\n")
        .checkpoint("src.safetensors", &[("w", DType::F32, &[6, 4])]);
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(1)
        .says("wmap::bad_branches")
        .says("2 arms for 3 values");
    // An op across bindings cannot run inside one arm.
    let case = Case::new()
        .mapping("\"e.{i}\" | split(axis=0, parts=2) | [stack(i), _] -> [\"a.{i}\", \"b.{i}\"]\n")
        .checkpoint(
            "src.safetensors",
            &[("e.0", DType::F32, &[2, 2]), ("e.1", DType::F32, &[2, 2])],
        );
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(1)
        .says("wmap::bad_branches");
    // An unknown op in an arm is reported as anywhere else, with every
    // other problem at once.
    let case = Case::new()
        .mapping(
            "\"w\" | split(axis=0, parts=2) | [transpsoe, _] -> [\"a\", \"b\"]\n\
             \"x\" | [transpose] -> \"y\"\n",
        )
        .checkpoint(
            "src.safetensors",
            &[("w", DType::F32, &[6, 4]), ("x", DType::F32, &[3])],
        );
    case.run(["check", "m.wmap", "src.safetensors"])
        .exits(1)
        .says("wmap::unknown_op")
        .says("transpose");
}

#[test]
fn fmt_keeps_branches_and_their_meaning() {
    let case = Case::new()
        .mapping("\"w\"|split( axis=0,parts=2 )|[ _ ,transpose|cast(f16) ]->[\"a\",\"b\"]\n");
    case.run(["fmt", "m.wmap"]).exits(0);
    let text = std::fs::read_to_string(case.path().join("m.wmap")).unwrap();
    assert_eq!(
        text,
        "\"w\" | split(axis=0, parts=2) | [_, transpose | cast(f16)] -> [\"a\", \"b\"]\n"
    );
}

#[test]
fn a_mapping_with_branches_is_reversed_arm_by_arm() {
    // The fixture's inputs alone, as a checkpoint of their own.
    let case = Case::new().mapping(MLA);
    let inputs = fixture();
    let keep: Vec<(String, DType, Vec<u64>, Vec<u8>)> = inputs
        .names()
        .into_iter()
        .filter(|n| n.starts_with("in."))
        .map(|n| {
            let t = inputs.tensor(n).unwrap();
            let dtype = match t.dtype() {
                safetensors::Dtype::F32 => DType::F32,
                _ => DType::BF16,
            };
            let shape = t.shape().iter().map(|&d| d as u64).collect();
            (n.to_string(), dtype, shape, t.data().to_vec())
        })
        .collect();
    assert_eq!(keep.len(), 2);
    crate::common::write_safetensors(&case.path().join("src.safetensors"), &keep);
    case.run(["invert", "m.wmap", "src.safetensors", "-o", "r.wmap"])
        .exits(0);
    let reverse = std::fs::read_to_string(case.path().join("r.wmap")).unwrap();
    assert!(reverse.contains("| [permute(0, 2, 1), _]\n"), "{reverse}");
    case.run(["run", "m.wmap", "src.safetensors", "out.safetensors"])
        .exits(0);
    case.run(["run", "r.wmap", "out.safetensors", "back.safetensors"])
        .exits(0);
    case.run(["diff", "src.safetensors", "back.safetensors"])
        .exits(0)
        .prints("2 bit-identical");
    // An arm that leaves two values has no reverse of its own.
    let case = Case::new()
        .mapping(
            "\"w\" | split(axis=0, parts=2) | [split(axis=0, parts=2), _] -> [\"a\", \"b\", \"c\"]\n",
        )
        .checkpoint("src.safetensors", &[("w", DType::F32, &[8, 4])]);
    case.run(["invert", "m.wmap", "src.safetensors", "-o", "r.wmap"])
        .exits(1)
        .says("this arm leaves 2 values from one");
}

const FALCON: &str = "tests/fixtures/exec/falcon_qkv.safetensors";

fn falcon() -> SafeTensors<'static> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    fixture_in(&BYTES, FALCON)
}

/// Falcon's three fused q/k/v layouts (tests/fixtures/exec/falcon_qkv.safetensors,
/// split by transformers' own `FalconAttention._split_heads` in
/// scripts/fixtures/make_falcon_qkv_fixtures.py): split by std/qkv's ops
/// into transformers' q, k and v bit for bit, and fused back into the
/// checkpoint's weight.
#[test]
fn falcon_qkv_splits_as_transformers_reads_it_and_fuses_back() {
    let rules = "use \"std/qkv\"\n\
        \"in.falcon_new.qkv.weight\" | split_grouped_qkv(8, 2) -> [\"new.q\", \"new.k\", \"new.v\"]\n\
        \"in.falcon_mq.qkv.weight\" | split_grouped_qkv(4, 1) -> [\"mq.q\", \"mq.k\", \"mq.v\"]\n\
        \"in.falcon_rw.qkv.weight\" | split_per_head_qkv(4) -> [\"rw.q\", \"rw.k\", \"rw.v\"]\n\
        \"in.falcon_rw.qkv.bias\" | split_per_head_qkv_bias(4) -> [\"rw.q.bias\", \"rw.k.bias\", \"rw.v.bias\"]\n\
        [\"falcon_new.q.weight\", \"falcon_new.k.weight\", \"falcon_new.v.weight\"] | fuse_grouped_qkv(8, 2) -> \"new.fused\"\n\
        [\"falcon_mq.q.weight\", \"falcon_mq.k.weight\", \"falcon_mq.v.weight\"] | fuse_grouped_qkv(4, 1) -> \"mq.fused\"\n";
    let st = falcon();
    let inputs: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !n.starts_with("falcon_rw"))
        .collect();
    let (out, _) = run_on_fixture(FALCON, &st, rules, &inputs);
    for layout in ["new", "mq", "rw"] {
        for part in ["q", "k", "v"] {
            let want = tensor_of(falcon(), &format!("falcon_{layout}.{part}.weight"));
            assert_eq!(out[&format!("{layout}.{part}")], want, "{layout}.{part}");
        }
    }
    for part in ["q", "k", "v"] {
        let want = tensor_of(falcon(), &format!("falcon_rw.{part}.bias"));
        assert_eq!(out[&format!("rw.{part}.bias")], want, "rw.{part}.bias");
    }
    for layout in ["new", "mq"] {
        let want = tensor_of(falcon(), &format!("in.falcon_{layout}.qkv.weight"));
        assert_eq!(out[&format!("{layout}.fused")], want, "{layout}.fused");
    }
}
