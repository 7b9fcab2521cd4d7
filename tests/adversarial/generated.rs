//! Generated text: what `infer`, `invert`, `fmt` and `spec` write. Names
//! from strangers are escaped so the mapping reads back as the same names;
//! `-o` never replaces an existing file without `--force`, and never an
//! input; `fmt` keeps a file's mode and links and cleans up after a failed
//! write.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::common::case::run_in;
use super::common::write_safetensors;
use super::support::*;
use wmap::dtype::DType;

/// Names that mean something in the language, or to a terminal.
const STRANGE: &[&str] = &[
    "c{1}.weight",
    "c{}.bias",
    "q\"uote.weight",
    "back\\slash.weight",
    "new\nline.weight",
    "tab\tbed.weight",
    "bell\u{7}.weight",
    "brace}}.weight",
    "{{double}}.weight",
    "größe.weight",
];

fn strange_checkpoint(path: &Path) {
    let tensors: Vec<(String, DType, Vec<u64>, Vec<u8>)> = STRANGE
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                DType::F32,
                vec![i as u64 + 1],
                vec![i as u8; 4 * (i + 1)],
            )
        })
        .collect();
    write_safetensors(path, &tensors);
}

fn names_of(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    names
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn infer_escapes_names_so_the_draft_maps_them_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    strange_checkpoint(&dir.path().join("a.safetensors"));
    std::fs::copy(
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    )
    .unwrap();
    let out = wmap()
        .current_dir(dir.path())
        .args([
            "infer",
            "a.safetensors",
            "b.safetensors",
            "-o",
            "draft.wmap",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), Some(0), "{stderr}");
    let draft = std::fs::read_to_string(dir.path().join("draft.wmap")).unwrap();
    assert!(!draft.contains('\u{7}'), "{draft}");
    wmap()
        .current_dir(dir.path())
        .args(["run", "draft.wmap", "a.safetensors", "out.safetensors"])
        .assert()
        .success();
    assert_eq!(
        names_of(&dir.path().join("out.safetensors")),
        names_of(&dir.path().join("a.safetensors"))
    );
}

#[test]
fn invert_escapes_names_so_the_reverse_checks_and_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    strange_checkpoint(&dir.path().join("a.safetensors"));
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"p.{n}\"\n",
    )
    .unwrap();
    let out = wmap()
        .current_dir(dir.path())
        .args(["invert", "m.wmap", "a.safetensors", "-o", "back.wmap"])
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wmap()
        .current_dir(dir.path())
        .args(["run", "m.wmap", "a.safetensors", "p.safetensors"])
        .assert()
        .success();
    wmap()
        .current_dir(dir.path())
        .args(["run", "back.wmap", "p.safetensors", "back.safetensors"])
        .assert()
        .success();
    assert_eq!(
        names_of(&dir.path().join("back.safetensors")),
        names_of(&dir.path().join("a.safetensors"))
    );
}

#[test]
fn invert_of_exact_names_writes_literal_drops_that_parse() {
    // A tie whose copies are dropped by name in the reverse.
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(
        &dir.path().join("a.safetensors"),
        &[("w{0}".into(), DType::F32, vec![2], vec![1; 8])],
    );
    std::fs::write(
        dir.path().join("m.wmap"),
        "\"w{{0}}\" -> \"x\"\noptional tie \"copy\" = \"x\"\n",
    )
    .unwrap();
    let out = wmap()
        .current_dir(dir.path())
        .args(["invert", "m.wmap", "a.safetensors", "-o", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        Some(0),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"w{{0}}\""), "{text}");
}

#[test]
fn patterns_read_braces_and_escapes_as_the_names_they_spell() {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(
        &dir.path().join("a.safetensors"),
        &[
            ("a{b}.w".into(), DType::F32, vec![1], vec![0; 4]),
            ("tab\there".into(), DType::F32, vec![1], vec![0; 4]),
            ("é\u{1}".into(), DType::F32, vec![1], vec![0; 4]),
        ],
    );
    std::fs::write(
        dir.path().join("m.wmap"),
        "\"a{{b}}.w\" -> \"one\"\n\"tab\\there\" -> \"two\"\n\"\\u{e9}\\u{1}\" -> \"three\"\n",
    )
    .unwrap();
    wmap()
        .current_dir(dir.path())
        .args(["run", "m.wmap", "a.safetensors", "out.safetensors"])
        .assert()
        .success();
    assert_eq!(
        names_of(&dir.path().join("out.safetensors")),
        ["one", "three", "two"]
    );
}

