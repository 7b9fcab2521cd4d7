//! Evaluating plan nodes into bytes. Data movement is generic over the
//! element size; only casts and `add`/`mul` look at values.

use std::borrow::Cow;

use super::convert;
use super::transpose::transpose_rows;
use crate::dtype::DType;
use crate::plan::{Fill, Node, NodeOp, Pick};

/// Where source tensors' bytes come from (memory-mapped shards).
pub trait SourceData: Sync {
    fn bytes(&self, tensor: usize) -> &[u8];
}

/// What evaluating a tensor noticed: elements that did not fit their dtype in
/// a cast, `add` or `mul` (see [`convert`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Notes {
    pub overflows: u64,
}

/// Evaluates `node` into `dst`, which has exactly `node.nbytes()` bytes.
pub fn eval_into(node: &Node, src: &dyn SourceData, dst: &mut [u8], notes: &mut Notes) {
    let esize = node.dtype.size();
    match &node.op {
        NodeOp::Source(i) => dst.copy_from_slice(src.bytes(*i)),
        NodeOp::Reshape(input) => eval_into(input, src, dst, notes),
        NodeOp::Permute(input, perm) => {
            let data = materialize(input, src, notes);
            permute(&data, &input.shape, perm, esize, dst);
        }
        NodeOp::Slice {
            input,
            axis,
            start,
            end,
        } => {
            let data = materialize(input, src, notes);
            slice(&data, &input.shape, *axis, *start, *end, esize, dst);
        }
        NodeOp::Index { input, axis, index } => {
            let data = materialize(input, src, notes);
            slice(&data, &input.shape, *axis, *index, index + 1, esize, dst);
        }
        NodeOp::Concat(inputs, axis) => {
            let datas: Vec<Cow<[u8]>> = inputs.iter().map(|n| materialize(n, src, notes)).collect();
            let chunks: Vec<u64> = inputs.iter().map(|n| n.shape[*axis]).collect();
            interleave(&datas, &chunks, &node.shape, *axis, esize, dst);
        }
        NodeOp::Stack(inputs, axis) => {
            let datas: Vec<Cow<[u8]>> = inputs.iter().map(|n| materialize(n, src, notes)).collect();
            let chunks = vec![1; inputs.len()];
            interleave(&datas, &chunks, &node.shape, *axis, esize, dst);
        }
        NodeOp::Cast(input) => {
            let data = materialize(input, src, notes);
            notes.overflows += convert::cast(input.dtype, node.dtype, &data, dst);
        }
        NodeOp::Add(input, x) => {
            let data = materialize(input, src, notes);
            notes.overflows += convert::scale(node.dtype, &data, dst, convert::Arith::Add(*x));
        }
        NodeOp::Mul(input, x) => {
            let data = materialize(input, src, notes);
            notes.overflows += convert::scale(node.dtype, &data, dst, convert::Arith::Mul(*x));
        }
        NodeOp::Unary(input, op) => {
            let data = materialize(input, src, notes);
            notes.overflows += convert::unary(node.dtype, &data, dst, *op);
        }
        NodeOp::Gather { input, axis, pick } => {
            let data = materialize(input, src, notes);
            gather(&data, &input.shape, *axis, pick, &node.shape, esize, dst);
        }
        NodeOp::Pad {
            input,
            axis,
            before,
            after,
            fill,
        } => {
            let data = materialize(input, src, notes);
            let at = Padding {
                axis: *axis,
                before: *before,
                after: *after,
            };
            pad(&data, &input.shape, node.dtype, at, *fill, dst);
        }
        NodeOp::BlockDequant {
            values,
            scales,
            block,
        } => {
            let v = materialize(values, src, notes);
            let s = materialize(scales, src, notes);
            let overflows = super::quant::dequant(
                (&v, values.dtype, &values.shape),
                (&s, scales.dtype),
                *block,
                dst,
            );
            notes.overflows += overflows;
        }
        NodeOp::BlockQuant { input, block, part } => {
            let data = materialize(input, src, notes);
            super::quant::quant(&data, input.dtype, &input.shape, *block, *part, dst);
        }
        NodeOp::Full(x) => {
            let one = convert::encode(node.dtype, *x);
            for chunk in dst.chunks_exact_mut(esize) {
                chunk.copy_from_slice(&one);
            }
        }
    }
}

/// Output entry `j` of `axis` is input entry `pick.source(j)`.
fn gather(
    data: &[u8],
    shape: &[u64],
    axis: usize,
    pick: &Pick,
    out_shape: &[u64],
    esize: usize,
    dst: &mut [u8],
) {
    let outer: u64 = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product::<u64>() as usize * esize;
    let (dim, out_dim) = (shape[axis], out_shape[axis]);
    let mut pos = 0;
    for o in 0..outer as usize {
        let plane = &data[o * dim as usize * inner..];
        for j in 0..out_dim {
            let from = pick.source(j, dim) as usize * inner;
            dst[pos..pos + inner].copy_from_slice(&plane[from..from + inner]);
            pos += inner;
        }
    }
}

