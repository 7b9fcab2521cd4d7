//! End-to-end tests of the `wmap` binary: exit codes, stdout and stderr, in
//! temporary folders holding checkpoints written by the independent
//! `safetensors` crate (see `common::Preset::write`).

use crate::common;

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::wmap;
use wmap::dtype::DType;

/// A temporary folder with the GPT-2 preset in `model/` (model.safetensors
/// and config.json).
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn gpt2() -> Fixture {
        let dir = TempDir::new().unwrap();
        common::gpt2().write(&dir.path().join("model"));
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn model(&self) -> PathBuf {
        self.path("model")
    }

    /// Writes a mapping file and returns its path.
    fn rules(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

/// Whether a rendered report says `text`, however it was wrapped to fit the
/// width (long temporary paths move the line breaks).
fn says(report: &str, text: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    squash(report).contains(&squash(text))
}

/// A clean mapping for the GPT-2 preset: 3 rules and a drop; 30 source
/// tensors, 2 dropped, 2 fused tensors split in 3 each: 36 targets.
const CLEAN: &str = r#"wmap 1
let dim = config.n_embd
drop "transformer.h.{i}.attn.bias"
"transformer.h.{i}.attn.c_attn.weight" | split(axis=1, parts=3)
    -> ["blocks.{i}.q.weight", "blocks.{i}.k.weight", "blocks.{i}.v.weight"]
"transformer.h.{i}.attn.c_attn.bias" | split(axis=0, sizes=[dim, dim, dim])
    -> ["blocks.{i}.q.bias", "blocks.{i}.k.bias", "blocks.{i}.v.bias"]
fallback "{name:**}" -> "{name}"
"#;

const CLEAN_SUMMARY: &str =
    "ok: 4 rules, 30 source tensors -> 36 target tensors (2 dropped), 672.8 kB\n";

// ------------------------------------------------------------------ check

#[test]
fn check_clean_mapping() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", CLEAN);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(0)
        .stdout(CLEAN_SUMMARY)
        .stderr("");
    // The file itself works as well as its folder.
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model().join("model.safetensors"))
        .assert()
        .code(0)
        .stdout(CLEAN_SUMMARY);
}

#[test]
fn check_without_drops_has_no_dropped_count() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", "fallback \"{name:**}\" -> \"{name}\"\n");
    wmap()
        .args(["check".as_ref(), rules.as_os_str(), fx.model().as_os_str()])
        .assert()
        .code(0)
        .stdout("ok: 1 rules, 30 source tensors -> 30 target tensors, 705.5 kB\n");
}

#[test]
fn check_with_problems() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "bad.wmap",
        r#"wmap 1
"transformer.wte.weight" -> "embed.weight"
"transformer.h.{i}.mlp.c_fc.weight" | split(axis=1, parts=3) -> ["a.{i}", "b.{i}", "c.{i}"]
"transformer.h.{i}.attn.q_proj.weight" -> "q.{i}"
"#,
    );
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1);
    let stderr = stderr_of(&assert);
    // Every problem in one pass, each with its code and plain words.
    assert!(says(&stderr, "wmap::indivisible_split"), "{stderr}");
    assert!(
        says(
            &stderr,
            "cannot split axis 1 of [64, 256] into 3 equal parts"
        ),
        "{stderr}"
    );
    assert!(says(&stderr, "wmap::unmatched_rule"), "{stderr}");
    assert!(
        says(
            &stderr,
            "rule `transformer.h.{i}.attn.q_proj.weight` matches no source tensor"
        ),
        "{stderr}"
    );
    assert!(says(&stderr, "wmap::unmapped_tensor"), "{stderr}");
    assert!(says(&stderr, "are not mapped by any rule"), "{stderr}");
    // The report shows the file and the offending line.
    assert!(says(&stderr, "bad.wmap:3:"), "{stderr}");
    assert!(says(&stderr, "split(axis=1, parts=3)"), "{stderr}");
    // The summary is the report's last line, on stderr like the report;
    // stdout stays empty.
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(
        last.ends_with(&format!(
            "problems in {}; 3 rules, 30 source tensors",
            rules.display()
        )),
        "{stderr}"
    );
    assert_eq!(stdout_of(&assert), "");
}

