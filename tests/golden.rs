//! Golden tests for diagnostics: every `tests/fixtures/check/err/*.wmap`
//! is checked against the synthetic checkpoint its first line names
//! (`# source: gpt2`), and the report, rendered without colour at width 100,
//! must equal the `.txt` file beside it. `WMAP_BLESS=1` rewrites them.
//! Every file in `tests/fixtures/check/ok/` must check cleanly. The files
//! of `tests/fixtures/invert/err/` check cleanly but have no exact reverse:
//! what `wmap invert` reports for them is stored the same way.

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

/// Whether `diagnostics`, rendered without colour at width 100, equal the
/// `.txt` beside `path` (written instead with `bless`); else the report.
fn matches_golden(
    path: &Path,
    diagnostics: &[wmap::diagnostics::Diagnostic],
    loaded: &wmap::loader::Loaded,
    bless: bool,
) -> Result<(), String> {
    let style = Style {
        color: false,
        width: 100,
    };
    let report = render(diagnostics, &loaded.sources, style);
    let golden = path.with_extension("txt");
    if bless {
        std::fs::write(&golden, &report).unwrap();
        return Ok(());
    }
    let stored = std::fs::read_to_string(&golden).unwrap_or_default();
    if stored == report {
        Ok(())
    } else {
        Err(format!("--- {}\n{report}", golden.display()))
    }
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
        if let Err(report) = matches_golden(&path, checked.diagnostics(), &loaded, bless) {
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "reports differ (WMAP_BLESS=1 to update):\n{}",
        failures.join("\n")
    );
}

#[test]
fn invert_error_fixtures_render_as_stored() {
    let bless = std::env::var_os("WMAP_BLESS").is_some();
    for path in fixtures("tests/fixtures/invert/err") {
        let preset = preset_of(&path);
        let loaded = wmap::loader::load(&path).unwrap();
        let (infos, config) = (preset.infos(), preset.config());
        assert!(
            wmap::check::check(&loaded, &infos, &config).is_ok(),
            "{}: the forward mapping must check",
            path.display()
        );
        let inverted = wmap::invert::invert(&loaded, &infos, &config, &[]);
        assert!(
            inverted.text.is_none(),
            "{}: expected no reverse",
            path.display()
        );
        let expected_code = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            inverted
                .diagnostics
                .iter()
                .all(|d| d.code() == expected_code),
            "{}: {:?}",
            path.display(),
            inverted.diagnostics
        );
        if let Err(report) = matches_golden(&path, &inverted.diagnostics, &loaded, bless) {
            panic!("reports differ (WMAP_BLESS=1 to update):\n{report}");
        }
    }
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

#[test]
fn every_diagnostic_kind_has_a_golden_file() {
    // header_too_large and pattern_too_large need a header of 100 MiB or a
    // pattern of a megabyte, whose report is no file to keep; they are
    // asserted in tests/adversarial/checker.rs. no_plan is a bug report.
    const EXEMPT: &[&str] = &["header_too_large", "pattern_too_large", "no_plan"];
    let mut have = std::collections::BTreeSet::new();
    for dir in ["tests/fixtures/check/err", "tests/fixtures/invert/err"] {
        for path in fixtures(dir) {
            have.insert(path.file_stem().unwrap().to_str().unwrap().to_string());
        }
    }
    let missing: Vec<String> = crate::docs::diagnostic_codes()
        .into_iter()
        .filter(|c| !have.contains(c) && !EXEMPT.contains(&c.as_str()))
        .collect();
    assert!(missing.is_empty(), "no golden file for {missing:?}");
}
