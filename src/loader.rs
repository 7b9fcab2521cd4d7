//! Reads a mapping file and everything it `use`s, in dependency order.
//! This and the checkpoint reader are the only parts of the checker that
//! touch the file system.

use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, UseProblem};
use crate::error::{Error, Result};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use crate::stdlib;
use crate::syntax::{self, Module};

/// A mapping with all its modules parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every file read: the root, the files it uses and stdlib modules.
    pub sources: SourceMap,
    /// Parsed modules, each after the modules it uses; the root file last.
    pub modules: Vec<(FileId, Module)>,
    /// Syntax errors, unreadable or cyclic `use`s.
    pub diagnostics: Vec<Diagnostic>,
    /// The layouts `target "PATH"` names, as read.
    pub targets: Vec<TargetFile>,
}

/// A `target "PATH"` and what reading it gave.
#[derive(Debug)]
pub struct TargetFile {
    /// The path as written in the mapping.
    pub span: Span,
    /// The file, relative to the mapping that names it.
    pub path: PathBuf,
    /// The tensors wanted, or why the file could not be read (reported by
    /// the checker, beside the mapping's other problems).
    pub wanted: std::result::Result<Vec<crate::check::Wanted>, String>,
}

impl Loaded {
    /// The root file of the mapping.
    pub fn root(&self) -> Option<FileId> {
        self.modules.last().map(|(id, _)| *id)
    }

    /// Every file on disk that is part of the mapping (for `watch`),
    /// target layouts included.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.sources
            .files()
            .filter_map(|(_, f)| f.path.clone())
            .chain(self.targets.iter().map(|t| t.path.clone()))
            .collect()
    }
}

/// Where a module comes from: a stdlib name or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Std(String),
    File(PathBuf),
}

/// The prefixes of a module's source and target names (`use .. under ..`).
type Prefix = (String, String);

struct Loader {
    loaded: Loaded,
    /// Origins fully loaded (with the prefixes they were loaded under), and
    /// the ones on the current `use` chain.
    done: Vec<(Origin, Prefix)>,
    stack: Vec<(Origin, String)>,
}

/// Loads the mapping at `path`. Only an unreadable root file is an error;
/// problems in used files become diagnostics.
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = crate::fsio::read_bounded(path, crate::fsio::MAX_MAPPING, "a mapping")?;
    let name = path.display().to_string();
    let origin = Origin::File(canonical(path));
    Ok(load_root(origin, name, Some(path.to_path_buf()), bytes))
}

/// Loads a mapping from text, as if read from a file called `name` (relative
/// `use`s resolve against the current folder).
pub fn load_text(name: &str, text: &str) -> Loaded {
    load_bytes(name, text.as_bytes().to_vec())
}

/// Loads a mapping from raw bytes, as if read from a file called `name`;
/// bytes that are not UTF-8 give a `not_utf8` diagnostic, as a file would.
pub fn load_bytes(name: &str, bytes: Vec<u8>) -> Loaded {
    let origin = Origin::File(PathBuf::from(name));
    load_root(origin, name.to_string(), None, bytes)
}

fn load_root(origin: Origin, name: String, path: Option<PathBuf>, bytes: Vec<u8>) -> Loaded {
    let mut loader = Loader {
        loaded: Loaded::default(),
        done: Vec::new(),
        stack: Vec::new(),
    };
    loader.module(origin, name, path, bytes, &Prefix::default());
    loader.loaded
}

