//! End-to-end tests of `wmap run`: results compared with torch (casts,
//! add/mul; fixtures made by scripts/fixtures/make_exec_fixtures.py) and with
//! ndarray (data movement), read back with the `safetensors` crate.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::wmap;
use crate::common::CheckedExt;
use ndarray::{s, Array2, ArrayD, Axis, IxDyn};
use safetensors::SafeTensors;

const CASTS: &str = "tests/fixtures/exec/casts.safetensors";
const DTYPES: [&str; 12] = [
    "bool", "u8", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64", "f8_e4m3", "f8_e5m2",
];

/// Runs a mapping given as text on `src`, through the library, into `dst`.
fn convert(rules: &str, src: &Path, dst: &Path) {
    let loaded = wmap::loader::load_text("test.wmap", rules);
    let checkpoint = wmap::checkpoint::Checkpoint::open(src).unwrap();
    let config = wmap::checkpoint::Config::discover(&checkpoint.dir, None).unwrap();
    let checked = wmap::check::check(&loaded, &checkpoint.tensors, &config);
    let plan = checked.plan().cloned().unwrap_or_else(|| {
        panic!(
            "{}",
            wmap::diagnostics::render(
                checked.diagnostics(),
                &loaded.sources,
                wmap::diagnostics::Style {
                    color: false,
                    width: 100
                }
            )
        )
    });
    wmap::exec::run(
        &plan,
        &checkpoint,
        src,
        dst,
        &wmap::exec::Options::default(),
        &Default::default(),
    )
    .unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Every tensor but `keep`, dropped by name.
fn drop_all_but(names: &[String], keep: &str) -> String {
    names
        .iter()
        .filter(|n| *n != keep)
        .map(|n| format!("drop \"{n}\"\n"))
        .collect()
}

#[test]
fn casts_are_bit_identical_to_torch() {
    let bytes = read(Path::new(CASTS));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let names: Vec<String> = st.names().into_iter().map(String::from).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for from in DTYPES {
        for to in DTYPES {
            if from == to {
                continue;
            }
            let input = if names.contains(&format!("castin.{from}.{to}")) {
                format!("castin.{from}.{to}")
            } else {
                format!("in.{from}")
            };
            let rules = format!(
                "\"{input}\" | cast({to}) -> \"out\"\n{}",
                drop_all_but(&names, &input)
            );
            let dst = dir.path().join(format!("{from}-{to}.safetensors"));
            convert(&rules, Path::new(CASTS), &dst);
            let out_bytes = read(&dst);
            let out = SafeTensors::deserialize(&out_bytes).unwrap();
            let got = out.tensor("out").unwrap();
            let want = st.tensor(&format!("cast.{from}.{to}")).unwrap();
            assert_eq!(got.shape(), want.shape());
            assert_eq!(got.dtype(), want.dtype(), "{from} -> {to}");
            if let Some(k) = got.data().iter().zip(want.data()).position(|(a, b)| a != b) {
                panic!(
                    "{from} -> {to}: byte {k} differs from torch: {} vs {}",
                    got.data()[k],
                    want.data()[k]
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 132);
}

#[test]
fn add_and_mul_are_bit_identical_to_torch() {
    let bytes = read(Path::new(CASTS));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let names: Vec<String> = st.names().into_iter().map(String::from).collect();
    let dir = tempfile::tempdir().unwrap();
    for dtype in ["f16", "bf16", "f32", "f64"] {
        for (op, arg) in [("add", "0.3"), ("mul", "-1.7")] {
            let input = format!("in.{dtype}");
            let rules = format!(
                "\"{input}\" | {op}({arg}) -> \"out\"\n{}",
                drop_all_but(&names, &input)
            );
            let dst = dir.path().join(format!("{op}-{dtype}.safetensors"));
            convert(&rules, Path::new(CASTS), &dst);
            let out_bytes = read(&dst);
            let out = SafeTensors::deserialize(&out_bytes).unwrap();
            let want = st.tensor(&format!("{op}.{dtype}")).unwrap();
            assert!(
                out.tensor("out").unwrap().data() == want.data(),
                "{op} on {dtype} differs from torch"
            );
        }
    }
}

fn f32_array(st: &SafeTensors, name: &str) -> ArrayD<f32> {
    let t = st.tensor(name).unwrap();
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    ArrayD::from_shape_vec(IxDyn(t.shape()), values).unwrap()
}

fn gpt2_out(dir: &Path) -> PathBuf {
    let dst = dir.join("gpt2-burn");
    wmap()
        .args([
            "run",
            "--quiet",
            "mappings/gpt2/hf-to-burn.wmap",
            "tests/fixtures/models/gpt2",
        ])
        .arg(&dst)
        .assert()
        .success();
    dst
}

#[test]
fn gpt2_conversion_matches_ndarray() {
    let dir = tempfile::tempdir().unwrap();
    let dst = gpt2_out(dir.path());
    let src_bytes = read(Path::new("tests/fixtures/models/gpt2/model.safetensors"));
    let src = SafeTensors::deserialize(&src_bytes).unwrap();
    let out_bytes = read(&dst.join("model.safetensors"));
    let out = SafeTensors::deserialize(&out_bytes).unwrap();
    for i in 0..2 {
        let c_attn = f32_array(&src, &format!("transformer.h.{i}.attn.c_attn.weight"));
        for (k, part) in ["query", "key", "value"].iter().enumerate() {
            let want = c_attn
                .slice(s![.., k * 64..(k + 1) * 64])
                .to_owned()
                .into_dyn();
            assert_eq!(
                f32_array(&out, &format!("blocks.{i}.attn.{part}.weight")),
                want
            );
        }
    }
    assert_eq!(
        f32_array(&out, "wte.weight"),
        f32_array(&src, "transformer.wte.weight")
    );
    // config.json and generation_config.json travel with the weights.
    assert!(dst.join("config.json").is_file());
    assert!(dst.join("generation_config.json").is_file());
    let meta = SafeTensors::read_metadata(&out_bytes).unwrap().1;
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(
        meta.get("wmap_mapping").map(String::as_str),
        Some("hf-to-burn.wmap")
    );
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
}

/// A synthetic checkpoint with f32 tensors of several ranks.
fn layered(dir: &Path) -> PathBuf {
    let mut p = common::Preset {
        tensors: Vec::new(),
        config: serde_json::json!({"heads": 4}),
    };
    for i in 0..3 {
        p.tensors
            .push((format!("l.{i}.w"), wmap::dtype::DType::F32, vec![8, 6]));
        p.tensors
            .push((format!("l.{i}.qkv"), wmap::dtype::DType::F32, vec![24, 5]));
        p.tensors
            .push((format!("l.{i}.t"), wmap::dtype::DType::BF16, vec![2, 3, 4]));
    }
    let src = dir.join("src");
    p.write(&src);
    src
}

const FORWARD: &str = r#"
let heads = config.heads
"l.{i}.w" | transpose -> "a.{i}.w"
"l.{i}.qkv" | reshape(heads, 2, 3, 5) | transpose(1, 2) | reshape(24, 5) | split(axis=0, sizes=[8, 8, 8]) -> ["a.{i}.q", "a.{i}.k", "a.{i}.v"]
"l.{i}.t" | permute(2, 0, 1) | stack(i, axis=1) -> "all.t"
"#;

const BACKWARD: &str = r#"
let heads = config.heads
"a.{i}.w" | transpose -> "l.{i}.w"
["a.{i}.q", "a.{i}.k", "a.{i}.v"] | concat(axis=0) | reshape(heads, 3, 2, 5) | transpose(1, 2) | reshape(24, 5) -> "l.{i}.qkv"
"all.t" | unstack(i, axis=1) | permute(1, 2, 0) -> "l.{i}.t"
"#;

#[test]
fn round_trip_is_bit_exact_and_matches_ndarray() {
    let dir = tempfile::tempdir().unwrap();
    let src = layered(dir.path());
    std::fs::write(dir.path().join("fwd.wmap"), FORWARD).unwrap();
    std::fs::write(dir.path().join("bwd.wmap"), BACKWARD).unwrap();
    let mid = dir.path().join("mid");
    let back = dir.path().join("back.safetensors");
    // Forward into shards of at most 500 bytes, back into one file.
    wmap()
        .current_dir(dir.path())
        .args([
            "run",
            "--quiet",
            "--max-shard-size",
            "500B",
            "fwd.wmap",
            "src",
            "mid",
        ])
        .assert()
        .success();
    assert!(mid.join("model.safetensors.index.json").is_file());
    assert!(
        mid.join("model-00001-of-00005.safetensors").is_file()
            || std::fs::read_dir(&mid).unwrap().count() > 3
    );
    wmap()
        .current_dir(dir.path())
        .args(["run", "--quiet", "bwd.wmap", "mid", "back.safetensors"])
        .assert()
        .success();
    let a_bytes = read(&src.join("model.safetensors"));
    let b_bytes = read(&back);
    let a = SafeTensors::deserialize(&a_bytes).unwrap();
    let b = SafeTensors::deserialize(&b_bytes).unwrap();
    let mut names_a: Vec<&str> = a.names();
    let mut names_b: Vec<&str> = b.names();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    for n in names_a {
        assert!(
            a.tensor(n).unwrap().data() == b.tensor(n).unwrap().data(),
            "{n} differs after a round trip"
        );
    }
    // The middle matches ndarray doing the same ops.
    let index: serde_json::Value =
        serde_json::from_slice(&read(&mid.join("model.safetensors.index.json"))).unwrap();
    let shard_of = |name: &str| mid.join(index["weight_map"][name].as_str().unwrap());
    let w0 = f32_array(&a, "l.1.w")
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let mid_bytes = read(&shard_of("a.1.w"));
    let m = SafeTensors::deserialize(&mid_bytes).unwrap();
    let want: Array2<f32> = w0.t().to_owned();
    assert_eq!(f32_array(&m, "a.1.w"), want.into_dyn());
    let qkv = f32_array(&a, "l.2.qkv");
    let permuted = qkv
        .into_shape_with_order(IxDyn(&[4, 2, 3, 5]))
        .unwrap()
        .permuted_axes(IxDyn(&[0, 2, 1, 3]))
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&[24, 5]))
        .unwrap();
    let k_bytes = read(&shard_of("a.2.k"));
    let k = SafeTensors::deserialize(&k_bytes).unwrap();
    assert_eq!(
        f32_array(&k, "a.2.k"),
        permuted.slice_axis(Axis(0), (8..16).into()).to_owned()
    );
}

#[test]
fn existing_destination_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out");
    std::fs::create_dir(&dst).unwrap();
    std::fs::write(dst.join("keep.txt"), "precious").unwrap();
    let run = |force: bool| {
        let mut c = wmap();
        c.args(["run", "--quiet"]);
        if force {
            c.arg("--force");
        }
        c.args([
            "mappings/gpt2/hf-to-burn.wmap",
            "tests/fixtures/models/gpt2",
        ])
        .arg(&dst);
        c
    };
    run(false)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already exists"));
    // --force replaces only what wmap wrote: a folder holding a user's file is kept.
    run(true).assert().code(2).stderr(predicates::str::contains(
        "`keep.txt`, which wmap did not write",
    ));
    assert_eq!(
        std::fs::read_to_string(dst.join("keep.txt")).unwrap(),
        "precious"
    );
    // Without it, the folder is a previous wmap output's place: written, then
    // replaced with --force.
    std::fs::remove_file(dst.join("keep.txt")).unwrap();
    run(true).assert().success();
    assert!(dst.join("model.safetensors").is_file());
    run(true).assert().success();
    assert!(dst.join("model.safetensors").is_file());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
}

#[test]
fn destination_inside_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = layered(dir.path());
    std::fs::write(dir.path().join("fwd.wmap"), FORWARD).unwrap();
    wmap()
        .current_dir(dir.path())
        .args(["run", "fwd.wmap", "src", "src/inner"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("inside"));
    assert!(!src.join("inner").exists());
}

#[test]
fn a_mapping_with_problems_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = layered(dir.path());
    std::fs::write(dir.path().join("bad.wmap"), "\"l.{i}.w\" -> \"x.{i}\"\n").unwrap();
    wmap()
        .current_dir(dir.path())
        .args(["run", "bad.wmap", "src", "out"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("wmap::unmapped_tensor"));
    assert!(!dir.path().join("out").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    let _ = src;
}

// ------------------------------------------------ failures and interruptions
//
// Debug builds of wmap (the ones tests run) honour `WMAP_FAULT`: an injected
// error, pause or sleep after N tensors are written (see src/exec/mod.rs).

/// Every entry of `dir`, recursively, with file contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The destinations a failure test tries: one file, a folder, a sharded folder,
/// and an existing folder replaced with --force.
fn destinations() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("out.safetensors", vec![]),
        ("out", vec![]),
        ("out", vec!["--max-shard-size", "100B"]),
        ("existing", vec!["--force", "--max-shard-size", "100B"]),
    ]
}

