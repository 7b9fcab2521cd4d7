//! Fixture checkpoints for tests, made by code: header-only tensor lists for
//! the checker, and real safetensors files (written with the `safetensors`
//! crate, an implementation independent of wmap's) for the CLI.
#![allow(dead_code)]

use std::path::Path;

pub mod case;

use assert_cmd::Command;

use wmap::checkpoint::{Config, Tensor};
use wmap::dtype::DType;

/// A named synthetic checkpoint: tensors (name, dtype, shape) and config.json.
pub struct Preset {
    pub tensors: Vec<(String, DType, Vec<u64>)>,
    pub config: serde_json::Value,
}

fn t(name: impl Into<String>, dtype: DType, shape: &[u64]) -> (String, DType, Vec<u64>) {
    (name.into(), dtype, shape.to_vec())
}

/// GPT-2 shaped, 2 layers, hidden 64, with the causal-mask buffers.
pub fn gpt2() -> Preset {
    let mut tensors = vec![
        t("transformer.wte.weight", DType::F32, &[1000, 64]),
        t("transformer.wpe.weight", DType::F32, &[64, 64]),
        t("transformer.ln_f.weight", DType::F32, &[64]),
        t("transformer.ln_f.bias", DType::F32, &[64]),
    ];
    for i in 0..2 {
        let p = format!("transformer.h.{i}");
        tensors.extend([
            t(format!("{p}.ln_1.weight"), DType::F32, &[64]),
            t(format!("{p}.ln_1.bias"), DType::F32, &[64]),
            t(format!("{p}.ln_2.weight"), DType::F32, &[64]),
            t(format!("{p}.ln_2.bias"), DType::F32, &[64]),
            t(format!("{p}.attn.bias"), DType::F32, &[1, 1, 64, 64]),
            t(format!("{p}.attn.c_attn.weight"), DType::F32, &[64, 192]),
            t(format!("{p}.attn.c_attn.bias"), DType::F32, &[192]),
            t(format!("{p}.attn.c_proj.weight"), DType::F32, &[64, 64]),
            t(format!("{p}.attn.c_proj.bias"), DType::F32, &[64]),
            t(format!("{p}.mlp.c_fc.weight"), DType::F32, &[64, 256]),
            t(format!("{p}.mlp.c_fc.bias"), DType::F32, &[256]),
            t(format!("{p}.mlp.c_proj.weight"), DType::F32, &[256, 64]),
            t(format!("{p}.mlp.c_proj.bias"), DType::F32, &[64]),
        ]);
    }
    Preset {
        tensors,
        config: serde_json::json!({
            "model_type": "gpt2", "n_head": 4, "n_embd": 64, "n_layer": 2,
            "vocab_size": 1000, "n_positions": 64, "layer_norm_epsilon": 1e-5,
            "rope_theta": 10000.5, "name_or_path": "tiny"
        }),
    }
}

/// Llama shaped with grouped-query attention (4 heads, 2 kv heads), bf16.
pub fn llama() -> Preset {
    let mut tensors = vec![
        t("model.embed_tokens.weight", DType::BF16, &[1000, 64]),
        t("model.norm.weight", DType::BF16, &[64]),
        t("lm_head.weight", DType::BF16, &[1000, 64]),
    ];
    for i in 0..2 {
        let p = format!("model.layers.{i}");
        tensors.extend([
            t(format!("{p}.input_layernorm.weight"), DType::BF16, &[64]),
            t(
                format!("{p}.post_attention_layernorm.weight"),
                DType::BF16,
                &[64],
            ),
            t(
                format!("{p}.self_attn.q_proj.weight"),
                DType::BF16,
                &[64, 64],
            ),
            t(
                format!("{p}.self_attn.k_proj.weight"),
                DType::BF16,
                &[32, 64],
            ),
            t(
                format!("{p}.self_attn.v_proj.weight"),
                DType::BF16,
                &[32, 64],
            ),
            t(
                format!("{p}.self_attn.o_proj.weight"),
                DType::BF16,
                &[64, 64],
            ),
            t(format!("{p}.mlp.gate_proj.weight"), DType::BF16, &[176, 64]),
            t(format!("{p}.mlp.up_proj.weight"), DType::BF16, &[176, 64]),
            t(format!("{p}.mlp.down_proj.weight"), DType::BF16, &[64, 176]),
        ]);
    }
    Preset {
        tensors,
        config: serde_json::json!({
            "model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 2, "num_hidden_layers": 2, "intermediate_size": 176,
            "vocab_size": 1000, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}
        }),
    }
}

/// Mixtral shaped: 2 layers of 4 experts; `missing` leaves experts out.
pub fn moe(missing: &[(u64, u64)]) -> Preset {
    let mut tensors = Vec::new();
    for i in 0..2u64 {
        let p = format!("model.layers.{i}.block_sparse_moe");
        tensors.push(t(format!("{p}.gate.weight"), DType::F32, &[4, 64]));
        for e in 0..4u64 {
            if missing.contains(&(i, e)) {
                continue;
            }
            tensors.extend([
                t(format!("{p}.experts.{e}.w1.weight"), DType::F32, &[96, 64]),
                t(format!("{p}.experts.{e}.w2.weight"), DType::F32, &[64, 96]),
                t(format!("{p}.experts.{e}.w3.weight"), DType::F32, &[96, 64]),
            ]);
        }
    }
    Preset {
        tensors,
        config: serde_json::json!({"num_local_experts": 4, "hidden_size": 64, "intermediate_size": 96}),
    }
}

