//! The documentation's examples are tests.
//!
//! Every fenced block tagged `wmap` in `docs/language.md`, `docs/plan-json.md`
//! and `README.md` is run according to the words after `wmap` on its fence:
//!
//! - nothing: the block must parse;
//! - `check=PRESET`: the block is checked against that synthetic checkpoint
//!   (`tests/common/mod.rs`, or one of the doc-only presets below) and must be
//!   clean; a comment `# => NAME [D0, D1] DTYPE` in it states a target of the
//!   plan, `# => no NAME` a name that is not a target;
//! - `error=CODE check=PRESET`: checking must report a `wmap::CODE`
//!   diagnostic and no other kind (without `check=`, loading alone must);
//! - `set=KEY=VALUE`: a config override, as `wmap check --set KEY=VALUE`;
//! - `file=NAME`: a module that the other blocks of the same page can `use` as
//!   `"./NAME"`; it must parse.
//!
//! The diagnostics table of `docs/language.md` must list exactly the codes of
//! `Diagnostic::code`, and the fields that `docs/plan-json.md` documents must
//! be exactly those `Plan::to_json` produces.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::CheckedExt;
use wmap::checkpoint::Config;
use wmap::diagnostics::{render, Style};
use wmap::dtype::DType;
use wmap::source::FileId;

const PAGES: &[&str] = &["docs/language.md", "docs/plan-json.md", "README.md"];

/// A fenced code block of a Markdown page.
struct Block {
    page: String,
    /// 1-based line of the opening fence.
    line: usize,
    /// The first word of the info string (`wmap`, `json`, ...).
    lang: String,
    /// The other words.
    attrs: Vec<String>,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.page, self.line)
    }

    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
    }

    fn attrs_named(&self, key: &str) -> Vec<&str> {
        self.attrs
            .iter()
            .filter_map(|a| a.strip_prefix(key)?.strip_prefix('='))
            .collect()
    }
}

fn blocks(page: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{page}: {e}"));
    let mut out = Vec::new();
    let mut open: Option<(usize, String, Vec<String>, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.split_whitespace().map(String::from);
                    let lang = words.next().unwrap_or_default();
                    open = Some((n + 1, lang, words.collect(), String::new()));
                }
            }
            Some((start, lang, attrs, body)) => {
                if trimmed.trim_end() == "```" {
                    out.push(Block {
                        page: page.to_string(),
                        line: *start,
                        lang: std::mem::take(lang),
                        attrs: std::mem::take(attrs),
                        text: std::mem::take(body),
                    });
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "{page}: a code block is not closed");
    out
}

fn wmap_blocks(page: &str) -> Vec<Block> {
    blocks(page)
        .into_iter()
        .filter(|b| b.lang == "wmap")
        .collect()
}

// ------------------------------------------------------------ doc presets

fn t(name: impl Into<String>, dtype: DType, shape: &[u64]) -> (String, DType, Vec<u64>) {
    (name.into(), dtype, shape.to_vec())
}

/// The transformers v5 fused expert layout of the `moe` preset's checkpoint.
fn moe_fused() -> common::Preset {
    let mut tensors = Vec::new();
    for i in 0..2 {
        let p = format!("model.layers.{i}.mlp");
        tensors.extend([
            t(format!("{p}.gate.weight"), DType::F32, &[4, 64]),
            t(
                format!("{p}.experts.gate_up_proj"),
                DType::F32,
                &[4, 192, 64],
            ),
            t(format!("{p}.experts.down_proj"), DType::F32, &[4, 64, 96]),
        ]);
    }
    common::Preset {
        tensors,
        config: serde_json::json!({"num_local_experts": 4, "hidden_size": 64, "intermediate_size": 96}),
    }
}

