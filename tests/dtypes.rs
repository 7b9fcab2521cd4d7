//! Every dtype of the safetensors format: the crate's list enumerated (a
//! dtype added upstream fails here until wmap handles it), sizes and header
//! names as the crate has them, values decoded as independent decoders do
//! (torch for f8_e8m0 and the FNUZ formats, ml_dtypes for f4 and f6, made by
//! scripts/fixtures/make_dtype_fixtures.py), bit-exact copies, and the
//! checker's refusals for what is not defined on them.

use std::sync::OnceLock;

use wmap::dtype::{self, DType};

use crate::adversarial::support::{fixture_in, run_on_fixture, tensor_of};
use crate::common::case::Case;

const FIXTURE: &str = "tests/fixtures/exec/dtypes.safetensors";
static BYTES: OnceLock<Vec<u8>> = OnceLock::new();

/// The dtype names the safetensors crate accepts, read from the list its
/// deserializer gives for an unknown name (serde names every variant).
fn crate_dtype_names() -> Vec<String> {
    let err = serde_json::from_str::<safetensors::Dtype>("\"NOT_A_DTYPE\"")
        .expect_err("not a dtype")
        .to_string();
    let list = err
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("serde's message changed: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn every_dtype_of_the_safetensors_crate_is_one_of_wmaps() {
    let names = crate_dtype_names();
    assert!(names.len() >= 22, "{names:?}");
    for name in &names {
        let ours = DType::from_safetensors(name)
            .unwrap_or_else(|| panic!("safetensors defines {name}; wmap does not read it"));
        let theirs: safetensors::Dtype = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(ours.bits() as usize, theirs.bitsize(), "{name}");
        assert_eq!(ours.safetensors_name(), name);
    }
    // And wmap has no dtype the format does not.
    assert_eq!(names.len(), dtype::ALL.len(), "{names:?}");
}

/// Decodes `tensor.{name}` by `cast(f32)` through `wmap run`.
fn decoded(names: &[&str]) -> std::collections::HashMap<String, Vec<u8>> {
    let st = fixture_in(&BYTES, FIXTURE);
    let rules: String = names
        .iter()
        .map(|n| format!("\"tensor.{n}\" | cast(f32) -> \"{n}\"\n"))
        .collect();
    let inputs: Vec<String> = names.iter().map(|n| format!("tensor.{n}")).collect();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    run_on_fixture(FIXTURE, &st, &rules, &inputs).0
}

fn absolute() -> String {
    format!("{}/{FIXTURE}", env!("CARGO_MANIFEST_DIR"))
}

/// A tensor of the fixture, as bytes.
fn fx(name: &str) -> &'static [u8] {
    tensor_of(fixture_in(&BYTES, FIXTURE), name)
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn same_bits(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan(),
            "{what}[{i}]: wmap {a} ({:#x}), reference {b} ({:#x})",
            a.to_bits(),
            b.to_bits()
        );
    }
}

