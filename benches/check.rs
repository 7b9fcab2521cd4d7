//! `cargo bench --bench check`: how long `wmap check` takes, as a whole process, on a checkpoint of
//! 10,000 tensors (a GPT-2-shaped header with 833 blocks, checked with the shipped GPT-2 mapping).
//!
//! The checkpoint's data region is a sparse file: the checker reads only the header, so nothing but
//! the header is ever written to disk. Baselines measured in the same run: `wmap --version` (the
//! cost of starting the process at all) and `wmap check` on the 2-block fixture. With
//! `WMAP_BENCH_BASELINE=PATH` (an earlier build of wmap), that binary checks the same checkpoint
//! in alternating rounds of the same run, and the ratio of this build to it is printed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAYERS: usize = 833; // 833 * 12 + 4 = 10,000 tensors
const HIDDEN: u64 = 64;
const RUNS: usize = 41;

fn main() {
    let bin = env!("CARGO_BIN_EXE_wmap");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mapping = root.join("mappings/gpt2/hf-to-burn.wmap");
    let small = root.join("tests/fixtures/models/gpt2");
    let dir = std::env::temp_dir().join(format!("wmap-bench-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tensors = write_checkpoint(&dir);

    // Sanity: the mapping must check clean on both checkpoints, or the timing means nothing.
    for src in [&dir, &small] {
        let out = Command::new(bin)
            .arg("check")
            .arg(&mapping)
            .arg(src)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wmap check failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let version = time(RUNS, &["--version".as_ref()]);
    let small_check = time(
        RUNS,
        &["check".as_ref(), mapping.as_os_str(), small.as_os_str()],
    );
    let big_check = time(
        RUNS,
        &["check".as_ref(), mapping.as_os_str(), dir.as_os_str()],
    );

    println!("wmap check, whole process, median of {RUNS} runs (min in brackets):");
    println!("  wmap --version (process start)      {}", fmt(version));
    println!(
        "  check, 2-block fixture (148 tensors) {}",
        fmt(small_check)
    );
    println!("  check, {tensors} tensors              {}", fmt(big_check));
    println!(
        "  ratio 10k-tensor check / process start: {:.1}x",
        big_check.0.as_secs_f64() / version.0.as_secs_f64()
    );
    // An earlier build, timed in this run on the same checkpoint: the
    // ratios say whether a change made checking slower.
    if let Some(base) = std::env::var_os("WMAP_BENCH_BASELINE") {
        let base = Path::new(&base);
        let args = [
            std::ffi::OsStr::new("check"),
            mapping.as_os_str(),
            dir.as_os_str(),
        ];
        let mut ratios = Vec::new();
        let (mut new_all, mut base_all) = (Vec::new(), Vec::new());
        // Alternating rounds, so drift of the machine hits both alike.
        for _ in 0..5 {
            let b = time_with(base, RUNS / 4, &args);
            let n = time(RUNS / 4, &args);
            ratios.push(n.0.as_secs_f64() / b.0.as_secs_f64());
            new_all.push(n.0);
            base_all.push(b.0);
        }
        ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
        new_all.sort();
        base_all.sort();
        println!(
            "  baseline {}: check, {tensors} tensors {:7.2} ms; this build {:7.2} ms; \
             ratio this / baseline {:.3} (median of 5 alternating rounds, range {:.3}..{:.3})",
            base.display(),
            base_all[2].as_secs_f64() * 1e3,
            new_all[2].as_secs_f64() * 1e3,
            ratios[2],
            ratios[0],
            ratios[4]
        );
    }
    let goal = Duration::from_millis(100);
    println!(
        "  goal: under 100 ms for {tensors} tensors: {}",
        if big_check.0 < goal { "met" } else { "NOT met" }
    );
    if std::env::var_os("WMAP_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&dir).ok();
    } else {
        println!("  kept {}", dir.display());
    }
}

/// Median and minimum wall time of `runs` executions of the command.
fn time(runs: usize, args: &[&std::ffi::OsStr]) -> (Duration, Duration) {
    time_with(Path::new(env!("CARGO_BIN_EXE_wmap")), runs, args)
}

/// [`time`] with another binary.
fn time_with(bin: &Path, runs: usize, args: &[&std::ffi::OsStr]) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut cmd = Command::new(bin);
            cmd.args(args);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let status = cmd.status().unwrap();
            let elapsed = start.elapsed();
            assert!(status.success());
            elapsed
        })
        .collect();
    times.sort();
    (times[runs / 2], times[0])
}

fn fmt((median, min): (Duration, Duration)) -> String {
    format!(
        "{:7.2} ms  [{:.2} ms]",
        median.as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3
    )
}

/// Writes `model.safetensors` (header plus a sparse data region) and `config.json`; returns the
/// number of tensors.
fn write_checkpoint(dir: &Path) -> usize {
    let h = HIDDEN;
    let mut tensors: Vec<(String, Vec<u64>)> = vec![
        ("transformer.wte.weight".into(), vec![1000, h]),
        ("transformer.wpe.weight".into(), vec![64, h]),
        ("transformer.ln_f.weight".into(), vec![h]),
        ("transformer.ln_f.bias".into(), vec![h]),
    ];
    for i in 0..LAYERS {
        let p = format!("transformer.h.{i}");
        tensors.extend([
            (format!("{p}.ln_1.weight"), vec![h]),
            (format!("{p}.ln_1.bias"), vec![h]),
            (format!("{p}.attn.c_attn.weight"), vec![h, 3 * h]),
            (format!("{p}.attn.c_attn.bias"), vec![3 * h]),
            (format!("{p}.attn.c_proj.weight"), vec![h, h]),
            (format!("{p}.attn.c_proj.bias"), vec![h]),
            (format!("{p}.ln_2.weight"), vec![h]),
            (format!("{p}.ln_2.bias"), vec![h]),
            (format!("{p}.mlp.c_fc.weight"), vec![h, 4 * h]),
            (format!("{p}.mlp.c_fc.bias"), vec![4 * h]),
            (format!("{p}.mlp.c_proj.weight"), vec![4 * h, h]),
            (format!("{p}.mlp.c_proj.bias"), vec![h]),
        ]);
    }
    tensors.sort();
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (name, shape) in &tensors {
        let bytes = shape.iter().product::<u64>() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_string(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut file = std::fs::File::create(dir.join("model.safetensors")).unwrap();
    file.write_all(&(text.len() as u64).to_le_bytes()).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.set_len(8 + text.len() as u64 + offset).unwrap();
    let config =
        serde_json::json!({"model_type": "gpt2", "n_embd": h, "n_layer": LAYERS, "n_head": 4});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    tensors.len()
}
