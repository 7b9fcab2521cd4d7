//! Values: every cast, `add` and `mul` against torch's own results, and
//! overflow reported as the README says.
//!
//! The references are tests/fixtures/exec/values.safetensors, made by torch
//! 2.15.0 (scripts/fixtures/make_value_fixtures.py): every value of the 8- and
//! 16-bit floats, every small integer, and the edge cases of the wide types.
//! wmap runs through the CLI (`wmap run` with `cast`, `add` and `mul`), and its
//! output is compared bit for bit, with two documented exceptions:
//!
//! - NaN: torch's NaN bits differ between its own code paths (f32 -> bf16
//!   gives 0xFFFF for a contiguous tensor and 0x7FC0 for a strided one), so for
//!   16-bit and wider floats a NaN must give a NaN, sign and payload free; the
//!   8-bit floats, where torch always keeps the sign, are compared bit for bit;
//! - float to integer out of the integer's range, or NaN/inf: undefined in
//!   torch (C++), so those elements are checked against wmap's documented
//!   behaviour instead: truncated toward zero, saturated at the integer's
//!   limits, NaN to 0.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use half::{bf16, f16};
use safetensors::SafeTensors;

#[allow(unused_imports)]
use super::support::*;

const FIXTURE: &str = "tests/fixtures/exec/values.safetensors";

fn fixture() -> SafeTensors<'static> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    fixture_in(&BYTES, FIXTURE)
}

/// torch's tensor `name` from the fixture, as bytes.
fn torch(name: &str) -> &'static [u8] {
    tensor_of(fixture(), name)
}

fn size(dtype: &str) -> usize {
    match dtype {
        "bool" | "u8" | "i8" | "f8_e4m3" | "f8_e5m2" => 1,
        "i16" | "u16" | "f16" | "bf16" => 2,
        "i32" | "u32" | "f32" => 4,
        _ => 8,
    }
}

/// The integer range of an integer dtype.
fn int_range(dtype: &str) -> Option<(i128, i128)> {
    Some(match dtype {
        "bool" => (0, 1),
        "u8" => (0, u8::MAX as i128),
        "i8" => (i8::MIN as i128, i8::MAX as i128),
        "i16" => (i16::MIN as i128, i16::MAX as i128),
        "u16" => (0, u16::MAX as i128),
        "i32" => (i32::MIN as i128, i32::MAX as i128),
        "u32" => (0, u32::MAX as i128),
        "i64" => (i64::MIN as i128, i64::MAX as i128),
        "u64" => (0, u64::MAX as i128),
        _ => return None,
    })
}

fn int_of(dtype: &str, b: &[u8]) -> i128 {
    match dtype {
        "bool" | "u8" => b[0] as i128,
        "i8" => b[0] as i8 as i128,
        "i16" => i16::from_le_bytes([b[0], b[1]]) as i128,
        "u16" => u16::from_le_bytes([b[0], b[1]]) as i128,
        "i32" => i32::from_le_bytes(b.try_into().unwrap()) as i128,
        "u32" => u32::from_le_bytes(b.try_into().unwrap()) as i128,
        "i64" => i64::from_le_bytes(b.try_into().unwrap()) as i128,
        "u64" => u64::from_le_bytes(b.try_into().unwrap()) as i128,
        other => panic!("{other} is not an integer"),
    }
}

/// A float element of a 16-bit or wider float dtype, as f64 (for NaN tests
/// and the test's own view of input values).
fn float_of(dtype: &str, b: &[u8]) -> f64 {
    match dtype {
        "f16" => f16::from_le_bytes([b[0], b[1]]).to_f64(),
        "bf16" => bf16::from_le_bytes([b[0], b[1]]).to_f64(),
        "f32" => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        "f64" => f64::from_le_bytes(b.try_into().unwrap()),
        other => panic!("{other}: not a wide float"),
    }
}

/// The values of input table `table`, as the test sees them: from torch's
/// own f64 conversion for the 8-bit floats, decoded here for the others.
fn inputs(table: &str) -> Vec<f64> {
    let from = table_dtype(table);
    if from.starts_with("f8") {
        return torch(&format!("{table}.f64"))
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
    }
    torch(&format!("in.{table}"))
        .chunks_exact(size(from))
        .map(|c| {
            if int_range(from).is_some() {
                int_of(from, c) as f64
            } else {
                float_of(from, c)
            }
        })
        .collect()
}

