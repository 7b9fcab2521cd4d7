//! `reshape`: the same elements in row-major order, another shape.

use crate::diagnostics::{ArgProblem, Diagnostic, Irreversible, ShapeText};
use crate::plan::{Node, NodeOp};

use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};

/// `reshape(12, 64, -1)`: one size may be `-1`, inferred.
pub(crate) const RESHAPE: Spec = Spec {
    name: "reshape",
    params: &[],
    takes_a_name: false,
    apply: Apply::EachValue(reshape),
    inverse: back,
};

fn reshape(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let values = cx.dimensions(out)?;
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
                            span: cx.call.span,
                            what: crate::diagnostics::Overflowed::ShapeElements,
                        });
                        return None;
                    }
                }
            }
            _ => {
                out.push(cx.bad(ArgProblem::BadDimensions));
                return None;
            }
        }
    }
    let mut new_shape: Vec<u64> = values.iter().map(|v| (*v).max(0) as u64).collect();
    let mismatch = |to: Vec<u64>| Diagnostic::ElementCountMismatch {
        span: cx.call.span,
        tensor: cx.tensor(&lane),
        from: ShapeText(lane.shape.clone()),
        to: ShapeText(to),
    };
    if let Some(i) = inferred {
        if known == 0 || !numel.is_multiple_of(known) {
            out.push(mismatch(new_shape));
            return None;
        }
        new_shape[i] = numel / known;
    } else if known != numel {
        out.push(mismatch(new_shape));
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

/// Back to the one shape it was applied to (the inverse of every op
/// that only reshapes).
pub(crate) fn back(seen: &Seen) -> Inverse {
    let step = seen.step;
    let same = step.inputs.windows(2).all(|w| w[0].shape == w[1].shape);
    if !step.uniform() || !same {
        return Err(Irreversible::ReshapeShapesDiffer);
    }
    let args = step.inputs[0]
        .shape
        .iter()
        .map(|&d| made::positional(made::int(d as i64)))
        .collect();
    Ok(vec![made_call(RESHAPE.name, args)])
}
