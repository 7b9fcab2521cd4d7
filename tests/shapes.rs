//! Property tests of the checker's shape arithmetic against ndarray.
//!
//! Each case is a random source shape and a random pipeline of ops
//! (transpose, permute, reshape with -1, split by parts or sizes, slice,
//! concat, and stack/unstack through a capture), written as one `.wmap`
//! rule over a synthetic checkpoint. The same ops are applied to real
//! `ndarray` arrays. The checker must accept the rule exactly when the
//! arrays could be computed, and then give every target the shape ndarray
//! gives; evaluating the plan's nodes on the arrays must give the same
//! values, too.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ndarray::{concatenate, stack, ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::common::CheckedExt;
use wmap::checkpoint::{Config, Tensor};
use wmap::dtype::DType;
use wmap::plan::{Node, NodeOp};

type Arr = ArrayD<f32>;

// ------------------------------------------------------------------ model

/// One run of the rule in the model: the value of capture `e` (if bound)
/// and the tensors it carries.
#[derive(Debug, Clone)]
struct Inst {
    e: Option<usize>,
    lanes: Vec<Arr>,
}

#[derive(Debug, Clone)]
enum Op {
    Transpose(i64, i64),
    TransposeBare,
    Permute(Vec<i64>),
    Reshape(Vec<i64>),
    SplitParts(i64, i64),
    SplitSizes(i64, Vec<i64>),
    Slice(i64, i64, i64),
    Concat(i64),
    Stack(i64),
    Unstack(i64),
}

impl Op {
    fn text(&self) -> String {
        let list = |v: &[i64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Op::Transpose(a, b) => format!("transpose({a}, {b})"),
            Op::TransposeBare => "transpose".into(),
            Op::Permute(p) => format!("permute({})", list(p)),
            Op::Reshape(d) => format!("reshape({})", list(d)),
            Op::SplitParts(a, n) => format!("split(axis={a}, parts={n})"),
            Op::SplitSizes(a, s) => format!("split(axis={a}, sizes=[{}])", list(s)),
            Op::Slice(a, s, e) => format!("slice(axis={a}, start={s}, end={e})"),
            Op::Concat(a) => format!("concat(axis={a})"),
            Op::Stack(a) => format!("stack(e, axis={a})"),
            Op::Unstack(a) => format!("unstack(e, axis={a})"),
        }
    }
}

/// Why the model could not apply an op: the diagnostic codes the checker
/// may report for it.
type Failure = &'static [&'static str];

const AXIS: Failure = &["axis_out_of_range"];

/// Runs `f`, turning an ndarray panic into `None` (silently: the panic is
/// the expected answer "this operation fails").
fn try_nd<T>(f: impl FnOnce() -> T) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.ok()
}

/// An axis as the language reads it: negative counts from the end. An axis
/// past the end is handed to ndarray as is, for it to refuse.
fn axis_of(a: i64, rank: usize) -> Result<usize, Failure> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    if x < 0 {
        Err(AXIS)
    } else {
        Ok(x as usize)
    }
}

fn len_of(arr: &Arr, axis: usize) -> Result<usize, Failure> {
    try_nd(|| arr.len_of(Axis(axis))).ok_or(AXIS)
}

fn standard(arr: &Arr) -> Arr {
    arr.as_standard_layout().into_owned()
}

fn reshape(arr: &Arr, dims: &[i64]) -> Result<Arr, Failure> {
    const COUNT: Failure = &["element_count_mismatch"];
    if dims.iter().any(|&d| d < -1) || dims.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(&["bad_arguments"]);
    }
    let numel = arr.len();
    let known: usize = dims
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    let shape: Vec<usize> = if dims.contains(&-1) {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(COUNT);
        }
        dims.iter()
            .map(|&d| if d == -1 { numel / known } else { d as usize })
            .collect()
    } else {
        dims.iter().map(|&d| d as usize).collect()
    };
    standard(arr)
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|_| COUNT)
}