#[test]
fn check_syntax_error() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "syntax.wmap",
        "wmap 1\n\"transformer.wte.weight\" \"embed.weight\"\n",
    );
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::ends_with(format!(
            "error: 1 problem in {}; 0 rules, 30 source tensors\n",
            rules.display()
        )));
    let stderr = stderr_of(&assert);
    assert!(says(&stderr, "wmap::syntax"), "{stderr}");
    assert!(
        says(
            &stderr,
            "syntax error: expected `->`, `|` or the end of the line, found `\"`"
        ),
        "{stderr}"
    );
    assert!(says(&stderr, "syntax.wmap:2:26"), "{stderr}");
}

// ------------------------------------------------------ exit 2: I/O, usage

#[test]
fn missing_rules_file() {
    let fx = Fixture::gpt2();
    wmap()
        .arg("check")
        .arg(fx.path("nope.wmap"))
        .arg(fx.model())
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::function(|s: &str| {
            says(s, "nope.wmap") && says(s, "wmap::io")
        }));
}

#[test]
fn missing_checkpoint() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", CLEAN);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.path("no-such-model"))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::function(|s: &str| {
            says(s, "no-such-model") && says(s, "wmap::io")
        }));
    // A folder without weights.
    std::fs::create_dir(fx.path("empty")).unwrap();
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.path("empty"))
        .assert()
        .code(2)
        .stderr(predicate::function(|s: &str| {
            says(
                s,
                "empty: no model.safetensors, *.safetensors.index.json or .safetensors file",
            )
        }));
}

/// Checks that `bytes`, as a safetensors file, is refused with exit 2 and a
/// message with `code`, naming the file and saying `message`.
fn refuses_corrupt(bytes: Vec<u8>, code: &str, message: &str) {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", CLEAN);
    let file = fx.write("broken.safetensors", bytes);
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(&file)
        .assert()
        .code(2)
        .stdout("");
    let stderr = stderr_of(&assert);
    assert!(says(&stderr, "broken.safetensors"), "{stderr}");
    assert!(stderr.contains(code), "{stderr}");
    assert!(says(&stderr, message), "{stderr}");
}

#[test]
fn corrupt_safetensors_truncated() {
    refuses_corrupt(
        b"abc".to_vec(),
        "wmap::bad_checkpoint",
        "3 bytes is too short for a safetensors file",
    );
    // A real file cut short inside its data.
    let dir = TempDir::new().unwrap();
    common::gpt2().write(dir.path());
    let mut bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    bytes.truncate(bytes.len() - 100);
    refuses_corrupt(
        bytes,
        "wmap::bad_tensor",
        "run past the end of the data (705436 bytes)",
    );
}

#[test]
fn corrupt_safetensors_header_beyond_the_file() {
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend(b"{}");
    refuses_corrupt(
        bytes,
        "wmap::bad_checkpoint",
        "the header claims 1000 bytes, but the file has only 2 after the length",
    );
}

#[test]
fn corrupt_safetensors_header_not_json() {
    let header = b"this is not json";
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    refuses_corrupt(
        bytes,
        "wmap::bad_checkpoint",
        "the header is not a JSON object",
    );
    let header = b"[1, 2, 3]";
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    refuses_corrupt(
        bytes,
        "wmap::bad_checkpoint",
        "the header is not a JSON object",
    );
}