fn setup_infer() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(
        &dir.path().join("a.safetensors"),
        &[("h.0.w".into(), DType::F32, vec![2], vec![0; 8])],
    );
    write_safetensors(
        &dir.path().join("b.safetensors"),
        &[("h.0.w".into(), DType::F32, vec![2], vec![0; 8])],
    );
    std::fs::write(
        dir.path().join("m.wmap"),
        "fallback \"{n:**}\" -> \"{n}\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("mine.wmap"), "# my notes\n").unwrap();
    dir
}

/// `args` in `dir` exits 2 saying `says`, and every file stays as it was.
fn refused(dir: &Path, args: &[&str], says: &str) {
    run_in(dir, args).exits(2).says(says).changes_nothing();
}

#[test]
fn infer_never_replaces_an_existing_file_without_force() {
    let dir = setup_infer();
    refused(
        dir.path(),
        &["infer", "a.safetensors", "b.safetensors", "-o", "mine.wmap"],
        "already exists (--force replaces it)",
    );
    wmap()
        .current_dir(dir.path())
        .args([
            "infer",
            "--force",
            "a.safetensors",
            "b.safetensors",
            "-o",
            "mine.wmap",
        ])
        .assert()
        .success();
    assert!(std::fs::read_to_string(dir.path().join("mine.wmap"))
        .unwrap()
        .contains("-> \"h.{i}.w\""));
}

#[test]
fn infer_never_writes_over_its_inputs_even_with_force() {
    let dir = setup_infer();
    for (out, says) in [
        ("a.safetensors", "is the source"),
        ("b.safetensors", "is the target"),
    ] {
        refused(
            dir.path(),
            &[
                "infer",
                "--force",
                "a.safetensors",
                "b.safetensors",
                "-o",
                out,
            ],
            says,
        );
    }
}

#[test]
fn invert_never_writes_over_its_own_mapping_even_with_force() {
    let dir = setup_infer();
    refused(
        dir.path(),
        &[
            "invert",
            "--force",
            "m.wmap",
            "a.safetensors",
            "-o",
            "m.wmap",
        ],
        "is the mapping",
    );
    std::os::unix::fs::symlink("m.wmap", dir.path().join("link.wmap")).unwrap();
    refused(
        dir.path(),
        &[
            "invert",
            "--force",
            "m.wmap",
            "a.safetensors",
            "-o",
            "link.wmap",
        ],
        "is the mapping",
    );
    refused(
        dir.path(),
        &[
            "invert",
            "--force",
            "m.wmap",
            "a.safetensors",
            "-o",
            "a.safetensors",
        ],
        "is the source",
    );
}

#[test]
fn invert_never_replaces_an_existing_file_without_force() {
    let dir = setup_infer();
    refused(
        dir.path(),
        &["invert", "m.wmap", "a.safetensors", "-o", "mine.wmap"],
        "already exists",
    );
}

#[test]
fn invert_refuses_a_fifo_or_a_folder_as_output() {
    let dir = setup_infer();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let out = wmap()
        .current_dir(dir.path())
        .args(["invert", "--force", "m.wmap", "a.safetensors", "-o", "pipe"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a FIFO"));
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let out = wmap()
        .current_dir(dir.path())
        .args([
            "invert",
            "--force",
            "m.wmap",
            "a.safetensors",
            "-o",
            "folder",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a folder"));
}

#[test]
fn spec_never_writes_over_its_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        "tests/fixtures/models/gpt2/config.json",
        dir.path().join("config.json"),
    )
    .unwrap();
    refused(
        dir.path(),
        &[
            "spec",
            "--model",
            "gpt2",
            "--config",
            "config.json",
            "-o",
            "config.json",
            "--force",
        ],
        "is the config",
    );
    refused(
        dir.path(),
        &[
            "spec",
            "--model",
            "gpt2",
            "--config",
            "config.json",
            "-o",
            "config.json",
        ],
        "is the config",
    );
}

const UNFORMATTED: &str = "\"a\"->\"b\"\n";

#[test]
fn fmt_keeps_the_file_mode() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o600, 0o640, 0o755] {
        let path = dir.path().join(format!("m{mode:o}.wmap"));
        std::fs::write(&path, UNFORMATTED).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        wmap().arg("fmt").arg(&path).assert().success();
        assert_ne!(std::fs::read_to_string(&path).unwrap(), UNFORMATTED);
        let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(got, mode, "{}", path.display());
    }
}

