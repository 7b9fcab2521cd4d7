//! Inputs and faults: FIFOs and devices where files belong, sources that
//! shrink or are replaced while a run reads them, signals in the middle of
//! a command. Each ends with a clear error naming the cause, exit 2, no
//! hang, and nothing left behind.

use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use super::common::write_safetensors;
use super::support::*;
use wmap::dtype::DType;

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// Runs wmap with `args` in `dir`, killing it after 60 s: a hang fails the
/// case instead of the suite. Returns (exit code, stderr).
fn bounded(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("wmap"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{args:?}: still running after 60 s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    // Large enough that a run takes a while to read it.
    write_safetensors(
        &dir.path().join("src/model.safetensors"),
        &(0..8)
            .map(|i| {
                (
                    format!("t.{i}"),
                    DType::F32,
                    vec![1 << 18],
                    vec![i as u8; 4 << 18],
                )
            })
            .collect::<Vec<_>>(),
    );
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    dir
}

fn refused(dir: &Path, args: &[&str], says: &str) {
    let before = listing(dir);
    let (code, stderr) = bounded(dir, args);
    assert_eq!(code, Some(2), "{args:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        super::support::says(&stderr, says),
        "{args:?}: want {says:?} in\n{stderr}"
    );
    assert_eq!(listing(dir), before, "{args:?}: files changed");
}

#[test]
fn a_fifo_as_the_source_is_refused_without_hanging() {
    let dir = fixture();
    mkfifo(&dir.path().join("pipe.safetensors"));
    refused(
        dir.path(),
        &["inspect", "pipe.safetensors"],
        "is a FIFO, not a file",
    );
    refused(
        dir.path(),
        &["run", "m.wmap", "pipe.safetensors", "out.safetensors"],
        "is a FIFO, not a file",
    );
}

#[test]
fn a_fifo_as_the_mapping_is_refused_without_hanging() {
    let dir = fixture();
    mkfifo(&dir.path().join("pipe.wmap"));
    refused(
        dir.path(),
        &["check", "pipe.wmap", "src"],
        "is a FIFO, not a file",
    );
    refused(dir.path(), &["fmt", "pipe.wmap"], "is a FIFO, not a file");
}

#[test]
fn a_fifo_as_a_used_module_is_a_diagnostic() {
    let dir = fixture();
    mkfifo(&dir.path().join("lib.wmap"));
    std::fs::write(
        dir.path().join("m.wmap"),
        "use \"./lib.wmap\"\nfallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    let (code, stderr) = bounded(dir.path(), &["check", "m.wmap", "src"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        super::support::says(&stderr, "is a FIFO, not a file"),
        "{stderr}"
    );
}

#[test]
fn a_fifo_as_the_config_or_index_is_refused_without_hanging() {
    let dir = fixture();
    mkfifo(&dir.path().join("src/config.json"));
    refused(
        dir.path(),
        &["check", "m.wmap", "src"],
        "is a FIFO, not a file",
    );
    let dir = fixture();
    std::fs::remove_file(dir.path().join("src/model.safetensors")).unwrap();
    mkfifo(&dir.path().join("src/model.safetensors.index.json"));
    refused(dir.path(), &["inspect", "src"], "is a FIFO, not a file");
}

#[test]
fn a_device_as_the_source_or_mapping_is_refused() {
    let dir = fixture();
    refused(
        dir.path(),
        &["inspect", "/dev/zero"],
        "is a character device",
    );
    refused(
        dir.path(),
        &["check", "/dev/zero", "src"],
        "is a character device",
    );
    refused(
        dir.path(),
        &["check", "/dev/urandom", "src"],
        "is a character device",
    );
}

#[test]
fn a_folder_as_the_mapping_is_refused() {
    let dir = fixture();
    refused(dir.path(), &["check", "src", "src"], "is a folder");
}

/// Starts a run paused after `n` tensors (debug builds' fault injection) and
/// waits until it is paused.
fn paused(dir: &Path, dst: &str, cmd: &[&str]) -> std::process::Child {
    let args: Vec<&str> = cmd.iter().copied().chain([dst]).collect();
    let (child, rx) = start_paused(dir, 2, &args);
    STDERR.with(|s| *s.borrow_mut() = Some(rx));
    child
}

thread_local! {
    static STDERR: std::cell::RefCell<Option<std::sync::mpsc::Receiver<String>>> =
        const { std::cell::RefCell::new(None) };
}

fn rest_of_stderr() -> String {
    STDERR.with(|s| {
        s.borrow_mut()
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(30)).ok())
            .unwrap_or_default()
    })
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: signalling a child this test started.
    unsafe { libc::kill(child.id() as i32, sig) };
}

#[test]
fn a_source_truncated_mid_run_ends_with_an_error_not_sigbus() {
    for dst in ["out.safetensors", "out"] {
        let dir = fixture();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let before = listing(dir.path());
        let mut child = paused(dir.path(), dst, &["run", "--jobs", "1", "m.wmap", "src"]);
        // Cut the source to its header: the rest of the mapped data is gone.
        let src = dir.path().join("src/model.safetensors");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&src)
            .unwrap()
            .set_len(200)
            .unwrap();
        signal(&child, libc::SIGINT);
        let status = child.wait().unwrap();
        let stderr = rest_of_stderr();
        assert_eq!(status.code(), Some(2), "{dst}: {status:?}\n{stderr}");
        assert!(
            stderr.contains("truncated while wmap read it")
                || stderr.contains("changed while wmap read it")
                || stderr.contains("interrupted"),
            "{dst}: {stderr}"
        );
        let mut after = listing(dir.path());
        after.retain(|p| !p.contains(".wmap-"));
        assert_eq!(listing(dir.path()), after, "{dst}: temporary files left");
        assert_eq!(after, before, "{dst}: files changed");
    }
}