fn split(arr: &Arr, axis: i64, sizes: Option<&[i64]>, parts: i64) -> Result<Vec<Arr>, Failure> {
    const SPLIT: Failure = &["indivisible_split"];
    let axis = axis_of(axis, arr.ndim())?;
    let dim = len_of(arr, axis)?;
    let sizes: Vec<usize> = match sizes {
        None => {
            if parts <= 0 || dim % parts as usize != 0 {
                return Err(SPLIT);
            }
            vec![dim / parts as usize; parts as usize]
        }
        Some(s) => {
            if s.iter().any(|&x| x < 0) {
                return Err(&["bad_arguments"]);
            }
            if s.iter().sum::<i64>() != dim as i64 {
                return Err(SPLIT);
            }
            s.iter().map(|&x| x as usize).collect()
        }
    };
    let mut start = 0;
    Ok(sizes
        .into_iter()
        .map(|size| {
            let part = arr
                .slice_axis(Axis(axis), Slice::from(start..start + size))
                .to_owned();
            start += size;
            part
        })
        .collect())
}

/// Applies one op to every instance, as the language defines it.
fn apply(op: &Op, insts: Vec<Inst>) -> Result<Vec<Inst>, Failure> {
    match op {
        Op::Stack(axis) => {
            let mut insts = insts;
            insts.sort_by_key(|i| i.e);
            let views: Vec<ArrayViewD<f32>> = insts.iter().map(|i| i.lanes[0].view()).collect();
            let rank = views[0].ndim();
            let a = axis_of(*axis, rank + 1)?;
            let stacked = stack(Axis(a), &views)
                .map_err(|_| -> Failure { &["incompatible_concat", "axis_out_of_range"] })?;
            Ok(vec![Inst {
                e: None,
                lanes: vec![stacked],
            }])
        }
        Op::Unstack(axis) => {
            let mut out = Vec::new();
            for inst in insts {
                if inst.e.is_some() {
                    return Err(&["bad_capture"]);
                }
                let first = &inst.lanes[0];
                if first.ndim() == 0 {
                    return Err(AXIS);
                }
                let a = axis_of(*axis, first.ndim())?;
                let n = len_of(first, a)?;
                if inst
                    .lanes
                    .iter()
                    .any(|l| l.ndim() != first.ndim() || l.len_of(Axis(a)) != n)
                {
                    return Err(&["incompatible_concat"]);
                }
                for k in 0..n {
                    out.push(Inst {
                        e: Some(k),
                        lanes: inst
                            .lanes
                            .iter()
                            .map(|l| l.index_axis(Axis(a), k).to_owned())
                            .collect(),
                    });
                }
            }
            Ok(out)
        }
        Op::SplitParts(..) | Op::SplitSizes(..) => insts
            .into_iter()
            .map(|inst| {
                let [lane] = inst.lanes.as_slice() else {
                    return Err(&["op_arity"] as Failure);
                };
                let lanes = match op {
                    Op::SplitParts(a, n) => split(lane, *a, None, *n)?,
                    Op::SplitSizes(a, s) => split(lane, *a, Some(s), 0)?,
                    _ => unreachable!(),
                };
                Ok(Inst { e: inst.e, lanes })
            })
            .collect(),
        Op::Concat(axis) => insts
            .into_iter()
            .map(|inst| {
                let a = axis_of(*axis, inst.lanes[0].ndim())?;
                let views: Vec<ArrayViewD<f32>> = inst.lanes.iter().map(|l| l.view()).collect();
                let joined = try_nd(|| concatenate(Axis(a), &views))
                    .and_then(Result::ok)
                    .ok_or(&["incompatible_concat", "axis_out_of_range"] as Failure)?;
                Ok(Inst {
                    e: inst.e,
                    lanes: vec![joined],
                })
            })
            .collect(),
        _ => insts
            .into_iter()
            .map(|inst| {
                let lanes = inst
                    .lanes
                    .iter()
                    .map(|l| unary(op, l))
                    .collect::<Result<Vec<Arr>, Failure>>()?;
                Ok(Inst { e: inst.e, lanes })
            })
            .collect(),
    }
}