#[test]
fn fmt_through_a_link_formats_the_file_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::write(dir.path().join("real/m.wmap"), UNFORMATTED).unwrap();
    std::os::unix::fs::symlink("real/m.wmap", dir.path().join("link.wmap")).unwrap();
    wmap()
        .current_dir(dir.path())
        .args(["fmt", "link.wmap"])
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(dir.path().join("link.wmap"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_ne!(
        std::fs::read_to_string(dir.path().join("real/m.wmap")).unwrap(),
        UNFORMATTED
    );
    let left: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|p| p.contains(".wmap-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn fmt_on_a_full_disk_leaves_the_file_and_no_temporary_file() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wmap");
    // Long enough that the formatted text passes the file size limit below.
    let text: String = (0..400).map(|i| format!("\"a{i}\"->\"b{i}\"\n")).collect();
    std::fs::write(&path, &text).unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wmap"));
    cmd.arg("fmt").arg(&path);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // A file-size limit: writes past 1 kB fail (EFBIG), as on a full disk.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(listing(dir.path()), ["m.wmap"]);
}

#[test]
fn a_killed_write_s_temporary_file_is_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wmap");
    std::fs::write(&path, UNFORMATTED).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let left = dir.path().join(format!(".m.wmap.wmap-tmp-{dead}-0"));
    std::fs::write(&left, "half").unwrap();
    wmap().arg("fmt").arg(&path).assert().success();
    assert_eq!(listing(dir.path()), ["m.wmap"]);
}

/// Writes a checkpoint of zeros with these (name, shape) tensors.
fn zeros(path: &Path, tensors: &[(String, Vec<u64>)]) {
    let list: Vec<(String, DType, Vec<u64>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                DType::F32,
                s.clone(),
                vec![0; 4 * s.iter().product::<u64>() as usize],
            )
        })
        .collect();
    write_safetensors(path, &list);
}

fn infer(dir: &Path) -> (Option<i32>, String, String) {
    let out = wmap()
        .current_dir(dir)
        .args([
            "infer",
            "src.safetensors",
            "dst.safetensors",
            "-o",
            "draft.wmap",
        ])
        .output()
        .unwrap();
    let draft = std::fs::read_to_string(dir.join("draft.wmap")).unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        draft,
    )
}

/// Phi-3's fused `qkv_proj` and `gate_up_proj`, with sizes where the fused
/// QKV has exactly the shape of Llama's `gate_proj` (d = 8, I = 24).
#[test]
fn infer_never_pairs_attention_with_an_mlp_of_the_same_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (d, i, v) = (8u64, 24u64, 32u64);
    let mut phi = vec![
        ("model.embed_tokens.weight".to_string(), vec![v, d]),
        ("model.norm.weight".to_string(), vec![d]),
        ("lm_head.weight".to_string(), vec![v, d]),
    ];
    let mut llama = phi.clone();
    for l in 0..2 {
        let p = format!("model.layers.{l}");
        phi.extend([
            (format!("{p}.self_attn.qkv_proj.weight"), vec![3 * d, d]),
            (format!("{p}.self_attn.o_proj.weight"), vec![d, d]),
            (format!("{p}.mlp.gate_up_proj.weight"), vec![2 * i, d]),
            (format!("{p}.mlp.down_proj.weight"), vec![d, i]),
            (format!("{p}.input_layernorm.weight"), vec![d]),
            (format!("{p}.post_attention_layernorm.weight"), vec![d]),
        ]);
        llama.extend([
            (format!("{p}.self_attn.q_proj.weight"), vec![d, d]),
            (format!("{p}.self_attn.k_proj.weight"), vec![d, d]),
            (format!("{p}.self_attn.v_proj.weight"), vec![d, d]),
            (format!("{p}.self_attn.o_proj.weight"), vec![d, d]),
            (format!("{p}.mlp.gate_proj.weight"), vec![i, d]),
            (format!("{p}.mlp.up_proj.weight"), vec![i, d]),
            (format!("{p}.mlp.down_proj.weight"), vec![d, i]),
            (format!("{p}.input_layernorm.weight"), vec![d]),
            (format!("{p}.post_attention_layernorm.weight"), vec![d]),
        ]);
    }
    zeros(&dir.path().join("src.safetensors"), &phi);
    zeros(&dir.path().join("dst.safetensors"), &llama);
    let (code, stderr, draft) = infer(dir.path());
    // One statement per line, as the formatter may break long ones.
    let draft = draft
        .replace("\n    | ", " | ")
        .replace("\n    -> ", " -> ");
    // The fused tensors are split into their own module's parts.
    assert!(
        draft.contains("\"model.layers.{i}.self_attn.qkv_proj.weight\" | split(axis=0, parts=3) -> [\"model.layers.{i}.self_attn.q_proj.weight\", \"model.layers.{i}.self_attn.k_proj.weight\", \"model.layers.{i}.self_attn.v_proj.weight\"]"),
        "{draft}"
    );
    assert!(
        draft.contains("\"model.layers.{i}.mlp.gate_up_proj.weight\" | split(axis=0, parts=2) -> [\"model.layers.{i}.mlp.gate_proj.weight\", \"model.layers.{i}.mlp.up_proj.weight\"]"),
        "{draft}"
    );
    assert!(
        !draft.contains("qkv_proj.weight\" -> \"model.layers.{i}.mlp"),
        "{draft}"
    );
    assert_eq!(
        code,
        Some(0),
        "every pairing here is unique\n{stderr}\n{draft}"
    );
}