#[test]
fn usage_errors() {
    // No subcommand, missing arguments, unknown flags and values.
    wmap().assert().code(2).stdout("");
    wmap()
        .arg("check")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("required arguments"));
    wmap()
        .args(["check", "only-rules.wmap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<SRC>"));
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", CLEAN);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--frobnicate")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--frobnicate"));
    wmap()
        .args(["frobnicate", "a", "b"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("frobnicate"));
    wmap()
        .arg("--color")
        .arg("sometimes")
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sometimes"));
    // `--set` needs KEY=VALUE.
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--set", "n_embd"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("KEY=VALUE").or(predicate::str::contains("NAME=VALUE")));
    // `--help` is not an error.
    wmap()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("check"));
}

// ------------------------------------------------------- config and --set

/// Splits the fused QKV bias by a size taken from a config key.
const NEEDS_DIM: &str = r#"wmap 1
let dim = config.dim
"transformer.h.{i}.attn.c_attn.bias" | split(axis=0, sizes=[dim, dim, dim])
    -> ["q.{i}", "k.{i}", "v.{i}"]
fallback "{name:**}" -> "{name}"
"#;

#[test]
fn config_file_option() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", NEEDS_DIM);
    // config.json beside the weights has `n_embd`, not `dim`.
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1);
    let stderr = stderr_of(&assert);
    assert!(says(&stderr, "wmap::unknown_config_key"), "{stderr}");
    assert!(says(&stderr, "config key `dim` is not in"), "{stderr}");
    // Meta's params.json has it.
    let params = fx.write("params.json", r#"{"dim": 64, "n_heads": 4}"#);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--config")
        .arg(&params)
        .assert()
        .code(0)
        .stdout("ok: 2 rules, 30 source tensors -> 34 target tensors, 705.5 kB\n");
    // With a wrong value the split no longer fits.
    let wrong = fx.write("wrong.json", r#"{"dim": 32}"#);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--config")
        .arg(&wrong)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wmap::indivisible_split"));
    // A config file that is missing or not JSON is an I/O error.
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--config")
        .arg(fx.path("nope.json"))
        .assert()
        .code(2)
        .stderr(predicate::function(|s: &str| says(s, "nope.json")));
    let bad = fx.write("bad.json", "{not json");
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--config")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::function(|s: &str| {
            says(s, "bad.json") && says(s, "wmap::bad_config")
        }));
}

#[test]
fn set_option() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("map.wmap", NEEDS_DIM);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--set", "dim=64"])
        .assert()
        .code(0)
        .stdout("ok: 2 rules, 30 source tensors -> 34 target tensors, 705.5 kB\n");
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--set", "dim=48"])
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| {
            says(s, "they add up to 144, not 192")
        }));
    // `--set` overrides a key of config.json.
    let rules = fx.rules("clean.wmap", CLEAN);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--set", "n_embd=32"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wmap::indivisible_split"));
    // And overrides `--config`.
    let params = fx.write("params.json", r#"{"dim": 32}"#);
    let rules = fx.rules("dim.wmap", NEEDS_DIM);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .arg("--config")
        .arg(&params)
        .args(["--set", "dim=64"])
        .assert()
        .code(0);
}

#[test]
fn set_option_with_dotted_keys() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "map.wmap",
        r#"wmap 1
let rows = config.layout.rows
"transformer.wte.weight" | reshape(rows, -1) -> "wte"
drop "transformer.{part:h|wpe|ln_f}.{rest:**}"
"#,
    );
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| {
            says(s, "config key `layout.rows` is not in")
        }));
    for (rows, shape) in [(100u64, [100u64, 640]), (1000, [1000, 64]), (8, [8, 8000])] {
        let assert = wmap()
            .arg("plan")
            .arg(&rules)
            .arg(fx.model())
            .arg("--json")
            .args(["--set", &format!("layout.rows={rows}")])
            .assert()
            .code(0);
        let json: Value = serde_json::from_str(&stdout_of(&assert)).unwrap();
        assert_eq!(json["targets"][0]["name"], "wte");
        assert_eq!(json["targets"][0]["shape"], serde_json::json!(shape));
    }
    // A value that does not divide the element count.
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--set", "layout.rows=7"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wmap::element_count_mismatch"));
}