fn unary(op: &Op, arr: &Arr) -> Result<Arr, Failure> {
    let rank = arr.ndim();
    match op {
        Op::Transpose(a, b) => {
            let (a, b) = (axis_of(*a, rank)?, axis_of(*b, rank)?);
            try_nd(|| {
                let mut t = arr.clone();
                t.swap_axes(a, b);
                t
            })
            .ok_or(AXIS)
        }
        Op::TransposeBare => {
            if rank != 2 {
                return Err(&["bad_permutation"]);
            }
            Ok(arr.clone().reversed_axes())
        }
        Op::Permute(p) => {
            if p.is_empty() {
                return Err(&["bad_arguments"]);
            }
            let perm = p
                .iter()
                .map(|&x| axis_of(x, rank))
                .collect::<Result<Vec<usize>, Failure>>()?;
            try_nd(|| arr.clone().permuted_axes(IxDyn(&perm)))
                .ok_or(&["bad_permutation", "axis_out_of_range"] as Failure)
        }
        Op::Reshape(d) => reshape(arr, d),
        Op::Slice(axis, start, end) => {
            let a = axis_of(*axis, rank)?;
            let dim = len_of(arr, a)? as i64;
            let from_end = |v: i64| if v < 0 { v + dim } else { v };
            let (s, e) = (from_end(*start), from_end(*end));
            // Stricter than ndarray, which would give an empty range for s > e.
            if s < 0 || s > e || e > dim {
                return Err(&["slice_out_of_range"]);
            }
            Ok(arr
                .slice_axis(Axis(a), Slice::from(s as usize..e as usize))
                .to_owned())
        }
        _ => unreachable!("not a per-value op: {op:?}"),
    }
}

// -------------------------------------------------------------- generator

/// A small deterministic generator for op parameters, seeded per op.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// An axis of a rank-`rank` tensor, sometimes written from the end; with
/// `bad`, one that is out of range.
fn gen_axis(rng: &mut Rng, rank: usize, bad: bool) -> i64 {
    let r = rank as i64;
    if bad || rank == 0 {
        return [r, r + 1, -r - 1][rng.below(3)];
    }
    let a = rng.below(rank) as i64;
    if rng.coin() {
        a - r
    } else {
        a
    }
}

/// A random factorisation of `n` into `parts` factors.
fn factorise(rng: &mut Rng, n: usize, parts: usize) -> Vec<usize> {
    let mut out = vec![1; parts];
    if n == 0 {
        out[rng.below(parts)] = 0;
        return out;
    }
    let mut rest = n;
    let mut p = 2;
    while rest > 1 {
        while rest.is_multiple_of(p) {
            out[rng.below(parts)] *= p;
            rest /= p;
        }
        p += 1;
    }
    out
}

fn divisors(n: usize) -> Vec<usize> {
    (1..=n.max(1))
        .filter(|d| n == 0 || n.is_multiple_of(*d))
        .collect()
}

/// Lanes a case may carry at most (so that target lists stay short).
const MAX_LANES: usize = 8;

