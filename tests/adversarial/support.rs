//! Shared helpers of the adversarial suite.
#![allow(dead_code)]

pub use crate::common::wmap;

pub use crate::common::case::says;

/// A safetensors fixture read once into `cell` and parsed on each call.
pub fn fixture_in(
    cell: &'static std::sync::OnceLock<Vec<u8>>,
    path: &str,
) -> safetensors::SafeTensors<'static> {
    let bytes = cell.get_or_init(|| std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}")));
    safetensors::SafeTensors::deserialize(bytes).expect("a safetensors file")
}

/// Tensor `name` of a fixture, as bytes.
pub fn tensor_of(st: safetensors::SafeTensors<'static>, name: &str) -> &'static [u8] {
    st.tensor(name)
        .unwrap_or_else(|_| panic!("fixture tensor {name}"))
        .data()
}

/// Runs `wmap run` with `rules` on the fixture at `path` (`st`), dropping
/// every tensor other than `inputs`; returns the written tensors by name and
/// wmap's stderr.
pub fn run_on_fixture(
    path: &str,
    st: &safetensors::SafeTensors<'static>,
    rules: &str,
    inputs: &[&str],
) -> (std::collections::HashMap<String, Vec<u8>>, String) {
    let others: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !inputs.contains(n))
        .map(|n| format!("\"{n}\""))
        .collect();
    let text = format!("{rules}drop [{}]\n", others.join(", "));
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.wmap");
    std::fs::write(&mapping, text).unwrap();
    let dst = dir.path().join("out.safetensors");
    let output = wmap()
        .args(["run", "--quiet"])
        .arg(&mapping)
        .arg(path)
        .arg(&dst)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "wmap run failed: {stderr}");
    let bytes = std::fs::read(&dst).unwrap();
    let out = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = out
        .names()
        .into_iter()
        .map(|n| (n.to_string(), out.tensor(n).unwrap().data().to_vec()))
        .collect();
    (tensors, stderr)
}

/// Every path under `dir`, relative to it, sorted: what a case compares before
/// and after to show that nothing was added, removed or left behind.
pub fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Starts wmap with `args` in `dir`, paused by the debug build's fault
/// injection once `after` tensors are written, and waits until it is. Its
/// stderr is drained in the background (a closed pipe would kill it with
/// SIGPIPE); the receiver gets the rest of it when the process ends. With a
/// `tmp` folder in `dir`, that is its temporary folder.
pub fn start_paused(
    dir: &std::path::Path,
    after: u32,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, Read};
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wmap"));
    cmd.current_dir(dir)
        .env("WMAP_FAULT", format!("pause-after:{after}"))
        .env("NO_COLOR", "1")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if dir.join("tmp").is_dir() {
        cmd.env("TMPDIR", dir.join("tmp"));
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "{args:?} ended before pausing"
        );
        if line.contains("paused") {
            break;
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    (child, rx)
}
