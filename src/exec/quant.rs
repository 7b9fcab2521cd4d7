//! Block-scaled FP8: dequantization (values times their block's scale) and
//! quantization as transformers 5's `Fp8Dequantize` and `Fp8Quantize`
//! compute them, on whole tensors of shape `[.., rows, cols]` with one scale
//! per `bm x bn` block (the last block of an axis may be partial, as
//! DeepSeek's `weight_scale_inv` grids are `ceil(rows / bm) x ceil(cols / bn)`).
//! Dequantization multiplies in f32, one rounding per element, as
//! `Fp8Dequantize` does before its `.to(dtype)`; quantization follows
//! `Fp8Quantize` operation for operation, including torch's two roundings of
//! `448 / max|x|`.

use super::convert;
use crate::dtype::DType;
use crate::plan::QuantPart;

/// E4M3's largest finite value.
const FP8_MAX: f32 = 448.0;

/// The rows, columns and number of leading matrices of `shape`.
fn matrices(shape: &[u64]) -> (usize, usize, usize) {
    let n = shape.len();
    let (rows, cols) = (shape[n - 2] as usize, shape[n - 1] as usize);
    let lead = shape[..n - 2].iter().product::<u64>() as usize;
    (lead, rows, cols)
}

/// `f32` values of a buffer of `dtype` (exact for every float dtype).
fn as_f32(bytes: &[u8], dtype: DType, numel: usize) -> Vec<f32> {
    if dtype == DType::F32 {
        return bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
    }
    let mut out = vec![0u8; numel * 4];
    convert::cast(dtype, DType::F32, bytes, &mut out);
    out.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// Writes `values * scale` in f32 into `dst`; returns the products that
/// overflowed to infinity from finite inputs.
pub fn dequant(
    values: (&[u8], DType, &[u64]),
    scales: (&[u8], DType),
    block: [u64; 2],
    dst: &mut [u8],
) -> u64 {
    let (vbytes, vdtype, shape) = values;
    let (lead, rows, cols) = matrices(shape);
    let (bm, bn) = (block[0] as usize, block[1] as usize);
    let (gr, gc) = (rows.div_ceil(bm), cols.div_ceil(bn));
    let v = as_f32(vbytes, vdtype, lead * rows * cols);
    let s = as_f32(scales.0, scales.1, lead * gr * gc);
    let mut overflows = 0;
    for (i, out) in dst.chunks_exact_mut(4).enumerate() {
        let (m, rc) = (i / (rows * cols), i % (rows * cols));
        let (r, c) = (rc / cols, rc % cols);
        let scale = s[m * gr * gc + (r / bm) * gc + c / bn];
        let y = v[i] * scale;
        overflows += (y.is_infinite() && v[i].is_finite() && scale.is_finite()) as u64;
        out.copy_from_slice(&y.to_le_bytes());
    }
    overflows
}

/// Writes the quantized values (E4M3 bytes) or the inverse scales (f32),
/// as `part` says, of `input` in `bm x bn` blocks.
pub fn quant(
    input: &[u8],
    dtype: DType,
    shape: &[u64],
    block: [u64; 2],
    part: QuantPart,
    dst: &mut [u8],
) {
    let (lead, rows, cols) = matrices(shape);
    let (bm, bn) = (block[0] as usize, block[1] as usize);
    let (gr, gc) = (rows.div_ceil(bm), cols.div_ceil(bn));
    let x = as_f32(input, dtype, lead * rows * cols);
    // Per block: the largest magnitude, then the scale (torch's amax
    // propagates NaN; so does f32::max's counterpart written here).
    let mut amax = vec![0f32; lead * gr * gc];
    for (i, &v) in x.iter().enumerate() {
        let (m, rc) = (i / (rows * cols), i % (rows * cols));
        let (r, c) = (rc / cols, rc % cols);
        let a = &mut amax[m * gr * gc + (r / bm) * gc + c / bn];
        let m = v.abs();
        if m.is_nan() || *a < m {
            *a = if a.is_nan() { *a } else { m };
        }
    }
    // `448 / max` as torch computes a number over a tensor
    // (`Tensor.__rtruediv__` is `reciprocal() * number`): two roundings.
    let scale: Vec<f32> = amax
        .iter()
        .map(|&a| if a > 0.0 { (1.0 / a) * FP8_MAX } else { 1.0 })
        .collect();
    match part {
        QuantPart::Scales => {
            for (out, s) in dst.chunks_exact_mut(4).zip(&scale) {
                out.copy_from_slice(&(1.0f32 / s).to_le_bytes());
            }
        }
        QuantPart::Values => {
            for (i, out) in dst.iter_mut().enumerate() {
                let (m, rc) = (i / (rows * cols), i % (rows * cols));
                let (r, c) = (rc / cols, rc % cols);
                let s = scale[m * gr * gc + (r / bm) * gc + c / bn];
                let y = (x[i] * s).clamp(-FP8_MAX, FP8_MAX);
                *out = convert::f32_to_f8(y, false).0;
            }
        }
    }
}
