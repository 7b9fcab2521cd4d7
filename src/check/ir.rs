//! The checked form of a mapping: every rule lowered to what it does to the
//! checkpoint at hand. Each op call of a rule is a [`Step`] holding the op it
//! resolved to, what its arguments evaluated to, and the name, shape and
//! dtype of every value before and after it; each rule keeps the tensors
//! every one of its bindings read and the targets it made. The plan is
//! built from this form, and `wmap invert` reads it (nothing downstream runs
//! the checker again).

use crate::dtype::DType;
use crate::ops::Builtin;
use crate::plan::{Node, NodeOp, Pick};
use crate::source::Span;

/// One value a pipeline carries at some step: a tensor in the making.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The source tensor it comes from first (`"a.weight (and 2 more)"`).
    pub tensor: String,
    /// Its shape at this step, in elements per axis.
    pub shape: Vec<u64>,
    /// Its dtype at this step.
    pub dtype: DType,
}

/// The (shape, dtype) of each of a step's values, names aside.
pub type Values = Vec<(Vec<u64>, DType)>;

/// How many different inputs a [`Step`] keeps (one more says "more").
pub const DISTINCT_INPUTS: usize = 32;

/// What an op call resolved to.
#[derive(Debug, Clone, PartialEq)]
pub enum Callee {
    /// A built-in op.
    Builtin(Builtin),
    /// An `op` defined in the mapping or a module it uses.
    User(String),
    /// Branches `[..]`: each arm's steps are in [`Step::arms`].
    Branches,
}

/// The arguments of a built-in op as evaluated, where the inverse needs them.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    /// Nothing beyond the values (or the op changed nothing).
    Nothing,
    /// The axis order a `transpose`/`permute` built.
    Permutation(Vec<usize>),
    /// The number an `add`/`mul` applies.
    Number(f64),
    /// The axis a `split`, `concat`, `stack` or `unstack` worked along.
    Axis(usize),
    /// What an `index_select`, `repeat` or `repeat_interleave` picked.
    Gather {
        /// The axis picked along.
        axis: usize,
        /// The entries the axis had.
        dim: u64,
        /// Which entries it picked.
        pick: Pick,
    },
    /// Where a `pad` added entries.
    Pad {
        /// The axis padded.
        axis: usize,
        /// The entries the axis had.
        dim: u64,
        /// The entries added before them.
        before: u64,
    },
}

impl Evaluated {
    /// Read off the node an op built for its first value.
    fn of(node: &Node) -> Evaluated {
        match &node.op {
            NodeOp::Permute(_, p) => Evaluated::Permutation(p.clone()),
            NodeOp::Add(_, x) | NodeOp::Mul(_, x) => Evaluated::Number(*x),
            NodeOp::Slice { axis, .. }
            | NodeOp::Index { axis, .. }
            | NodeOp::Concat(_, axis)
            | NodeOp::Stack(_, axis) => Evaluated::Axis(*axis),
            NodeOp::Gather { input, axis, pick } => Evaluated::Gather {
                axis: *axis,
                dim: input.shape[*axis],
                pick: pick.clone(),
            },
            NodeOp::Pad {
                input,
                axis,
                before,
                ..
            } => Evaluated::Pad {
                axis: *axis,
                dim: input.shape[*axis],
                before: *before,
            },
            NodeOp::Source(_)
            | NodeOp::Reshape(_)
            | NodeOp::Cast(_)
            | NodeOp::Unary(..)
            | NodeOp::Full(_)
            | NodeOp::BlockDequant { .. }
            | NodeOp::BlockQuant { .. } => Evaluated::Nothing,
        }
    }
}

/// One op call of a rule, as checked: seen for the first binding that
/// reached it, with every different input any binding brought.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The call's place in its file.
    pub span: Span,
    /// The op the call resolved to.
    pub callee: Callee,
    /// Whether any binding reached it (a rule whose every group was
    /// incomplete runs nothing).
    pub ran: bool,
    /// The first binding's values entering and leaving.
    pub inputs: Vec<Value>,
    /// The first binding's values leaving it.
    pub outputs: Vec<Value>,
    /// The different (shape, dtype) inputs seen, at most [`DISTINCT_INPUTS`] and one more.
    pub distinct: Vec<Values>,
    /// The arguments as evaluated for the first binding, where the inverse needs them.
    pub evaluated: Evaluated,
    /// A user op's parameters as bound for the first binding.
    pub params: Vec<(String, i64)>,
    /// A user op's body, as checked.
    pub body: Vec<Step>,
    /// For branches, each arm's steps (none for `_`).
    pub arms: Vec<Vec<Step>>,
}