/// A BERT encoder of 2 layers, hidden 64, with the `position_ids` buffer.
fn bert() -> common::Preset {
    let mut tensors = vec![
        t(
            "bert.embeddings.word_embeddings.weight",
            DType::F32,
            &[1000, 64],
        ),
        t(
            "bert.embeddings.position_embeddings.weight",
            DType::F32,
            &[128, 64],
        ),
        t("bert.embeddings.position_ids", DType::I64, &[1, 128]),
        t("bert.embeddings.LayerNorm.weight", DType::F32, &[64]),
        t("bert.embeddings.LayerNorm.bias", DType::F32, &[64]),
    ];
    for i in 0..2 {
        let p = format!("bert.encoder.layer.{i}");
        for w in ["query", "key", "value"] {
            tensors.push(t(
                format!("{p}.attention.self.{w}.weight"),
                DType::F32,
                &[64, 64],
            ));
            tensors.push(t(format!("{p}.attention.self.{w}.bias"), DType::F32, &[64]));
        }
        tensors.extend([
            t(
                format!("{p}.attention.output.dense.weight"),
                DType::F32,
                &[64, 64],
            ),
            t(
                format!("{p}.attention.output.dense.bias"),
                DType::F32,
                &[64],
            ),
            t(
                format!("{p}.intermediate.dense.weight"),
                DType::F32,
                &[256, 64],
            ),
            t(format!("{p}.intermediate.dense.bias"), DType::F32, &[256]),
            t(format!("{p}.output.dense.weight"), DType::F32, &[64, 256]),
            t(format!("{p}.output.dense.bias"), DType::F32, &[64]),
        ]);
    }
    common::Preset {
        tensors,
        config: serde_json::json!({
            "model_type": "bert", "hidden_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 2, "intermediate_size": 256, "vocab_size": 1000
        }),
    }
}

fn preset(name: &str) -> common::Preset {
    match name {
        "moe_fused" => moe_fused(),
        "bert" => bert(),
        other => common::preset(other),
    }
}

// ------------------------------------------------------------ running blocks

/// Writes every `file=NAME` block of a page into a fresh folder.
fn write_modules(blocks: &[Block]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for b in blocks {
        if let Some(name) = b.attr("file") {
            std::fs::write(dir.path().join(name), &b.text).unwrap();
        }
    }
    dir
}

fn config_of(b: &Block, preset: &common::Preset) -> Config {
    let mut config = preset.config();
    for assignment in b.attrs_named("set") {
        config
            .set(assignment)
            .unwrap_or_else(|e| panic!("{}: set={assignment}: {e}", b.at()));
    }
    config
}