/// The dtype of a table's input (`ints` holds i64).
fn table_dtype(table: &str) -> &str {
    if table == "ints" {
        "i64"
    } else {
        table
    }
}

/// Runs `wmap run` on the fixture with one rule per `(table, ops)`:
/// `"in.<table>" | <ops> -> "<table>"`, dropping every other tensor. Returns
/// the written tensors by name and wmap's stderr.
fn run(cases: &[(&str, String)]) -> (HashMap<String, Vec<u8>>, String) {
    let used: Vec<String> = cases.iter().map(|(t, _)| format!("in.{t}")).collect();
    let mut rules = String::new();
    for (table, ops) in cases {
        rules += &format!("\"in.{table}\" | {ops} -> \"{table}\"\n");
    }
    let inputs: Vec<&str> = used.iter().map(String::as_str).collect();
    run_on_fixture(FIXTURE, &fixture(), &rules, &inputs)
}

/// Casts every listed table to `to` through the CLI and compares each with
/// torch's `<table>.<to>`; returns the number of elements compared with
/// torch and the number checked against wmap's own documented rule.
fn casts_match_torch(tables: &[&str], to: &str) -> (usize, usize) {
    let cases: Vec<(&str, String)> = tables.iter().map(|t| (*t, format!("cast({to})"))).collect();
    let (out, _) = run(&cases);
    let mut totals = (0, 0);
    for table in tables {
        let (a, b) = compare(table, to, &out[*table], torch(&format!("{table}.{to}")));
        totals.0 += a;
        totals.1 += b;
    }
    totals
}

/// Compares wmap's output of table `table` cast to `to` with torch's.
fn compare(table: &str, to: &str, got: &[u8], want: &[u8]) -> (usize, usize) {
    let from = table_dtype(table);
    let n = size(to);
    assert_eq!(got.len(), want.len(), "{table} -> {to}: lengths");
    let from_float = int_range(from).is_none();
    let values = if from_float && int_range(to).is_some() && to != "bool" {
        inputs(table)
    } else {
        Vec::new()
    };
    let (mut with_torch, mut documented) = (0, 0);
    for (k, (g, w)) in got.chunks_exact(n).zip(want.chunks_exact(n)).enumerate() {
        if !values.is_empty() {
            // Float to integer: torch defines only what fits.
            let (lo, hi) = int_range(to).unwrap();
            let x = values[k];
            let t = x.trunc();
            if !(x.is_finite() && t >= lo as f64 && t <= hi as f64 && (t as i128) <= hi) {
                let expect = if x.is_nan() {
                    0
                } else if t < lo as f64 {
                    lo
                } else {
                    hi
                };
                assert_eq!(
                    int_of(to, g),
                    expect,
                    "{table} -> {to}, element {k} ({x}): wmap saturates (NaN to 0)"
                );
                documented += 1;
                continue;
            }
        }
        if matches!(to, "f16" | "bf16" | "f32" | "f64") && float_of(to, w).is_nan() {
            assert!(
                float_of(to, g).is_nan(),
                "{table} -> {to}, element {k}: torch gives NaN, wmap {g:02x?}"
            );
        } else {
            assert_eq!(
                g,
                w,
                "{table} -> {to}, element {k} (input {:02x?}): wmap differs from torch",
                &torch(&format!("in.{table}"))[k * size(from)..(k + 1) * size(from)]
            );
        }
        with_torch += 1;
    }
    (with_torch, documented)
}

const EVERY: [&str; 15] = [
    "bool", "u8", "i8", "i16", "u16", "i32", "u32", "i64", "u64", "f8_e4m3", "f8_e5m2", "f16",
    "bf16", "f32", "f64",
];

#[test]
fn i64_to_f32_rounds_once_like_torch() {
    // 2^60 + 2^36 + 1 lies just above halfway between two f32s: one rounding
    // goes up to 2^60 + 2^37; rounding through f64 first made the tie and 2^60.
    let (out, _) = run(&[("i64", "cast(f32)".into())]);
    let want = torch("i64.f32");
    assert_eq!(compare("i64", "f32", &out["i64"], want).0, want.len() / 4);
    let k = inputs("i64")
        .iter()
        .zip(torch("in.i64").chunks_exact(8))
        .position(|(_, b)| i64::from_le_bytes(b.try_into().unwrap()) == (1 << 60) + (1 << 36) + 1)
        .expect("the fixture holds 2^60 + 2^36 + 1");
    let got = f32::from_le_bytes(out["i64"][k * 4..k * 4 + 4].try_into().unwrap());
    assert_eq!(got as f64, ((1u64 << 60) + (1 << 37)) as f64);
}

