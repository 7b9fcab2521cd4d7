//! `neg`, `abs`, `sqrt`, `exp`, `log`: a function of each element of a
//! float tensor, computed as torch's CPU kernels compute it (see
//! [`crate::exec::convert::unary`]).

use crate::diagnostics::{Diagnostic, Irreversible};
use crate::plan::{Node, NodeOp, Unary};

use super::{made_call, Apply, Ctx, Inverse, Seen, Spec};

macro_rules! elementwise {
    ($($(#[$doc:meta])* $konst:ident, $name:literal, $f:ident, $unary:expr;)*) => {
        $(
            $(#[$doc])*
            pub(crate) const $konst: Spec = Spec {
                name: $name,
                params: &[],
                takes_a_name: false,
                apply: Apply::EachValue($f),
                inverse: undo,
            };

            fn $f(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
                apply(cx, lane, $unary, out)
            }
        )*
    };
}

elementwise! {
    /// `neg`: `-x`, exact.
    NEG, "neg", neg, Unary::Neg;
    /// `abs`: `|x|`, exact.
    ABS, "abs", abs, Unary::Abs;
    /// `sqrt`: the square root, correctly rounded.
    SQRT, "sqrt", sqrt, Unary::Sqrt;
    /// `exp`: `e^x`.
    EXP, "exp", exp, Unary::Exp;
    /// `log`: the natural logarithm.
    LOG, "log", log, Unary::Log;
}

fn apply(cx: &Ctx, lane: Node, op: Unary, out: &mut Vec<Diagnostic>) -> Option<Node> {
    cx.args(out)?;
    if !lane.dtype.is_float() {
        out.push(Diagnostic::NotFloat {
            span: cx.call.span,
            op: cx.op.name().into(),
            tensor: cx.tensor(&lane),
            dtype: lane.dtype,
        });
        return None;
    }
    let (shape, dtype) = (lane.shape.clone(), lane.dtype);
    Some(Node {
        op: NodeOp::Unary(Box::new(lane), op),
        shape,
        dtype,
    })
}

/// `neg` undoes itself exactly; the others round (or, `abs`, lose the sign).
fn undo(seen: &Seen) -> Inverse {
    let op = seen.call.name.value.as_str();
    if op == NEG.name {
        return Ok(vec![made_call(NEG.name, Vec::new())]);
    }
    let op = [ABS.name, SQRT.name, EXP.name, LOG.name]
        .into_iter()
        .find(|n| *n == op)
        .unwrap_or("this op");
    Err(Irreversible::Elementwise { op })
}
