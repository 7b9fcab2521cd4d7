//! `transpose` and `permute`: the same elements, axes in another order.

use crate::diagnostics::{ArgProblem, Diagnostic, PermutationProblem, ShapeText};
use crate::plan::{Node, NodeOp};

use super::args::normalize_axis;
use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};
use crate::check::ir::Evaluated;

/// `transpose(a, b)` swaps two axes; `transpose` alone, those of a 2-D tensor.
pub(crate) const TRANSPOSE: Spec = Spec {
    name: "transpose",
    params: &["a", "b"],
    takes_a_name: false,
    apply: Apply::EachValue(transpose),
    inverse: undo,
};

/// `permute(2, 0, 1)`: output axis k is input axis perm[k].
pub(crate) const PERMUTE: Spec = Spec {
    name: "permute",
    params: &[],
    takes_a_name: false,
    apply: Apply::EachValue(permute),
    inverse: undo,
};

fn transpose(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let rank = lane.shape.len();
    let slots = cx.args(out)?;
    let (a, b) = match (slots[0], slots[1]) {
        (None, None) => {
            if rank != 2 {
                out.push(Diagnostic::BadPermutation {
                    span: cx.call.span,
                    tensor: cx.tensor(&lane),
                    shape: ShapeText(lane.shape.clone()),
                    problem: PermutationProblem::TransposeNot2d { rank },
                });
                return None;
            }
            (0, 1)
        }
        (Some(a), Some(b)) => (cx.axis(a, &lane, out)?, cx.axis(b, &lane, out)?),
        _ => {
            out.push(cx.bad(ArgProblem::BothAxesOrNone));
            return None;
        }
    };
    let mut perm: Vec<usize> = (0..rank).collect();
    perm.swap(a, b);
    Some(reorder(lane, perm))
}

fn permute(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let rank = lane.shape.len();
    let values = cx.dimensions(out)?;
    let mut perm = Vec::new();
    for (v, arg) in values.iter().zip(&cx.call.args) {
        match normalize_axis(*v, rank) {
            Some(a) => perm.push(a),
            None => {
                out.push(Diagnostic::AxisOutOfRange {
                    span: arg.span,
                    tensor: cx.tensor(&lane),
                    axis: *v,
                    shape: ShapeText(lane.shape.clone()),
                });
                return None;
            }
        }
    }
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        out.push(Diagnostic::BadPermutation {
            span: cx.call.span,
            tensor: cx.tensor(&lane),
            shape: ShapeText(lane.shape.clone()),
            problem: PermutationProblem::NotAPermutation { axes: values, rank },
        });
        return None;
    }
    Some(reorder(lane, perm))
}

/// A permute node, or the node itself when the order is the identity.
fn reorder(lane: Node, perm: Vec<usize>) -> Node {
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

/// A swap of two axes undoes itself; any other order, the inverse order.
fn undo(seen: &Seen) -> Inverse {
    let Evaluated::Permutation(perm) = &seen.step.evaluated else {
        // The identity: the call as written changes nothing.
        return Ok(vec![seen.call.clone()]);
    };
    let mut inverse = vec![0; perm.len()];
    for (k, &p) in perm.iter().enumerate() {
        inverse[p] = k;
    }
    if perm.len() == 2 && seen.call.name.value == TRANSPOSE.name {
        return Ok(vec![seen.call.clone()]);
    }
    let args = inverse
        .iter()
        .map(|&a| made::positional(made::int(a as i64)))
        .collect();
    Ok(vec![made_call(PERMUTE.name, args)])
}
