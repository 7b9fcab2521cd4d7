//! `split` and `concat`: fused weights (`c_attn`, `qkv`) apart and together.

use crate::diagnostics::{ArgProblem, Diagnostic, Irreversible, Limit, ShapeText, SplitProblem};
use crate::plan::{Node, NodeOp};

use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};
use crate::check::ir::Evaluated;
use crate::check::MAX_VALUES_PER_OP;

/// `split(axis=0, parts=3)` or `split(axis=0, sizes=[64, 16, 16])`.
pub(crate) const SPLIT: Spec = Spec {
    name: "split",
    params: &["axis", "parts", "sizes"],
    takes_a_name: false,
    apply: Apply::OneToMany(split),
    inverse: undo_split,
};

/// `concat(axis=0)`: every value the pipeline carries, joined.
pub(crate) const CONCAT: Spec = Spec {
    name: "concat",
    params: &["axis"],
    takes_a_name: false,
    apply: Apply::ManyToOne(concat),
    inverse: undo_concat,
};

fn split(cx: &Ctx, lanes: &[Node], out: &mut Vec<Diagnostic>) -> Option<Vec<Node>> {
    let [lane] = lanes else {
        out.push(Diagnostic::ArityForOp {
            span: cx.call.span,
            op: SPLIT.name.into(),
            needs: "one value",
            found: lanes.len(),
        });
        return None;
    };
    let slots = cx.args(out)?;
    let Some(axis) = slots[0] else {
        out.push(cx.needs("`axis`", "split(axis=0, parts=3)"));
        return None;
    };
    let axis = cx.axis(axis, lane, out)?;
    let dim = lane.shape[axis];
    let indivisible = |how| Diagnostic::IndivisibleSplit {
        span: cx.call.span,
        tensor: cx.tensor(lane),
        shape: ShapeText(lane.shape.clone()),
        axis,
        how,
    };
    let sizes: Vec<u64> = match (slots[1], slots[2]) {
        (Some(parts), None) => {
            let parts = cx.int(parts, out)?;
            if parts > MAX_VALUES_PER_OP as i64 {
                out.push(Diagnostic::LimitExceeded {
                    span: cx.call.span,
                    what: Limit::ValuesFromOneOp,
                    found: parts as u64,
                    limit: MAX_VALUES_PER_OP,
                });
                return None;
            }
            if parts <= 0 || dim % parts as u64 != 0 {
                out.push(indivisible(SplitProblem::Parts { parts }));
                return None;
            }
            vec![dim / parts as u64; parts as usize]
        }
        (None, Some(sizes)) => {
            let crate::syntax::ArgValue::List(list) = sizes else {
                out.push(cx.bad(ArgProblem::SizesNotList));
                return None;
            };
            let mut values = Vec::new();
            for item in &list.value {
                let v = cx.int(item, out)?;
                if v < 0 {
                    out.push(cx.bad(ArgProblem::NegativeSize));
                    return None;
                }
                values.push(v as u64);
            }
            let total: Option<u64> = values.iter().try_fold(0u64, |a, &v| a.checked_add(v));
            if total != Some(dim) {
                out.push(indivisible(SplitProblem::Sizes {
                    sizes: values,
                    total,
                }));
                return None;
            }
            values
        }
        _ => {
            out.push(cx.bad(ArgProblem::PartsOrSizes));
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

fn concat(cx: &Ctx, lanes: Vec<Node>, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let Some(axis) = slots[0] else {
        out.push(cx.needs("`axis`", "concat(axis=0)"));
        return None;
    };
    let first = lanes.first()?;
    let rank = first.shape.len();
    let axis = cx.axis(axis, first, out)?;
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
            span: cx.call.span,
            op: CONCAT.name,
            axis,
            shapes: lanes
                .iter()
                .map(|l| (cx.tensor(l), ShapeText(l.shape.clone())))
                .collect(),
        });
        return None;
    }
    let lanes = super::cast::common_dtype(cx, lanes, out)?;
    let mut shape = lanes[0].shape.clone();
    shape[axis] = lanes.iter().map(|l| l.shape[axis]).sum();
    let dtype = lanes[0].dtype;
    Some(Node {
        op: NodeOp::Concat(lanes, axis),
        shape,
        dtype,
    })
}

/// The axis argument as written.
fn axis_arg<'c>(seen: &Seen<'c>) -> Option<&'c crate::syntax::ArgValue> {
    let slots = super::bind_args(seen.call, seen_params(seen), &mut Vec::new())?;
    slots[0]
}

fn seen_params(seen: &Seen) -> &'static [&'static str] {
    if seen.call.name.value == SPLIT.name {
        SPLIT.params
    } else {
        CONCAT.params
    }
}

/// Joined back along the axis it was cut along.
fn undo_split(seen: &Seen) -> Inverse {
    let axis = axis_arg(seen).ok_or(Irreversible::ConcatAxisUnknown)?;
    Ok(vec![made_call(
        CONCAT.name,
        vec![made::named("axis", axis.clone())],
    )])
}

/// Cut back into the sizes it joined.
fn undo_concat(seen: &Seen) -> Inverse {
    let step = seen.step;
    if !step.uniform() {
        return Err(Irreversible::ConcatSizesDiffer);
    }
    let written = axis_arg(seen).ok_or(Irreversible::ConcatAxisUnknown)?;
    let output = &step.outputs[0].shape;
    let axis = match &step.evaluated {
        Evaluated::Axis(a) => Some(*a),
        // One value: nothing was joined; the axis is the one whose sizes add up.
        _ => (0..output.len())
            .find(|&a| step.inputs.iter().map(|v| v.shape[a]).sum::<u64>() == output[a]),
    };
    let axis = axis.ok_or(Irreversible::ConcatAxisUnknown)?;
    let sizes: Vec<u64> = step.inputs.iter().map(|v| v.shape[axis]).collect();
    let how = if sizes.iter().all(|s| *s == sizes[0]) {
        made::named("parts", made::int(sizes.len() as i64))
    } else {
        made::named(
            "sizes",
            made::list(sizes.iter().map(|&s| made::int(s as i64)).collect()),
        )
    };
    Ok(vec![made_call(
        SPLIT.name,
        vec![made::named("axis", written.clone()), how],
    )])
}
