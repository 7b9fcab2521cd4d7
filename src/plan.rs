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
}

impl Node {
    /// The number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// The size of the value in bytes.
    pub fn nbytes(&self) -> u64 {
        self.numel() * self.dtype.size() as u64
    }

    /// The node's inputs.
    pub fn children(&self) -> Vec<&Node> {
        match &self.op {
            NodeOp::Source(_) => Vec::new(),
            NodeOp::Permute(n, _)
            | NodeOp::Reshape(n)
            | NodeOp::Cast(n)
            | NodeOp::Add(n, _)
            | NodeOp::Mul(n, _) => vec![n],
            NodeOp::Slice { input, .. } | NodeOp::Index { input, .. } => vec![input],
            NodeOp::Concat(ns, _) | NodeOp::Stack(ns, _) => ns.iter().collect(),
        }
    }

    /// Calls `f` with the index of every source tensor this node reads, in
    /// order, repeats included.
    pub fn visit_sources(&self, f: &mut impl FnMut(usize)) {
        match &self.op {
            NodeOp::Source(i) => f(*i),
            NodeOp::Permute(n, _)
            | NodeOp::Reshape(n)
            | NodeOp::Cast(n)
            | NodeOp::Add(n, _)
            | NodeOp::Mul(n, _) => n.visit_sources(f),
            NodeOp::Slice { input, .. } | NodeOp::Index { input, .. } => input.visit_sources(f),
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
                "bytes": self.target_bytes(),
            },
            "targets": targets,
            "dropped": self.dropped,
        })
    }
}