/// Runs one block; `Err` says what is wrong with it.
fn run_block(b: &Block, dir: &Path) -> Result<(), String> {
    const KNOWN: &[&str] = &["check", "error", "set", "file"];
    for a in &b.attrs {
        let key = a.split('=').next().unwrap_or_default();
        if !KNOWN.contains(&key) || !a.contains('=') {
            return Err(format!(
                "unknown fence attribute `{a}` (known: {})",
                KNOWN.join(", ")
            ));
        }
    }
    let check = b.attr("check");
    let error = b.attr("error");
    if let Some(code) = error {
        if !b.text.contains(&format!("# wmap::{code}")) {
            return Err(format!(
                "an `error={code}` example says `# wmap::{code}: ...` in a comment"
            ));
        }
    }
    if check.is_none() && error.is_none() {
        // Parse only (this includes `file=` modules).
        return match wmap::syntax::parse(FileId(0), &b.text) {
            Ok(_) => Ok(()),
            Err(diags) => Err(format!(
                "does not parse: {}",
                diags
                    .iter()
                    .map(|d| d.message())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        };
    }
    if b.attr("file").is_some() {
        return Err("a `file=` module is only parsed; it takes no `check=` or `error=`".into());
    }
    let path: PathBuf = dir.join(format!("example-{}.wmap", b.line));
    let loaded = wmap::loader::load_text(&path.display().to_string(), &b.text);
    let (diagnostics, plan) = match check {
        Some(name) => {
            let preset = preset(name);
            let checked = wmap::check::check(&loaded, &preset.infos(), &config_of(b, &preset));
            (checked.diagnostics().to_vec(), checked.ok())
        }
        None => (loaded.diagnostics.clone(), None),
    };
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code()).collect();
    let report = || {
        render(
            &diagnostics,
            &loaded.sources,
            Style {
                color: false,
                width: 100,
            },
        )
    };
    match error {
        None if diagnostics.is_empty() => match &plan {
            Some(plan) => check_results(b, plan),
            None => Err("the check is clean but made no plan".into()),
        },
        None => Err(format!(
            "expected a clean check, got {codes:?}:\n{}",
            report()
        )),
        // An example of a mistake shows that mistake only.
        Some(code) if !codes.is_empty() && codes.iter().all(|c| *c == code) => Ok(()),
        Some(code) => Err(format!(
            "expected only `wmap::{code}` diagnostics, got {codes:?}:\n{}",
            report()
        )),
    }
}

/// The `# => NAME [SHAPE] DTYPE` and `# => no NAME` comments of a checked
/// example state targets of its plan.
fn check_results(b: &Block, plan: &wmap::plan::Plan) -> Result<(), String> {
    for line in b.text.lines() {
        let Some((_, claim)) = line.split_once("# => ") else {
            continue;
        };
        let claim = claim.trim();
        if let Some(name) = claim.strip_prefix("no ") {
            if plan.targets.iter().any(|t| t.name == name) {
                return Err(format!("`{claim}`: the plan has target `{name}`"));
            }
            continue;
        }
        let bad = || format!("`# => {claim}`: write `# => NAME [D0, D1] DTYPE`");
        let (name, rest) = claim.split_once(" [").ok_or_else(bad)?;
        let (dims, dtype) = rest.split_once(']').ok_or_else(bad)?;
        let shape: Vec<u64> = if dims.trim().is_empty() {
            Vec::new()
        } else {
            dims.split(',')
                .map(|d| d.trim().parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?
        };
        let Some(t) = plan.targets.iter().find(|t| t.name == name) else {
            let names: Vec<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "`{claim}`: no target `{name}`; the targets are {names:?}"
            ));
        };
        let found = format!("{:?} {}", t.node.shape, t.node.dtype);
        if t.node.shape != shape || t.node.dtype.name() != dtype.trim() {
            return Err(format!("`{claim}`: `{name}` is {found}"));
        }
    }
    Ok(())
}

#[test]
fn wmap_examples_parse_and_check() {
    let mut failures = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for page in PAGES {
        let blocks = wmap_blocks(page);
        let dir = write_modules(&blocks);
        for b in &blocks {
            let kind = match (b.attr("check"), b.attr("error")) {
                (_, Some(_)) => "error",
                (Some(_), None) => "check",
                (None, None) => "parse",
            };
            *counts.entry(kind).or_default() += 1;
            if let Err(problem) = run_block(b, dir.path()) {
                failures.push(format!("{}: {problem}", b.at()));
            }
        }
    }
    eprintln!("wmap examples: {counts:?}");
    assert!(
        failures.is_empty(),
        "{} example(s) fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        counts.get("check").copied().unwrap_or(0) > 20,
        "too few checked examples: {counts:?}"
    );
}

/// Untagged code blocks that hold wmap text escape the test; there are none.
#[test]
fn no_untagged_code_blocks() {
    for page in PAGES {
        for b in blocks(page) {
            assert!(
                !b.lang.is_empty(),
                "{}: tag the code block (```wmap, ```sh, ```json, ```text)",
                b.at()
            );
        }
    }
}

// ------------------------------------------------------------ diagnostics table

/// The codes `Diagnostic::code` can return, read from its source.
pub(crate) fn diagnostic_codes() -> BTreeSet<String> {
    let src = std::fs::read_to_string("src/diagnostics.rs").unwrap();
    let start = src.find("pub fn code(&self)").expect("Diagnostic::code");
    let body = &src[start..];
    let end = body[1..]
        .find("pub fn ")
        .map(|e| e + 1)
        .unwrap_or(body.len());
    body[..end]
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("=> \"")?;
            Some(rest.split('"').next()?.to_string())
        })
        .collect()
}

/// The codes in the first column of the docs' diagnostics table.
fn documented_codes() -> BTreeSet<String> {
    let text = std::fs::read_to_string("docs/language.md").unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("| `wmap::"))
        .map(|rest| rest.split('`').next().unwrap().to_string())
        .collect()
}