// ----------------------------------------------------------------- colour

#[test]
fn color_flag() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "bad.wmap",
        "\"transformer.wte.weight\" -> \"embed.weight\"\n",
    );
    let never = wmap()
        .args(["--color", "never", "check"])
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1);
    let stderr = stderr_of(&never);
    assert!(says(&stderr, "wmap::unmapped_tensor"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let always = wmap()
        .env_remove("NO_COLOR")
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .args(["--color", "always"])
        .assert()
        .code(1);
    let stderr = stderr_of(&always);
    assert!(stderr.contains("\x1b["), "{stderr:?}");
    // Not a terminal: no colour by default.
    let auto = wmap()
        .env_remove("NO_COLOR")
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1);
    assert!(!stderr_of(&auto).contains('\x1b'));
    // Colour goes to diagnostics only: stdout stays plain.
    assert!(!stdout_of(&always).contains('\x1b'));
}

// ------------------------------------------------------ sharded checkpoints

/// Writes the GPT-2 preset as two shards plus `model.safetensors.index.json`
/// (and config.json) into `dir`; `rename` may change a shard's name in the index.
fn write_sharded(dir: &Path, index_name_of_second: &str) {
    let preset = common::gpt2();
    std::fs::create_dir_all(dir).unwrap();
    let mut sorted = preset.tensors.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let (first, second) = sorted.split_at(sorted.len() / 2);
    let shard_names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut weight_map = serde_json::Map::new();
    for (k, (part, shard)) in [first, second].iter().zip(shard_names).enumerate() {
        let datas: Vec<(String, DType, Vec<u64>, Vec<u8>)> = part
            .iter()
            .enumerate()
            .map(|(j, (n, d, s))| {
                let len = s.iter().product::<u64>() as usize * d.size();
                let bytes = common::pseudo_random_bytes(len, (k * 100 + j) as u64, *d);
                (n.clone(), *d, s.clone(), bytes)
            })
            .collect();
        common::write_safetensors(&dir.join(shard), &datas);
        let listed = if k == 1 { index_name_of_second } else { shard };
        for (n, _, _) in part.iter() {
            weight_map.insert(n.clone(), Value::String(listed.to_string()));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string_pretty(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&preset.config).unwrap(),
    )
    .unwrap();
}

#[test]
fn sharded_checkpoint_checks_like_the_single_file() {
    let fx = Fixture::gpt2();
    let sharded = fx.path("sharded");
    write_sharded(&sharded, "model-00002-of-00002.safetensors");
    let rules = fx.rules("map.wmap", CLEAN);
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(&sharded)
        .assert()
        .code(0)
        .stdout(CLEAN_SUMMARY)
        .stderr("");
    // The plans agree too, target by target.
    let plan = |src: &Path| {
        let assert = wmap()
            .arg("plan")
            .arg(&rules)
            .arg(src)
            .arg("--json")
            .assert()
            .code(0);
        serde_json::from_str::<Value>(&stdout_of(&assert)).unwrap()
    };
    assert_eq!(plan(&sharded), plan(&fx.model()));
    // Problems are the same problems.
    let bad = fx.rules(
        "bad.wmap",
        "\"transformer.wte.weight\" -> \"embed.weight\"\n",
    );
    let single = wmap()
        .arg("check")
        .arg(&bad)
        .arg(fx.model())
        .assert()
        .code(1);
    let shards = wmap().arg("check").arg(&bad).arg(&sharded).assert().code(1);
    assert_eq!(stderr_of(&single), stderr_of(&shards));
}

#[test]
fn index_naming_a_shard_outside_the_folder_is_refused() {
    let fx = Fixture::gpt2();
    let sharded = fx.path("sharded");
    write_sharded(&sharded, "../x.safetensors");
    // Even with a file of that name where it points.
    std::fs::copy(
        sharded.join("model-00002-of-00002.safetensors"),
        fx.path("x.safetensors"),
    )
    .unwrap();
    let rules = fx.rules("map.wmap", CLEAN);
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(&sharded)
        .assert()
        .code(2)
        .stdout("");
    let stderr = stderr_of(&assert);
    assert!(
        says(&stderr, "sharded/model.safetensors.index.json"),
        "{stderr}"
    );
    assert!(
        says(
            &stderr,
            "shard `../x.safetensors` is outside the checkpoint folder"
        ),
        "{stderr}"
    );
}

#[test]
fn index_naming_a_missing_shard_is_refused() {
    let fx = Fixture::gpt2();
    let sharded = fx.path("sharded");
    write_sharded(&sharded, "model-00002-of-00002.safetensors");
    std::fs::remove_file(sharded.join("model-00002-of-00002.safetensors")).unwrap();
    let rules = fx.rules("map.wmap", CLEAN);
    let assert = wmap()
        .arg("check")
        .arg(&rules)
        .arg(&sharded)
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert!(
        says(&stderr, "model-00002-of-00002.safetensors` is missing"),
        "{stderr}"
    );
}

// ------------------------------------------------------------------- plan

/// Four targets from the GPT-2 preset; every layer tensor dropped.
const SMALL: &str = r#"wmap 1
drop "transformer.h.{i}.{rest:**}"
"transformer.wte.weight" | transpose -> "wte.t"
"transformer.wpe.weight" -> "wpe"
"transformer.ln_f.{p:weight|bias}" | cast(f16) -> "ln_f.{p}"
"#;

#[test]
fn plan_text_output() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("small.wmap", SMALL);
    let assert = wmap()
        .arg("plan")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(0)
        .stderr("");
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "ln_f.bias  [64]  f16  <- cast(\"transformer.ln_f.bias\", f16)",
            "ln_f.weight  [64]  f16  <- cast(\"transformer.ln_f.weight\", f16)",
            "wpe  [64, 64]  f32  <- \"transformer.wpe.weight\"",
            "wte.t  [64, 1000]  f32  <- permute(\"transformer.wte.weight\", [1, 0])",
        ]
    );
    let dropped: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("(dropped) "))
        .collect();
    assert_eq!(dropped.len(), 26);
    assert_eq!(dropped[0], "transformer.h.0.attn.bias");
    assert!(
        dropped.windows(2).all(|w| w[0] < w[1]),
        "sorted: {dropped:?}"
    );
    assert_eq!(lines.len(), 4 + 26 + 1);
    assert_eq!(*lines.last().unwrap(), "4 target tensors, 272.6 kB");
}

