//! The checked plan: for every target, the expression that computes it from
//! source tensors, with every shape and dtype known. The executor evaluates
//! these expressions and never re-derives anything.

use serde::Serialize;

use crate::checkpoint::Tensor;
use crate::dtype::DType;

/// How a value is computed. Every node knows its shape and dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// How the value is computed from its inputs.
    pub op: NodeOp,
    /// The value's shape, in elements per axis.
    pub shape: Vec<u64>,
    /// The value's element type.
    pub dtype: DType,
}

/// The operation of a [`Node`]; its output shape and dtype are the node's.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOp {
    /// A source tensor, by index into the checkpoint's tensor list.
    Source(usize),
    /// Reorder axes: output axis `k` is input axis `perm[k]`.
    Permute(Box<Node>, Vec<usize>),
    /// Same elements in row-major order, new shape.
    Reshape(Box<Node>),
    /// Keep `start..end` along `axis`.
    Slice {
        /// The tensor sliced.
        input: Box<Node>,
        /// The axis sliced, counted from 0.
        axis: usize,
        /// The first index kept.
        start: u64,
        /// One past the last index kept.
        end: u64,
    },
    /// Take index `index` along `axis`, removing that axis.
    Index {
        /// The tensor indexed.
        input: Box<Node>,
        /// The axis removed, counted from 0.
        axis: usize,
        /// The position kept along `axis`.
        index: u64,
    },
    /// Join along an existing axis.
    Concat(Vec<Node>, usize),
    /// Join along a new axis.
    Stack(Vec<Node>, usize),
    /// Convert to this node's dtype.
    Cast(Box<Node>),
    /// Add a number to every element (floating tensors).
    Add(Box<Node>, f64),
    /// Multiply every element by a number (floating tensors).
    Mul(Box<Node>, f64),
    /// A function of each element on its own (floating tensors).
    Unary(Box<Node>, Unary),
    /// Entries of `axis` picked by index, in the order given.
    Gather {
        /// The tensor read.
        input: Box<Node>,
        /// The axis picked along, counted from 0.
        axis: usize,
        /// Which entries, in output order.
        pick: Pick,
    },
    /// New entries before and after the existing ones along `axis`.
    Pad {
        /// The tensor padded.
        input: Box<Node>,
        /// The axis padded, counted from 0.
        axis: usize,
        /// Entries added before the first.
        before: u64,
        /// Entries added after the last.
        after: u64,
        /// What the new entries hold.
        fill: Fill,
    },
    /// A tensor that no source holds: every element the number, rounded
    /// once to the node's dtype.
    Full(f64),
    /// Block-scaled values times their block's scale, in f32 (each product
    /// rounded once): element `[.., r, c]` by scale `[.., r / bm, c / bn]`.
    BlockDequant {
        /// The values (FP8).
        values: Box<Node>,
        /// One scale per block, the last block of an axis possibly partial.
        scales: Box<Node>,
        /// Rows and columns of a block.
        block: [u64; 2],
    },
    /// FP8 E4M3 block quantization, as transformers' `Fp8Quantize`: per
    /// block, `scale = 448 / max|x|` (1 for an all-zero block) in f32, as torch
    /// computes it (`448 * (1 / max)`); the
    /// values are `x * scale` clamped to ±448 and rounded to E4M3, the
    /// scales `1 / scale`.
    BlockQuant {
        /// The tensor quantized (read as f32).
        input: Box<Node>,
        /// Rows and columns of a block.
        block: [u64; 2],
        /// Which of the two results this node is.
        part: QuantPart,
    },
}

/// The two results of a [`NodeOp::BlockQuant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantPart {
    /// The quantized values.
    Values,
    /// The inverse scales, one per block (`weight_scale_inv`).
    Scales,
}

/// An elementwise function of a [`NodeOp::Unary`] node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unary {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// The square root.
    Sqrt,
    /// `e^x`.
    Exp,
    /// The natural logarithm.
    Log,
}

impl Unary {
    /// The op's name in mappings and plans.
    pub fn name(self) -> &'static str {
        match self {
            Unary::Neg => "neg",
            Unary::Abs => "abs",
            Unary::Sqrt => "sqrt",
            Unary::Exp => "exp",
            Unary::Log => "log",
        }
    }
}

/// Which entries of an axis a [`NodeOp::Gather`] picks, output entry by
/// output entry, held compactly (a repeat count never becomes a list).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pick {
    /// The entries at these indices.
    Indices(Vec<u64>),
    /// The whole axis, `times` times over: 0, 1, .., 0, 1, ...
    Tiled {
        /// The copies made.
        times: u64,
    },
    /// Each entry `times` times in a row: 0, 0, 1, 1, ...
    EachRepeated {
        /// The copies of each entry.
        times: u64,
    },
}

impl Pick {
    /// The input entry that output entry `j` reads, for an input axis of
    /// `dim` entries.
    pub fn source(&self, j: u64, dim: u64) -> u64 {
        match self {
            Pick::Indices(ix) => ix[j as usize],
            Pick::Tiled { .. } => j % dim,
            Pick::EachRepeated { times } => j / times,
        }
    }

