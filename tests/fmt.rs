//! `wmap fmt`: one canonical layout, idempotent, comments kept, meaning kept.

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;

use crate::common::wmap;
use wmap::syntax::format::format;

/// Every `.wmap` file under `dir`, recursively.
fn wmap_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(wmap_files(&p));
        } else if p.extension().is_some_and(|x| x == "wmap") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn shipped() -> Vec<PathBuf> {
    let mut all = wmap_files(Path::new("mappings"));
    all.extend(wmap_files(Path::new("stdlib")));
    all
}

/// Spreads a mapping's tokens about without changing its meaning: extra
/// spaces after separators, pipelines joined onto one line.
fn mangle(text: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for c in text
        .replace("\n    |", " |")
        .replace("\n    ->", " ->")
        .chars()
    {
        if in_comment {
            out.push(c);
            in_comment = c != '\n';
            continue;
        }
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '#' => {
                in_comment = true;
                out.push(c);
            }
            ',' | '(' | '|' | '=' => {
                out.push(c);
                out.push_str("   ");
            }
            _ => out.push(c),
        }
    }
    out.replace("\n\n", "\n\n\n\n")
}

#[test]
fn shipped_files_are_formatted() {
    let files = shipped();
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let formatted =
            format(&text).unwrap_or_else(|| panic!("{} does not parse", path.display()));
        assert!(
            formatted == text,
            "{} is not formatted; run `wmap fmt {}`",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn formatting_is_idempotent_and_undoes_mangling() {
    for path in shipped() {
        let text = std::fs::read_to_string(&path).unwrap();
        let mangled = mangle(&text);
        assert_ne!(mangled, text, "{}", path.display());
        let once = format(&mangled)
            .unwrap_or_else(|| panic!("mangled {} does not parse:\n{mangled}", path.display()));
        assert_eq!(
            format(&once).unwrap(),
            once,
            "{}: not idempotent",
            path.display()
        );
        assert_eq!(
            once,
            text,
            "{}: mangled then formatted differs from the shipped file",
            path.display()
        );
    }
}

/// The plan of a mapping on a fixture, as JSON, without the rule locations
/// (line numbers move when a file is reformatted).
fn plan(rules: &Path, fixture: &str) -> Value {
    let out = wmap()
        .args(["plan", "--json"])
        .arg(rules)
        .arg(Path::new("tests/fixtures/models").join(fixture))
        .assert()
        .success();
    let mut v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("rule");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn formatting_never_changes_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (mapping, fixture) in [
        ("mappings/gpt2/hf-to-burn.wmap", "gpt2"),
        ("mappings/bert/hf-to-burn.wmap", "bert"),
        ("mappings/llama/hf-to-burn.wmap", "qwen2"),
        ("mappings/llama/hf-to-meta.wmap", "llama_gqa"),
        ("mappings/mixtral/hf-to-fused.wmap", "mixtral"),
    ] {
        let text = std::fs::read_to_string(mapping).unwrap();
        let mangled = dir.path().join("mangled.wmap");
        std::fs::write(&mangled, mangle(&text)).unwrap();
        let before = plan(&mangled, fixture);
        wmap().arg("fmt").arg(&mangled).assert().success();
        let formatted = std::fs::read_to_string(&mangled).unwrap();
        assert_ne!(formatted, mangle(&text));
        assert_eq!(plan(&mangled, fixture), before, "{mapping}");
        assert_eq!(plan(Path::new(mapping), fixture), before, "{mapping}");
    }
}

#[test]
fn comments_stay_where_they_were() {
    let text = "# header comment\n\n\n\nwmap 1\nlet  dim=config.n_embd   # trailing\n\n# before a rule\n\"a.{i}\"->\"b.{i}\"\n\"long.name.{i}\"  ->  \"c.{i}\"  # aligned\n\"x\"\n    | transpose   # inside a pipeline\n    -> \"y\"\n# last\n";
    let out = format(text).unwrap();
    assert_eq!(
        out,
        "# header comment\n\nwmap 1\nlet dim = config.n_embd  # trailing\n\n# before a rule\n\"a.{i}\"         -> \"b.{i}\"\n\"long.name.{i}\" -> \"c.{i}\"  # aligned\n\"x\"\n    | transpose   # inside a pipeline\n    -> \"y\"\n# last\n"
    );
    assert_eq!(format(&out).unwrap(), out);
}

#[test]
fn long_pipelines_go_one_op_per_line() {
    let text = "\"model.layers.{i}.self_attn.q_proj.weight\" | reshape(heads, 2, shape[0] / heads / 2, shape[1]) | transpose(1, 2) | reshape(shape[0], shape[1]) -> \"layers.{i}.attention.wq.weight\"\n";
    let out = format(text).unwrap();
    assert_eq!(
        out,
        "\"model.layers.{i}.self_attn.q_proj.weight\"\n    | reshape(heads, 2, shape[0] / heads / 2, shape[1])\n    | transpose(1, 2)\n    | reshape(shape[0], shape[1])\n    -> \"layers.{i}.attention.wq.weight\"\n"
    );
    assert!(out.lines().all(|l| l.len() <= 100));
    // A short pipeline stays on one line, and its arrow is not aligned with others.
    let short = "\"a\" | transpose -> \"b\"\n\"cc\" -> \"d\"\n";
    assert_eq!(format(short).unwrap(), short);
}

#[test]
fn fmt_command_rewrites_checks_and_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.wmap");
    std::fs::write(&messy, "wmap   1\n\"a\"->\"b\"\n").unwrap();
    wmap()
        .args(["fmt", "--check"])
        .arg(&messy)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not formatted"));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "wmap   1\n\"a\"->\"b\"\n"
    );
    wmap().arg("fmt").arg(&messy).assert().success();
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "wmap 1\n\"a\" -> \"b\"\n"
    );
    wmap()
        .args(["fmt", "--check"])
        .arg(&messy)
        .assert()
        .success();
    // A syntax error is reported and the file is left alone.
    let broken = dir.path().join("broken.wmap");
    std::fs::write(&broken, "\"a\" -> \n").unwrap();
    wmap()
        .arg("fmt")
        .arg(&broken)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wmap::syntax"));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "\"a\" -> \n");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