#[test]
fn diagnostics_table_lists_every_code() {
    let real = diagnostic_codes();
    assert!(
        real.len() > 30,
        "could not read the codes from src/diagnostics.rs: {real:?}"
    );
    let documented = documented_codes();
    let missing: Vec<_> = real.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&real).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented: {missing:?}; not real: {extra:?}"
    );
}

/// Every code that an author can provoke has an `error=` example.
#[test]
fn every_diagnostic_has_an_example() {
    // Not reproducible from a Markdown page (not_utf8), or produced by
    // `wmap invert` rather than `check` (tests/invert.rs).
    // header_too_large, pattern_too_large and limit_exceeded need inputs of
    // megabytes or headers of billions (tests/adversarial/checker.rs);
    // no_plan is a bug report.
    const NO_EXAMPLE: &[&str] = &[
        "not_utf8",
        "not_invertible",
        "header_too_large",
        "pattern_too_large",
        "limit_exceeded",
        "no_plan",
    ];
    let mut shown = BTreeSet::new();
    for b in wmap_blocks("docs/language.md") {
        if let Some(code) = b.attr("error") {
            shown.insert(code.to_string());
        }
    }
    let missing: Vec<_> = diagnostic_codes()
        .into_iter()
        .filter(|c| !shown.contains(c) && !NO_EXAMPLE.contains(&c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "no `error=` example in docs/language.md for {missing:?}"
    );
}

// ------------------------------------------------------------ plan JSON

fn plan_json() -> serde_json::Value {
    let path = Path::new("tests/fixtures/check/ok/gpt2_all_forms.wmap");
    let preset = common::gpt2();
    let loaded = wmap::loader::load(path).unwrap();
    let checked = wmap::check::check(&loaded, &preset.infos(), &preset.config());
    assert!(
        checked.diagnostics().is_empty(),
        "{:?}",
        checked.diagnostics()
    );
    checked.plan().unwrap().to_json()
}

/// Every object key of a JSON document as a path: `summary.rules`,
/// `targets[].shape`; with the JSON type of its values.
fn json_fields(
    v: &serde_json::Value,
    prefix: &str,
    out: &mut BTreeMap<String, BTreeSet<&'static str>>,
) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.entry(path.clone()).or_default().insert(json_type(v));
                json_fields(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                json_fields(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    use serde_json::Value::*;
    match v {
        Null => "null",
        Bool(_) => "boolean",
        Number(n) if n.is_u64() || n.is_i64() => "integer",
        Number(_) => "number",
        String(_) => "string",
        Object(_) => "object",
        Array(items) => {
            let kinds: BTreeSet<&str> = items.iter().map(json_type).collect();
            match kinds.into_iter().collect::<Vec<_>>().as_slice() {
                [] => "list",
                ["integer"] => "list of integers",
                ["string"] => "list of strings",
                ["object"] => "list of objects",
                _ => "list",
            }
        }
    }
}

/// The field table rows of docs/plan-json.md: `| `path` | type | meaning |`.
fn documented_fields() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("docs/plan-json.md").unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < 4 {
                return None;
            }
            let path = cells[1].strip_prefix('`')?.strip_suffix('`')?;
            Some((path.to_string(), cells[2].to_string()))
        })
        .collect()
}

/// Whether a documented type (`string or null`) admits a found JSON type.
fn type_admits(documented: &str, found: &str) -> bool {
    documented
        .split(" or ")
        .any(|d| d == found || (d.starts_with("list of") && found == "list"))
}

fn check_fields_against(json: &serde_json::Value, what: &str) {
    let mut found = BTreeMap::new();
    json_fields(json, "", &mut found);
    let documented = documented_fields();
    let real: BTreeSet<&String> = found.keys().collect();
    let doc: BTreeSet<&String> = documented.keys().collect();
    assert_eq!(
        real, doc,
        "{what}: the fields of the JSON and of docs/plan-json.md differ"
    );
    for (path, types) in &found {
        for ty in types {
            assert!(
                type_admits(&documented[path], ty),
                "{what}: `{path}` is documented as `{}` but is {ty}",
                documented[path]
            );
        }
    }
}

