//! `wmap watch`: the real binary, a real folder, real edits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `wmap watch` whose stdout and stderr lines arrive on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(dir: &Path, args: &[&str]) -> Watch {
        // One pipe for both streams, so diagnostics (stderr) and summaries
        // (stdout) arrive in the order they were written.
        let bin = assert_cmd::cargo::cargo_bin("wmap");
        let mut child = Command::new("sh")
            .current_dir(dir)
            .arg("-c")
            .arg("exec \"$0\" watch \"$@\" 2>&1")
            .arg(&bin)
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `what` (panics after 20 s); returns the
    /// lines of the cycle that ended with it.
    fn expect(&mut self, what: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut cycle = Vec::new();
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(l.clone());
                let hit = l.contains(what);
                cycle.push(l);
                if hit {
                    return cycle;
                }
            }
        }
        panic!("no line with {what:?}; saw:\n{}", self.seen.join("\n"));
    }

    /// Waits for the end of a cycle and returns its lines.
    fn cycle(&mut self) -> Vec<String> {
        self.expect("waiting for changes")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Writes a file the way many editors save: a temporary file renamed over it.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("swp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const GOOD: &str = r#"wmap 1
use "./shared.wmap"
"transformer.{rest:**}" | keep -> "{rest}"
"#;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new("tests/fixtures/models/gpt2");
    std::fs::create_dir(dir.path().join("src")).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(src.join(f), dir.path().join("src").join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("shared.wmap"),
        "wmap 1\nop keep = reshape(-1) | reshape(shape[0])\n",
    )
    .unwrap();
    dir
}

#[test]
fn watch_rechecks_on_every_kind_of_save_and_stops_on_ctrl_c() {
    let dir = setup();
    // shape[0] of a 2-D tensor is not its element count: the first check fails.
    std::fs::write(dir.path().join("rules.wmap"), GOOD).unwrap();
    let mut w = Watch::start(dir.path(), &["rules.wmap", "src"]);
    let first = w.cycle();
    assert!(
        first.iter().any(|l| l.contains("cannot reshape")),
        "{first:?}"
    );

    // Fixing the used file (not the rules file) triggers a new check.
    save(
        &dir.path().join("shared.wmap"),
        "wmap 1\nop keep = reshape(-1) | reshape(shape)\n",
    );
    let c = w.cycle();
    assert!(
        c.iter().any(|l| l.contains("unknown name `shape`")),
        "{c:?}"
    );
    save(
        &dir.path().join("shared.wmap"),
        "wmap 1\nop keep = transpose | transpose\n",
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("this one is 1-D")), "{c:?}");
    std::fs::write(
        dir.path().join("shared.wmap"),
        "wmap 1\nop keep = cast(f32)\n",
    )
    .unwrap();
    let c = w.cycle();
    assert!(c.iter().any(|l| l.starts_with("ok: ")), "{c:?}");

    // A syntax error in the rules file, written in place.
    std::fs::write(
        dir.path().join("rules.wmap"),
        "wmap 1\n\"transformer.{rest:**}\" ->\n",
    )
    .unwrap();
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("wmap::syntax")), "{c:?}");

    // The rules file briefly missing, then back under a new `use`.
    std::fs::remove_file(dir.path().join("rules.wmap")).unwrap();
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("rules.wmap")), "{c:?}");
    std::fs::write(
        dir.path().join("more.wmap"),
        "wmap 1\nop keep2 = cast(f32)\n",
    )
    .unwrap();
    save(
        &dir.path().join("rules.wmap"),
        "wmap 1\nuse \"./more.wmap\"\n\"transformer.{rest:**}\" | keep2 -> \"{rest}\"\n",
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.starts_with("ok: ")), "{c:?}");
    // more.wmap joined the watched set: breaking it is noticed.
    save(
        &dir.path().join("more.wmap"),
        "wmap 1\nop keep2 = transpose\n",
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("this one is 1-D")), "{c:?}");

    // Ctrl-C stops it cleanly.
    unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
    w.expect("stopped");
    let status = w.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn watch_with_dst_converts_after_each_clean_check() {
    let dir = setup();
    std::fs::write(
        dir.path().join("rules.wmap"),
        "wmap 1\n\"transformer.{rest:**}\" -> \"{rest}\"\n",
    )
    .unwrap();
    let mut w = Watch::start(dir.path(), &["rules.wmap", "src", "out"]);
    let c = w.expect("converted into out");
    assert!(c[0].starts_with("wmap watch: rules.wmap at "), "{c:?}");
    w.cycle();
    let first = std::fs::read(dir.path().join("out/model.safetensors")).unwrap();
    save(
        &dir.path().join("rules.wmap"),
        "wmap 1\n\"transformer.{rest:**}\" -> \"gpt.{rest}\"\n",
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("converted into out")), "{c:?}");
    let second = std::fs::read(dir.path().join("out/model.safetensors")).unwrap();
    assert_ne!(first, second);
    let st = safetensors::SafeTensors::deserialize(&second).unwrap();
    assert!(st.names().iter().all(|n| n.starts_with("gpt.")));
    // A broken mapping converts nothing: the last good output stays.
    save(
        &dir.path().join("rules.wmap"),
        "wmap 1\n\"transformer.h.{i}.{rest:**}\" -> \"gpt.{rest}\"\n",
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("error:")), "{c:?}");
    assert_eq!(
        std::fs::read(dir.path().join("out/model.safetensors")).unwrap(),
        second
    );
    unsafe { libc::kill(w.child.id() as i32, libc::SIGTERM) };
    w.expect("stopped");
    assert_eq!(w.child.wait().unwrap().code(), Some(0));
}

#[test]
fn watch_with_verify_runs_the_burn_model_after_converting() {
    let dir = setup();
    let mapping = std::fs::canonicalize("mappings/gpt2/hf-to-burn.wmap").unwrap();
    let reference =
        std::fs::canonicalize("tests/fixtures/models/gpt2/reference.safetensors").unwrap();
    std::fs::copy(&mapping, dir.path().join("rules.wmap")).unwrap();
    let mut w = Watch::start(
        dir.path(),
        &[
            "rules.wmap",
            "src",
            "out",
            "--verify",
            reference.to_str().unwrap(),
        ],
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.starts_with("verify gpt2")), "{c:?}");
    assert!(c.iter().any(|l| l.starts_with("ok: max |diff|")), "{c:?}");
    // Breaking a split's sizes fails the check, and nothing is verified.
    let text = std::fs::read_to_string(dir.path().join("rules.wmap")).unwrap();
    save(
        &dir.path().join("rules.wmap"),
        &text.replace("parts=3", "parts=2"),
    );
    let c = w.cycle();
    assert!(c.iter().any(|l| l.contains("error:")), "{c:?}");
    assert!(!c.iter().any(|l| l.starts_with("verify gpt2")), "{c:?}");
    unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
    w.expect("stopped");
    assert_eq!(w.child.wait().unwrap().code(), Some(0));
}