/// Where a pad adds entries.
#[derive(Clone, Copy)]
struct Padding {
    axis: usize,
    before: u64,
    after: u64,
}

/// The input with `before` and `after` new entries along `axis`, holding
/// `fill`. The mean of each column is accumulated in f64 row by row, so the
/// working memory is two rows of f64, never the tensor in f64.
fn pad(data: &[u8], shape: &[u64], dtype: DType, at: Padding, fill: Fill, dst: &mut [u8]) {
    let esize = dtype.size();
    let outer: u64 = shape[..at.axis].iter().product();
    let inner_elems = shape[at.axis + 1..].iter().product::<u64>() as usize;
    let inner = inner_elems * esize;
    let dim = shape[at.axis] as usize;
    let mut pos = 0;
    let put = |dst: &mut [u8], bytes: &[u8], pos: &mut usize| {
        dst[*pos..*pos + bytes.len()].copy_from_slice(bytes);
        *pos += bytes.len();
    };
    let value_row = match fill {
        Fill::Value(x) => convert::encode(dtype, x).repeat(inner_elems),
        Fill::Mean => Vec::new(),
    };
    let mut sums = vec![0f64; inner_elems];
    let mut wide = vec![0u8; inner_elems * 8];
    for o in 0..outer as usize {
        let plane = &data[o * dim * inner..(o + 1) * dim * inner];
        let row = match fill {
            Fill::Value(_) => Cow::Borrowed(value_row.as_slice()),
            Fill::Mean => {
                sums.iter_mut().for_each(|s| *s = 0.0);
                for r in plane.chunks_exact(inner.max(1)).take(dim) {
                    convert::cast(dtype, DType::F64, r, &mut wide);
                    for (s, b) in sums.iter_mut().zip(wide.chunks_exact(8)) {
                        *s += f64::from_le_bytes(b.try_into().expect("8 bytes"));
                    }
                }
                let means: Vec<u8> = sums
                    .iter()
                    .flat_map(|s| (s / dim as f64).to_le_bytes())
                    .collect();
                let mut row = vec![0u8; inner];
                convert::cast(DType::F64, dtype, &means, &mut row);
                Cow::Owned(row)
            }
        };
        for _ in 0..at.before {
            put(dst, &row, &mut pos);
        }
        put(dst, plane, &mut pos);
        for _ in 0..at.after {
            put(dst, &row, &mut pos);
        }
    }
}

/// A node's bytes: borrowed for sources (and reshapes of them), computed otherwise.
pub fn materialize<'a>(node: &Node, src: &'a dyn SourceData, notes: &mut Notes) -> Cow<'a, [u8]> {
    match &node.op {
        NodeOp::Source(i) => Cow::Borrowed(src.bytes(*i)),
        NodeOp::Reshape(input) => materialize(input, src, notes),
        _ => {
            let mut buf = vec![0u8; node.nbytes() as usize];
            eval_into(node, src, &mut buf, notes);
            Cow::Owned(buf)
        }
    }
}

/// Keeps `start..end` of `axis`.
fn slice(
    data: &[u8],
    shape: &[u64],
    axis: usize,
    start: u64,
    end: u64,
    esize: usize,
    dst: &mut [u8],
) {
    let outer: u64 = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product::<u64>() as usize * esize;
    let dim = shape[axis] as usize;
    let (start, end) = (start as usize, end as usize);
    let run = (end - start) * inner;
    for o in 0..outer as usize {
        let from = (o * dim + start) * inner;
        dst[o * run..(o + 1) * run].copy_from_slice(&data[from..from + run]);
    }
}

/// Concatenates along `axis`; input k contributes `chunks[k]` entries of the
/// axis (1 for `stack`, whose new axis is `axis` of the output).
fn interleave(
    datas: &[Cow<[u8]>],
    chunks: &[u64],
    out_shape: &[u64],
    axis: usize,
    esize: usize,
    dst: &mut [u8],
) {
    let outer: u64 = out_shape[..axis].iter().product();
    let inner = out_shape[axis + 1..].iter().product::<u64>() as usize * esize;
    let mut pos = 0;
    for o in 0..outer as usize {
        for (data, &chunk) in datas.iter().zip(chunks) {
            let run = chunk as usize * inner;
            dst[pos..pos + run].copy_from_slice(&data[o * run..(o + 1) * run]);
            pos += run;
        }
    }
}

/// Reorders axes: output axis k is input axis `perm[k]`.
fn permute(data: &[u8], shape: &[u64], perm: &[usize], esize: usize, dst: &mut [u8]) {
    match esize {
        1 => permute_typed::<1>(data, shape, perm, dst),
        2 => permute_typed::<2>(data, shape, perm, dst),
        4 => permute_typed::<4>(data, shape, perm, dst),
        8 => permute_typed::<8>(data, shape, perm, dst),
        _ => unreachable!("element sizes are 1, 2, 4 or 8"),
    }
}

