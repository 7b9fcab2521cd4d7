//! Llama in burn, covering Mistral and Qwen2 too: RMSNorm, RoPE (with
//! `rope_theta`, linear and llama3 scaling), SwiGLU, grouped-query attention,
//! optional q/k/v biases, tied or untied output head. Module paths are the
//! tensor names that `mappings/llama/hf-to-burn.wmap` produces, in the style of
//! Meta's reference code: `tok_embeddings.weight`, `layers.{i}.attention.wq.weight`
//! (`[in, out]`), `layers.{i}.feed_forward.w1.weight`, `layers.{i}.attention_norm.gamma`,
//! `norm.gamma`, `output.weight`. q and k are in transformers' `rotate_half`
//! layout, so no rotary permutation is needed on the way from transformers.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

use super::hf::{HfConfig, Rope};
use super::layers::{apply_rope, attention, rope_tables, split_heads, Batch};
use crate::error::{ConfigProblem, Result};

#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub vocab: usize,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub inner: usize,
    pub eps: f64,
    pub qkv_bias: bool,
    /// An o_proj bias: Llama's `attention_bias` gives one to q, k, v and o;
    /// Qwen2 has q/k/v biases only.
    pub o_bias: bool,
    pub tied: bool,
    pub rope: Rope,
}

impl LlamaConfig {
    pub fn from_hf(c: &HfConfig) -> Result<LlamaConfig> {
        let dim = c.usize("hidden_size")?;
        let heads = c.usize("num_attention_heads")?;
        if heads == 0 || dim % heads != 0 && c.opt_usize("head_dim")?.is_none() {
            return Err(c.bad(ConfigProblem::NotMultiple {
                key: "hidden_size".into(),
                value: dim,
                of_key: "num_attention_heads".into(),
                of: heads,
            }));
        }
        if let Some(act) = c.opt_str("hidden_act")? {
            if act != "silu" {
                return Err(c.bad(ConfigProblem::UnsupportedActivation {
                    act: act.to_string(),
                    supported: "silu",
                }));
            }
        }
        let model_type = c.opt_str("model_type")?.unwrap_or("llama");
        let kv_heads = c.opt_usize("num_key_value_heads")?.unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(c.bad(ConfigProblem::NotMultiple {
                key: "num_attention_heads".into(),
                value: heads,
                of_key: "num_key_value_heads".into(),
                of: kv_heads,
            }));
        }
        let head_dim = c.opt_usize("head_dim")?.unwrap_or(dim / heads);
        if head_dim == 0 || head_dim % 2 != 0 || head_dim > 1 << 16 {
            return Err(c.bad(ConfigProblem::OddHeadDim { head_dim }));
        }
        let layers = c.usize("num_hidden_layers")?;
        super::hf::check_layers(c, "num_hidden_layers", layers)?;
        Ok(LlamaConfig {
            vocab: c.usize("vocab_size")?,
            dim,
            layers,
            heads,
            kv_heads,
            head_dim,
            inner: c.usize("intermediate_size")?,
            eps: c.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            // Qwen2 always has q/k/v biases; Llama has them when attention_bias is set.
            qkv_bias: c
                .opt_bool("attention_bias")?
                .unwrap_or(model_type == "qwen2"),
            o_bias: c.opt_bool("attention_bias")?.unwrap_or(false),
            tied: c.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            rope: c.rope()?,
        })
    }

    /// The tensors [`LlamaConfig::init`] makes, without making them.
    pub fn expected(&self) -> Vec<super::Expected> {
        let mut w = super::SpecWriter::default();
        let (q_out, kv_out) = (
            self.heads.saturating_mul(self.head_dim),
            self.kv_heads.saturating_mul(self.head_dim),
        );
        w.embedding("tok_embeddings", self.vocab, self.dim);
        for i in 0..self.layers {
            let l = format!("layers.{i}");
            w.rms_norm(&format!("{l}.attention_norm"), self.dim);
            w.linear(&format!("{l}.attention.wq"), self.dim, q_out, self.qkv_bias);
            w.linear(
                &format!("{l}.attention.wk"),
                self.dim,
                kv_out,
                self.qkv_bias,
            );
            w.linear(
                &format!("{l}.attention.wv"),
                self.dim,
                kv_out,
                self.qkv_bias,
            );
            w.linear(&format!("{l}.attention.wo"), q_out, self.dim, self.o_bias);
            w.rms_norm(&format!("{l}.ffn_norm"), self.dim);
            w.linear(&format!("{l}.feed_forward.w1"), self.dim, self.inner, false);
            w.linear(&format!("{l}.feed_forward.w2"), self.inner, self.dim, false);
            w.linear(&format!("{l}.feed_forward.w3"), self.dim, self.inner, false);
        }
        w.rms_norm("norm", self.dim);
        if !self.tied {
            w.linear("output", self.dim, self.vocab, false);
        }
        w.finish()
    }

    pub fn init(&self, device: &Device) -> Llama {
        let norm = || {
            RmsNormConfig::new(self.dim)
                .with_epsilon(self.eps)
                .init(device)
        };
        let lin = |i, o, bias| LinearConfig::new(i, o).with_bias(bias).init(device);
        let (q_out, kv_out) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        Llama {
            tok_embeddings: EmbeddingConfig::new(self.vocab, self.dim).init(device),
            layers: (0..self.layers)
                .map(|_| LlamaLayer {
                    attention_norm: norm(),
                    attention: LlamaAttention {
                        wq: lin(self.dim, q_out, self.qkv_bias),
                        wk: lin(self.dim, kv_out, self.qkv_bias),
                        wv: lin(self.dim, kv_out, self.qkv_bias),
                        wo: lin(q_out, self.dim, self.o_bias),
                    },
                    ffn_norm: norm(),
                    feed_forward: LlamaMlp {
                        w1: lin(self.dim, self.inner, false),
                        w2: lin(self.inner, self.dim, false),
                        w3: lin(self.dim, self.inner, false),
                    },
                })
                .collect(),
            norm: norm(),
            output: (!self.tied).then(|| lin(self.dim, self.vocab, false)),
            heads: self.heads,
            kv_heads: self.kv_heads,
            inv_freq: self.rope.inv_freq(self.head_dim),
        }
    }
}