#[test]
fn plan_json_fields_are_documented() {
    let json = plan_json();
    check_fields_against(&json, "gpt2_all_forms");
    for t in json["targets"].as_array().unwrap() {
        assert!(t["name"].is_string());
        assert!(t["shape"].as_array().unwrap().iter().all(|d| d.is_u64()));
        let dtype = t["dtype"].as_str().unwrap();
        assert!(DType::from_name(dtype).is_some(), "dtype {dtype}");
    }
    let doc = std::fs::read_to_string("docs/plan-json.md").unwrap();
    for required in [
        "`targets[].name`",
        "`targets[].shape` | list of integers",
        "`targets[].dtype` | string",
        "`f32`",
        "`f16`",
        "`bf16`",
    ] {
        assert!(
            doc.contains(required),
            "docs/plan-json.md does not mention {required}"
        );
    }
}

/// The example of docs/plan-json.md is the real output for the mapping
/// shown beside it.
#[test]
fn plan_json_example_is_real() {
    let all = blocks("docs/plan-json.md");
    let mapping = all
        .iter()
        .find(|b| b.lang == "wmap" && b.attr("check").is_some())
        .expect("docs/plan-json.md: an example mapping (```wmap check=PRESET)");
    let example = all
        .iter()
        .find(|b| b.lang == "json")
        .expect("docs/plan-json.md: a ```json example");
    let shown: serde_json::Value = serde_json::from_str(&example.text)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", example.at()));
    let preset = preset(mapping.attr("check").unwrap());
    let loaded = wmap::loader::load_text("example.wmap", &mapping.text);
    let checked = wmap::check::check(&loaded, &preset.infos(), &config_of(mapping, &preset));
    let real = checked
        .plan()
        .expect("the example mapping checks")
        .to_json();
    assert_eq!(
        shown,
        real,
        "{}: the example differs from the real output:\n{}",
        example.at(),
        serde_json::to_string_pretty(&real).unwrap()
    );
    check_fields_against(&shown, "the example");
}

/// The language reference's table of ops and both editor grammars name
/// exactly the built-in ops, so adding one to `src/ops/` cannot leave them behind.
#[test]
fn docs_and_editors_name_every_builtin_op() {
    use wmap::ops::Builtin;
    let ops: BTreeSet<String> = Builtin::ALL
        .iter()
        .map(|op| op.name().to_string())
        .collect();
    let reference = std::fs::read_to_string("docs/language.md").unwrap();
    let start = reference.find("\n## Ops\n").expect("an Ops section");
    let table: BTreeSet<String> = reference[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| op |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let name = &l[3..];
            name[..name.find(['`', '(']).unwrap()].to_string()
        })
        .collect();
    assert_eq!(table, ops, "the table of ops in docs/language.md");
    let vscode = std::fs::read_to_string("editors/vscode/syntaxes/wmap.tmLanguage.json").unwrap();
    let list = vscode
        .lines()
        .filter(|l| l.contains("transpose|"))
        .find_map(|l| l.split_once("\"\\\\b(?:").map(|(_, rest)| rest.to_string()))
        .expect("the VS Code grammar's list of ops");
    let highlighted: BTreeSet<String> = list[..list.find(')').unwrap()]
        .split('|')
        .map(String::from)
        .collect();
    assert_eq!(
        highlighted, ops,
        "editors/vscode/syntaxes/wmap.tmLanguage.json"
    );
    let vim = std::fs::read_to_string("editors/vim/syntax/wmap.vim").unwrap();
    let mut keywords: BTreeSet<String> = vim
        .lines()
        .find_map(|l| l.strip_prefix("syn keyword wmapBuiltin"))
        .expect("the vim syntax's list of ops")
        .split_whitespace()
        .map(String::from)
        .collect();
    // `cast` is also the global cast statement: vim highlights it as a keyword.
    keywords.insert("cast".into());
    assert_eq!(keywords, ops, "editors/vim/syntax/wmap.vim");
}
