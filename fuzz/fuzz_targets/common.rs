//! What the fuzz targets share: a checkpoint's worth of tensor headers and a
//! config for mappings to be checked against, and a scratch folder.

#![allow(dead_code)]

use std::path::PathBuf;

use wmap::checkpoint::{Config, Tensor};
use wmap::dtype::DType;

fn tensor(name: String, dtype: DType, shape: &[u64]) -> Tensor {
    Tensor {
        name,
        dtype,
        shape: shape.to_vec(),
    }
}

/// A two-layer GPT-2 and a two-layer Llama with grouped-query attention and
/// two experts, in one header: every shape of rule the shipped mappings use
/// has something to match.
pub fn tensors() -> Vec<Tensor> {
    let mut out = vec![
        tensor("transformer.wte.weight".into(), DType::F32, &[64, 16]),
        tensor("transformer.wpe.weight".into(), DType::F32, &[32, 16]),
        tensor("transformer.ln_f.weight".into(), DType::F32, &[16]),
        tensor("transformer.ln_f.bias".into(), DType::F32, &[16]),
        tensor("model.embed_tokens.weight".into(), DType::BF16, &[64, 16]),
        tensor("model.norm.weight".into(), DType::BF16, &[16]),
        tensor("lm_head.weight".into(), DType::BF16, &[64, 16]),
    ];
    for i in 0..2 {
        let h = format!("transformer.h.{i}");
        out.push(tensor(format!("{h}.ln_1.weight"), DType::F32, &[16]));
        out.push(tensor(format!("{h}.ln_1.bias"), DType::F32, &[16]));
        out.push(tensor(
            format!("{h}.attn.c_attn.weight"),
            DType::F32,
            &[16, 48],
        ));
        out.push(tensor(format!("{h}.attn.c_attn.bias"), DType::F32, &[48]));
        out.push(tensor(
            format!("{h}.attn.c_proj.weight"),
            DType::F32,
            &[16, 16],
        ));
        out.push(tensor(
            format!("{h}.attn.bias"),
            DType::F32,
            &[1, 1, 32, 32],
        ));
        out.push(tensor(
            format!("{h}.mlp.c_fc.weight"),
            DType::F32,
            &[16, 64],
        ));
        out.push(tensor(
            format!("{h}.mlp.c_proj.weight"),
            DType::F32,
            &[64, 16],
        ));
        let l = format!("model.layers.{i}");
        out.push(tensor(
            format!("{l}.self_attn.q_proj.weight"),
            DType::BF16,
            &[16, 16],
        ));
        out.push(tensor(
            format!("{l}.self_attn.k_proj.weight"),
            DType::BF16,
            &[8, 16],
        ));
        out.push(tensor(
            format!("{l}.self_attn.v_proj.weight"),
            DType::BF16,
            &[8, 16],
        ));
        out.push(tensor(
            format!("{l}.self_attn.o_proj.weight"),
            DType::BF16,
            &[16, 16],
        ));
        out.push(tensor(
            format!("{l}.input_layernorm.weight"),
            DType::BF16,
            &[16],
        ));
        for e in 0..2 {
            for w in ["w1", "w2", "w3"] {
                let shape: &[u64] = if w == "w2" { &[16, 32] } else { &[32, 16] };
                out.push(tensor(
                    format!("{l}.block_sparse_moe.experts.{e}.{w}.weight"),
                    DType::BF16,
                    shape,
                ));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn config() -> Config {
    let value = serde_json::json!({
        "n_head": 4, "n_embd": 16, "n_layer": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_size": 16,
        "num_local_experts": 2, "rope_parameters": {"factor": 8, "rope_theta": 10000.0},
        "torch_dtype": "bfloat16", "tie_word_embeddings": false,
    });
    let serde_json::Value::Object(root) = value else {
        unreachable!()
    };
    Config {
        file: Some("config.json".into()),
        root,
    }
}

/// A scratch folder of this process's own, made once.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wmap-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