/// Found by `fuzz/run.sh` (target `format`): a file whose only problem is
/// an integer beyond 64 bits is formatted (the layout is fine), the number
/// is kept as written, and both texts report the same `integer_overflow`.
#[test]
fn fuzz_regression_an_integer_beyond_64_bits_keeps_its_diagnostic() {
    let text = std::fs::read_to_string("tests/fixtures/fuzz/format-integer-overflow.wmap").unwrap();
    let formatted = format(&text).expect("the layout parses");
    assert!(formatted.contains("9223372036854775847"), "{formatted}");
    assert_eq!(format(&formatted).as_deref(), Some(formatted.as_str()));
    for t in [&text, &formatted] {
        let loaded = wmap::loader::load_text("f.wmap", t);
        let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code()).collect();
        assert_eq!(codes, ["integer_overflow"], "{t}");
    }
}

/// Found by `fuzz/run.sh` (target `format`): a statement with a comment
/// inside is kept as written, and it used to be cut after its last inner
/// token, losing the closing brackets of `reshape(shape[0], shape[1])`.
#[test]
fn fuzz_regression_a_statement_kept_as_written_keeps_its_closing_brackets() {
    let text = "op f(h) = transpose\n    # why\n    | reshape(shape[0], shape[1])\n";
    assert_eq!(format(text).as_deref(), Some(text));
    let found =
        std::fs::read_to_string("tests/fixtures/fuzz/format-comment-before-closing-bracket.wmap")
            .unwrap();
    let formatted = format(&found).expect("parses");
    assert!(
        wmap::syntax::parse(wmap::source::FileId(0), &formatted).is_ok(),
        "{formatted}"
    );
    assert_eq!(format(&formatted).as_deref(), Some(formatted.as_str()));
}