/// A concrete op for the current state, from a raw choice.
fn gen_op(which: u8, bad: bool, seed: u64, insts: &[Inst]) -> Op {
    let mut rng = Rng::new(seed);
    let lanes = insts.first().map_or(1, |i| i.lanes.len());
    let shape: Vec<usize> = insts
        .first()
        .and_then(|i| i.lanes.first())
        .map_or(vec![], |l| l.shape().to_vec());
    let rank = shape.len();
    match which % 8 {
        0 => Op::Transpose(
            gen_axis(&mut rng, rank, bad),
            gen_axis(&mut rng, rank, false),
        ),
        1 if rank == 2 || bad => Op::TransposeBare,
        2 if rank > 0 => {
            let mut perm: Vec<i64> = (0..rank as i64).collect();
            for i in (1..rank).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            if bad {
                match rng.below(3) {
                    0 => perm[0] = perm[rank - 1],
                    1 => {
                        perm.pop();
                    }
                    _ => perm.push(rank as i64),
                }
            }
            if perm.is_empty() {
                perm.push(0);
            }
            if rng.coin() {
                let k = rng.below(perm.len());
                perm[k] -= rank as i64;
            }
            Op::Permute(perm)
        }
        3 if lanes * 2 <= MAX_LANES => {
            let axis_bad = bad && rng.coin();
            let axis = gen_axis(&mut rng, rank, axis_bad);
            let dim = axis_of(axis, rank)
                .ok()
                .and_then(|a| shape.get(a).copied())
                .unwrap_or(1);
            let choices: Vec<usize> = divisors(dim)
                .into_iter()
                .filter(|p| lanes * p <= MAX_LANES)
                .collect();
            let mut parts = choices[rng.below(choices.len())] as i64;
            if bad {
                parts = [0, dim as i64 + 1, -1][rng.below(3)];
            }
            Op::SplitParts(axis, parts)
        }
        4 if lanes * 3 <= MAX_LANES => {
            let axis_bad = bad && rng.coin();
            let axis = gen_axis(&mut rng, rank, axis_bad);
            let dim = axis_of(axis, rank)
                .ok()
                .and_then(|a| shape.get(a).copied())
                .unwrap_or(1) as i64;
            let n = 1 + rng.below(3);
            let mut sizes = vec![0i64; n];
            for _ in 0..dim {
                sizes[rng.below(n)] += 1;
            }
            if bad {
                let k = rng.below(n);
                sizes[k] += if rng.coin() { 1 } else { -dim - 1 };
            }
            Op::SplitSizes(axis, sizes)
        }
        5 if rank > 0 => {
            let axis_bad = bad && rng.coin();
            let axis = gen_axis(&mut rng, rank, axis_bad);
            let dim = axis_of(axis, rank)
                .ok()
                .and_then(|a| shape.get(a).copied())
                .unwrap_or(1) as i64;
            let mut s = rng.below(dim as usize + 1) as i64;
            let mut e = s + rng.below((dim - s) as usize + 1) as i64;
            if bad {
                match rng.below(3) {
                    0 => e = dim + 1,
                    1 => std::mem::swap(&mut s, &mut e),
                    _ => s = -dim - 1,
                }
                if s == e {
                    e = dim + 1;
                }
            }
            // Write some bounds from the end.
            if s > 0 && s < dim && rng.coin() {
                s -= dim;
            }
            if e > 0 && e < dim && rng.coin() {
                e -= dim;
            }
            Op::Slice(axis, s, e)
        }
        6 => Op::Concat(gen_axis(&mut rng, rank, bad)),
        _ => {
            let numel: usize = shape.iter().product();
            let n = 1 + rng.below(4);
            let mut dims: Vec<i64> = factorise(&mut rng, numel, n)
                .into_iter()
                .map(|d| d as i64)
                .collect();
            if rng.coin() {
                let k = rng.below(n);
                dims[k] = -1;
            }
            if bad {
                match rng.below(3) {
                    0 => {
                        let k = rng.below(n);
                        dims[k] = if dims[k] == -1 { 0 } else { dims[k] + 1 };
                    }
                    1 => {
                        dims.push(-1);
                        dims.push(-1);
                    }
                    _ => dims.push(2),
                }
            }
            Op::Reshape(dims)
        }
    }
}

// ------------------------------------------------------------------ cases

/// How the rule's sources are laid out.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `["s0", "s1", ...] | ops -> targets`
    Chain,
    /// `"e.{e}.w" | stack(e, axis=A) | ops -> targets`
    Stack,
    /// `"u" | ops | unstack(e, axis=A) | ops -> targets`
    Unstack,
}

#[derive(Debug, Clone)]
struct RawCase {
    kind: Kind,
    shape: Vec<usize>,
    count: usize,
    /// Make one source's shape differ from the others'.
    odd_source: bool,
    seed: u64,
    ops: Vec<(u8, bool, u64)>,
}

