//! Pieces the three models share: masks, attention, rotary embeddings.

use burn::prelude::*;
use burn::tensor::activation::softmax;

/// What the models take: token ids and the masks of a reference file.
#[derive(Debug, Clone)]
pub struct Batch {
    pub batch: usize,
    pub seq: usize,
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding; all ones when absent.
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

impl Batch {
    pub fn ids(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.input_ids.clone(), [self.batch, self.seq]),
            device,
        )
    }

    pub fn token_types(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.token_type_ids.clone(), [self.batch, self.seq]),
            device,
        )
    }

    pub fn positions(&self, device: &Device) -> Tensor<2, Int> {
        let pos: Vec<i64> = (0..self.batch).flat_map(|_| 0..self.seq as i64).collect();
        Tensor::from_data(TensorData::new(pos, [self.batch, self.seq]), device)
    }

    /// The additive attention mask `[batch, 1, seq, seq]`: 0 where query i may
    /// attend to key j, the lowest f32 where not (padding keys, and future keys
    /// when `causal`). The lowest finite value rather than -inf, as transformers
    /// does, so a row with every key masked stays finite.
    pub fn mask(&self, causal: bool, device: &Device) -> Tensor<4> {
        let (b, s) = (self.batch, self.seq);
        let mut m = vec![0f32; b * s * s];
        for bi in 0..b {
            for i in 0..s {
                for j in 0..s {
                    let padded = self.attention_mask[bi * s + j] == 0;
                    if padded || (causal && j > i) {
                        m[(bi * s + i) * s + j] = f32::MIN;
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(m, [b, 1, s, s]), device)
    }
}

/// `[batch, seq, heads * head_dim]` to `[batch, heads, seq, head_dim]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, s, d] = x.dims();
    x.reshape([b, s, heads, d / heads]).swap_dims(1, 2)
}

/// Scaled dot-product attention with an additive mask; k and v may have fewer
/// heads than q (grouped-query attention), each serving `heads / kv_heads`
/// query heads in order. Returns `[batch, seq, heads * head_dim]`.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Tensor<4>) -> Tensor<3> {
    let [b, h, s, d] = q.dims();
    let kv_heads = k.dims()[1];
    let (k, v) = if kv_heads == h {
        (k, v)
    } else {
        let rep = h / kv_heads;
        let widen = |t: Tensor<4>| -> Tensor<4> {
            t.unsqueeze_dim::<5>(2)
                .repeat_dim(2, rep)
                .reshape([b, h, s, d])
        };
        (widen(k), widen(v))
    };
    let scores = q.matmul(k.transpose()) / (d as f64).sqrt() + mask;
    let probs = softmax(scores, 3);
    probs.matmul(v).swap_dims(1, 2).reshape([b, s, h * d])
}

/// Rotary embedding tables `[seq, head_dim]` (cos, sin), each frequency
/// repeated over both halves as transformers' `rotate_half` layout expects.
pub fn rope_tables(inv_freq: &[f64], seq: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(seq * half * 2);
    let mut sin = Vec::with_capacity(seq * half * 2);
    for p in 0..seq {
        for _ in 0..2 {
            for f in inv_freq {
                // transformers computes the angle in f32, then cos/sin of it.
                let angle = (p as f32) * (*f as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [seq, 2 * half]), device),
        Tensor::from_data(TensorData::new(sin, [seq, 2 * half]), device),
    )
}

/// Applies RoPE to `[batch, heads, seq, head_dim]`: x * cos + rotate_half(x) * sin.
pub fn apply_rope(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.clone().narrow(3, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    let cos = cos.clone().unsqueeze::<4>();
    let sin = sin.clone().unsqueeze::<4>();
    x * cos + rotated * sin
}
