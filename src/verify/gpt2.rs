//! GPT-2 in burn. Module paths are the tensor names that
//! `mappings/gpt2/hf-to-burn.wmap` produces: `wte.weight`,
//! `blocks.{i}.attn.query.weight` (`[in, out]`, burn's `Linear` layout), ...
//! The output head is tied to `wte`, as in every GPT-2.

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu_approximate;

use super::hf::HfConfig;
use super::layers::{attention, split_heads, Batch};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Gpt2Config {
    pub vocab: usize,
    pub positions: usize,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub inner: usize,
    pub eps: f64,
}

impl Gpt2Config {
    pub fn from_hf(c: &HfConfig) -> Result<Gpt2Config> {
        let dim = c.usize("n_embd")?;
        let heads = c.usize("n_head")?;
        super::hf::check_heads(c, "n_embd", dim, "n_head", heads)?;
        let layers = c.usize("n_layer")?;
        super::hf::check_layers(c, "n_layer", layers)?;
        Ok(Gpt2Config {
            vocab: c.usize("vocab_size")?,
            positions: c.usize("n_positions")?,
            dim,
            layers,
            heads,
            inner: c.opt_usize("n_inner")?.unwrap_or(4 * dim),
            eps: c.opt_f64("layer_norm_epsilon")?.unwrap_or(1e-5),
        })
    }

    /// The tensors [`Gpt2Config::init`] makes, without making them.
    pub fn expected(&self) -> Vec<super::Expected> {
        let mut w = super::SpecWriter::default();
        w.embedding("wte", self.vocab, self.dim);
        w.embedding("wpe", self.positions, self.dim);
        for i in 0..self.layers {
            let b = format!("blocks.{i}");
            w.layer_norm(&format!("{b}.ln_1"), self.dim);
            for p in ["query", "key", "value", "out"] {
                w.linear(&format!("{b}.attn.{p}"), self.dim, self.dim, true);
            }
            w.layer_norm(&format!("{b}.ln_2"), self.dim);
            w.linear(&format!("{b}.mlp.fc"), self.dim, self.inner, true);
            w.linear(&format!("{b}.mlp.proj"), self.inner, self.dim, true);
        }
        w.layer_norm("ln_f", self.dim);
        w.finish()
    }

    pub fn init(&self, device: &Device) -> Gpt2 {
        let ln = || {
            LayerNormConfig::new(self.dim)
                .with_epsilon(self.eps)
                .init(device)
        };
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        Gpt2 {
            wte: EmbeddingConfig::new(self.vocab, self.dim).init(device),
            wpe: EmbeddingConfig::new(self.positions, self.dim).init(device),
            blocks: (0..self.layers)
                .map(|_| Gpt2Block {
                    ln_1: ln(),
                    attn: Gpt2Attention {
                        query: lin(self.dim, self.dim),
                        key: lin(self.dim, self.dim),
                        value: lin(self.dim, self.dim),
                        out: lin(self.dim, self.dim),
                    },
                    ln_2: ln(),
                    mlp: Gpt2Mlp {
                        fc: lin(self.dim, self.inner),
                        proj: lin(self.inner, self.dim),
                    },
                })
                .collect(),
            ln_f: ln(),
            heads: self.heads,
        }
    }
}

#[derive(Module, Debug)]
pub struct Gpt2 {
    pub wte: Embedding,
    pub wpe: Embedding,
    pub blocks: Vec<Gpt2Block>,
    pub ln_f: LayerNorm,
    pub heads: usize,
}

#[derive(Module, Debug)]
pub struct Gpt2Block {
    pub ln_1: LayerNorm,
    pub attn: Gpt2Attention,
    pub ln_2: LayerNorm,
    pub mlp: Gpt2Mlp,
}

#[derive(Module, Debug)]
pub struct Gpt2Attention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub out: Linear,
}

#[derive(Module, Debug)]
pub struct Gpt2Mlp {
    pub fc: Linear,
    pub proj: Linear,
}

impl Gpt2 {
    /// Logits `[batch, seq, vocab]`.
    pub fn forward(&self, batch: &Batch) -> Tensor<3> {
        let device = self.wte.weight.device();
        let mask = batch.mask(true, &device);
        let mut x =
            self.wte.forward(batch.ids(&device)) + self.wpe.forward(batch.positions(&device));
        for block in &self.blocks {
            let h = block.ln_1.forward(x.clone());
            let a = &block.attn;
            let q = split_heads(a.query.forward(h.clone()), self.heads);
            let k = split_heads(a.key.forward(h.clone()), self.heads);
            let v = split_heads(a.value.forward(h), self.heads);
            x = x + a.out.forward(attention(q, k, v, mask.clone()));
            let h = block.ln_2.forward(x.clone());
            x = x + block
                .mlp
                .proj
                .forward(gelu_approximate(block.mlp.fc.forward(h)));
        }
        let x = self.ln_f.forward(x);
        let wte = self.wte.weight.val().transpose().unsqueeze::<3>();
        x.matmul(wte)
    }
}