fn raw_case() -> impl Strategy<Value = RawCase> {
    (
        prop_oneof![Just(Kind::Chain), Just(Kind::Stack), Just(Kind::Unstack)],
        prop::collection::vec(1usize..=5, 1..=4),
        1usize..=3,
        prop::bool::weighted(0.15),
        any::<u64>(),
        prop::collection::vec((0u8..8, prop::bool::weighted(0.15), any::<u64>()), 0..=4),
    )
        .prop_map(|(kind, shape, count, odd_source, seed, ops)| RawCase {
            kind,
            shape,
            count,
            odd_source,
            seed,
            ops,
        })
}

/// A case made concrete: the checkpoint, the rule, and what the model says.
struct Case {
    /// Source tensors: name and value.
    sources: Vec<(String, Arr)>,
    rule: String,
    /// Target name -> value, or the failure of the first op that failed.
    outcome: Result<BTreeMap<String, Arr>, (Op, Failure)>,
}

fn arange(shape: &[usize], offset: usize) -> Arr {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|x| (x + offset) as f32).collect()).unwrap()
}

fn build(raw: &RawCase) -> Case {
    let mut rng = Rng::new(raw.seed);
    let n = match raw.kind {
        Kind::Chain => raw.count,
        Kind::Stack => raw.count + 1,
        Kind::Unstack => 1,
    };
    let odd = raw.odd_source && n > 1;
    let odd_index = rng.below(n);
    let odd_axis = rng.below(raw.shape.len());
    let mut sources = Vec::new();
    let mut offset = 0;
    for k in 0..n {
        let mut shape = raw.shape.clone();
        if odd && k == odd_index {
            shape[odd_axis] += 1;
        }
        let name = match raw.kind {
            Kind::Chain => format!("s{k}"),
            Kind::Stack => format!("e.{k}.w"),
            Kind::Unstack => "u".to_string(),
        };
        let value = arange(&shape, offset);
        offset += value.len() + 1000;
        sources.push((name, value));
    }
    let (source_text, mut insts) = match raw.kind {
        Kind::Chain => {
            let names: Vec<String> = sources.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            let text = if names.len() == 1 {
                names[0].clone()
            } else {
                format!("[{}]", names.join(", "))
            };
            let lanes = sources.iter().map(|(_, v)| v.clone()).collect();
            (text, vec![Inst { e: None, lanes }])
        }
        Kind::Stack => (
            "\"e.{e}.w\"".to_string(),
            sources
                .iter()
                .enumerate()
                .map(|(k, (_, v))| Inst {
                    e: Some(k),
                    lanes: vec![v.clone()],
                })
                .collect(),
        ),
        Kind::Unstack => (
            "\"u\"".to_string(),
            vec![Inst {
                e: None,
                lanes: vec![sources[0].1.clone()],
            }],
        ),
    };
    // The ops, each made for the state the ones before it leave.
    let mut raw_ops: Vec<(Option<Op>, u8, bool, u64)> =
        raw.ops.iter().map(|&(w, b, s)| (None, w, b, s)).collect();
    match raw.kind {
        Kind::Chain => {}
        Kind::Stack => {
            let rank = raw.shape.len();
            let bad = rng.below(8) == 0;
            raw_ops.insert(
                0,
                (
                    Some(Op::Stack(gen_axis(&mut rng, rank + 1, bad))),
                    0,
                    false,
                    0,
                ),
            );
        }
        Kind::Unstack => {
            let at = rng.below(raw_ops.len() + 1);
            // The axis is chosen when the shape there is known.
            raw_ops.insert(at, (None, 255, rng.below(8) == 0, rng.next_u64()));
        }
    }
    let mut ops = Vec::new();
    let mut failure = None;
    for (fixed, which, bad, seed) in raw_ops {
        let op = match fixed {
            Some(op) => op,
            None if which == 255 => {
                let rank = insts[0].lanes[0].ndim();
                Op::Unstack(gen_axis(&mut Rng::new(seed), rank, bad))
            }
            None => gen_op(which, bad, seed, &insts),
        };
        let result = apply(&op, insts.clone());
        ops.push(op.clone());
        match result {
            Ok(next) => insts = next,
            Err(f) => {
                failure = Some((op, f));
                break;
            }
        }
    }
    // Targets: one per value, named by `e` when it is bound.
    let lanes = insts.first().map_or(1, |i| i.lanes.len());
    let bound = insts.first().is_some_and(|i| i.e.is_some());
    let targets: Vec<String> = (0..lanes)
        .map(|k| {
            if bound {
                format!("\"out.{{e}}.{k}\"")
            } else {
                format!("\"out.{k}\"")
            }
        })
        .collect();
    let target_text = if targets.len() == 1 {
        targets[0].clone()
    } else {
        format!("[{}]", targets.join(", "))
    };
    let mut rule = source_text;
    for op in &ops {
        rule.push_str(" | ");
        rule.push_str(&op.text());
    }
    rule.push_str(" -> ");
    rule.push_str(&target_text);
    rule.push('\n');
    let outcome = match failure {
        Some(f) => Err(f),
        None => {
            let mut out = BTreeMap::new();
            for inst in insts {
                for (k, lane) in inst.lanes.into_iter().enumerate() {
                    let name = match inst.e {
                        Some(e) => format!("out.{e}.{k}"),
                        None => format!("out.{k}"),
                    };
                    out.insert(name, lane);
                }
            }
            Ok(out)
        }
    };
    Case {
        sources,
        rule,
        outcome,
    }
}