#[test]
fn plan_json_output() {
    let fx = Fixture::gpt2();
    let rules = fx.rules("small.wmap", SMALL);
    let assert = wmap()
        .arg("plan")
        .arg(&rules)
        .arg(fx.model())
        .arg("--json")
        .assert()
        .code(0)
        .stderr("");
    let json: Value = serde_json::from_str(&stdout_of(&assert)).unwrap();
    let targets = json["targets"].as_array().unwrap();
    let got: Vec<(&str, Vec<u64>, &str)> = targets
        .iter()
        .map(|t| {
            let shape = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().expect("shape entries are integers"))
                .collect();
            (
                t["name"].as_str().unwrap(),
                shape,
                t["dtype"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ln_f.bias", vec![64], "f16"),
            ("ln_f.weight", vec![64], "f16"),
            ("wpe", vec![64, 64], "f32"),
            ("wte.t", vec![64, 1000], "f32"),
        ]
    );
    assert_eq!(
        targets[0]["sources"],
        serde_json::json!(["transformer.ln_f.bias"])
    );
    assert_eq!(targets[0]["bytes"], 128);
    assert_eq!(targets[3]["bytes"], 256000);
    let summary = &json["summary"];
    assert_eq!(summary["rules"], 4);
    assert_eq!(summary["source_tensors"], 30);
    assert_eq!(summary["target_tensors"], 4);
    assert_eq!(summary["dropped_tensors"], 26);
    assert_eq!(summary["bytes"], 128 + 128 + 16384 + 256000);
    assert_eq!(json["dropped"].as_array().unwrap().len(), 26);
}

#[test]
fn plan_with_problems_prints_no_plan() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "bad.wmap",
        "\"transformer.wte.weight\" | transpose(0, 5) -> \"x\"\n",
    );
    for json in [false, true] {
        let mut cmd = wmap();
        cmd.arg("plan").arg(&rules).arg(fx.model());
        if json {
            cmd.arg("--json");
        }
        let assert = cmd.assert().code(1).stdout("");
        let stderr = stderr_of(&assert);
        assert!(says(&stderr, "wmap::axis_out_of_range"), "{stderr}");
        assert!(says(&stderr, "wmap::unmapped_tensor"), "{stderr}");
    }
}