#[test]
fn every_code_decodes_as_torch_and_ml_dtypes_decode_it() {
    // Every code of every format, written as that dtype and cast to f32.
    let case = Case::new();
    let mut tensors = Vec::new();
    for (name, d) in [
        ("f8_e8m0", DType::F8E8M0),
        ("f8_e4m3fnuz", DType::F8E4M3FNUZ),
        ("f8_e5m2fnuz", DType::F8E5M2FNUZ),
        ("f4", DType::F4),
        ("f6_e2m3", DType::F6E2M3),
        ("f6_e3m2", DType::F6E3M2),
    ] {
        let codes = fx(&format!("{name}.codes"));
        // Packed as the format packs them: least significant bits first.
        let bits = d.bits() as usize;
        let mut packed = vec![0u8; codes.len() * bits / 8];
        for (i, &c) in codes.iter().enumerate() {
            for k in 0..bits {
                if c >> k & 1 == 1 {
                    packed[(i * bits + k) / 8] |= 1 << ((i * bits + k) % 8);
                }
            }
        }
        tensors.push((name.to_string(), d, vec![codes.len() as u64], packed));
    }
    let src = case.path().join("codes.safetensors");
    crate::common::write_safetensors(&src, &tensors);
    let rules: String = tensors
        .iter()
        .map(|(n, ..)| format!("\"{n}\" | cast(f32) -> \"{n}\"\n"))
        .collect();
    let case = case.mapping(&rules);
    let out = case.path().join("out.safetensors");
    case.run([
        "run",
        "m.wmap",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .exits(0);
    let bytes = std::fs::read(&out).unwrap();
    let written = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, ..) in &tensors {
        let ours = floats(written.tensor(name).unwrap().data());
        let theirs = floats(fx(&format!("{name}.f32")));
        same_bits(&ours, &theirs, name);
    }
}

#[test]
fn checkpoint_tensors_of_each_dtype_read_copy_and_cast_exactly() {
    let st = fixture_in(&BYTES, FIXTURE);
    let names = [
        "f4",
        "f6_e2m3",
        "f6_e3m2",
        "f8_e8m0",
        "f8_e4m3fnuz",
        "f8_e5m2fnuz",
    ];
    let out = decoded(&names);
    for n in names {
        same_bits(&floats(&out[n]), &floats(fx(&format!("tensor.{n}.f32"))), n);
    }
    // Copied unchanged (a rename, a reshape): the same bytes.
    let mut rules = String::new();
    let mut inputs = Vec::new();
    for n in names.iter().chain(&["c64"]) {
        rules.push_str(&format!("\"tensor.{n}\" | reshape(-1) -> \"{n}\"\n"));
        inputs.push(format!("tensor.{n}"));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let (copied, _) = run_on_fixture(FIXTURE, &st, &rules, &inputs);
    for n in names.iter().chain(&["c64"]) {
        assert_eq!(copied[*n], fx(&format!("tensor.{n}")), "{n}");
    }
    // Complex moves as pairs of f32: a transpose of c64 equals torch's on its parts.
    let (moved, _) = run_on_fixture(
        FIXTURE,
        &st,
        "\"tensor.c64\" | transpose -> \"t\"\n",
        &["tensor.c64"],
    );
    let parts = floats(fx("tensor.c64.parts")); // [3, 2, 2]
    let mut expected = Vec::new();
    for j in 0..2 {
        for i in 0..3 {
            expected.extend(&parts[(i * 2 + j) * 2..(i * 2 + j) * 2 + 2]);
        }
    }
    same_bits(&floats(&moved["t"]), &expected, "c64 transposed");
}

#[test]
fn what_is_not_defined_on_a_dtype_is_refused_before_anything_is_read() {
    let mut case = Case::new();
    for (rule, says) in [
        (
            "\"tensor.f4\" | transpose -> \"x\"",
            "`transpose` moves elements, and f4 packs two per byte",
        ),
        (
            "\"tensor.f6_e2m3\" | split(axis=0, parts=2) -> [\"a\", \"b\"]",
            "f6_e2m3 packs four in three bytes, per byte",
        ),
        (
            "\"tensor.f8_e8m0\" | mul(2.0) -> \"x\"",
            "`mul` computes values, and wmap does not compute in f8_e8m0",
        ),
        (
            "\"tensor.f32\" | cast(f8_e4m3fnuz) -> \"x\"",
            "wmap does not write values as f8_e4m3fnuz",
        ),
        (
            "\"tensor.c64\" | cast(f32) -> \"x\"",
            "complex values have no real value",
        ),
    ] {
        let rule = rule.replace("tensor.f32", "tensor.f4.f32");
        let mapping = format!("{rule}\nfallback \"{{n:**}}\" -> \"{{n}}\"\n");
        case = case.mapping(&mapping);
        case.run(["check", "m.wmap", &absolute()])
            .exits(1)
            .says("wmap::unsupported_dtype")
            .says(says);
    }
    // A global cast into a dtype wmap does not write, and of complex values.
    for (cast, says) in [
        ("cast f32 -> f4", "wmap does not write values as f4"),
        ("cast c64 -> f32", "complex values have no real value"),
    ] {
        case = case.mapping(&format!("{cast}\nfallback \"{{n:**}}\" -> \"{{n}}\"\n"));
        case.run(["check", "m.wmap", &absolute()])
            .exits(1)
            .says("wmap::unsupported_dtype")
            .says(says);
    }
}

#[test]
fn a_packed_tensor_that_ends_inside_a_byte_is_refused() {
    // Three f4 values need 1.5 bytes: the format stores whole bytes.
    let case = Case::new();
    let path = case.path().join("odd.safetensors");
    let header = br#"{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend([0u8, 0]);
    std::fs::write(&path, bytes).unwrap();
    case.run(["inspect", path.to_str().unwrap()])
        .exits(2)
        .says("3 elements of f4 (4 bits each) end inside a byte");
}