fn permute_typed<const N: usize>(data: &[u8], shape: &[u64], perm: &[usize], dst: &mut [u8]) {
    let src: &[[u8; N]] = bytemuck::cast_slice(data);
    let out: &mut [[u8; N]] = bytemuck::cast_slice_mut(dst);
    let rank = shape.len();
    // Input strides, in elements.
    let mut in_strides = vec![1usize; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        in_strides[k] = in_strides[k + 1] * shape[k + 1] as usize;
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p] as usize).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    // Collapse to the 2-D case when only the last two axes are swapped over a batch.
    if rank >= 2
        && perm[..rank - 2].iter().enumerate().all(|(i, &p)| i == p)
        && perm[rank - 2] == rank - 1
    {
        let rows = shape[rank - 2] as usize;
        let cols = shape[rank - 1] as usize;
        let batch = out.len() / (rows * cols).max(1);
        for b in 0..batch {
            let s = &src[b * rows * cols..(b + 1) * rows * cols];
            let d = &mut out[b * rows * cols..(b + 1) * rows * cols];
            transpose_2d(s, rows, cols, d);
        }
        return;
    }
    // General case: walk the output in order, innermost axis with a stride.
    let last = rank - 1;
    let inner_len = out_shape[last];
    let inner_stride = strides[last];
    let mut index = vec![0usize; rank];
    let mut pos = 0;
    while pos < out.len() {
        let base: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        for j in 0..inner_len {
            out[pos + j] = src[base + j * inner_stride];
        }
        pos += inner_len;
        // Advance the odometer over the outer axes.
        let mut k = last;
        while k > 0 {
            k -= 1;
            index[k] += 1;
            if index[k] < out_shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
}

/// Cache-blocked transpose of a `rows x cols` matrix into `cols x rows`.
fn transpose_2d<const N: usize>(src: &[[u8; N]], rows: usize, cols: usize, dst: &mut [[u8; N]]) {
    transpose_rows(src, rows, cols, 0, cols, dst);
}

/// A transpose of the last two axes of a tensor read straight from the
/// source (no intermediate), which the executor can write in bounded chunks
/// of output rows instead of computing the whole tensor first.
pub struct StreamedTranspose<'a> {
    data: &'a [u8],
    batch: usize,
    rows: usize,
    cols: usize,
    esize: usize,
}

impl<'a> StreamedTranspose<'a> {
    /// Recognises `permute` of a source (or a reshape of one) that swaps the
    /// last two axes and keeps the others.
    pub fn of(node: &Node, src: &'a dyn SourceData) -> Option<StreamedTranspose<'a>> {
        let NodeOp::Permute(input, perm) = &node.op else {
            return None;
        };
        let mut inner = input.as_ref();
        while let NodeOp::Reshape(i) = &inner.op {
            inner = i;
        }
        let NodeOp::Source(ti) = inner.op else {
            return None;
        };
        let rank = perm.len();
        if rank < 2
            || perm[..rank - 2].iter().enumerate().any(|(i, &p)| i != p)
            || perm[rank - 2] != rank - 1
            || perm[rank - 1] != rank - 2
        {
            return None;
        }
        let shape = &input.shape;
        let rows = shape[rank - 2] as usize;
        let cols = shape[rank - 1] as usize;
        Some(StreamedTranspose {
            data: src.bytes(ti),
            batch: shape[..rank - 2].iter().product::<u64>() as usize,
            rows,
            cols,
            esize: node.dtype.size(),
        })
    }

    /// Bytes of one output row (a source column).
    pub fn row_bytes(&self) -> usize {
        self.rows * self.esize
    }

    /// Output rows in all (batch times source columns).
    pub fn out_rows(&self) -> usize {
        self.batch * self.cols
    }

    /// Fills `dst` with output rows `start..start + n` (n = dst.len() / row_bytes),
    /// which must lie within one batch entry.
    pub fn fill(&self, start: usize, dst: &mut [u8]) {
        let n = dst.len() / self.row_bytes().max(1);
        let b = start / self.cols.max(1);
        let c0 = start % self.cols.max(1);
        let plane = self.rows * self.cols * self.esize;
        let src = &self.data[b * plane..(b + 1) * plane];
        let (rows, cols) = (self.rows, self.cols);
        fn rows_of<const N: usize>(
            s: &[u8],
            r: usize,
            c: usize,
            c0: usize,
            c1: usize,
            d: &mut [u8],
        ) {
            transpose_rows::<N>(
                bytemuck::cast_slice(s),
                r,
                c,
                c0,
                c1,
                bytemuck::cast_slice_mut(d),
            );
        }
        let fill = match self.esize {
            1 => rows_of::<1>,
            2 => rows_of::<2>,
            4 => rows_of::<4>,
            8 => rows_of::<8>,
            _ => unreachable!("element sizes are 1, 2, 4 or 8"),
        };
        fill(src, rows, cols, c0, c0 + n, dst);
    }

    /// How many output rows from `start` fit in `bytes` without crossing a
    /// batch entry (at least one).
    pub fn rows_in(&self, start: usize, bytes: usize) -> usize {
        let left_in_batch = self.cols - start % self.cols.max(1);
        (bytes / self.row_bytes().max(1)).clamp(1, left_in_batch.max(1))
    }
}