/// timm's ViT against transformers': `norm1`/`norm2` against
/// `layernorm_before`/`layernorm_after` cannot be told apart by name.
#[test]
fn infer_marks_a_tie_as_a_guess_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = 8u64;
    let mut timm = vec![
        ("norm.weight".to_string(), vec![d]),
        ("norm.bias".to_string(), vec![d]),
    ];
    let mut hf = vec![
        ("layernorm.weight".to_string(), vec![d]),
        ("layernorm.bias".to_string(), vec![d]),
    ];
    for l in 0..2 {
        let p = format!("blocks.{l}");
        timm.extend([
            (format!("{p}.norm1.weight"), vec![d]),
            (format!("{p}.norm1.bias"), vec![d]),
            (format!("{p}.attn.qkv.weight"), vec![3 * d, d]),
            (format!("{p}.attn.qkv.bias"), vec![3 * d]),
            (format!("{p}.attn.proj.weight"), vec![d, d]),
            (format!("{p}.norm2.weight"), vec![d]),
            (format!("{p}.norm2.bias"), vec![d]),
            (format!("{p}.mlp.fc1.weight"), vec![4 * d, d]),
            (format!("{p}.mlp.fc2.weight"), vec![d, 4 * d]),
        ]);
        let p = format!("encoder.layer.{l}");
        hf.extend([
            (format!("{p}.layernorm_before.weight"), vec![d]),
            (format!("{p}.layernorm_before.bias"), vec![d]),
            (format!("{p}.attention.attention.query.weight"), vec![d, d]),
            (format!("{p}.attention.attention.key.weight"), vec![d, d]),
            (format!("{p}.attention.attention.value.weight"), vec![d, d]),
            (format!("{p}.attention.attention.query.bias"), vec![d]),
            (format!("{p}.attention.attention.key.bias"), vec![d]),
            (format!("{p}.attention.attention.value.bias"), vec![d]),
            (format!("{p}.attention.output.dense.weight"), vec![d, d]),
            (format!("{p}.layernorm_after.weight"), vec![d]),
            (format!("{p}.layernorm_after.bias"), vec![d]),
            (format!("{p}.intermediate.dense.weight"), vec![4 * d, d]),
            (format!("{p}.output.dense.weight"), vec![d, 4 * d]),
        ]);
    }
    zeros(&dir.path().join("src.safetensors"), &timm);
    zeros(&dir.path().join("dst.safetensors"), &hf);
    let (code, stderr, draft) = infer(dir.path());
    assert_ne!(
        code,
        Some(0),
        "a draft with guesses must not exit 0\n{stderr}\n{draft}"
    );
    assert!(
        super::support::says(&stderr, "decided by a tie"),
        "{stderr}"
    );
    // The norm pairing is marked, with the other candidate named.
    let guess = draft
        .lines()
        .position(|l| l.starts_with("# guess:") && l.contains("layernorm_"))
        .unwrap_or_else(|| panic!("no guess marked for the norms:\n{draft}"));
    assert!(
        draft.lines().nth(guess + 1).unwrap().contains("norm"),
        "{draft}"
    );
    // No bias was split across modules of another kind.
    for line in draft.lines().filter(|l| l.contains("qkv.bias\" | split")) {
        assert!(
            !line.contains("layernorm") && !line.contains("intermediate"),
            "{line}"
        );
    }
}