#[test]
fn wide_integers_to_f32_and_f64_match_torch() {
    let tables = ["i32", "u32", "i64", "u64"];
    let (n, _) = casts_match_torch(&tables, "f32");
    let (m, _) = casts_match_torch(&tables, "f64");
    assert!(n > 15_000 && n == m, "{n} and {m} compared");
}

#[test]
fn wide_integers_to_bf16_and_f16_match_torch() {
    // torch converts through f32, so past 2^24 these round twice; so does wmap.
    let tables = ["i32", "u32", "i64", "u64"];
    let (n, _) = casts_match_torch(&tables, "bf16");
    let (m, _) = casts_match_torch(&tables, "f16");
    assert!(n > 15_000 && n == m);
}

#[test]
fn integers_to_f8_match_torch() {
    // Every u8, i8 and i16, and the wide integers' edges: overflow saturates
    // (e4m3) or becomes inf (e5m2) exactly where torch's does.
    let tables = ["u8", "i8", "i16", "i32", "u32", "i64", "u64", "bool"];
    for to in ["f8_e4m3", "f8_e5m2"] {
        let (n, _) = casts_match_torch(&tables, to);
        assert!(n > 65536 + 512 + 15_000, "{to}: {n}");
    }
}

#[test]
fn small_integers_every_value_to_every_float() {
    for to in ["f16", "bf16", "f32", "f64"] {
        assert_eq!(casts_match_torch(&["u8", "i8"], to).0, 512, "{to}");
    }
}

#[test]
fn f8_e4m3_every_value_to_every_dtype() {
    let mut documented = 0;
    for to in EVERY.into_iter().filter(|d| *d != "f8_e4m3") {
        let (n, d) = casts_match_torch(&["f8_e4m3"], to);
        assert_eq!(n + d, 256, "{to}");
        documented += d;
    }
    // Out of the integers' ranges (and NaN): u8 (256..448), i8, bool is not
    // one of them.
    assert!(documented > 0);
}

#[test]
fn f8_e5m2_every_value_to_every_dtype() {
    for to in EVERY.into_iter().filter(|d| *d != "f8_e5m2") {
        let (n, d) = casts_match_torch(&["f8_e5m2"], to);
        assert_eq!(n + d, 256, "{to}");
    }
}

#[test]
fn f16_every_value_to_f8_bf16_and_i16() {
    for to in ["f8_e4m3", "f8_e5m2", "bf16", "i16"] {
        let (n, d) = casts_match_torch(&["f16"], to);
        assert_eq!(n + d, 65536, "{to}");
        if to != "i16" {
            assert_eq!(d, 0);
        }
    }
}

#[test]
fn bf16_every_value_to_f8_f16_and_i16() {
    for to in ["f8_e4m3", "f8_e5m2", "f16", "i16"] {
        let (n, d) = casts_match_torch(&["bf16"], to);
        assert_eq!(n + d, 65536, "{to}");
    }
}

#[test]
fn f32_edges_to_narrow_floats_match_torch() {
    // Ties and their neighbours for every narrow format, subnormals, the
    // overflow thresholds (448, 464, 480, 57344, 61440, 65504, 65520), inf, NaN.
    let n = inputs("f32").len();
    for to in ["f8_e4m3", "f8_e5m2", "f16", "bf16", "f64"] {
        assert_eq!(casts_match_torch(&["f32"], to).0, n, "{to}");
    }
}

