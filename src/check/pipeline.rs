//! Running a rule's pipeline on shapes and dtypes: every op checks its
//! preconditions and builds the plan node that the executor will evaluate.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use super::env::{Lets, Scope};
use super::matching::{show_binding, Binding};
use super::ops::Builtin;
use crate::checkpoint::{Config, TensorInfo};
use crate::diagnostics::{Diagnostic, ShapeText};
use crate::dtype::DType;
use crate::plan::{Node, NodeOp};
use crate::source::Span;
use crate::syntax::{Arg, ArgValue, ExprKind, OpCall, OpDef};

/// One run of a rule: a binding of its captures and the values it carries.
#[derive(Debug, Clone)]
pub struct Instance {
    pub binding: Binding,
    pub lanes: Vec<Node>,
    /// Shapes entering each enclosing pipeline (the rule's, then each `op`'s).
    entry: Vec<Vec<Vec<u64>>>,
}

impl Instance {
    pub fn new(binding: Binding, lanes: Vec<Node>) -> Self {
        let shapes = lanes.iter().map(|l| l.shape.clone()).collect();
        Instance {
            binding,
            lanes,
            entry: vec![shapes],
        }
    }
}

/// What pipelines need to know about the rest of the mapping.
pub struct Pipelines<'a> {
    pub lets: &'a Lets,
    pub config: &'a Config,
    pub ops: &'a HashMap<String, &'a OpDef>,
    pub sources: &'a [TensorInfo],
    /// Where to record what each op call saw (for `wmap invert`).
    pub trace: Option<&'a RefCell<Trace>>,
}

/// The values entering and leaving every op call, recorded for the first
/// instance that reaches it, keyed by the call's path: the spans of the `op`
/// calls it is inside, then its own.
#[derive(Debug, Default)]
pub struct Trace {
    path: Vec<Span>,
    pub calls: HashMap<Vec<Span>, CallTrace>,
    /// A user op call's parameters as bound for the first instance.
    pub params: HashMap<Vec<Span>, Vec<(String, i64)>>,
    /// Per rule: the source names and target names of every instance, and
    /// the (shape, dtype as stored) of the first instance's sources.
    pub rules: HashMap<Span, RuleTrace>,
    /// Per drop: how many tensors it took.
    pub drops: HashMap<Span, usize>,
}

#[derive(Debug, Clone, Default)]
pub struct RuleTrace {
    pub instances: Vec<(Vec<String>, Vec<String>)>,
    pub stored: Values,
    /// Whether every instance's sources had the same stored dtypes.
    pub uniform_dtypes: bool,
}

/// (shape, dtype) of each value.
pub type Values = Vec<(Vec<u64>, DType)>;

#[derive(Debug, Clone)]
pub struct CallTrace {
    pub inputs: Values,
    pub outputs: Values,
    /// The different inputs seen (at most [`DISTINCT_INPUTS`] and one more).
    pub distinct: Vec<Values>,
    /// The axis order a `transpose`/`permute` built, and the number an
    /// `add`/`mul` applies (read from the first value it produced).
    pub perm: Option<Vec<usize>>,
    pub scalar: Option<f64>,
}

/// How many different inputs a [`CallTrace`] keeps (one more says "more").
pub const DISTINCT_INPUTS: usize = 32;

impl CallTrace {
    /// Whether every instance brought the same shapes and dtypes.
    pub fn uniform(&self) -> bool {
        self.distinct.len() <= 1
    }
}

fn note_distinct(distinct: &mut Vec<Values>, v: Values) {
    if !distinct.contains(&v) && distinct.len() <= DISTINCT_INPUTS {
        distinct.push(v);
    }
}

fn values(inst: &Instance) -> Values {
    inst.lanes
        .iter()
        .map(|l| (l.shape.clone(), l.dtype))
        .collect()
}

/// A name for a node in messages: its first source tensor.
fn node_name(sources: &[TensorInfo], node: &Node) -> String {
    let srcs = node.sources();
    match srcs.as_slice() {
        [] => "?".into(),
        [one] => sources[*one].name.clone(),
        [first, rest @ ..] => format!("{} (and {} more)", sources[*first].name, rest.len()),
    }
}

fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let rank = rank as i64;
    let a = if axis < 0 { axis + rank } else { axis };
    (0..rank).contains(&a).then_some(a as usize)
}