fn failure_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    layered(dir.path());
    std::fs::write(dir.path().join("fwd.wmap"), FORWARD).unwrap();
    // A previous output, which only --force replaces.
    wmap()
        .current_dir(dir.path())
        .args(["run", "--quiet", "fwd.wmap", "src", "existing"])
        .assert()
        .success();
    dir
}

#[test]
fn an_error_mid_run_leaves_nothing_behind() {
    for (dst, flags) in destinations() {
        let dir = failure_fixture();
        let before = snapshot(dir.path());
        wmap()
            .current_dir(dir.path())
            .env("WMAP_FAULT", "error-after:3")
            .args(["run", "--quiet", "fwd.wmap", "src", dst])
            .args(&flags)
            .assert()
            .code(2)
            .stderr(predicates::str::contains("injected fault after 3 tensors"));
        assert_eq!(
            snapshot(dir.path()),
            before,
            "{dst} {flags:?}: the folder changed after a failed run"
        );
        // The same run without the fault succeeds, so the fault was mid-run.
        wmap()
            .current_dir(dir.path())
            .args(["run", "--quiet", "--force", "fwd.wmap", "src", dst])
            .args(flags.iter().filter(|f| **f != "--force"))
            .assert()
            .success();
        assert_ne!(snapshot(dir.path()), before);
    }
}