/// Waits until a run in `dir` has begun writing (its temporary output
/// exists): its sources are mapped by then.
fn started(dir: &Path) {
    let start = Instant::now();
    while !listing(dir).iter().any(|p| p.contains(".wmap-tmp-")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_source_truncated_while_read_is_named_as_the_cause() {
    // Copied tensors (read by the kernel: EFAULT) and computed ones (read from
    // the mapping by wmap itself: SIGBUS).
    for mapping in [
        "fallback \"{n:**}\" -> \"{n}\"\n",
        "fallback \"{n:**}\" | cast(f16) -> \"{n}\"\n",
    ] {
        truncated_while_read(mapping);
    }
}

fn truncated_while_read(mapping: &str) {
    // No pause: the fault injection sleeps after the first tensor, and the
    // truncation lands while the rest is read.
    let dir = fixture();
    std::fs::write(dir.path().join("m.wmap"), mapping).unwrap();
    let child = Process::new(assert_cmd::cargo::cargo_bin("wmap"))
        .current_dir(dir.path())
        .env("WMAP_FAULT", "sleep-after:1:1500")
        .args([
            "run",
            "--quiet",
            "--jobs",
            "1",
            "m.wmap",
            "src",
            "out.safetensors",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    started(dir.path());
    let src = dir.path().join("src/model.safetensors");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .unwrap()
        .set_len(200)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a source file was truncated while wmap read it")
            || stderr.contains("changed while wmap read it"),
        "{stderr}"
    );
    assert!(
        super::support::says(&stderr, "model.safetensors"),
        "{stderr}"
    );
    let left: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|p| p.contains("out"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_source_replaced_mid_run_fails_without_writing() {
    let dir = fixture();
    let child = Process::new(assert_cmd::cargo::cargo_bin("wmap"))
        .current_dir(dir.path())
        .env("WMAP_FAULT", "sleep-after:1:1500")
        .args([
            "run",
            "--quiet",
            "--jobs",
            "1",
            "m.wmap",
            "src",
            "out.safetensors",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    started(dir.path());
    // An editor-style replace: a new file renamed over the old one.
    let src = dir.path().join("src/model.safetensors");
    let new = dir.path().join("src/new.tmp");
    std::fs::copy(&src, &new).unwrap();
    std::fs::rename(&new, &src).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        super::support::says(&stderr, "changed while wmap read it"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.safetensors").exists());
    let left: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|p| p.contains(".wmap-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn sigint_during_diff_rules_leaves_nothing_in_the_temp_folder() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let mut child = paused(dir.path(), "src", &["diff", "--rules", "m.wmap", "src"]);
    assert!(
        !listing(&dir.path().join("tmp")).is_empty(),
        "diff made no temporary folder"
    );
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let stderr = rest_of_stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(super::support::says(&stderr, "interrupted"), "{stderr}");
    assert_eq!(listing(&dir.path().join("tmp")), Vec::<String>::new());
}

#[test]
fn a_diff_killed_earlier_is_cleaned_up_by_the_next() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let mut child = paused(dir.path(), "src", &["diff", "--rules", "m.wmap", "src"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!listing(&dir.path().join("tmp")).is_empty());
    let out = wmap()
        .current_dir(dir.path())
        .env("TMPDIR", dir.path().join("tmp"))
        .args(["diff", "--rules", "m.wmap", "src", "src"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listing(&dir.path().join("tmp")), Vec::<String>::new());
}

#[test]
fn sigterm_mid_run_removes_the_temporary_output() {
    for dst in ["out.safetensors", "out"] {
        let dir = fixture();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let before = listing(dir.path());
        let mut child = paused(dir.path(), dst, &["run", "m.wmap", "src"]);
        signal(&child, libc::SIGTERM);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2));
        assert_eq!(listing(dir.path()), before, "{dst}");
    }
}

#[test]
fn control_characters_in_names_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "x\u{1b}[2J\u{1b}]0;pwned\u{7}.weight";
    write_safetensors(
        &dir.path().join("src.safetensors"),
        &[(evil.into(), DType::F32, vec![1], vec![0; 4])],
    );
    std::fs::write(dir.path().join("m.wmap"), "\"a\" -> \"b\"\n").unwrap();
    for args in [
        vec!["inspect", "src.safetensors"],
        vec!["check", "m.wmap", "src.safetensors"],
    ] {
        let out = wmap().current_dir(dir.path()).args(&args).output().unwrap();
        let all = [out.stdout, out.stderr].concat();
        assert!(
            !all.contains(&0x1b),
            "{args:?}: an escape byte reached the terminal"
        );
        assert!(
            !all.contains(&0x07),
            "{args:?}: a bell byte reached the terminal"
        );
        let text = String::from_utf8_lossy(&all);
        assert!(text.contains("\\u{1b}"), "{args:?}: {text}");
    }
}

#[test]
fn control_characters_in_a_path_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let name = "bad\u{1b}[31mname.safetensors";
    let out = wmap()
        .current_dir(dir.path())
        .args(["inspect", name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !out.stderr.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigint_in_a_command_without_output_ends_it_with_exit_2() {
    // `check` of a mapping with a 10 MB pattern takes seconds (parsing it alone).
    let dir = fixture();
    std::fs::write(
        dir.path().join("slow.wmap"),
        format!("\"{}{{i}}\" -> \"y.{{i}}\"\n", "x".repeat(10_000_000)),
    )
    .unwrap();
    let before = listing(dir.path());
    let child = Process::new(assert_cmd::cargo::cargo_bin("wmap"))
        .current_dir(dir.path())
        .args(["check", "slow.wmap", "src"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(listing(dir.path()), before);
}