#[test]
fn f32_subnormals_to_bf16_and_f16() {
    // The f32 table holds f32 subnormals and f16's subnormal range; count them
    // to show the comparison above covers them, and compare them again here.
    let values = inputs("f32");
    let f32_subnormal = values
        .iter()
        .filter(|x| **x != 0.0 && x.abs() < f32::MIN_POSITIVE as f64)
        .count();
    let f16_subnormal = values
        .iter()
        .filter(|x| **x != 0.0 && x.abs() < 6.103515625e-5)
        .count();
    assert!(
        f32_subnormal >= 4 && f16_subnormal > 300,
        "{f32_subnormal} {f16_subnormal}"
    );
    let (out, _) = run(&[("f32", "cast(bf16)".into())]);
    compare("f32", "bf16", &out["f32"], torch("f32.bf16"));
    let (out, _) = run(&[("f32", "cast(f16)".into())]);
    compare("f32", "f16", &out["f32"], torch("f32.f16"));
}

#[test]
fn f64_to_narrow_floats_round_like_torch() {
    let n = inputs("f64").len();
    for to in ["f32", "bf16", "f16", "f8_e4m3", "f8_e5m2"] {
        assert_eq!(casts_match_torch(&["f64"], to).0, n, "{to}");
    }
    // torch converts f64 to bf16 through f32: 1 + 2^-8 + 2^-40 becomes the
    // tie 1 + 2^-8 in f32 and then 1.0 (one rounding would give 1.0078125).
    // wmap does the same; the comparison above includes this element.
    let k = inputs("f64")
        .iter()
        .position(|x| *x == 1.0 + 2f64.powi(-8) + 2f64.powi(-40))
        .expect("the fixture holds 1 + 2^-8 + 2^-40");
    let want = &torch("f64.bf16")[k * 2..k * 2 + 2];
    assert_eq!(bf16::from_le_bytes([want[0], want[1]]).to_f64(), 1.0);
}

#[test]
fn floats_to_integers_truncate_like_torch_and_saturate_outside() {
    let mut totals = (0, 0);
    for to in ["bool", "u8", "i8", "i16", "u16", "i32", "u32", "i64", "u64"] {
        let (n, d) = casts_match_torch(&["f8_e4m3", "f8_e5m2", "f32", "f64"], to);
        totals.0 += n;
        totals.1 += d;
    }
    let (n, d) = casts_match_torch(&["f16", "bf16"], "i16");
    assert!(totals.0 > 50_000 && totals.1 > 20_000 && n > 30_000 && d > 1000);
}

#[test]
fn integers_to_integers_wrap_like_torch() {
    // Negative to unsigned and wide to narrow wrap (two's complement), as in torch.
    for to in ["bool", "u8", "i8", "i16", "u16", "i32", "u32", "i64", "u64"] {
        let n = casts_match_torch(&["ints"], to).0;
        assert_eq!(n, inputs("ints").len(), "{to}");
    }
}

#[test]
fn bool_to_every_dtype_and_floats_to_bool() {
    for to in EVERY.into_iter().filter(|d| *d != "bool") {
        assert_eq!(casts_match_torch(&["bool"], to).0, 2, "{to}");
    }
    // Float to bool is x != 0: NaN is true, -0.0 false.
    let n = casts_match_torch(&["f8_e4m3", "f8_e5m2", "f32", "f64"], "bool").0;
    assert_eq!(n, 256 * 2 + inputs("f32").len() + inputs("f64").len());
}

#[test]
fn nan_stays_nan_in_every_float() {
    // Every NaN of f16 and f32 inputs (the f16 table has 2046) gives NaN;
    // in the 8-bit floats with torch's sign.
    let nans = inputs("f16").iter().filter(|x| x.is_nan()).count();
    assert_eq!(nans, 2046);
    for to in ["f8_e4m3", "f8_e5m2", "bf16"] {
        casts_match_torch(&["f16", "f32", "f64"], to);
    }
    let (out, _) = run(&[("f16", "cast(f8_e4m3)".into())]);
    let values = inputs("f16");
    for (k, x) in values.iter().enumerate() {
        if x.is_nan() {
            assert_eq!(out["f16"][k] & 0x7F, 0x7F, "NaN {k}");
        }
    }
}

#[test]
fn inf_to_f8_e4m3_saturates_like_torch() {
    // torch 2.15 saturates ±inf and every overflow to ±448 (0x7E / 0xFE) in
    // float8_e4m3fn, and e5m2 overflows to ±inf (0x7C / 0xFC).
    let values = inputs("f32");
    let (out, stderr) = run(&[("f32", "cast(f8_e4m3)".into())]);
    let want = torch("f32.f8_e4m3");
    let mut infs = 0;
    for (k, x) in values.iter().enumerate() {
        if x.is_infinite() {
            let expect = if *x > 0.0 { 0x7E } else { 0xFE };
            assert_eq!((out["f32"][k], want[k]), (expect, expect));
            infs += 1;
        }
    }
    assert!(infs >= 2);
    // The saturated elements are reported, with the tensor's name.
    assert!(
        stderr.contains("warning: `f32`:") && stderr.contains("out of range"),
        "{stderr}"
    );
}