    /// Output entries, for an input axis of `dim` entries (None on overflow).
    pub fn len(&self, dim: u64) -> Option<u64> {
        match self {
            Pick::Indices(ix) => Some(ix.len() as u64),
            Pick::Tiled { times } | Pick::EachRepeated { times } => dim.checked_mul(*times),
        }
    }
}

/// What a [`NodeOp::Pad`] puts in the entries it adds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// This number, rounded once to the dtype.
    Value(f64),
    /// The mean of the existing entries along the axis, at each position of
    /// the other axes: summed in f64 in index order, divided once, rounded
    /// once to the dtype.
    Mean,
}

impl Node {
    /// The number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// The size of the value in bytes (the checker keeps it within 64 bits).
    pub fn nbytes(&self) -> u64 {
        self.dtype.nbytes(self.numel()).unwrap_or(u64::MAX)
    }

    /// The node's inputs.
    pub fn children(&self) -> Vec<&Node> {
        match &self.op {
            NodeOp::Source(_) | NodeOp::Full(_) => Vec::new(),
            NodeOp::Permute(n, _)
            | NodeOp::Reshape(n)
            | NodeOp::Cast(n)
            | NodeOp::Add(n, _)
            | NodeOp::Mul(n, _)
            | NodeOp::Unary(n, _) => vec![n],
            NodeOp::Slice { input, .. }
            | NodeOp::Index { input, .. }
            | NodeOp::Gather { input, .. }
            | NodeOp::Pad { input, .. }
            | NodeOp::BlockQuant { input, .. } => vec![input],
            NodeOp::BlockDequant { values, scales, .. } => vec![values, scales],
            NodeOp::Concat(ns, _) | NodeOp::Stack(ns, _) => ns.iter().collect(),
        }
    }

    /// Calls `f` with the index of every source tensor this node reads, in
    /// order, repeats included.
    pub fn visit_sources(&self, f: &mut impl FnMut(usize)) {
        match &self.op {
            NodeOp::Source(i) => f(*i),
            NodeOp::Full(_) => {}
            NodeOp::Permute(n, _)
            | NodeOp::Reshape(n)
            | NodeOp::Cast(n)
            | NodeOp::Add(n, _)
            | NodeOp::Mul(n, _)
            | NodeOp::Unary(n, _) => n.visit_sources(f),
            NodeOp::Slice { input, .. }
            | NodeOp::Index { input, .. }
            | NodeOp::Gather { input, .. }
            | NodeOp::Pad { input, .. }
            | NodeOp::BlockQuant { input, .. } => input.visit_sources(f),
            NodeOp::BlockDequant { values, scales, .. } => {
                values.visit_sources(f);
                scales.visit_sources(f);
            }
            NodeOp::Concat(ns, _) | NodeOp::Stack(ns, _) => {
                for n in ns {
                    n.visit_sources(f);
                }
            }
        }
    }

    /// Indices of the source tensors this node reads, in order of first use.
    pub fn sources(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.collect_sources(&mut out);
        out
    }

    fn collect_sources(&self, out: &mut Vec<usize>) {
        if let NodeOp::Source(i) = self.op {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        for c in self.children() {
            c.collect_sources(out);
        }
    }

    /// A readable rendering: `slice(transpose(src0), axis=1, 0..64)`.
    pub fn describe(&self, tensors: &[Tensor]) -> String {
        let d = |n: &Node| n.describe(tensors);
        match &self.op {
            NodeOp::Source(i) => format!("\"{}\"", tensors[*i].name),
            NodeOp::Permute(n, p) => {
                let p: Vec<String> = p.iter().map(|a| a.to_string()).collect();
                format!("permute({}, [{}])", d(n), p.join(", "))
            }
            NodeOp::Reshape(n) => format!("reshape({}, {:?})", d(n), self.shape),
            NodeOp::Slice {
                input,
                axis,
                start,
                end,
            } => format!("slice({}, axis={axis}, {start}..{end})", d(input)),
            NodeOp::Index { input, axis, index } => {
                format!("index({}, axis={axis}, {index})", d(input))
            }
            NodeOp::Concat(ns, axis) => format!(
                "concat([{}], axis={axis})",
                ns.iter().map(d).collect::<Vec<_>>().join(", ")
            ),
            NodeOp::Stack(ns, axis) => format!(
                "stack([{}], axis={axis})",
                ns.iter().map(d).collect::<Vec<_>>().join(", ")
            ),
            NodeOp::Cast(n) => format!("cast({}, {})", d(n), self.dtype),
            NodeOp::Add(n, x) => format!("add({}, {x})", d(n)),
            NodeOp::Mul(n, x) => format!("mul({}, {x})", d(n)),
            NodeOp::Unary(n, u) => format!("{}({})", u.name(), d(n)),
            NodeOp::Gather { input, axis, pick } => match pick {
                Pick::Indices(ix) => {
                    let ix: Vec<String> = ix.iter().map(|i| i.to_string()).collect();
                    format!("select({}, axis={axis}, [{}])", d(input), ix.join(", "))
                }
                Pick::Tiled { times } => format!("repeat({}, axis={axis}, {times})", d(input)),
                Pick::EachRepeated { times } => {
                    format!("repeat_interleave({}, axis={axis}, {times})", d(input))
                }
            },
            NodeOp::Pad {
                input,
                axis,
                before,
                after,
                fill,
            } => {
                let fill = match fill {
                    Fill::Value(x) => x.to_string(),
                    Fill::Mean => "mean".into(),
                };
                format!(
                    "pad({}, axis={axis}, before={before}, after={after}, fill={fill})",
                    d(input)
                )
            }
            NodeOp::Full(x) => format!("full({:?}, {x}, {})", self.shape, self.dtype),
            NodeOp::BlockDequant {
                values,
                scales,
                block,
            } => format!("dequant_fp8({}, {}, block={block:?})", d(values), d(scales)),
            NodeOp::BlockQuant { input, block, part } => {
                let which = match part {
                    QuantPart::Values => "values",
                    QuantPart::Scales => "scales",
                };
                format!("quant_fp8({}, block={block:?}).{which}", d(input))
            }
        }
    }
}

/// One tensor of the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The tensor's name in the output checkpoint.
    pub name: String,
    /// How the tensor is computed, with its shape and dtype.
    pub node: Node,
    /// `file:line` of the rule (or tie) that produces it.
    pub rule: String,
}

