//! Destinations: what `run --force`, `watch` and temporary files may touch.
//! wmap removes or replaces nothing it did not write: each refusal below
//! exits 2 before anything is written, names what would be lost, and leaves
//! every file as it was.

use std::io::BufRead;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use super::common::case::contents;
use super::common::write_safetensors;
use super::support::*;
use wmap::dtype::DType;

/// A fixture: `src/` (a checkpoint with its config), `m.wmap` (keeps every
/// tensor) and a user's `notes.txt`, in a fresh folder.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write_safetensors(
        &src.join("model.safetensors"),
        &[
            ("a".into(), DType::F32, vec![2], vec![1; 8]),
            ("b.weight".into(), DType::F32, vec![2, 2], vec![2; 16]),
        ],
    );
    std::fs::write(src.join("config.json"), r#"{"hidden_size": 2}"#).unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    dir
}

/// Runs wmap in `dir` with `args`; asserts exit 2, `says` in stderr, no
/// panic, and every file under `dir` unchanged.
fn refused(dir: &Path, args: &[&str], says: &str) {
    let before = contents(dir);
    let out = wmap().current_dir(dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}\n{stderr}");
    assert!(
        super::support::says(&stderr, says),
        "{args:?}: want {says:?} in\n{stderr}"
    );
    assert_eq!(contents(dir), before, "{args:?}: files changed");
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = wmap().current_dir(dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{args:?}\n{stderr}");
    stderr
}

/// No temporary or set-aside name is left in `dir`.
fn no_leftovers(dir: &Path) {
    let left: Vec<String> = listing(dir)
        .into_iter()
        .filter(|p| p.contains(".wmap-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn force_never_replaces_a_folder_that_holds_the_source() {
    // The issue's case: `run --force m.wmap top/models/src top` deleted both.
    let dir = fixture();
    let top = dir.path().join("top");
    std::fs::create_dir_all(top.join("models")).unwrap();
    std::fs::rename(dir.path().join("src"), top.join("models/src")).unwrap();
    std::fs::write(top.join("notes.txt"), "mine").unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "top/models/src", "top"],
        "holds the source",
    );
}

#[test]
fn force_never_replaces_the_folder_of_a_source_given_as_a_file() {
    let dir = fixture();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src/model.safetensors", "src"],
        "holds the source",
    );
}

#[test]
fn force_never_replaces_the_source_file_itself() {
    let dir = fixture();
    refused(
        dir.path(),
        &[
            "run",
            "--force",
            "m.wmap",
            "src/model.safetensors",
            "src/model.safetensors",
        ],
        "is the source",
    );
}

#[test]
fn a_destination_inside_the_source_is_refused() {
    let dir = fixture();
    refused(
        dir.path(),
        &["run", "m.wmap", "src", "src/out"],
        "is inside the source",
    );
}

#[test]
fn force_never_replaces_the_mapping() {
    let dir = fixture();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "m.wmap"],
        "is the mapping",
    );
}

#[test]
fn force_never_replaces_a_folder_that_holds_the_mapping() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::rename(dir.path().join("m.wmap"), dir.path().join("rules/m.wmap")).unwrap();
    refused(
        dir.path(),
        &["run", "--force", "rules/m.wmap", "src", "rules"],
        "holds the mapping",
    );
}

#[test]
fn force_never_replaces_a_module_the_mapping_uses() {
    let dir = fixture();
    std::fs::write(dir.path().join("lib.wmap"), "drop \"unused.{n:**}\"\n").unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "use \"./lib.wmap\"\nfallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "lib.wmap"],
        "is a file the mapping uses",
    );
}

#[test]
fn force_never_replaces_the_config() {
    let dir = fixture();
    std::fs::write(dir.path().join("cfg.json"), "{}").unwrap();
    refused(
        dir.path(),
        &[
            "run", "--force", "--config", "cfg.json", "m.wmap", "src", "cfg.json",
        ],
        "is the config",
    );
}

#[test]
fn force_never_replaces_a_folder_that_holds_the_config() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/cfg.json"), "{}").unwrap();
    refused(
        dir.path(),
        &[
            "run",
            "--force",
            "--config",
            "conf/cfg.json",
            "m.wmap",
            "src",
            "conf",
        ],
        "holds the config",
    );
}

#[test]
fn force_never_replaces_the_verification_reference() {
    let dir = fixture();
    write_safetensors(
        &dir.path().join("ref.safetensors"),
        &[("logits".into(), DType::F32, vec![1], vec![0; 4])],
    );
    refused(
        dir.path(),
        &[
            "run",
            "--force",
            "m.wmap",
            "src",
            "ref.safetensors",
            "--verify",
            "ref.safetensors",
        ],
        "is the verification reference",
    );
}

#[test]
fn force_never_replaces_a_hard_link_to_the_source() {
    let dir = fixture();
    std::fs::hard_link(
        dir.path().join("src/model.safetensors"),
        dir.path().join("copy.safetensors"),
    )
    .unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "copy.safetensors"],
        "under another name",
    );
}

