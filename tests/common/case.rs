//! A CLI test case as data: files in a fresh folder (a mapping, checkpoints
//! made by the safetensors crate, anything else), the arguments, and what
//! must come out: the exit status, words in stdout or stderr, and the files
//! afterwards.
//!
//! ```ignore
//! let case = Case::new()
//!     .mapping("\"a\" -> \"__metadata__\"\n")
//!     .checkpoint("src.safetensors", &[("a", DType::F32, &[2])]);
//! case.run(["check", "m.wmap", "src.safetensors"])
//!     .exits(1)
//!     .says("wmap::invalid_target_name");
//! case.run(["run", "m.wmap", "src.safetensors", "out.safetensors"])
//!     .exits(1)
//!     .changes_nothing();
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use wmap::dtype::DType;

/// For each `(statements, code)`: a mapping of `"a" -> "a"` and the
/// statements, run on a checkpoint of one f32 tensor `a` [4], must exit 1,
/// report `code`, and leave the folder as it was.
pub fn each_refused(cases: &[(&str, &str)]) {
    for (statements, code) in cases {
        let case = Case::new()
            .mapping(&format!("\"a\" -> \"a\"\n{statements}\n"))
            .checkpoint("src.safetensors", &[("a", DType::F32, &[4])]);
        case.run(["run", "m.wmap", "src.safetensors", "out"])
            .exits(1)
            .says(code)
            .changes_nothing();
    }
}

/// A folder of inputs for one test.
pub struct Case {
    dir: tempfile::TempDir,
}

impl Default for Case {
    fn default() -> Case {
        Case::new()
    }
}

impl Case {
    pub fn new() -> Case {
        Case {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// The folder the case runs in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` to `name` (folders created as needed).
    pub fn file(self, name: &str, bytes: impl AsRef<[u8]>) -> Case {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
        self
    }

    /// The mapping, as `m.wmap`.
    pub fn mapping(self, text: &str) -> Case {
        self.file("m.wmap", text)
    }

    /// A checkpoint written by the safetensors crate, each tensor's bytes
    /// counting up from 0.
    pub fn checkpoint(self, name: &str, tensors: &[(&str, DType, &[u64])]) -> Case {
        let list: Vec<(String, DType, Vec<u64>, Vec<u8>)> = tensors
            .iter()
            .map(|(n, d, s)| {
                let bytes = d.size() * s.iter().product::<u64>() as usize;
                (
                    n.to_string(),
                    *d,
                    s.to_vec(),
                    (0..bytes).map(|i| i as u8).collect(),
                )
            })
            .collect();
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        super::write_safetensors(&path, &list);
        self
    }

    /// Runs wmap with `args` in the case's folder.
    pub fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_in(self.path(), args)
    }
}

/// Runs wmap with `args` in `dir` (a folder made some other way).
pub fn run_in<I, S>(dir: &Path, args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let before = contents(dir);
    let out = super::wmap()
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("wmap runs");
    Outcome {
        args,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        changed: contents(dir) != before,
        dir: dir.to_path_buf(),
    }
}

/// What one run did.
pub struct Outcome {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    changed: bool,
    dir: PathBuf,
}

impl Outcome {
    /// Exits with `code`, without a panic.
    pub fn exits(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, Some(code), "{:?}\n{}", self.args, self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "{:?}\n{}",
            self.args,
            self.stderr
        );
        self
    }

    /// Says `phrase` on stderr (a miette report's wrapped lines read as one).
    pub fn says(&self, phrase: &str) -> &Outcome {
        assert!(
            says(&self.stderr, phrase),
            "{:?}: want {phrase:?} in\n{}",
            self.args,
            self.stderr
        );
        self
    }

    /// Prints `phrase` on stdout.
    pub fn prints(&self, phrase: &str) -> &Outcome {
        assert!(
            self.stdout.contains(phrase),
            "{:?}: want {phrase:?} in\n{}",
            self.args,
            self.stdout
        );
        self
    }

    /// Leaves every file of the case's folder as it was.
    pub fn changes_nothing(&self) -> &Outcome {
        assert!(
            !self.changed,
            "{:?}: files changed\n{}",
            self.args, self.stderr
        );
        self
    }

    /// Leaves a file at `name`.
    pub fn writes(&self, name: &str) -> &Outcome {
        assert!(
            self.dir.join(name).exists(),
            "{:?}: no {name}\n{}",
            self.args,
            self.stderr
        );
        self
    }
}

/// Whether `stderr` says `phrase`, reading a miette report whose lines were
/// wrapped (`\n  │ `) as the one line it was.
pub fn says(stderr: &str, phrase: &str) -> bool {
    let mut flat = String::new();
    for line in stderr.lines() {
        let t = line.trim_start().trim_start_matches('│').trim();
        if !flat.is_empty() {
            flat.push(' ');
        }
        flat.push_str(t);
    }
    flat.contains(phrase) || stderr.contains(phrase)
}

/// Every path under `dir` with its bytes (a link as its target), sorted.
pub fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => out.push((
                    rel,
                    std::fs::read_link(&p)
                        .unwrap_or_default()
                        .into_os_string()
                        .into_encoded_bytes(),
                )),
                Ok(m) if m.is_dir() => {
                    out.push((rel, Vec::new()));
                    walk(root, &p, out);
                }
                Ok(m) if m.is_file() => out.push((rel, std::fs::read(&p).unwrap_or_default())),
                _ => out.push((rel, Vec::new())),
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