/// The result of checking a mapping against a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The `target` model, if declared.
    pub target_model: Option<String>,
    /// The source tensors, as in the checkpoint's headers.
    pub sources: Vec<Tensor>,
    /// Output tensors, sorted by name.
    pub targets: Vec<Target>,
    /// Source tensors taken by `drop`.
    pub dropped: Vec<String>,
    /// Number of rules, drops, ties and global casts in the mapping.
    pub rules: usize,
    /// The JSON files the mapping writes (`write`), in its order.
    pub files: Vec<OutputFile>,
}

/// A JSON file of the output that a `write` statement makes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    /// Its name in the output folder.
    pub name: String,
    /// Its content.
    pub value: serde_json::Value,
}

/// How a plan's targets meet the tensors it should write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fit {
    /// Wanted tensors that the plan does not write with that name, shape and dtype.
    pub missing: Vec<Tensor>,
    /// Tensors the plan writes that are not wanted as they are written.
    pub extra: Vec<Tensor>,
}

impl Fit {
    /// Whether the plan writes exactly the wanted tensors.
    pub fn exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty()
    }
}

impl Plan {
    /// The plan's targets as the tensors they will be, by name.
    pub fn written(&self) -> Vec<Tensor> {
        self.targets
            .iter()
            .map(|t| Tensor {
                name: t.name.clone(),
                dtype: t.node.dtype,
                shape: t.node.shape.clone(),
            })
            .collect()
    }

    /// How the targets meet `wanted`: what is missing, in `wanted`'s order,
    /// and what is extra, by name.
    pub fn fit(&self, wanted: &[Tensor]) -> Fit {
        let key = |t: &Tensor| (t.name.clone(), t.shape.clone(), t.dtype);
        let written = self.written();
        let have: std::collections::HashSet<_> = written.iter().map(key).collect();
        let want: std::collections::HashSet<_> = wanted.iter().map(key).collect();
        Fit {
            missing: wanted
                .iter()
                .filter(|t| !have.contains(&key(t)))
                .cloned()
                .collect(),
            extra: written
                .into_iter()
                .filter(|t| !want.contains(&key(t)))
                .collect(),
        }
    }

    /// How many targets the plan makes from no source (`make` rules).
    pub fn made(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| {
                let mut reads = false;
                t.node.visit_sources(&mut |_| reads = true);
                !reads
            })
            .count()
    }

    /// Bytes of tensor data the plan writes.
    pub fn target_bytes(&self) -> u64 {
        self.targets.iter().map(|t| t.node.nbytes()).sum()
    }

    /// The plan as the JSON document of `wmap plan --json` (see docs/plan-json.md).
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct JsonTarget<'a> {
            name: &'a str,
            shape: &'a [u64],
            dtype: &'static str,
            bytes: u64,
            sources: Vec<&'a str>,
            ops: String,
            rule: &'a str,
        }
        let targets: Vec<JsonTarget> = self
            .targets
            .iter()
            .map(|t| JsonTarget {
                name: &t.name,
                shape: &t.node.shape,
                dtype: t.node.dtype.name(),
                bytes: t.node.nbytes(),
                sources: t
                    .node
                    .sources()
                    .into_iter()
                    .map(|i| self.sources[i].name.as_str())
                    .collect(),
                ops: t.node.describe(&self.sources),
                rule: &t.rule,
            })
            .collect();
        serde_json::json!({
            "version": 1,
            "target_model": self.target_model,
            "summary": {
                "rules": self.rules,
                "source_tensors": self.sources.len(),
                "target_tensors": self.targets.len(),
                "dropped_tensors": self.dropped.len(),
                "made_tensors": self.made(),
                "bytes": self.target_bytes(),
            },
            "targets": targets,
            "dropped": self.dropped,
        })
    }
}