/// A one-tensor checkpoint in `dir`: `t`, of `dtype`, holding `bytes` (`n` elements).
fn one_tensor(dir: &Path, dtype: &str, bytes: &[u8], n: usize) -> std::path::PathBuf {
    let header = format!(
        "{{\"t\":{{\"dtype\":\"{}\",\"shape\":[{n}],\"data_offsets\":[0,{}]}}}}",
        dtype.to_uppercase(),
        bytes.len()
    );
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(bytes);
    let path = dir.join("src.safetensors");
    std::fs::write(&path, file).unwrap();
    path
}

#[test]
fn mul_1e400_is_a_check_error_at_its_span() {
    let dir = tempfile::tempdir().unwrap();
    let src = one_tensor(dir.path(), "f32", &1.0f32.to_le_bytes(), 1);
    let mapping = dir.path().join("m.wmap");
    std::fs::write(&mapping, "\"t\" | mul(1e400) -> \"t\"\n").unwrap();
    let before = listing(dir.path());
    let out = wmap()
        .arg("check")
        .arg(&mapping)
        .arg(&src)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("wmap::number_out_of_range"), "{stderr}");
    assert!(
        stderr.contains("the number 1e400 is infinite as f64"),
        "{stderr}"
    );
    // At the literal: line 1, column 11 (`"t" | mul(` is 10 characters).
    assert!(stderr.contains("m.wmap:1:11"), "{stderr}");
    assert!(stderr.contains("out of range"), "{stderr}");
    let dst = dir.path().join("out.safetensors");
    let run = wmap()
        .arg("run")
        .arg(&mapping)
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(listing(dir.path()), before, "nothing written");
    // A nonzero number that is 0 in f64 is refused the same way.
    std::fs::write(&mapping, "\"t\" | add(1e-400) -> \"t\"\n").unwrap();
    let out = wmap()
        .arg("check")
        .arg(&mapping)
        .arg(&src)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("the number 1e-400 is 0 as f64"), "{stderr}");
}

#[test]
fn mul_beyond_the_computing_dtype_is_a_check_error() {
    // torch's mul on f32 (and f16, bf16) takes the number as f32: 1e39 is inf
    // there, and every element would become inf or NaN (0 * inf).
    let dir = tempfile::tempdir().unwrap();
    let src = one_tensor(dir.path(), "f16", &[0, 0x3C], 1);
    let mapping = dir.path().join("m.wmap");
    for (ops, says) in [
        (
            "mul(1e39)",
            "`mul` uses 1e39 as f32 here, where it becomes inf",
        ),
        (
            "mul(1e-50)",
            "`mul` uses 1e-50 as f32 here, where it becomes 0",
        ),
        // add takes the number in the tensor's dtype: 70000 is inf in f16.
        (
            "add(70000)",
            "`add` uses 70000 as f16 here, where it becomes inf",
        ),
    ] {
        std::fs::write(&mapping, format!("\"t\" | {ops} -> \"t\"\n")).unwrap();
        let out = wmap()
            .arg("check")
            .arg(&mapping)
            .arg(&src)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{ops}: {stderr}");
        assert!(stderr.contains(says), "{ops}: {stderr}");
    }
    // Cast to f64 first and the same number is fine.
    std::fs::write(&mapping, "\"t\" | cast(f64) | mul(1e39) -> \"t\"\n").unwrap();
    wmap()
        .arg("check")
        .arg(&mapping)
        .arg(&src)
        .assert()
        .success();
}

/// Runs `ops` on a one-tensor checkpoint of `dtype` and returns the output
/// bytes and stderr.
fn run_one(dtype: &str, bytes: &[u8], n: usize, ops: &str) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let src = one_tensor(dir.path(), dtype, bytes, n);
    let mapping = dir.path().join("m.wmap");
    std::fs::write(&mapping, format!("\"t\" | {ops} -> \"t\"\n")).unwrap();
    let dst = dir.path().join("out.safetensors");
    let out = wmap()
        .arg("run")
        .arg(&mapping)
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let bytes = std::fs::read(&dst).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    (st.tensor("t").unwrap().data().to_vec(), stderr)
}