impl Step {
    /// A step about to run `callee` on `inputs` (those of every binding).
    /// A step about to run `callee`: `first` is the first binding's values,
    /// `all` every binding's (shape, dtype) lanes.
    pub(crate) fn new<'n>(
        span: Span,
        callee: Callee,
        first: Vec<Value>,
        all: impl Iterator<Item = &'n [Node]>,
    ) -> Step {
        let mut distinct: Vec<Values> = Vec::new();
        for lanes in all {
            // Once full, nothing more is kept: no need to compare.
            if distinct.len() > DISTINCT_INPUTS {
                break;
            }
            let seen = distinct.iter().any(|d| {
                d.len() == lanes.len()
                    && d.iter()
                        .zip(lanes)
                        .all(|((shape, dtype), l)| *shape == l.shape && *dtype == l.dtype)
            });
            if !seen {
                distinct.push(lanes.iter().map(|l| (l.shape.clone(), l.dtype)).collect());
            }
        }
        Step {
            span,
            callee,
            ran: false,
            inputs: first,
            outputs: Vec::new(),
            distinct,
            evaluated: Evaluated::Nothing,
            params: Vec::new(),
            body: Vec::new(),
            arms: Vec::new(),
        }
    }

    /// Records what the call made of its first binding's first value
    /// (`before`): `after`, and the values it left.
    pub(crate) fn finish(
        &mut self,
        before: Option<&Node>,
        after: Option<&Node>,
        outputs: Vec<Value>,
    ) {
        self.ran = after.is_some() && !self.inputs.is_empty();
        // An op that changed nothing passes its input on: what that node
        // says belongs to an earlier step.
        if let Some(node) = after.filter(|a| Some(*a) != before) {
            self.evaluated = Evaluated::of(node);
        }
        self.outputs = outputs;
    }

    /// Whether every binding brought the same shapes (dtypes may differ:
    /// no inverse that asks depends on them).
    pub fn uniform(&self) -> bool {
        self.distinct
            .windows(2)
            .all(|w| w[0].len() == w[1].len() && w[0].iter().zip(&w[1]).all(|(a, b)| a.0 == b.0))
            && self.distinct.len() <= DISTINCT_INPUTS
    }

    /// The (shape, dtype) of each input.
    pub fn input_values(&self) -> Values {
        shapes(&self.inputs)
    }
}

/// Folds the steps of another run of the same calls (a user op expanded
/// once per binding) into `into`.
pub(crate) fn merge(into: &mut Vec<Step>, from: Vec<Step>) {
    if into.is_empty() {
        *into = from;
        return;
    }
    for (a, b) in into.iter_mut().zip(from) {
        if !a.ran && b.ran {
            let mut b = b;
            for v in std::mem::take(&mut a.distinct) {
                note_distinct(&mut b.distinct, v);
            }
            *a = b;
            continue;
        }
        for v in b.distinct {
            note_distinct(&mut a.distinct, v);
        }
        merge(&mut a.body, b.body);
        if a.arms.len() == b.arms.len() {
            for (x, y) in a.arms.iter_mut().zip(b.arms) {
                merge(x, y);
            }
        }
    }
}

fn shapes(values: &[Value]) -> Values {
    values.iter().map(|v| (v.shape.clone(), v.dtype)).collect()
}

fn note_distinct(distinct: &mut Vec<Values>, v: Values) {
    if !distinct.contains(&v) && distinct.len() <= DISTINCT_INPUTS {
        distinct.push(v);
    }
}

/// One binding of a rule's captures: the tensors it read and the targets
/// it made, as ranges of its rule's [`CheckedRule::sources`] and
/// [`CheckedRule::targets`].
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its source tensors.
    pub sources: std::ops::Range<usize>,
    /// Its targets.
    pub targets: std::ops::Range<usize>,
}

/// One rule, as checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRule {
    /// The rule's place in its file.
    pub span: Span,
    /// Every binding, in the order of their captures.
    pub groups: Vec<Group>,
    /// The source tensors each binding read, in order of first use: indices
    /// into the checkpoint's tensors (and the plan's `sources`), one run per group.
    pub sources: Vec<usize>,
    /// The targets each binding made: indices into the plan's `targets`, one
    /// run per group.
    pub targets: Vec<usize>,
    /// The (shape, dtype as stored) of the first binding's sources.
    pub stored: Values,
    /// Whether every binding's sources had the same stored dtypes.
    pub uniform_dtypes: bool,
    /// The pipeline's calls.
    pub steps: Vec<Step>,
}

/// One `drop`, as checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedDrop {
    /// The drop's place in its file.
    pub span: Span,
    /// How many source tensors it took.
    pub taken: usize,
}

/// A mapping checked against a checkpoint: its rules and drops lowered, and
/// the plan built from them.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The rules that matched something (a rule that matched nothing has no entry).
    pub rules: Vec<CheckedRule>,
    /// Every drop whose patterns compiled, in the order written.
    pub drops: Vec<CheckedDrop>,
    /// The plan built from the rules, drops and ties.
    pub plan: crate::plan::Plan,
}

impl CheckedRule {
    /// The source tensors of `group` (indices into the plan's `sources`).
    pub fn sources_of(&self, group: &Group) -> &[usize] {
        &self.sources[group.sources.clone()]
    }

    /// The targets of `group` (indices into the plan's `targets`).
    pub fn targets_of(&self, group: &Group) -> &[usize] {
        &self.targets[group.targets.clone()]
    }
}

impl Lowered {
    /// The checked form of the rule at `span`, if it matched anything.
    pub fn rule(&self, span: Span) -> Option<&CheckedRule> {
        self.rules.iter().find(|r| r.span == span)
    }
}