/// A few tensors of different dtypes.
pub fn mixed() -> Preset {
    Preset {
        tensors: vec![
            t("a.weight", DType::F32, &[4, 6]),
            t("b.weight", DType::BF16, &[4, 6]),
            t("c.ids", DType::I64, &[4, 6]),
            t("d.weight", DType::F16, &[2, 3, 4]),
        ],
        config: serde_json::json!({"n": 4, "big": 9223372036854775807i64, "ratio": 0.5, "name": "x"}),
    }
}

pub fn preset(name: &str) -> Preset {
    match name {
        "gpt2" => gpt2(),
        "llama" => llama(),
        "moe" => moe(&[]),
        "moe_gap" => moe(&[(1, 2)]),
        "moe_partial" => {
            let mut p = moe(&[]);
            p.tensors
                .retain(|(n, _, _)| n != "model.layers.1.block_sparse_moe.experts.2.w3.weight");
            p
        }
        "mixed" => mixed(),
        other => panic!("unknown preset {other}"),
    }
}

impl Preset {
    /// The tensors as the checker sees them (sorted by name, as a checkpoint's are).
    pub fn infos(&self) -> Vec<Tensor> {
        let mut sorted: Vec<&(String, DType, Vec<u64>)> = self.tensors.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted
            .into_iter()
            .map(|(name, dtype, shape)| Tensor {
                name: name.clone(),
                dtype: *dtype,
                shape: shape.clone(),
            })
            .collect()
    }

    pub fn config(&self) -> Config {
        Config {
            file: Some("config.json".into()),
            root: self.config.as_object().cloned().unwrap_or_default(),
            set: Vec::new(),
        }
    }

    /// Writes `model.safetensors` (deterministic pseudo-random bytes) and
    /// `config.json` into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let datas: Vec<(String, DType, Vec<u64>, Vec<u8>)> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(k, (n, d, s))| {
                let len = s.iter().product::<u64>() as usize * d.size();
                (
                    n.clone(),
                    *d,
                    s.clone(),
                    pseudo_random_bytes(len, k as u64, *d),
                )
            })
            .collect();
        write_safetensors(&dir.join("model.safetensors"), &datas);
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

/// Bytes that are valid, finite values of the dtype (floats in [-2, 2)).
pub fn pseudo_random_bytes(len: usize, seed: u64, dtype: DType) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = len / dtype.size().max(1);
    let mut out = Vec::with_capacity(len);
    for _ in 0..n {
        let r = next();
        let f = ((r >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0;
        match dtype {
            DType::F32 => out.extend((f as f32).to_le_bytes()),
            DType::F64 => out.extend(f.to_le_bytes()),
            DType::F16 => out.extend(half::f16::from_f64(f).to_le_bytes()),
            DType::BF16 => out.extend(half::bf16::from_f64(f).to_le_bytes()),
            DType::Bool => out.push((r & 1) as u8),
            _ => out.extend(&r.to_le_bytes()[..dtype.size()]),
        }
    }
    out
}

/// The safetensors crate's dtype of the same header name.
fn st_dtype(d: DType) -> safetensors::Dtype {
    serde_json::from_str(&format!("\"{}\"", d.safetensors_name()))
        .unwrap_or_else(|_| panic!("the safetensors crate has no {d}"))
}

/// Writes a safetensors file with the `safetensors` crate.
pub fn write_safetensors(path: &Path, tensors: &[(String, DType, Vec<u64>, Vec<u8>)]) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            let shape: Vec<usize> = s.iter().map(|&x| x as usize).collect();
            (
                n.clone(),
                safetensors::tensor::TensorView::new(st_dtype(*d), shape, b).unwrap(),
            )
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, None, path).unwrap();
}

/// The wmap binary, with `NO_COLOR` set: what every CLI test runs.
pub fn wmap() -> Command {
    let mut c = Command::cargo_bin("wmap").expect("the wmap binary is built");
    c.env("NO_COLOR", "1");
    c
}

/// What tests read off a check: the plan, if any, and the diagnostics (empty
/// exactly when there is a plan).
pub trait CheckedExt {
    fn plan(&self) -> Option<&wmap::plan::Plan>;
    fn diagnostics(&self) -> &[wmap::diagnostics::Diagnostic];
}

impl CheckedExt for wmap::check::Checked {
    fn plan(&self) -> Option<&wmap::plan::Plan> {
        self.as_ref().ok()
    }

    fn diagnostics(&self) -> &[wmap::diagnostics::Diagnostic] {
        match self {
            Ok(_) => &[],
            Err(problems) => problems,
        }
    }
}
