//! Shared helpers of the adversarial suite.
#![allow(dead_code)]

pub use crate::common::wmap;

pub use crate::common::case::says;

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
