//! Block-scaled FP8: `dequant_fp8` and `quant_fp8` against transformers 5's
//! own `Fp8Dequantize` and `Fp8Quantize`, on tensors those made
//! (scripts/fixtures/make_quant_fixtures.py: whole blocks and partial edge
//! blocks, f32 and `ue8m0` scales, outputs in bf16, f16 and f32), and the
//! checker's rules for them.

use std::sync::OnceLock;

use crate::adversarial::support::{fixture_in, run_on_fixture, tensor_of};
use crate::common::case::Case;

const FIXTURE: &str = "tests/fixtures/exec/quant.safetensors";
static BYTES: OnceLock<Vec<u8>> = OnceLock::new();

fn fx(name: &str) -> &'static [u8] {
    tensor_of(fixture_in(&BYTES, FIXTURE), name)
}

fn absolute() -> String {
    format!("{}/{FIXTURE}", env!("CARGO_MANIFEST_DIR"))
}

/// How many elements of two buffers of `width`-byte elements differ.
fn differing(a: &[u8], b: &[u8], width: usize) -> usize {
    assert_eq!(a.len(), b.len());
    a.chunks_exact(width)
        .zip(b.chunks_exact(width))
        .filter(|(x, y)| x != y)
        .count()
}

#[test]
fn dequant_fp8_is_bit_identical_to_transformers_fp8_dequantize() {
    let st = fixture_in(&BYTES, FIXTURE);
    for case in ["fp8.128x384", "fp8.130x260", "fp8_ue8m0.130x260"] {
        let pair = format!("[\"{case}.weight\", \"{case}.weight_scale_inv\"]");
        let rules = format!(
            "{pair} | dequant_fp8(block=[128, 128]) -> \"f32\"\n\
             also {pair} | dequant_fp8(block=[128, 128]) | cast(bf16) -> \"bf16\"\n\
             also {pair} | dequant_fp8(block=[128, 128]) | cast(f16) -> \"f16\"\n"
        );
        let weight = format!("{case}.weight");
        let scale = format!("{case}.weight_scale_inv");
        let (out, _) = run_on_fixture(FIXTURE, &st, &rules, &[&weight, &scale]);
        for (dtype, width) in [("f32", 4), ("bf16", 2), ("f16", 2)] {
            let reference = fx(&format!("{case}.dequant.{dtype}"));
            assert_eq!(
                differing(&out[dtype], reference, width),
                0,
                "{case} in {dtype}"
            );
        }
    }
}

#[test]
fn quant_fp8_is_bit_identical_to_transformers_fp8_quantize() {
    let st = fixture_in(&BYTES, FIXTURE);
    for case in ["fp8.128x384", "fp8.130x260"] {
        let input = format!("{case}.input");
        let rules = format!("\"{input}\" | quant_fp8(block=[128, 128]) -> [\"q\", \"s\"]\n");
        let (out, _) = run_on_fixture(FIXTURE, &st, &rules, &[&input]);
        assert_eq!(
            differing(&out["q"], fx(&format!("{case}.weight")), 1),
            0,
            "{case} values"
        );
        assert_eq!(
            differing(&out["s"], fx(&format!("{case}.weight_scale_inv")), 4),
            0,
            "{case} scales"
        );
    }
}

#[test]
fn the_block_comes_from_the_config_and_the_grid_is_checked() {
    let case = Case::new();
    let src = absolute();
    let pair = "[\"fp8.130x260.weight\", \"fp8.130x260.weight_scale_inv\"]";
    let rest = "fallback \"{n:**}\" -> \"{n}\"\n";
    // DeepSeek-V3's config.json: quantization_config.weight_block_size.
    let case = case.mapping(&format!("{pair} | dequant_fp8 -> \"w\"\n{rest}"));
    case.run([
        "check",
        "m.wmap",
        &src,
        "--set",
        "quantization_config.weight_block_size=[128,128]",
    ])
    .exits(0);
    case.run(["check", "m.wmap", &src])
        .exits(1)
        .says("wmap::bad_arguments")
        .says("quantization_config.weight_block_size");
    // Another block size needs another grid: 130x260 in 64x64 blocks is 3x5.
    let case = case.mapping(&format!(
        "{pair} | dequant_fp8(block=[64, 64]) -> \"w\"\n{rest}"
    ));
    case.run(["check", "m.wmap", &src])
        .exits(1)
        .says("values [130, 260] in blocks of 64x64 need scales [3, 5], found [2, 3]");
    // The scales of another weight; values that are not FP8.
    let case = case.mapping(&format!(
        "[\"fp8.130x260.weight\", \"fp8.128x384.weight_scale_inv\"] | dequant_fp8(block=[128, 128]) -> \"w\"\n{rest}"
    ));
    case.run(["check", "m.wmap", &src])
        .exits(1)
        .says("need scales [2, 3], found [1, 3]");
    let case = case.mapping(&format!(
        "[\"fp8.130x260.input\", \"fp8.130x260.weight_scale_inv\"] | dequant_fp8(block=[128, 128]) -> \"w\"\n{rest}"
    ));
    case.run(["check", "m.wmap", &src])
        .exits(1)
        .says("its values are bf16; it takes f8_e4m3 or f8_e5m2");
    // Quantizing and dequantizing have no exact inverse.
    let case = case.mapping(&format!(
        "{pair} | dequant_fp8(block=[128, 128]) -> \"w\"\n{rest}"
    ));
    case.run(["invert", "m.wmap", &src, "-o", "r.wmap"])
        .exits(1)
        .says("wmap::not_invertible");
}
