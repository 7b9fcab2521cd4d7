//! The config file a mapping reads integers from: `config.json` beside the
//! weights, or any JSON object given with `--config` (Meta's `params.json`),
//! plus `--set key=value` overrides.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A loaded config: the JSON object and the file it came from.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Display name of the file (`None` when there was no config file).
    pub file: Option<String>,
    /// The top-level object.
    pub root: Map<String, Value>,
    /// The dotted keys `--set` gave, which are the run's, not the model's:
    /// a `write .. from config` leaves them out.
    pub set: Vec<String>,
}

/// What looking up a dotted path found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<'a> {
    /// The value at the path.
    Found(&'a Value),
    /// The key is absent, or JSON `null` (HF configs write absent values so).
    Missing,
}

impl Config {
    /// Reads `path`, which must hold a JSON object.
    pub fn load(path: &Path) -> Result<Config> {
        let text = crate::fsio::read_text(path, crate::fsio::MAX_CONFIG, "a config")?;
        let value: Value = serde_json::from_str(&text).map_err(|e| Error::BadConfig {
            path: path.to_path_buf(),
            problem: crate::error::ConfigProblem::NotJson(e.to_string()),
        })?;
        let Value::Object(root) = value else {
            return Err(Error::BadConfig {
                path: path.to_path_buf(),
                problem: crate::error::ConfigProblem::NotObject,
            });
        };
        Ok(Config {
            file: Some(path.display().to_string()),
            root,
            set: Vec::new(),
        })
    }

    /// The config for a checkpoint: `explicit` if given, else `config.json`
    /// in the weights' folder if it exists, else Meta's `params.json` there
    /// (a Meta checkpoint's folder has no `config.json`), else an empty config.
    pub fn discover(weights_dir: &Path, explicit: Option<&Path>) -> Result<Config> {
        if let Some(path) = explicit {
            return Config::load(path);
        }
        for name in ["config.json", "params.json"] {
            let beside: PathBuf = weights_dir.join(name);
            // Anything there is read (a FIFO or a folder is refused, not skipped).
            if std::fs::symlink_metadata(&beside).is_ok() {
                return Config::load(&beside);
            }
        }
        Ok(Config::default())
    }

    /// Applies `--set a.b=value`; the value is JSON when it parses as JSON
    /// (numbers, booleans, null), a string otherwise.
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let Some((key, raw)) = assignment.split_once('=') else {
            return Err(Error::Usage(crate::error::Usage::Set(
                assignment.to_string(),
            )));
        };
        let value =
            serde_json::from_str(raw.trim()).unwrap_or_else(|_| Value::String(raw.to_string()));
        let parts: Vec<&str> = key.trim().split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(Error::Usage(crate::error::Usage::SetKey(key.to_string())));
        }
        let mut node = &mut self.root;
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        node.insert(parts[parts.len() - 1].to_string(), value);
        self.set.push(parts.join("."));
        if self.file.is_none() {
            self.file = Some("--set values".into());
        }
        Ok(())
    }

    /// The value at a dotted path (`text_config.hidden_size`), or why there is none.
    pub fn lookup(&self, path: &[String]) -> Lookup<'_> {
        let mut node: Option<&Value> = None;
        for (i, key) in path.iter().enumerate() {
            let next = if i == 0 {
                self.root.get(key)
            } else {
                node.and_then(|n| n.get(key))
            };
            match next {
                Some(v) => node = Some(v),
                None => return Lookup::Missing,
            }
        }
        match node {
            Some(Value::Null) | None => Lookup::Missing,
            Some(v) => Lookup::Found(v),
        }
    }

    /// Every dotted key path in the config, for "did you mean" suggestions.
    pub fn key_paths(&self) -> Vec<String> {
        fn walk(prefix: &str, map: &Map<String, Value>, out: &mut Vec<String>) {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let Value::Object(inner) = v {
                    walk(&path, inner, out);
                }
                out.push(path);
            }
        }
        let mut out = Vec::new();
        walk("", &self.root, &mut out);
        out
    }
}
