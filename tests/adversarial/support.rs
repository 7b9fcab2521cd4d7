//! Shared helpers of the adversarial suite.
#![allow(dead_code)]

pub use crate::common::wmap;

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