// ------------------------------------------------------------ the checker

/// The case's sources as the checker sees them, sorted by name as a checkpoint's are.
fn infos(sources: &[(String, Arr)]) -> (Vec<Tensor>, Vec<Arr>) {
    let mut sorted: Vec<&(String, Arr)> = sources.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let infos = sorted
        .iter()
        .map(|(name, value)| Tensor {
            name: name.clone(),
            dtype: DType::F32,
            shape: value.shape().iter().map(|&d| d as u64).collect(),
        })
        .collect();
    (infos, sorted.into_iter().map(|(_, v)| v.clone()).collect())
}

/// Evaluates a plan node on the source arrays, as an executor would.
fn eval(node: &Node, sources: &[Arr]) -> Arr {
    let value = match &node.op {
        NodeOp::Source(i) => sources[*i].clone(),
        NodeOp::Permute(input, perm) => eval(input, sources).permuted_axes(IxDyn(perm)),
        NodeOp::Reshape(input) => {
            let shape: Vec<usize> = node.shape.iter().map(|&d| d as usize).collect();
            standard(&eval(input, sources))
                .into_shape_with_order(IxDyn(&shape))
                .unwrap()
        }
        NodeOp::Slice {
            input,
            axis,
            start,
            end,
        } => eval(input, sources)
            .slice_axis(Axis(*axis), Slice::from(*start as usize..*end as usize))
            .to_owned(),
        NodeOp::Index { input, axis, index } => eval(input, sources)
            .index_axis(Axis(*axis), *index as usize)
            .to_owned(),
        NodeOp::Concat(inputs, axis) => {
            let values: Vec<Arr> = inputs.iter().map(|n| eval(n, sources)).collect();
            let views: Vec<ArrayViewD<f32>> = values.iter().map(|v| v.view()).collect();
            concatenate(Axis(*axis), &views).unwrap()
        }
        NodeOp::Stack(inputs, axis) => {
            let values: Vec<Arr> = inputs.iter().map(|n| eval(n, sources)).collect();
            let views: Vec<ArrayViewD<f32>> = values.iter().map(|v| v.view()).collect();
            stack(Axis(*axis), &views).unwrap()
        }
        other => panic!("no such op in these cases: {other:?}"),
    };
    let shape: Vec<u64> = value.shape().iter().map(|&d| d as u64).collect();
    assert_eq!(shape, node.shape, "a node's shape disagrees with its value");
    value
}

