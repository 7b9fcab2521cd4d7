//! `cast(dtype)`, and the promotion that joining ops apply to mixed dtypes.

use crate::diagnostics::{Diagnostic, DtypeProblem, Irreversible};
use crate::dtype::DType;
use crate::plan::{Node, NodeOp};

use super::args::dtype_arg;
use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};

/// `cast(bf16)`: every element converted, rounding to nearest even.
pub(crate) const CAST: Spec = Spec {
    name: "cast",
    params: &["dtype"],
    takes_a_name: true,
    apply: Apply::EachValue(apply),
    inverse: undo,
};

fn apply(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let Some(arg) = slots[0] else {
        out.push(cx.needs("a dtype", "cast(f16)"));
        return None;
    };
    let to = dtype_arg(arg, out)?;
    let problem = if lane.dtype == to {
        None
    } else if lane.dtype == DType::C64 {
        Some(DtypeProblem::Complex)
    } else if !to.is_encodable() {
        Some(DtypeProblem::NotWritten)
    } else {
        None
    };
    if let Some(problem) = problem {
        out.push(Diagnostic::UnsupportedDtype {
            span: cx.call.span,
            op: cx.call.name.value.clone(),
            dtype: if problem == DtypeProblem::Complex {
                lane.dtype
            } else {
                to
            },
            problem,
        });
        return None;
    }
    Some(cast(lane, to))
}

/// A cast node, or the node itself when it already has that dtype.
pub(crate) fn cast(lane: Node, to: DType) -> Node {
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

/// Converts mixed dtypes to their promotion, refusing lossy conversions.
pub(crate) fn common_dtype(
    cx: &Ctx,
    lanes: Vec<Node>,
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Node>> {
    let dtype = lanes.iter().map(|l| l.dtype).reduce(DType::promote)?;
    for l in &lanes {
        if !l.dtype.converts_losslessly_to(dtype) {
            out.push(Diagnostic::NarrowingCast {
                span: cx.call.span,
                from: l.dtype,
                to: dtype,
                op: cx.op.name(),
            });
            return None;
        }
    }
    Some(lanes.into_iter().map(|l| cast(l, dtype)).collect())
}

/// Back to the dtype it came from, when the cast widened.
fn undo(seen: &Seen) -> Inverse {
    let step = seen.step;
    let from = step.inputs[0].dtype;
    let to = step.outputs[0].dtype;
    if step.inputs.iter().any(|v| v.dtype != from) {
        return Err(Irreversible::CastMixedDtypes);
    }
    if from == to {
        return Ok(Vec::new());
    }
    if !from.converts_losslessly_to(to) {
        return Err(Irreversible::CastRounds { from, to });
    }
    Ok(vec![made_call(
        CAST.name,
        vec![made::positional(made::name(from.name()))],
    )])
}