impl Pipelines<'_> {
    /// Runs `calls` over `instances`; `None` when a problem was reported.
    pub fn run(
        &self,
        calls: &[OpCall],
        mut instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        for call in calls {
            instances = self.call(call, instances, params, stack, out)?;
        }
        Some(instances)
    }

    fn call(
        &self,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let Some(trace) = self.trace else {
            return self.dispatch(call, instances, params, stack, out);
        };
        let inputs = instances.first().map(values);
        let mut distinct: Vec<Values> = Vec::new();
        for inst in &instances {
            note_distinct(&mut distinct, values(inst));
        }
        trace.borrow_mut().path.push(call.span);
        let result = self.dispatch(call, instances, params, stack, out);
        let mut t = trace.borrow_mut();
        let key = t.path.clone();
        t.path.pop();
        if let (Some(inputs), Some(first)) = (inputs, result.as_ref().and_then(|r| r.first())) {
            let lane = first.lanes.first().map(|l| &l.op);
            let entry = t.calls.entry(key).or_insert_with(|| CallTrace {
                inputs,
                outputs: values(first),
                distinct: Vec::new(),
                perm: match lane {
                    Some(NodeOp::Permute(_, p)) => Some(p.clone()),
                    _ => None,
                },
                scalar: match lane {
                    Some(NodeOp::Add(_, x) | NodeOp::Mul(_, x)) => Some(*x),
                    _ => None,
                },
            });
            for v in distinct {
                note_distinct(&mut entry.distinct, v);
            }
        }
        result
    }

    fn dispatch(
        &self,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let name = call.name.value.as_str();
        if let Some(def) = self.ops.get(name) {
            return self.user_op(call, def, instances, params, stack, out);
        }
        // Unknown ops are reported once by the static check of pipelines.
        let op = Builtin::from_name(name)?;
        match op {
            Builtin::Stack => self.stack(call, instances, params, out),
            Builtin::Unstack => self.unstack(call, instances, params, out),
            Builtin::Split | Builtin::Concat => instances
                .into_iter()
                .map(|mut inst| {
                    let lanes = std::mem::take(&mut inst.lanes);
                    let scope = self.scope(params, &inst);
                    let lanes = if op == Builtin::Split {
                        self.split(call, &scope, &lanes, out)?
                    } else {
                        vec![self.concat(call, &scope, lanes, out)?]
                    };
                    inst.lanes = lanes;
                    Some(inst)
                })
                .collect(),
            Builtin::Transpose
            | Builtin::Permute
            | Builtin::Reshape
            | Builtin::Slice
            | Builtin::Cast
            | Builtin::Add
            | Builtin::Mul => instances
                .into_iter()
                .map(|mut inst| {
                    let lanes = std::mem::take(&mut inst.lanes);
                    let scope = self.scope(params, &inst);
                    inst.lanes = lanes
                        .into_iter()
                        .map(|lane| self.unary(op, call, &scope, lane, out))
                        .collect::<Option<Vec<Node>>>()?;
                    Some(inst)
                })
                .collect(),
        }
    }

    fn scope<'s>(&'s self, params: &'s [(String, i64)], inst: &'s Instance) -> Scope<'s> {
        Scope {
            lets: self.lets,
            config: self.config,
            params,
            shape: inst.entry.last().map(Vec::as_slice),
        }
    }

    fn user_op(
        &self,
        call: &OpCall,
        def: &OpDef,
        mut instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        if stack.contains(&def.name.value) || stack.len() > 64 {
            return None; // reported by the static recursion check
        }
        let names: Vec<&str> = def.params.iter().map(|p| p.value.as_str()).collect();
        // Each instance's arguments are evaluated in the caller's scope.
        let mut per_instance: Vec<Vec<(String, i64)>> = Vec::new();
        for inst in &instances {
            let slots = bind_args(call, &names, out)?;
            let scope = self.scope(params, inst);
            let mut bound = Vec::new();
            for (name, slot) in names.iter().zip(slots) {
                let Some(value) = slot else {
                    out.push(bad_args(call, format!("missing argument `{name}`")));
                    return None;
                };
                bound.push((name.to_string(), self.int(value, &scope, out)?));
            }
            per_instance.push(bound);
        }
        if let (Some(trace), Some(first)) = (self.trace, per_instance.first()) {
            let mut t = trace.borrow_mut();
            let key = t.path.clone();
            t.params.entry(key).or_insert_with(|| first.clone());
        }
        for inst in &mut instances {
            let shapes = inst.lanes.iter().map(|l| l.shape.clone()).collect();
            inst.entry.push(shapes);
        }
        stack.push(def.name.value.clone());
        let result = if per_instance.windows(2).all(|w| w[0] == w[1]) {
            let bound = per_instance.into_iter().next().unwrap_or_default();
            self.run(&def.body, instances, &bound, stack, out)
        } else {
            let mut all = Vec::new();
            for (inst, bound) in instances.into_iter().zip(per_instance) {
                all.extend(self.run(&def.body, vec![inst], &bound, stack, out)?);
            }
            Some(all)
        };
        stack.pop();
        let mut result = result?;
        for inst in &mut result {
            inst.entry.pop();
        }
        Some(result)
    }

    /// Ops that apply to each value on its own.
    fn unary(
        &self,
        op: Builtin,
        call: &OpCall,
        scope: &Scope,
        lane: Node,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Node> {
        let name = op.name();
        let tensor = || node_name(self.sources, &lane);
        let shape = lane.shape.clone();
        let rank = shape.len();
        match op {
            Builtin::Transpose => {
                let slots = bind_args(call, &["a", "b"], out)?;
                let (a, b) = match (slots[0], slots[1]) {
                    (None, None) => {
                        if rank != 2 {
                            out.push(Diagnostic::BadPermutation {
                                span: call.span,
                                tensor: tensor(),
                                shape: ShapeText(shape),
                                problem: format!(
                                    "`transpose` without axes swaps the axes of a 2-D tensor; this one is {rank}-D"
                                ),
                            });
                            return None;
                        }
                        (0, 1)
                    }
                    (Some(a), Some(b)) => {
                        let a = self.axis(a, scope, &lane, rank, out)?;
                        let b = self.axis(b, scope, &lane, rank, out)?;
                        (a, b)
                    }
                    _ => {
                        out.push(bad_args(
                            call,
                            "give both axes, or none for a 2-D tensor".into(),
                        ));
                        return None;
                    }
                };
                let mut perm: Vec<usize> = (0..rank).collect();
                perm.swap(a, b);
                Some(permute(lane, perm))
            }
            Builtin::Permute => {
                let values = variadic_ints(self, call, scope, out)?;
                let mut perm = Vec::new();
                for (v, arg) in values.iter().zip(&call.args) {
                    match normalize_axis(*v, rank) {
                        Some(a) => perm.push(a),
                        None => {
                            out.push(Diagnostic::AxisOutOfRange {
                                span: arg.span,
                                tensor: tensor(),
                                axis: *v,
                                shape: ShapeText(shape),
                            });
                            return None;
                        }
                    }
                }
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..rank).collect::<Vec<_>>() {
                    out.push(Diagnostic::BadPermutation {
                        span: call.span,
                        tensor: tensor(),
                        shape: ShapeText(shape),
                        problem: format!(
                            "permute({}) is not a permutation of the {rank} axes",
                            values
                                .iter()
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                    return None;
                }
                Some(permute(lane, perm))
            }
            Builtin::Reshape => {
                let values = variadic_ints(self, call, scope, out)?;
                let numel: u64 = lane.numel();
                let mut inferred = None;
                let mut known: u64 = 1;
                for (i, v) in values.iter().enumerate() {
                    match *v {
                        -1 if inferred.is_none() => inferred = Some(i),
                        v if v >= 0 => {
                            known = match known.checked_mul(v as u64) {
                                Some(k) => k,
                                None => {
                                    out.push(Diagnostic::IntegerOverflow {
                                        span: call.span,
                                        what: "the element count of this shape".into(),
                                    });
                                    return None;
                                }
                            }
                        }
                        _ => {
                            out.push(bad_args(
                                call,
                                "dimensions are non-negative, with at most one -1".into(),
                            ));
                            return None;
                        }
                    }
                }
                let mut new_shape: Vec<u64> = values.iter().map(|v| (*v).max(0) as u64).collect();
                if let Some(i) = inferred {
                    if known == 0 || !numel.is_multiple_of(known) {
                        let shown = values
                            .iter()
                            .map(|v| if *v < 0 { 0 } else { *v as u64 })
                            .collect();
                        out.push(Diagnostic::ElementCountMismatch {
                            span: call.span,
                            tensor: tensor(),
                            from: ShapeText(shape),
                            to: ShapeText(shown),
                        });
                        return None;
                    }
                    new_shape[i] = numel / known;
                } else if known != numel {
                    out.push(Diagnostic::ElementCountMismatch {
                        span: call.span,
                        tensor: tensor(),
                        from: ShapeText(shape),
                        to: ShapeText(new_shape),
                    });
                    return None;
                }
                if new_shape == lane.shape {
                    return Some(lane);
                }
                let dtype = lane.dtype;
                Some(Node {
                    op: NodeOp::Reshape(Box::new(lane)),
                    shape: new_shape,
                    dtype,
                })
            }
            Builtin::Slice => {
                let slots = bind_args(call, &["axis", "start", "end"], out)?;
                let (Some(axis), Some(start), Some(end)) = (slots[0], slots[1], slots[2]) else {
                    out.push(bad_args(call, "needs `axis`, `start` and `end`".into()));
                    return None;
                };
                let axis = self.axis(axis, scope, &lane, rank, out)?;
                let dim = shape[axis] as i64;
                let from_end = |v: i64| if v < 0 { v + dim } else { v };
                let start = from_end(self.int(start, scope, out)?);
                let end = from_end(self.int(end, scope, out)?);
                if start < 0 || start > end || end > dim {
                    out.push(Diagnostic::SliceOutOfRange {
                        span: call.span,
                        tensor: tensor(),
                        shape: ShapeText(shape),
                        axis,
                        start,
                        end,
                    });
                    return None;
                }
                let mut new_shape = lane.shape.clone();
                new_shape[axis] = (end - start) as u64;
                let dtype = lane.dtype;
                Some(Node {
                    op: NodeOp::Slice {
                        input: Box::new(lane),
                        axis,
                        start: start as u64,
                        end: end as u64,
                    },
                    shape: new_shape,
                    dtype,
                })
            }
            Builtin::Cast => {
                let slots = bind_args(call, &["dtype"], out)?;
                let Some(arg) = slots[0] else {
                    out.push(bad_args(call, "needs a dtype, as in `cast(f16)`".into()));
                    return None;
                };
                let to = dtype_arg(arg, out)?;
                Some(cast(lane, to))
            }
            Builtin::Add | Builtin::Mul => {
                let slots = bind_args(call, &["x"], out)?;
                let Some(arg) = slots[0] else {
                    out.push(bad_args(call, "needs a number".into()));
                    return None;
                };
                let x = match arg {
                    ArgValue::Float(f) => f.value,
                    other => self.int(other, scope, out)? as f64,
                };
                if !lane.dtype.is_float() {
                    out.push(Diagnostic::NotFloat {
                        span: call.span,
                        op: name.into(),
                        tensor: tensor(),
                        dtype: lane.dtype,
                    });
                    return None;
                }
                use crate::exec::convert::{number_text, scalar_misfit, Arith};
                let arith = if op == Builtin::Add {
                    Arith::Add(x)
                } else {
                    Arith::Mul(x)
                };
                if let Some((held, becomes)) = scalar_misfit(lane.dtype, arith) {
                    out.push(Diagnostic::NumberOutOfRange {
                        span: arg.span(),
                        text: number_text(x),
                        dtype: held,
                        becomes,
                        op: Some(name.into()),
                    });
                    return None;
                }
                let (shape, dtype) = (lane.shape.clone(), lane.dtype);
                let node = if op == Builtin::Add {
                    NodeOp::Add(Box::new(lane), x)
                } else {
                    NodeOp::Mul(Box::new(lane), x)
                };
                Some(Node {
                    op: node,
                    shape,
                    dtype,
                })
            }
            Builtin::Split | Builtin::Concat | Builtin::Stack | Builtin::Unstack => {
                unreachable!("`{name}` is not applied value by value")
            }
        }
    }

    fn split(
        &self,
        call: &OpCall,
        scope: &Scope,
        lanes: &[Node],
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Node>> {
        let [lane] = lanes else {
            out.push(Diagnostic::ArityForOp {
                span: call.span,
                op: Builtin::Split.name().into(),
                needs: "one value",
                found: lanes.len(),
            });
            return None;
        };
        let slots = bind_args(call, &["axis", "parts", "sizes"], out)?;
        let Some(axis) = slots[0] else {
            out.push(bad_args(
                call,
                "needs `axis`, as in `split(axis=0, parts=3)`".into(),
            ));
            return None;
        };
        let rank = lane.shape.len();
        let axis = self.axis(axis, scope, lane, rank, out)?;
        let dim = lane.shape[axis];
        let tensor = node_name(self.sources, lane);
        let sizes: Vec<u64> = match (slots[1], slots[2]) {
            (Some(parts), None) => {
                let parts = self.int(parts, scope, out)?;
                if parts > super::MAX_VALUES_PER_OP as i64 {
                    out.push(Self::too_much(
                        call,
                        crate::diagnostics::Limit::ValuesFromOneOp,
                        parts as u64,
                        super::MAX_VALUES_PER_OP,
                    ));
                    return None;
                }
                if parts <= 0 || dim % parts as u64 != 0 {
                    out.push(Diagnostic::IndivisibleSplit {
                        span: call.span,
                        tensor,
                        shape: ShapeText(lane.shape.clone()),
                        axis,
                        how: format!(
                            "into {parts} equal parts: {dim} is not a multiple of {parts}"
                        ),
                    });
                    return None;
                }
                vec![dim / parts as u64; parts as usize]
            }
            (None, Some(sizes)) => {
                let ArgValue::List(list) = sizes else {
                    out.push(bad_args(
                        call,
                        "`sizes` is a list, as in `sizes=[64, 16, 16]`".into(),
                    ));
                    return None;
                };
                let mut values = Vec::new();
                for item in &list.value {
                    let v = self.int(item, scope, out)?;
                    if v < 0 {
                        out.push(bad_args(call, "sizes are non-negative".into()));
                        return None;
                    }
                    values.push(v as u64);
                }
                let total: Option<u64> = values.iter().try_fold(0u64, |a, &v| a.checked_add(v));
                if total != Some(dim) {
                    out.push(Diagnostic::IndivisibleSplit {
                        span: call.span,
                        tensor,
                        shape: ShapeText(lane.shape.clone()),
                        axis,
                        how: format!(
                            "into sizes {}: they add up to {}, not {dim}",
                            ShapeText(values.clone()),
                            total
                                .map(|t| t.to_string())
                                .unwrap_or_else(|| "too much".into())
                        ),
                    });
                    return None;
                }
                values
            }
            _ => {
                out.push(bad_args(
                    call,
                    "give exactly one of `parts` and `sizes`".into(),
                ));
                return None;
            }
        };
        let mut start = 0;
        Some(
            sizes
                .into_iter()
                .map(|size| {
                    let mut shape = lane.shape.clone();
                    shape[axis] = size;
                    let node = Node {
                        op: NodeOp::Slice {
                            input: Box::new(lane.clone()),
                            axis,
                            start,
                            end: start + size,
                        },
                        shape,
                        dtype: lane.dtype,
                    };
                    start += size;
                    node
                })
                .collect(),
        )
    }

    fn concat(
        &self,
        call: &OpCall,
        scope: &Scope,
        lanes: Vec<Node>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Node> {
        let slots = bind_args(call, &["axis"], out)?;
        let Some(axis) = slots[0] else {
            out.push(bad_args(
                call,
                "needs `axis`, as in `concat(axis=0)`".into(),
            ));
            return None;
        };
        let first = lanes.first()?;
        let rank = first.shape.len();
        let axis = self.axis(axis, scope, first, rank, out)?;
        if lanes.len() == 1 {
            return lanes.into_iter().next();
        }
        let compatible = lanes.iter().all(|l| {
            l.shape.len() == rank
                && l.shape
                    .iter()
                    .zip(&first.shape)
                    .enumerate()
                    .all(|(k, (a, b))| k == axis || a == b)
        });
        if !compatible {
            out.push(Diagnostic::IncompatibleConcat {
                span: call.span,
                op: "concat",
                axis,
                shapes: lanes
                    .iter()
                    .map(|l| (node_name(self.sources, l), ShapeText(l.shape.clone())))
                    .collect(),
            });
            return None;
        }
        let lanes = self.common_dtype(call, "concat", lanes, out)?;
        let mut shape = first_shape(&lanes);
        shape[axis] = lanes.iter().map(|l| l.shape[axis]).sum();
        let dtype = lanes[0].dtype;
        Some(Node {
            op: NodeOp::Concat(lanes, axis),
            shape,
            dtype,
        })
    }

    /// Converts mixed dtypes to their promotion, refusing lossy conversions.
    fn common_dtype(
        &self,
        call: &OpCall,
        op: &str,
        lanes: Vec<Node>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Node>> {
        let dtype = lanes.iter().map(|l| l.dtype).reduce(DType::promote)?;
        for l in &lanes {
            if !l.dtype.converts_losslessly_to(dtype) {
                out.push(Diagnostic::NarrowingCast {
                    span: call.span,
                    from: l.dtype,
                    to: dtype,
                    context: format!("{op} of {} and {dtype} tensors", l.dtype),
                });
                return None;
            }
        }
        Some(lanes.into_iter().map(|l| cast(l, dtype)).collect())
    }

    fn stack(
        &self,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let slots = bind_args(call, &["capture", "axis"], out)?;
        let capture = capture_arg(call, slots[0], out)?;
        let mut groups: BTreeMap<Binding, Vec<(u64, Instance)>> = BTreeMap::new();
        let mut bad_values = Vec::new();
        for inst in instances {
            let Some(value) = inst.binding.get(&capture) else {
                out.push(Diagnostic::UnboundCapture {
                    span: call.span,
                    name: capture,
                    bound: inst.binding.keys().cloned().collect(),
                });
                return None;
            };
            let Ok(index) = value.parse::<u64>() else {
                bad_values.push(value.clone());
                continue;
            };
            let mut key = inst.binding.clone();
            key.remove(&capture);
            groups.entry(key).or_default().push((index, inst));
        }
        if !bad_values.is_empty() {
            out.push(Diagnostic::NonContiguousStack {
                span: call.span,
                capture: capture.clone(),
                group: String::new(),
                found: bad_values,
            });
            return None;
        }
        let mut result = Vec::new();
        for (key, mut members) in groups {
            members.sort_by_key(|(i, _)| *i);
            let contiguous = members.iter().enumerate().all(|(k, (i, _))| *i == k as u64);
            if !contiguous {
                let group = if key.is_empty() {
                    String::new()
                } else {
                    format!(" (for {})", show_binding(&key))
                };
                out.push(Diagnostic::NonContiguousStack {
                    span: call.span,
                    capture: capture.clone(),
                    group,
                    found: members.iter().map(|(i, _)| i.to_string()).collect(),
                });
                return None;
            }
            let entry = members[0].1.entry.clone();
            let width = members[0].1.lanes.len();
            let scope_inst = members[0].1.clone();
            let scope = self.scope(params, &scope_inst);
            let mut lanes_by_position: Vec<Vec<Node>> = vec![Vec::new(); width];
            for (_, inst) in members {
                for (j, lane) in inst.lanes.into_iter().enumerate() {
                    lanes_by_position[j].push(lane);
                }
            }
            let mut lanes = Vec::new();
            for inputs in lanes_by_position {
                let rank = inputs[0].shape.len();
                let axis = match slots[1] {
                    None => 0,
                    Some(a) => {
                        let v = self.int(a, &scope, out)?;
                        let n = rank as i64 + 1;
                        let k = if v < 0 { v + n } else { v };
                        if !(0..n).contains(&k) {
                            out.push(Diagnostic::AxisOutOfRange {
                                span: a.span(),
                                tensor: node_name(self.sources, &inputs[0]),
                                axis: v,
                                shape: ShapeText(inputs[0].shape.clone()),
                            });
                            return None;
                        }
                        k as usize
                    }
                };
                if inputs.iter().any(|n| n.shape != inputs[0].shape) {
                    out.push(Diagnostic::IncompatibleConcat {
                        span: call.span,
                        op: "stack",
                        axis,
                        shapes: inputs
                            .iter()
                            .map(|l| (node_name(self.sources, l), ShapeText(l.shape.clone())))
                            .collect(),
                    });
                    return None;
                }
                let inputs = self.common_dtype(call, "stack", inputs, out)?;
                let mut shape = inputs[0].shape.clone();
                shape.insert(axis, inputs.len() as u64);
                let dtype = inputs[0].dtype;
                lanes.push(Node {
                    op: NodeOp::Stack(inputs, axis),
                    shape,
                    dtype,
                });
            }
            result.push(Instance {
                binding: key,
                lanes,
                entry,
            });
        }
        Some(result)
    }

    /// `limit_exceeded` at `call`.
    fn too_much(
        call: &OpCall,
        what: crate::diagnostics::Limit,
        found: u64,
        limit: u64,
    ) -> Diagnostic {
        Diagnostic::LimitExceeded {
            span: call.span,
            what,
            found,
            limit,
        }
    }

    fn unstack(
        &self,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let slots = bind_args(call, &["capture", "axis"], out)?;
        let capture = capture_arg(call, slots[0], out)?;
        // What all the instances together would make, before any is made.
        let mut total: u64 = 0;
        for inst in &instances {
            let Some(first) = inst.lanes.first() else {
                continue;
            };
            let scope = self.scope(params, inst);
            let rank = first.shape.len();
            let axis = match slots[1] {
                None => Some(0),
                Some(a) => self.axis(a, &scope, first, rank, &mut Vec::new()),
            };
            if let Some(&n) = axis.and_then(|a| first.shape.get(a)) {
                if n > super::MAX_VALUES_PER_OP {
                    out.push(Self::too_much(
                        call,
                        crate::diagnostics::Limit::ValuesFromOneOp,
                        n,
                        super::MAX_VALUES_PER_OP,
                    ));
                    return None;
                }
                total = total.saturating_add(n);
            }
        }
        if total > super::MAX_TARGETS {
            out.push(Self::too_much(
                call,
                crate::diagnostics::Limit::Targets,
                total,
                super::MAX_TARGETS,
            ));
            return None;
        }
        let mut result = Vec::new();
        for inst in instances {
            if inst.binding.contains_key(&capture) {
                out.push(Diagnostic::BadCapture {
                    span: call.span,
                    problem: format!(
                        "unstack({capture}): capture `{capture}` is already bound by the sources"
                    ),
                });
                return None;
            }
            let scope = self.scope(params, &inst);
            let first = inst.lanes.first()?;
            let rank = first.shape.len();
            let axis = match slots[1] {
                None => 0,
                Some(a) => self.axis(a, &scope, first, rank, out)?,
            };
            if rank == 0 {
                out.push(Diagnostic::AxisOutOfRange {
                    span: call.span,
                    tensor: node_name(self.sources, first),
                    axis: 0,
                    shape: ShapeText(Vec::new()),
                });
                return None;
            }
            // (Within the limits: counted for every instance above.)
            let n = first.shape[axis];
            if inst
                .lanes
                .iter()
                .any(|l| l.shape.len() != rank || l.shape[axis] != n)
            {
                out.push(Diagnostic::IncompatibleConcat {
                    span: call.span,
                    op: Builtin::Unstack.name(),
                    axis,
                    shapes: inst
                        .lanes
                        .iter()
                        .map(|l| (node_name(self.sources, l), ShapeText(l.shape.clone())))
                        .collect(),
                });
                return None;
            }
            for k in 0..n {
                let mut binding = inst.binding.clone();
                binding.insert(capture.clone(), k.to_string());
                let lanes = inst
                    .lanes
                    .iter()
                    .map(|l| {
                        let mut shape = l.shape.clone();
                        shape.remove(axis);
                        Node {
                            op: NodeOp::Index {
                                input: Box::new(l.clone()),
                                axis,
                                index: k,
                            },
                            shape,
                            dtype: l.dtype,
                        }
                    })
                    .collect();
                result.push(Instance {
                    binding,
                    lanes,
                    entry: inst.entry.clone(),
                });
            }
        }
        Some(result)
    }

    fn int(&self, value: &ArgValue, scope: &Scope, out: &mut Vec<Diagnostic>) -> Option<i64> {
        match value {
            ArgValue::Expr(e) => scope.eval(e, out),
            ArgValue::Float(f) => {
                out.push(Diagnostic::BadArguments {
                    span: f.span,
                    op: "this op".into(),
                    problem: format!("expected an integer, found {}", f.value),
                });
                None
            }
            ArgValue::List(l) => {
                out.push(Diagnostic::BadArguments {
                    span: l.span,
                    op: "this op".into(),
                    problem: "expected an integer, found a list".into(),
                });
                None
            }
        }
    }

    fn axis(
        &self,
        value: &ArgValue,
        scope: &Scope,
        lane: &Node,
        rank: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Option<usize> {
        let v = self.int(value, scope, out)?;
        match normalize_axis(v, rank) {
            Some(a) => Some(a),
            None => {
                out.push(Diagnostic::AxisOutOfRange {
                    span: value.span(),
                    tensor: node_name(self.sources, lane),
                    axis: v,
                    shape: ShapeText(lane.shape.clone()),
                });
                None
            }
        }
    }
}

fn first_shape(lanes: &[Node]) -> Vec<u64> {
    lanes[0].shape.clone()
}

fn permute(lane: Node, perm: Vec<usize>) -> Node {
    if perm.iter().enumerate().all(|(i, p)| i == *p) {
        return lane;
    }
    let shape = perm.iter().map(|&p| lane.shape[p]).collect();
    let dtype = lane.dtype;
    Node {
        op: NodeOp::Permute(Box::new(lane), perm),
        shape,
        dtype,
    }
}

/// A cast node, or the node itself when it already has that dtype.
pub fn cast(lane: Node, to: DType) -> Node {
    if lane.dtype == to {
        return lane;
    }
    let shape = lane.shape.clone();
    Node {
        op: NodeOp::Cast(Box::new(lane)),
        shape,
        dtype: to,
    }
}

fn bad_args(call: &OpCall, problem: String) -> Diagnostic {
    Diagnostic::BadArguments {
        span: call.span,
        op: call.name.value.clone(),
        problem,
    }
}

/// Matches a call's arguments to parameter names: named ones by name,
/// positional ones in order, each to the first parameter not given yet.
/// Reports extra, unknown and repeated arguments.
pub fn bind_args<'c>(
    call: &'c OpCall,
    names: &[&str],
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Option<&'c ArgValue>>> {
    let mut slots: Vec<Option<&ArgValue>> = vec![None; names.len()];
    let mut next_positional = 0;
    for Arg { span, name, value } in &call.args {
        let index = match name {
            Some(n) => match names.iter().position(|p| *p == n.value) {
                Some(i) => i,
                None => {
                    out.push(Diagnostic::BadArguments {
                        span: n.span,
                        op: call.name.value.clone(),
                        problem: format!(
                            "no argument named `{}`{}",
                            n.value,
                            if names.is_empty() {
                                String::new()
                            } else {
                                format!(" (it takes {})", names.join(", "))
                            }
                        ),
                    });
                    return None;
                }
            },
            None => {
                // A positional argument takes the next parameter not already
                // given by name, so `slice(axis=0, 0, 64)` reads as written.
                while slots.get(next_positional).is_some_and(Option::is_some) {
                    next_positional += 1;
                }
                let i = next_positional;
                next_positional += 1;
                if i >= names.len() {
                    out.push(Diagnostic::BadArguments {
                        span: *span,
                        op: call.name.value.clone(),
                        problem: format!(
                            "too many arguments: it takes {}",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    });
                    return None;
                }
                i
            }
        };
        if slots[index].is_some() {
            out.push(Diagnostic::BadArguments {
                span: *span,
                op: call.name.value.clone(),
                problem: format!("`{}` is given twice", names[index]),
            });
            return None;
        }
        slots[index] = Some(value);
    }
    Some(slots)
}

/// All arguments of `permute` / `reshape`: positional integers.
fn variadic_ints(
    p: &Pipelines,
    call: &OpCall,
    scope: &Scope,
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<i64>> {
    if let Some(named) = call.args.iter().find_map(|a| a.name.as_ref()) {
        out.push(Diagnostic::BadArguments {
            span: named.span,
            op: call.name.value.clone(),
            problem: "takes positional dimensions only".into(),
        });
        return None;
    }
    if call.args.is_empty() {
        out.push(bad_args(call, "needs at least one dimension".into()));
        return None;
    }
    call.args
        .iter()
        .map(|a| p.int(&a.value, scope, out))
        .collect()
}

fn capture_arg(
    call: &OpCall,
    value: Option<&ArgValue>,
    out: &mut Vec<Diagnostic>,
) -> Option<String> {
    match value {
        Some(ArgValue::Expr(e)) if matches!(e.kind, ExprKind::Name(_)) => {
            e.as_name().map(String::from)
        }
        _ => {
            out.push(bad_args(
                call,
                format!(
                    "the first argument is a capture name, as in `{}(e, axis=0)`",
                    call.name.value
                ),
            ));
            None
        }
    }
}

/// A dtype argument: a bare dtype name.
pub fn dtype_arg(value: &ArgValue, out: &mut Vec<Diagnostic>) -> Option<DType> {
    let (name, span): (&str, Span) = match value {
        ArgValue::Expr(e) => match e.as_name() {
            Some(n) => (n, e.span),
            None => ("", e.span),
        },
        other => ("", other.span()),
    };
    match DType::from_name(name) {
        Some(d) => Some(d),
        None => {
            out.push(Diagnostic::UnknownDtype {
                span,
                name: name.to_string(),
                suggestion: crate::suggest::nearest(
                    name,
                    crate::dtype::ALL.iter().map(|d| d.name()),
                )
                .map(String::from),
            });
            None
        }
    }
}
