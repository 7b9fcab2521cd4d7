//! `stack(c)` and `unstack(c)`: one tensor per value of a capture (experts,
//! layers) to one tensor with a new axis, and back.

use std::collections::BTreeMap;

use crate::check::matching::{show_binding, Binding};
use crate::check::pipeline::{Instance, Pipelines};
use crate::check::{MAX_TARGETS, MAX_VALUES_PER_OP};
use crate::diagnostics::{Diagnostic, Limit, ShapeText};
use crate::plan::{Node, NodeOp};
use crate::syntax::OpCall;

use super::{made_call, Apply, Builtin, Inverse, Seen, Spec};

/// `stack(e, axis=0)`: the values for e = 0..n-1 joined along a new axis.
pub(crate) const STACK: Spec = Spec {
    name: "stack",
    params: &["capture", "axis"],
    takes_a_name: true,
    apply: Apply::AcrossBindings(stack),
    inverse: |seen| swap(seen, UNSTACK.name),
};

/// `unstack(e, axis=0)`: one value per index of the axis, bound to e.
pub(crate) const UNSTACK: Spec = Spec {
    name: "unstack",
    params: &["capture", "axis"],
    takes_a_name: true,
    apply: Apply::AcrossBindings(unstack),
    inverse: |seen| swap(seen, STACK.name),
};

/// Each undoes the other, called with the same arguments.
fn swap(seen: &Seen, other: &str) -> Inverse {
    Ok(vec![made_call(other, seen.call.args.clone())])
}

fn limit(call: &OpCall, what: Limit, found: u64, limit: u64) -> Diagnostic {
    Diagnostic::LimitExceeded {
        span: call.span,
        what,
        found,
        limit,
    }
}

fn stack(
    p: &Pipelines,
    call: &OpCall,
    instances: Vec<Instance>,
    params: &[(String, i64)],
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Instance>> {
    let slots = super::bind_args(call, STACK.params, out)?;
    let capture = super::args::capture_arg(call, slots[0], out)?;
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
            out.push(Diagnostic::NonContiguousStack {
                span: call.span,
                capture: capture.clone(),
                group: if key.is_empty() {
                    String::new()
                } else {
                    show_binding(&key)
                },
                found: members.iter().map(|(i, _)| i.to_string()).collect(),
            });
            return None;
        }
        let entry = members[0].1.entry.clone();
        let width = members[0].1.lanes.len();
        let scope_inst = members[0].1.clone();
        let scope = p.scope(params, &scope_inst);
        let cx = p.ctx(Builtin::Stack, call, &scope);
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
                    // A new axis: one more place than the rank.
                    let v = cx.int(a, out)?;
                    let n = rank as i64 + 1;
                    let k = if v < 0 { v + n } else { v };
                    if !(0..n).contains(&k) {
                        out.push(Diagnostic::AxisOutOfRange {
                            span: a.span(),
                            tensor: cx.tensor(&inputs[0]),
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
                    op: STACK.name,
                    axis,
                    shapes: inputs
                        .iter()
                        .map(|l| (cx.tensor(l), ShapeText(l.shape.clone())))
                        .collect(),
                });
                return None;
            }
            let inputs = super::cast::common_dtype(&cx, inputs, out)?;
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

fn unstack(
    p: &Pipelines,
    call: &OpCall,
    instances: Vec<Instance>,
    params: &[(String, i64)],
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Instance>> {
    let slots = super::bind_args(call, UNSTACK.params, out)?;
    let capture = super::args::capture_arg(call, slots[0], out)?;
    // What all the instances together would make, before any is made.
    let mut total: u64 = 0;
    for inst in &instances {
        let Some(first) = inst.lanes.first() else {
            continue;
        };
        let scope = p.scope(params, inst);
        let cx = p.ctx(Builtin::Unstack, call, &scope);
        let axis = match slots[1] {
            None => Some(0),
            Some(a) => cx.axis(a, first, &mut Vec::new()),
        };
        if let Some(&n) = axis.and_then(|a| first.shape.get(a)) {
            if n > MAX_VALUES_PER_OP {
                out.push(limit(call, Limit::ValuesFromOneOp, n, MAX_VALUES_PER_OP));
                return None;
            }
            total = total.saturating_add(n);
        }
    }
    if total > MAX_TARGETS {
        out.push(limit(call, Limit::Targets, total, MAX_TARGETS));
        return None;
    }
    let mut result = Vec::new();
    for inst in instances {
        if inst.binding.contains_key(&capture) {
            out.push(Diagnostic::BadCapture {
                span: call.span,
                problem: crate::diagnostics::CaptureProblem::AlreadyBound {
                    op: UNSTACK.name,
                    capture: capture.clone(),
                },
            });
            return None;
        }
        let scope = p.scope(params, &inst);
        let cx = p.ctx(Builtin::Unstack, call, &scope);
        let first = inst.lanes.first()?;
        let rank = first.shape.len();
        let axis = match slots[1] {
            None => 0,
            Some(a) => cx.axis(a, first, out)?,
        };
        if rank == 0 {
            out.push(Diagnostic::AxisOutOfRange {
                span: call.span,
                tensor: cx.tensor(first),
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
                op: UNSTACK.name,
                axis,
                shapes: inst
                    .lanes
                    .iter()
                    .map(|l| (cx.tensor(l), ShapeText(l.shape.clone())))
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