// ------------------------------------------------------ shipped mappings

#[test]
fn shipped_gpt2_mapping_checks_against_the_transformers_fixture() {
    wmap()
        .args([
            "check",
            "mappings/gpt2/hf-to-burn.wmap",
            "tests/fixtures/models/gpt2",
        ])
        .assert()
        .code(0)
        .stderr("")
        .stdout(
            predicate::str::is_match(
                r"^ok: \d+ rules, 28 source tensors -> 36 target tensors, [0-9.]+ kB\n$",
            )
            .unwrap(),
        );
    let assert = wmap()
        .args([
            "plan",
            "mappings/gpt2/hf-to-burn.wmap",
            "tests/fixtures/models/gpt2",
            "--json",
        ])
        .assert()
        .code(0);
    let json: Value = serde_json::from_str(&stdout_of(&assert)).unwrap();
    assert_eq!(json["summary"]["target_tensors"], 36);
    assert_eq!(json["target_model"], "gpt2");
    let names: Vec<&str> = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // The burn GPT-2 reads its head from wte: no lm_head.weight is written.
    assert!(!names.contains(&"lm_head.weight"), "{names:?}");
    assert!(names.contains(&"blocks.1.attn.value.bias"), "{names:?}");
    let q = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "blocks.0.attn.query.weight")
        .unwrap();
    assert_eq!(q["shape"], serde_json::json!([64, 64]));
    assert_eq!(q["dtype"], "f32");
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_collapses_layers_into_patterns_with_totals() {
    let fx = Fixture::gpt2();
    let out = stdout_of(&wmap().arg("inspect").arg(fx.model()).assert().success());
    // Totals computed independently by the safetensors crate.
    let bytes = std::fs::read(fx.model().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let n = st.names().len();
    let params: usize = st
        .tensors()
        .iter()
        .map(|(_, v)| v.shape().iter().product::<usize>())
        .sum();
    let layers = common::gpt2().config.as_object().unwrap()["n_layer"]
        .as_u64()
        .unwrap();
    let c_attn = st.tensor("transformer.h.0.attn.c_attn.weight").unwrap();
    let line = out
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "transformer.h.{{0..{}}}.attn.c_attn.weight ",
                layers - 1
            ))
        })
        .unwrap_or_else(|| panic!("no c_attn pattern in\n{out}"));
    let fields: Vec<&str> = line.split("  ").filter(|f| !f.trim().is_empty()).collect();
    assert_eq!(fields[1].trim(), format!("{:?}", c_attn.shape()));
    assert_eq!(fields[2].trim(), "f32");
    assert_eq!(fields[3].trim(), format!("x{layers}"));
    let total = out
        .lines()
        .rev()
        .find(|l| l.contains(" tensors in "))
        .unwrap();
    assert!(total.starts_with(&format!("{n} tensors in ")), "{total}");
    assert!(
        total.contains(&wmap::inspect::human_count(params as u64)),
        "{total} should give {params} parameters"
    );
    // Every tensor is in exactly one line's count.
    let counted: usize = out
        .lines()
        .filter(|l| !l.contains(" tensors in ") && !l.starts_with("metadata:"))
        .map(|l| {
            l.rsplit_once(" x")
                .and_then(|(_, c)| c.parse::<usize>().ok())
                .unwrap_or(1)
        })
        .sum();
    assert_eq!(counted, n);
}