impl Loader {
    fn module(
        &mut self,
        origin: Origin,
        name: String,
        path: Option<PathBuf>,
        bytes: Vec<u8>,
        prefix: &Prefix,
    ) {
        let (text, bad_utf8) = match String::from_utf8(bytes) {
            Ok(t) => (t, None),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
            }
        };
        let id = self.loaded.sources.add(SourceFile {
            name: name.clone(),
            path: path.clone(),
            text,
        });
        if let Some(at) = bad_utf8 {
            self.loaded.diagnostics.push(Diagnostic::NotUtf8 {
                span: Span::new(id, at..at + 1),
            });
            return;
        }
        let parsed = syntax::parse(id, &self.loaded.sources.get(id).text);
        let mut module = match parsed {
            Ok(m) => m,
            Err(mut diags) => {
                self.loaded.diagnostics.append(&mut diags);
                return;
            }
        };
        // A module used under a prefix serves another mapping's output: its
        // targets are not that output's (they are removed with `prefix`).
        if prefix.0.is_empty() && prefix.1.is_empty() {
            for item in &module.items {
                if let syntax::Item::TargetFile(t) = item {
                    self.target_file(&origin, t);
                }
            }
        }
        self.stack.push((origin.clone(), name));
        for used in module.uses() {
            self.use_module(&origin, used.value.as_str(), used.span, prefix);
        }
        for used in module.uses_under() {
            let inner = (
                format!("{}{}", prefix.0, used.from),
                format!("{}{}", prefix.1, used.to),
            );
            self.use_module(&origin, used.path.value.as_str(), used.path.span, &inner);
        }
        self.stack.pop();
        if !prefix.0.is_empty() || !prefix.1.is_empty() {
            module.prefix(&prefix.0, &prefix.1);
        }
        self.done.push((origin, prefix.clone()));
        self.loaded.modules.push((id, module));
    }

    /// Reads the layout of a `target "PATH"`, relative to the module's file.
    fn target_file(&mut self, from: &Origin, t: &crate::source::Spanned<String>) {
        let (path, wanted) = match from {
            Origin::File(file) => {
                // Named as diagnostics name files: relative to the current folder.
                let path = file.parent().unwrap_or(Path::new(".")).join(&t.value);
                let path = PathBuf::from(display_name(&path));
                let wanted = crate::wanted::load(&path).map_err(|e| e.to_string());
                (path, wanted)
            }
            Origin::Std(_) => (
                PathBuf::from(&t.value),
                Err("the standard library names no files".to_string()),
            ),
        };
        self.loaded.targets.push(TargetFile {
            span: t.span,
            path,
            wanted,
        });
    }

    fn use_module(&mut self, from: &Origin, spec: &str, span: Span, prefix: &Prefix) {
        let origin = match resolve(from, spec) {
            // Stdlib modules hold no rules: one copy serves every prefix.
            Ok(o @ Origin::Std(_)) => return self.use_origin(o, span, spec, &Prefix::default()),
            Ok(o) => o,
            Err((reason, suggestion)) => {
                self.loaded.diagnostics.push(Diagnostic::UseNotFound {
                    span,
                    path: spec.to_string(),
                    reason,
                    suggestion,
                });
                return;
            }
        };
        self.use_origin(origin, span, spec, prefix)
    }

    fn use_origin(&mut self, origin: Origin, span: Span, spec: &str, prefix: &Prefix) {
        if let Some(pos) = self.stack.iter().position(|(o, _)| *o == origin) {
            let mut chain: Vec<String> = self.stack[pos..].iter().map(|(_, n)| n.clone()).collect();
            chain.push(self.stack[pos].1.clone());
            self.loaded
                .diagnostics
                .push(Diagnostic::ImportCycle { span, chain });
            return;
        }
        if self.done.iter().any(|(o, p)| *o == origin && p == prefix) {
            return;
        }
        match &origin {
            Origin::Std(name) => {
                let text = stdlib::get(name).expect("resolve checked it exists");
                self.module(
                    origin.clone(),
                    name.clone(),
                    None,
                    text.as_bytes().to_vec(),
                    prefix,
                );
            }
            Origin::File(path) => {
                match crate::fsio::read_bounded(path, crate::fsio::MAX_MAPPING, "a mapping") {
                    Ok(bytes) => {
                        let name = display_name(path);
                        self.module(origin.clone(), name, Some(path.clone()), bytes, prefix);
                    }
                    Err(e) => self.loaded.diagnostics.push(Diagnostic::UseNotFound {
                        span,
                        path: spec.to_string(),
                        reason: UseProblem::Unreadable(match e {
                            Error::Io { error, .. } => error.to_string(),
                            other => other.to_string(),
                        }),
                        suggestion: None,
                    }),
                }
            }
        }
    }
}

/// Resolves a `use` string relative to the module it appears in.
fn resolve(from: &Origin, spec: &str) -> std::result::Result<Origin, (UseProblem, Option<String>)> {
    if let Some(rest) = spec.strip_prefix("std/") {
        let name = format!("std/{}", rest.strip_suffix(".wmap").unwrap_or(rest));
        if stdlib::get(&name).is_some() {
            return Ok(Origin::Std(name));
        }
        let known: Vec<&str> = stdlib::MODULES.iter().map(|(n, _)| *n).collect();
        let suggestion = crate::suggest::nearest(&name, known.iter().copied()).map(String::from);
        return Err((
            UseProblem::NoStdlibModule {
                known: known.iter().map(|k| k.to_string()).collect(),
            },
            suggestion,
        ));
    }
    match from {
        Origin::Std(name) => {
            // Relative uses inside the stdlib stay inside the stdlib.
            let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("std");
            let joined = format!("{base}/{}", spec.trim_start_matches("./"));
            let joined = joined.strip_suffix(".wmap").unwrap_or(&joined).to_string();
            if stdlib::get(&joined).is_some() {
                Ok(Origin::Std(joined))
            } else {
                Err((UseProblem::NoSuchStdlibModule, None))
            }
        }
        Origin::File(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let target = dir.join(spec);
            match std::fs::metadata(&target) {
                Ok(m) if m.is_file() => Ok(Origin::File(canonical(&target))),
                Ok(m) => Err((
                    UseProblem::NotAFile {
                        kind: crate::fsio::kind_of(&m).to_string(),
                    },
                    None,
                )),
                Err(_) => Err((UseProblem::NoSuchFile, None)),
            }
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A short name for diagnostics: relative to the current folder if possible.
fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok().map(|d| canonical(&d));
    match cwd.and_then(|d| path.strip_prefix(&d).ok().map(Path::to_path_buf)) {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}
