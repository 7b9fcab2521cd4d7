//! Golden tests for diagnostics: every `tests/fixtures/check/err/*.wmap`
//! is checked against the synthetic checkpoint its first line names
//! (`# source: gpt2`), and the report, rendered without colour at width 100,
//! must equal the `.txt` file beside it. `WMAP_BLESS=1` rewrites them.
//! Every file in `tests/fixtures/check/ok/` must check cleanly.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::CheckedExt;
use wmap::diagnostics::{render, Style};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wmap"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {dir}");
    files
}

fn preset_of(path: &Path) -> common::Preset {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("# source: "))
        .unwrap_or_else(|| panic!("{}: first line must be `# source: PRESET`", path.display()));
    common::preset(name.trim())
}

fn check(path: &Path) -> (wmap::check::Checked, wmap::loader::Loaded) {
    let preset = preset_of(path);
    let loaded = wmap::loader::load(path).unwrap();
    let checked = wmap::check::check(&loaded, &preset.infos(), &preset.config());
    (checked, loaded)
}

#[test]
fn error_fixtures_render_as_stored() {
    let bless = std::env::var_os("WMAP_BLESS").is_some();
    let mut failures = Vec::new();
    for path in fixtures("tests/fixtures/check/err") {
        let (checked, loaded) = check(&path);
        assert!(
            checked.plan().is_none(),
            "{}: expected problems",
            path.display()
        );
        let codes: Vec<&str> = checked.diagnostics().iter().map(|d| d.code()).collect();
        let expected_code = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            codes.contains(&expected_code),
            "{}: expected a `{expected_code}` diagnostic, got {codes:?}",
            path.display()
        );
        let report = render(
            checked.diagnostics(),
            &loaded.sources,
            Style {
                color: false,
                width: 100,
            },
        );
        let golden = path.with_extension("txt");
        if bless {
            std::fs::write(&golden, &report).unwrap();
            continue;
        }
        let stored = std::fs::read_to_string(&golden).unwrap_or_default();
        if stored != report {
            failures.push(format!("--- {}\n{report}", golden.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "reports differ (WMAP_BLESS=1 to update):\n{}",
        failures.join("\n")
    );
}

#[test]
fn ok_fixtures_check_cleanly() {
    for path in fixtures("tests/fixtures/check/ok") {
        let (checked, loaded) = check(&path);
        let report = render(
            checked.diagnostics(),
            &loaded.sources,
            Style {
                color: false,
                width: 100,
            },
        );
        assert!(
            checked.diagnostics().is_empty(),
            "{}:\n{report}",
            path.display()
        );
        assert!(checked.plan().is_some());
    }
}
