//! BERT (encoder and pooler) in burn. Module paths are the tensor names that
//! `mappings/bert/hf-to-burn.wmap` produces: `embeddings.word_embeddings.weight`,
//! `layers.{i}.attention.query.weight` (`[in, out]`), `layers.{i}.attention_norm.gamma`, ...

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::hf::HfConfig;
use super::layers::{attention, split_heads, Batch};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct BertConfig {
    pub vocab: usize,
    pub positions: usize,
    pub type_vocab: usize,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub inner: usize,
    pub eps: f64,
}

impl BertConfig {
    pub fn from_hf(c: &HfConfig) -> Result<BertConfig> {
        if let Some(act) = c.opt_str("hidden_act")? {
            if act != "gelu" {
                return Err(c.bad(crate::error::ConfigProblem::UnsupportedActivation {
                    act: act.to_string(),
                    supported: "gelu",
                }));
            }
        }
        let dim = c.usize("hidden_size")?;
        let heads = c.usize("num_attention_heads")?;
        super::hf::check_heads(c, "hidden_size", dim, "num_attention_heads", heads)?;
        super::hf::check_layers(c, "num_hidden_layers", c.usize("num_hidden_layers")?)?;
        Ok(BertConfig {
            vocab: c.usize("vocab_size")?,
            positions: c.usize("max_position_embeddings")?,
            type_vocab: c.opt_usize("type_vocab_size")?.unwrap_or(2),
            dim: c.usize("hidden_size")?,
            layers: c.usize("num_hidden_layers")?,
            heads: c.usize("num_attention_heads")?,
            inner: c.usize("intermediate_size")?,
            eps: c.opt_f64("layer_norm_eps")?.unwrap_or(1e-12),
        })
    }

    /// The tensors [`BertConfig::init`] makes, without making them.
    pub fn expected(&self) -> Vec<super::Expected> {
        let mut w = super::SpecWriter::default();
        w.embedding("embeddings.word_embeddings", self.vocab, self.dim);
        w.embedding("embeddings.position_embeddings", self.positions, self.dim);
        w.embedding(
            "embeddings.token_type_embeddings",
            self.type_vocab,
            self.dim,
        );
        w.layer_norm("embeddings.layer_norm", self.dim);
        for i in 0..self.layers {
            let l = format!("layers.{i}");
            for p in ["query", "key", "value", "output"] {
                w.linear(&format!("{l}.attention.{p}"), self.dim, self.dim, true);
            }
            w.layer_norm(&format!("{l}.attention_norm"), self.dim);
            w.linear(&format!("{l}.intermediate"), self.dim, self.inner, true);
            w.linear(&format!("{l}.output"), self.inner, self.dim, true);
            w.layer_norm(&format!("{l}.output_norm"), self.dim);
        }
        w.linear("pooler", self.dim, self.dim, true);
        w.finish()
    }

    pub fn init(&self, device: &Device) -> Bert {
        let ln = || {
            LayerNormConfig::new(self.dim)
                .with_epsilon(self.eps)
                .init(device)
        };
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        Bert {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab, self.dim).init(device),
                position_embeddings: EmbeddingConfig::new(self.positions, self.dim).init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab, self.dim).init(device),
                layer_norm: ln(),
            },
            layers: (0..self.layers)
                .map(|_| BertLayer {
                    attention: BertAttention {
                        query: lin(self.dim, self.dim),
                        key: lin(self.dim, self.dim),
                        value: lin(self.dim, self.dim),
                        output: lin(self.dim, self.dim),
                    },
                    attention_norm: ln(),
                    intermediate: lin(self.dim, self.inner),
                    output: lin(self.inner, self.dim),
                    output_norm: ln(),
                })
                .collect(),
            pooler: lin(self.dim, self.dim),
            heads: self.heads,
        }
    }
}

#[derive(Module, Debug)]
pub struct Bert {
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
    pub pooler: Linear,
    pub heads: usize,
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
}

impl Bert {
    /// `last_hidden_state` `[batch, seq, dim]` and `pooler_output` `[batch, dim]`.
    pub fn forward(&self, batch: &Batch) -> (Tensor<3>, Tensor<2>) {
        let device = self.pooler.weight.device();
        let e = &self.embeddings;
        let mask = batch.mask(false, &device);
        let mut x = e.layer_norm.forward(
            e.word_embeddings.forward(batch.ids(&device))
                + e.position_embeddings.forward(batch.positions(&device))
                + e.token_type_embeddings.forward(batch.token_types(&device)),
        );
        for layer in &self.layers {
            let a = &layer.attention;
            let q = split_heads(a.query.forward(x.clone()), self.heads);
            let k = split_heads(a.key.forward(x.clone()), self.heads);
            let v = split_heads(a.value.forward(x.clone()), self.heads);
            let attended = a.output.forward(attention(q, k, v, mask.clone()));
            let x1 = layer.attention_norm.forward(attended + x);
            let h = layer
                .output
                .forward(gelu(layer.intermediate.forward(x1.clone())));
            x = layer.output_norm.forward(h + x1);
        }
        let [b, _, d] = x.dims();
        let first = x.clone().narrow(1, 0, 1).reshape([b, d]);
        let pooled = self.pooler.forward(first).tanh();
        (x, pooled)
    }
}