#[test]
fn mul_overflow_is_reported_for_every_float_dtype() {
    // The README: an overflow to infinity is what `wmap run` reports. f32,
    // bf16 and f64 overflowed silently before (only f16 was counted).
    let f32s: Vec<u8> = [3e38f32, 1.0, -3e38, f32::INFINITY]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let (out, stderr) = run_one("f32", &f32s, 4, "mul(2.0)");
    let got: Vec<f32> = out
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, [f32::INFINITY, 2.0, f32::NEG_INFINITY, f32::INFINITY]);
    // Two finite elements became infinite; the inf that was one already is not counted.
    assert!(
        stderr.contains("warning: `t`: 2 element(s) out of range"),
        "{stderr}"
    );
    let bf16s: Vec<u8> = [3e38f32, 1.0]
        .iter()
        .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
        .collect();
    let (_, stderr) = run_one("bf16", &bf16s, 2, "mul(4.0)");
    assert!(
        stderr.contains("warning: `t`: 1 element(s) out of range"),
        "{stderr}"
    );
    let f64s: Vec<u8> = [1e308f64, 1.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let (_, stderr) = run_one("f64", &f64s, 2, "add(1e308)");
    assert!(
        stderr.contains("warning: `t`: 1 element(s) out of range"),
        "{stderr}"
    );
    // No warning where nothing overflows.
    let (_, stderr) = run_one("f64", &f64s, 2, "mul(0.5)");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn add_and_mul_on_bf16_and_f16_match_torch_for_every_value() {
    // torch computes in f32 and rounds once to the dtype; `add` first rounds
    // the number to the dtype, `mul` takes it as f32.
    for op in ["mul(-1.7)", "add(0.3)"] {
        let (out, _) = run(&[("f16", op.into()), ("bf16", op.into())]);
        let name = if op.starts_with("mul") {
            "mul.0"
        } else {
            "add.0"
        };
        for dtype in ["f16", "bf16"] {
            let n = compare(dtype, dtype, &out[dtype], torch(&format!("{dtype}.{name}"))).0;
            assert_eq!(n, 65536, "{op} on {dtype}");
        }
    }
}

#[test]
fn add_and_mul_on_f32_and_f64_match_torch() {
    for (op, name) in [
        ("mul(-1.7)", "mul.0"),
        ("mul(0.1)", "mul.1"),
        ("add(0.3)", "add.0"),
    ] {
        let (out, _) = run(&[("f32", op.into()), ("f64", op.into())]);
        for dtype in ["f32", "f64"] {
            let n = compare(dtype, dtype, &out[dtype], torch(&format!("{dtype}.{name}"))).0;
            assert_eq!(n, inputs(dtype).len(), "{op} on {dtype}");
        }
    }
}

#[test]
fn out_of_range_float_to_integer_saturates_and_is_reported() {
    // Undefined in torch (x86 gives 44 for 300.0 -> u8 and INT_MIN for NaN ->
    // i32); wmap saturates, gives 0 for NaN, and says how many.
    let f32s: Vec<u8> = [300.0f32, -1.5, f32::NAN, 2.9, -3e9, f32::NEG_INFINITY]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let (out, stderr) = run_one("f32", &f32s, 6, "cast(u8)");
    assert_eq!(out, [255, 0, 0, 2, 0, 0]);
    assert!(
        stderr.contains("warning: `t`: 5 element(s) out of range"),
        "{stderr}"
    );
    let (out, _) = run_one("f32", &f32s, 6, "cast(i32)");
    let got: Vec<i32> = out
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, [300, -1, 0, 2, i32::MIN, i32::MIN]);
}

#[test]
fn integer_wrap_is_reported() {
    // i64 -> i8 wraps like torch (300 -> 44, -129 -> 127); wmap says so.
    let i64s: Vec<u8> = [300i64, -129, 5]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let (out, stderr) = run_one("i64", &i64s, 3, "cast(i8)");
    assert_eq!(out, [44, 127, 5]);
    assert!(
        stderr.contains("warning: `t`: 2 element(s) out of range"),
        "{stderr}"
    );
}