#[test]
fn inspect_json_splits_a_pattern_whose_shapes_differ() {
    let fx = Fixture::gpt2();
    // Layer 1's bias is longer than layer 0's: one pattern would hide that.
    let path = fx.path("odd.safetensors");
    common::write_safetensors(
        &path,
        &[
            ("h.0.bias".into(), DType::F32, vec![4], vec![0; 16]),
            ("h.1.bias".into(), DType::F32, vec![8], vec![0; 32]),
            ("h.2.bias".into(), DType::F32, vec![4], vec![0; 16]),
            ("h.0.w".into(), DType::BF16, vec![2, 3], vec![0; 12]),
            ("h.1.w".into(), DType::BF16, vec![2, 3], vec![0; 12]),
        ],
    );
    let out = stdout_of(
        &wmap()
            .args(["inspect", "--json"])
            .arg(&path)
            .assert()
            .success(),
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tensors"], 5);
    assert_eq!(v["parameters"], 4 + 8 + 4 + 6 + 6);
    assert_eq!(v["bytes"], 16 + 32 + 16 + 12 + 12);
    assert_eq!(v["dtypes"]["bf16"]["tensors"], 2);
    assert_eq!(v["dtypes"]["f32"]["bytes"], 64);
    let groups: Vec<(String, Value, String, u64)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["pattern"].as_str().unwrap().to_string(),
                g["shape"].clone(),
                g["dtype"].as_str().unwrap().to_string(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        groups.contains(&(
            "h.{0,2}.bias".into(),
            serde_json::json!([4]),
            "f32".into(),
            2
        )),
        "{groups:?}"
    );
    assert!(
        groups.contains(&("h.1.bias".into(), serde_json::json!([8]), "f32".into(), 1)),
        "{groups:?}"
    );
    assert!(
        groups.contains(&(
            "h.{0..1}.w".into(),
            serde_json::json!([2, 3]),
            "bf16".into(),
            2
        )),
        "{groups:?}"
    );
    assert_eq!(groups.len(), 3);
}

#[test]
fn inspect_of_a_missing_or_broken_checkpoint_is_an_error() {
    let fx = Fixture::gpt2();
    wmap()
        .arg("inspect")
        .arg(fx.path("nothing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing"));
    let bad = fx.write("bad.safetensors", [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']);
    wmap()
        .arg("inspect")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("header claims 200 bytes"));
}

#[test]
fn a_default_chain_with_every_key_missing_names_them_all() {
    let fx = Fixture::gpt2();
    let rules = fx.rules(
        "chain.wmap",
        "let heads = config.num_attention_heads ?? config.n_heads\n\"{x:**}\" | reshape(heads, -1) -> \"{x}\"\n",
    );
    let out = wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("none of the config keys `num_attention_heads`, `n_heads` is in"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("wmap::unknown_config_key").count(),
        1,
        "{stderr}"
    );
    // With a default at the end of the chain, it checks.
    let rules = fx.rules(
        "chain2.wmap",
        "let heads = config.num_attention_heads ?? config.n_heads ?? 1\n\"{x:**}\" | reshape(heads, -1) -> \"{x}\"\n",
    );
    wmap()
        .arg("check")
        .arg(&rules)
        .arg(fx.model())
        .assert()
        .success();
}