#[test]
fn force_never_replaces_a_folder_holding_a_hard_link_to_the_source() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::hard_link(
        dir.path().join("src/model.safetensors"),
        dir.path().join("out/model.safetensors"),
    )
    .unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "out"],
        "under another name",
    );
}

#[test]
fn force_never_replaces_a_symbolic_link() {
    let dir = fixture();
    symlink("src/model.safetensors", dir.path().join("link.safetensors")).unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "link.safetensors"],
        "is a symbolic link",
    );
}

#[test]
fn force_never_replaces_a_dangling_symbolic_link() {
    let dir = fixture();
    symlink("nowhere.safetensors", dir.path().join("link.safetensors")).unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "link.safetensors"],
        "is a symbolic link",
    );
    refused(
        dir.path(),
        &["run", "m.wmap", "src", "link.safetensors"],
        "is a symbolic link",
    );
}

#[test]
fn force_never_replaces_a_character_device() {
    let dir = fixture();
    let before = std::fs::symlink_metadata("/dev/null").unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "/dev/null"],
        "is a character device",
    );
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let after = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(after.file_type().is_char_device());
    assert_eq!(after.rdev(), before.rdev());
}

#[test]
fn force_never_replaces_a_fifo() {
    let dir = fixture();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "pipe"],
        "is a FIFO",
    );
}

#[test]
fn force_never_replaces_a_file_wmap_did_not_write() {
    let dir = fixture();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "notes.txt"],
        "was not written by wmap",
    );
}

#[test]
fn force_never_replaces_a_safetensors_file_wmap_did_not_write() {
    let dir = fixture();
    write_safetensors(
        &dir.path().join("theirs.safetensors"),
        &[("x".into(), DType::F32, vec![1], vec![0; 4])],
    );
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "theirs.safetensors"],
        "was not written by wmap",
    );
}

#[test]
fn force_never_replaces_a_folder_holding_files_wmap_did_not_write() {
    let dir = fixture();
    ok(dir.path(), &["run", "m.wmap", "src", "out"]);
    std::fs::write(dir.path().join("out/training-log.txt"), "a month of it").unwrap();
    std::fs::create_dir(dir.path().join("out/checkpoints")).unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "out"],
        "which wmap did not write",
    );
}

#[test]
fn force_never_replaces_a_folder_that_holds_no_wmap_output() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/config.json"), "{}").unwrap();
    refused(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "out"],
        "holds no wmap output",
    );
}

#[test]
fn without_force_an_existing_output_is_kept() {
    let dir = fixture();
    ok(dir.path(), &["run", "m.wmap", "src", "out.safetensors"]);
    refused(
        dir.path(),
        &["run", "m.wmap", "src", "out.safetensors"],
        "already exists",
    );
}

#[test]
fn force_replaces_a_previous_output_and_an_empty_folder() {
    let dir = fixture();
    ok(dir.path(), &["run", "m.wmap", "src", "out.safetensors"]);
    ok(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "out.safetensors"],
    );
    ok(dir.path(), &["run", "m.wmap", "src", "out"]);
    ok(dir.path(), &["run", "--force", "m.wmap", "src", "out"]);
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    ok(dir.path(), &["run", "--force", "m.wmap", "src", "empty"]);
    assert!(dir.path().join("empty/model.safetensors").is_file());
    // A single-file output over a previous folder output, and back.
    ok(dir.path(), &["run", "--force", "m.wmap", "src", "out"]);
    no_leftovers(dir.path());
    assert_eq!(
        std::fs::read(dir.path().join("notes.txt")).unwrap(),
        b"mine"
    );
}

#[test]
fn a_destination_that_names_no_file_is_refused() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for dst in [".", "..", "sub/.."] {
        refused(
            &dir.path().join("sub"),
            &["run", "--force", "../m.wmap", "../src", dst],
            "",
        );
    }
}

#[test]
fn files_named_like_an_old_aside_are_not_touched() {
    // Runs once set a previous output aside under one fixed name and removed
    // whatever held it.
    let dir = fixture();
    ok(dir.path(), &["run", "m.wmap", "src", "out.safetensors"]);
    for name in [
        ".out.safetensors.old",
        ".out.wmap-tmp-1.old",
        ".out.safetensors.wmap-tmp-1",
        ".out.safetensors.wmap-old-x-0",
    ] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    ok(
        dir.path(),
        &["run", "--force", "m.wmap", "src", "out.safetensors"],
    );
    for name in [
        ".out.safetensors.old",
        ".out.wmap-tmp-1.old",
        ".out.safetensors.wmap-tmp-1",
        ".out.safetensors.wmap-old-x-0",
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            name
        );
    }
}

/// The id of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = Process::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Starts `wmap run` paused after two tensors (the debug build's fault
/// injection), waits until it is paused, and returns it.
fn paused_run(dir: &Path, dst: &str, extra: &[&str]) -> std::process::Child {
    let args: Vec<&str> = ["run", "--quiet"]
        .into_iter()
        .chain(extra.iter().copied())
        .chain(["m.wmap", "src", dst])
        .collect();
    start_paused(dir, 1, &args).0
}