#[test]
fn sigint_or_sigterm_mid_run_leaves_nothing_behind() {
    use std::io::BufRead;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        for (dst, flags) in destinations() {
            let dir = failure_fixture();
            let before = snapshot(dir.path());
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wmap"))
                .current_dir(dir.path())
                .env("WMAP_FAULT", "pause-after:2")
                .args(["run", "--quiet", "fwd.wmap", "src", dst])
                .args(&flags)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Wait until the run is paused with two tensors written.
            let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            loop {
                line.clear();
                assert!(stderr.read_line(&mut line).unwrap() > 0, "wmap ended early");
                if line.contains("paused after 2 tensors") {
                    break;
                }
            }
            // A temporary output exists beside the destination now.
            assert!(
                std::fs::read_dir(dir.path()).unwrap().any(|e| e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".wmap-tmp-")),
                "no temporary output while paused"
            );
            unsafe { libc::kill(child.id() as i32, signal) };
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(2), "{dst} {flags:?}: {rest}");
            assert!(rest.contains("interrupted"), "{rest}");
            assert_eq!(
                snapshot(dir.path()),
                before,
                "{dst} {flags:?}: signal {signal} left something behind"
            );
        }
    }
}

#[test]
fn progress_bar_on_a_terminal_only() {
    // Not a terminal: nothing on stderr, one summary line on stdout.
    let dir = failure_fixture();
    let out = wmap()
        .current_dir(dir.path())
        .env("WMAP_FAULT", "sleep-after:1:1500")
        .args(["run", "fwd.wmap", "src", "a"])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stderr), "");
    assert!(String::from_utf8_lossy(&out.get_output().stdout).starts_with("wrote 13 tensors"));
    // On a pseudo-terminal (util-linux `script`), a run over a second shows a bar
    // with bytes and throughput; with --quiet it does not.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping the terminal half: `script` is not installed");
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin("wmap");
    let on_tty = |dst: &str, quiet: &str| {
        let out = std::process::Command::new("script")
            .current_dir(dir.path())
            .env("WMAP_FAULT", "sleep-after:1:1500")
            .args(["-qec"])
            .arg(format!("{} run {quiet} fwd.wmap src {dst}", bin.display()))
            .arg("/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let shown = on_tty("b", "");
    assert!(shown.contains("B/s"), "no throughput shown: {shown:?}");
    assert!(shown.contains("wrote 13 tensors"), "{shown:?}");
    let quiet = on_tty("c", "--quiet");
    assert!(!quiet.contains("B/s"), "{quiet:?}");
}