#[derive(Module, Debug)]
pub struct Llama {
    pub tok_embeddings: Embedding,
    pub layers: Vec<LlamaLayer>,
    pub norm: RmsNorm,
    /// `None` when the head is tied to `tok_embeddings`.
    pub output: Option<Linear>,
    pub heads: usize,
    pub kv_heads: usize,
    #[module(skip)]
    pub inv_freq: Vec<f64>,
}

#[derive(Module, Debug)]
pub struct LlamaLayer {
    pub attention_norm: RmsNorm,
    pub attention: LlamaAttention,
    pub ffn_norm: RmsNorm,
    pub feed_forward: LlamaMlp,
}

#[derive(Module, Debug)]
pub struct LlamaAttention {
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub wo: Linear,
}

/// SwiGLU: `w2(silu(w1(x)) * w3(x))` (transformers' gate, down and up projections).
#[derive(Module, Debug)]
pub struct LlamaMlp {
    pub w1: Linear,
    pub w2: Linear,
    pub w3: Linear,
}

impl Llama {
    /// Logits `[batch, seq, vocab]`.
    pub fn forward(&self, batch: &Batch) -> Tensor<3> {
        let device = self.tok_embeddings.weight.device();
        let mask = batch.mask(true, &device);
        let (cos, sin) = rope_tables(&self.inv_freq, batch.seq, &device);
        let mut x = self.tok_embeddings.forward(batch.ids(&device));
        for layer in &self.layers {
            let h = layer.attention_norm.forward(x.clone());
            let a = &layer.attention;
            let q = apply_rope(split_heads(a.wq.forward(h.clone()), self.heads), &cos, &sin);
            let k = apply_rope(
                split_heads(a.wk.forward(h.clone()), self.kv_heads),
                &cos,
                &sin,
            );
            let v = split_heads(a.wv.forward(h), self.kv_heads);
            x = x + a.wo.forward(attention(q, k, v, mask.clone()));
            let h = layer.ffn_norm.forward(x.clone());
            let f = &layer.feed_forward;
            x = x + f
                .w2
                .forward(silu(f.w1.forward(h.clone())) * f.w3.forward(h));
        }
        let x = self.norm.forward(x);
        match &self.output {
            Some(head) => head.forward(x),
            None => x.matmul(
                self.tok_embeddings
                    .weight
                    .val()
                    .transpose()
                    .unsqueeze::<3>(),
            ),
        }
    }
}