#[test]
fn a_run_removes_the_temporary_output_a_killed_run_left() {
    for dst in ["out.safetensors", "out"] {
        let dir = fixture();
        let mut child = paused_run(dir.path(), dst, &[]);
        child.kill().unwrap(); // SIGKILL: no cleanup possible
        child.wait().unwrap();
        let left: Vec<String> = listing(dir.path())
            .into_iter()
            .filter(|p| p.starts_with(&format!(".{dst}.wmap-tmp-")))
            .collect();
        assert!(
            !left.is_empty(),
            "{dst}: the killed run left no temporary output"
        );
        let stderr = ok(dir.path(), &["run", "m.wmap", "src", dst]);
        assert!(
            super::support::says(&stderr, "left by an interrupted run"),
            "{stderr}"
        );
        no_leftovers(dir.path());
    }
}

#[test]
fn a_previous_output_set_aside_by_a_killed_run_is_put_back() {
    let dir = fixture();
    ok(dir.path(), &["run", "m.wmap", "src", "out.safetensors"]);
    let aside = format!(".out.safetensors.wmap-old-{}-0", dead_pid());
    std::fs::rename(dir.path().join("out.safetensors"), dir.path().join(&aside)).unwrap();
    let before = std::fs::read(dir.path().join(&aside)).unwrap();
    // Without --force the put-back output is then kept, as any existing one.
    let out = wmap()
        .current_dir(dir.path())
        .args(["run", "m.wmap", "src", "out.safetensors"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(super::support::says(&stderr, "restored"), "{stderr}");
    assert!(super::support::says(&stderr, "already exists"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("out.safetensors")).unwrap(),
        before
    );
    no_leftovers(dir.path());
}

#[test]
fn the_temporary_output_of_a_run_still_going_is_left_alone() {
    let dir = fixture();
    let mut child = paused_run(dir.path(), "out.safetensors", &[]);
    let theirs: Vec<PathBuf> = listing(dir.path())
        .into_iter()
        .filter(|p| p.starts_with(".out.safetensors.wmap-tmp-"))
        .map(|p| dir.path().join(p))
        .collect();
    assert_eq!(theirs.len(), 1);
    // Another run into the same destination: its own temporary name, and the
    // first run's output untouched.
    ok(dir.path(), &["run", "m.wmap", "src", "out.safetensors"]);
    assert!(
        theirs[0].exists(),
        "a live run's temporary output was removed"
    );
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(!theirs[0].exists(), "the interrupted run did not clean up");
    let bytes = std::fs::read(dir.path().join("out.safetensors")).unwrap();
    safetensors::SafeTensors::deserialize(&bytes).expect("the second run's output");
}

/// Starts `wmap watch m.wmap src DST` in `dir`; returns the child and a
/// reader of its stdout and stderr lines.
fn watch(dir: &Path, dst: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("wmap"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(["watch", "m.wmap", "src", dst])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    (child, rx)
}

/// Waits for a line with each of `whats`, in any order (stdout and stderr
/// arrive through two pipes, so their order is not kept).
fn wait_all(rx: &std::sync::mpsc::Receiver<String>, whats: &[&str]) {
    let mut missing: Vec<&str> = whats.to_vec();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !missing.is_empty() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            missing.retain(|w| !line.contains(w));
            seen.push(line);
        }
    }
    assert!(missing.is_empty(), "no lines with {missing:?} in {seen:#?}");
}

fn stop(mut child: std::process::Child) {
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
}

#[test]
fn watch_never_replaces_a_destination_it_did_not_write() {
    let dir = fixture();
    // An earlier wmap output is not this watch's either.
    ok(dir.path(), &["run", "m.wmap", "src", "out"]);
    std::fs::write(dir.path().join("out/README.md"), "my notes").unwrap();
    let before = contents(dir.path());
    let (child, rx) = watch(dir.path(), "out");
    wait_all(&rx, &["this watch did not write it", "waiting for changes"]);
    stop(child);
    assert_eq!(contents(dir.path()), before);
}

#[test]
fn watch_replaces_its_own_output_and_nothing_put_in_its_place() {
    let dir = fixture();
    let (child, rx) = watch(dir.path(), "out.safetensors");
    wait_all(&rx, &["ok: converted", "waiting for changes"]);
    // A save: the watch replaces what it wrote itself.
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n# saved\n",
    )
    .unwrap();
    wait_all(&rx, &["ok: converted", "waiting for changes"]);
    // The user puts their own file there; the next save must keep it.
    std::fs::remove_file(dir.path().join("out.safetensors")).unwrap();
    std::fs::write(dir.path().join("out.safetensors"), "theirs").unwrap();
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    wait_all(&rx, &["this watch did not write it", "waiting for changes"]);
    stop(child);
    assert_eq!(
        std::fs::read(dir.path().join("out.safetensors")).unwrap(),
        b"theirs"
    );
    no_leftovers(dir.path());
}
