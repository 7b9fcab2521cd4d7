//! Two checkpoints compared tensor by tensor (`wmap diff`): a report of
//! what differs, for the command layer to print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, Tensor};
use crate::dtype::{decode, DType, Value};
use crate::error::Error;

/// How one tensor present in both checkpoints compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// Same dtype, same bytes.
    Identical,
    /// Same dtype and shape; the largest absolute difference is within the tolerance.
    Within(f64),
    /// Same dtype and shape; the largest absolute difference is beyond it (NaN
    /// where one side is NaN and the other is not).
    Beyond(f64),
    /// Another shape: `(a, b)`.
    Shape(Vec<u64>, Vec<u64>),
    /// Another dtype (a loader expecting one gets the other), with the
    /// largest difference of the values.
    Dtype(DType, DType, f64),
}

/// What `compare` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every tensor in both, by name.
    pub tensors: Vec<(String, Difference)>,
    /// Names only A has, then only B, sorted.
    pub only_a: Vec<String>,
    /// Names only B has, sorted.
    pub only_b: Vec<String>,
    /// The tolerance it was made with.
    pub tolerance: f64,
}

impl Comparison {
    /// How many tensors in both are identical, within tolerance, beyond it,
    /// and of another shape or dtype.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for (_, d) in &self.tensors {
            match d {
                Difference::Identical => c.0 += 1,
                Difference::Within(_) => c.1 += 1,
                Difference::Beyond(_) => c.2 += 1,
                Difference::Shape(..) | Difference::Dtype(..) => c.3 += 1,
            }
        }
        c
    }

    /// Whether the two hold the same tensors, equal within the tolerance.
    pub fn equal(&self) -> bool {
        let (_, _, beyond, other) = self.counts();
        beyond == 0 && other == 0 && self.only_a.is_empty() && self.only_b.is_empty()
    }
}

/// Compares `a` with `b`. A SIGBUS from a file truncated meanwhile removes
/// `cleanup` and `folder` (a temporary conversion) and exits 2.
pub fn compare(
    a: &Checkpoint,
    b: &Checkpoint,
    tolerance: f64,
    cleanup: &[PathBuf],
    folder: Option<&Path>,
) -> Result<Comparison, Error> {
    let (ma, mb) = (a.map()?, b.map()?);
    let sources: Vec<PathBuf> = a
        .shards
        .iter()
        .chain(&b.shards)
        .map(|s| s.path.clone())
        .collect();
    let _armed = crate::exec::guard::Armed::new(&sources, cleanup, folder);
    let index = |c: &Checkpoint| -> BTreeMap<String, usize> {
        c.tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect()
    };
    let (amap, bmap) = (index(a), index(b));
    let only = |x: &BTreeMap<String, usize>, y: &BTreeMap<String, usize>| -> Vec<String> {
        x.keys().filter(|n| !y.contains_key(*n)).cloned().collect()
    };
    let (only_a, only_b) = (only(&amap, &bmap), only(&bmap, &amap));
    let mut tensors = Vec::new();
    for (name, &ia) in &amap {
        let Some(&ib) = bmap.get(name) else { continue };
        let (ta, tb): (&Tensor, &Tensor) = (&a.tensors[ia], &b.tensors[ib]);
        let difference = if ta.shape != tb.shape {
            Difference::Shape(ta.shape.clone(), tb.shape.clone())
        } else {
            let (xa, xb) = (ma.bytes(ia), mb.bytes(ib));
            if ta.dtype == tb.dtype && xa == xb {
                Difference::Identical
            } else {
                let numel = ta.shape.iter().product::<u64>() as usize;
                let d = max_abs_diff(numel, ta.dtype, xa, tb.dtype, xb);
                if ta.dtype != tb.dtype {
                    Difference::Dtype(ta.dtype, tb.dtype, d)
                } else if d <= tolerance {
                    Difference::Within(d)
                } else {
                    Difference::Beyond(d)
                }
            }
        };
        tensors.push((name.clone(), difference));
    }
    Ok(Comparison {
        tensors,
        only_a,
        only_b,
        tolerance,
    })
}

/// The largest absolute difference between two tensors with the same number
/// of elements, element by element (no widened copies, however large they
/// are): exact for two integer elements, otherwise as f64 (NaN where one side
/// is NaN and the other is not).
fn max_abs_diff(numel: usize, da: DType, a: &[u8], db: DType, b: &[u8]) -> f64 {
    // Complex: its f32 parts, compared part for part (with another dtype, no value).
    if da == DType::C64 || db == DType::C64 {
        if da != db {
            return f64::NAN;
        }
        return max_abs_diff(numel * 2, DType::F32, a, DType::F32, b);
    }
    // Packed: unpacked (exactly) to f32 first, the only copy made.
    if da.is_packed() || db.is_packed() {
        let wide = |d: DType, x: &[u8]| -> (DType, Vec<u8>) {
            if d.is_packed() {
                let values = crate::dtype::unpack_f32(d, x, numel);
                (DType::F32, bytemuck::cast_slice(&values).to_vec())
            } else {
                (d, x.to_vec())
            }
        };
        let ((ta, wa), (tb, wb)) = (wide(da, a), wide(db, b));
        return max_abs_diff(numel, ta, &wa, tb, &wb);
    }
    let mut max = 0f64;
    for (x, y) in a.chunks_exact(da.size()).zip(b.chunks_exact(db.size())) {
        let d = match (decode(da, x), decode(db, y)) {
            (Value::I(x), Value::I(y)) => x.abs_diff(y) as f64,
            (x, y) => {
                let (x, y) = (x.to_f64(), y.to_f64());
                if x == y || x.is_nan() && y.is_nan() {
                    continue;
                }
                (x - y).abs()
            }
        };
        if d.is_nan() {
            return f64::NAN;
        }
        max = max.max(d);
    }
    max
}