fn run_case(raw: &RawCase) -> Result<(), TestCaseError> {
    let case = build(raw);
    let loaded = wmap::loader::load_text("shapes.wmap", &case.rule);
    prop_assert!(
        loaded.diagnostics.is_empty(),
        "generated rule does not parse: {}\n{:?}",
        case.rule,
        loaded.diagnostics
    );
    let (infos, values) = infos(&case.sources);
    let checked = wmap::check::check(&loaded, &infos, &Config::default());
    let codes: Vec<&str> = checked.diagnostics().iter().map(|d| d.code()).collect();
    match &case.outcome {
        Ok(expected) => {
            let Some(plan) = checked.plan() else {
                return Err(TestCaseError::fail(format!(
                    "ndarray computes it, the checker refuses:\n{}{:#?}",
                    case.rule,
                    checked.diagnostics()
                )));
            };
            let got: BTreeMap<&str, &Vec<u64>> = plan
                .targets
                .iter()
                .map(|t| (t.name.as_str(), &t.node.shape))
                .collect();
            let want: BTreeMap<&str, Vec<u64>> = expected
                .iter()
                .map(|(n, v)| (n.as_str(), v.shape().iter().map(|&d| d as u64).collect()))
                .collect();
            let want: BTreeMap<&str, &Vec<u64>> = want.iter().map(|(n, s)| (*n, s)).collect();
            prop_assert_eq!(&got, &want, "target shapes differ for\n{}", case.rule);
            for t in &plan.targets {
                prop_assert_eq!(t.node.dtype, DType::F32);
                let value = eval(&t.node, &values);
                prop_assert!(
                    value == expected[&t.name],
                    "values of {} differ for\n{}",
                    t.name,
                    case.rule
                );
            }
        }
        Err((op, allowed)) => {
            prop_assert!(
                checked.plan().is_none(),
                "ndarray cannot do `{}`, the checker accepts:\n{}",
                op.text(),
                case.rule
            );
            prop_assert!(
                codes.iter().any(|c| allowed.contains(c)),
                "`{}` should fail with one of {:?}, got {:?}\n{}",
                op.text(),
                allowed,
                codes,
                case.rule
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn checked_shapes_match_ndarray(raw in raw_case()) {
        run_case(&raw)?;
    }
}

// ------------------------------------------------- a few fixed regressions

fn raw(kind: Kind, shape: &[usize], ops: &[(u8, bool, u64)]) -> RawCase {
    RawCase {
        kind,
        shape: shape.to_vec(),
        count: 1,
        odd_source: false,
        seed: 7,
        ops: ops.to_vec(),
    }
}

/// The generator must reach both outcomes and every kind of op, or the
/// property says little.
#[test]
fn the_generator_covers_successes_and_failures_of_every_op() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = raw_case();
    let mut ok = 0;
    let mut failed: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..400 {
        let raw = strategy.new_tree(&mut runner).unwrap().current();
        let case = build(&raw);
        for word in [
            "transpose(",
            "transpose ",
            "permute",
            "reshape",
            "parts",
            "sizes",
            "slice",
            "concat",
            "stack(",
            "unstack(",
        ] {
            if case.rule.contains(word) {
                *seen.entry(word.to_string()).or_default() += 1;
            }
        }
        match case.outcome {
            Ok(_) => ok += 1,
            Err((_, codes)) => *failed.entry(codes[0]).or_default() += 1,
        }
    }
    assert!(ok > 150, "{ok} successes");
    for code in [
        "axis_out_of_range",
        "bad_permutation",
        "element_count_mismatch",
        "indivisible_split",
        "slice_out_of_range",
        "incompatible_concat",
    ] {
        assert!(failed.contains_key(code), "no `{code}` case: {failed:?}");
    }
    assert_eq!(seen.len(), 10, "{seen:?}");
}

#[test]
fn fixed_cases() {
    // A permute, a split and a concat that undoes it.
    for case in [
        raw(
            Kind::Chain,
            &[2, 3, 4],
            &[(2, false, 1), (3, false, 2), (6, false, 3)],
        ),
        raw(Kind::Stack, &[4, 2], &[(0, false, 5), (7, false, 9)]),
        raw(Kind::Unstack, &[3, 2, 2], &[(5, false, 11), (4, false, 12)]),
        raw(Kind::Chain, &[5], &[(7, true, 1)]),
        raw(Kind::Chain, &[2, 2], &[(1, false, 0)]),
        raw(Kind::Chain, &[2, 2, 2], &[(1, true, 0)]),
    ] {
        run_case(&case).unwrap();
    }
}
