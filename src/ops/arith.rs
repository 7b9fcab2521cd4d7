//! `add(x)` and `mul(x)`: a number applied to every element of a float tensor.

use crate::diagnostics::{ArgProblem, Diagnostic, Irreversible};
use crate::exec::convert::{number_text, scalar_misfit, Arith};
use crate::plan::{Node, NodeOp};
use crate::syntax::ArgValue;

use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};
use crate::check::ir::Evaluated;

/// `add(1.0)`, computed in the tensor's dtype.
pub(crate) const ADD: Spec = Spec {
    name: "add",
    params: &["x"],
    takes_a_name: false,
    apply: Apply::EachValue(add),
    inverse: undo,
};

/// `mul(0.5)`, computed in the tensor's dtype.
pub(crate) const MUL: Spec = Spec {
    name: "mul",
    params: &["x"],
    takes_a_name: false,
    apply: Apply::EachValue(mul),
    inverse: undo,
};

fn add(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let x = number(cx, &lane, Arith::Add, out)?;
    Some(node(lane, |n| NodeOp::Add(n, x)))
}

fn mul(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let x = number(cx, &lane, Arith::Mul, out)?;
    Some(node(lane, |n| NodeOp::Mul(n, x)))
}

fn node(lane: Node, op: impl FnOnce(Box<Node>) -> NodeOp) -> Node {
    let (shape, dtype) = (lane.shape.clone(), lane.dtype);
    Node {
        op: op(Box::new(lane)),
        shape,
        dtype,
    }
}

/// The number, checked to be usable on `lane`'s dtype.
fn number(
    cx: &Ctx,
    lane: &Node,
    arith: fn(f64) -> Arith,
    out: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let slots = cx.args(out)?;
    let Some(arg) = slots[0] else {
        out.push(cx.bad(ArgProblem::Needs {
            what: "a number",
            example: "",
        }));
        return None;
    };
    let x = match arg {
        ArgValue::Float(f) => f.value,
        other => cx.int(other, out)? as f64,
    };
    if !lane.dtype.is_float() {
        out.push(Diagnostic::NotFloat {
            span: cx.call.span,
            op: cx.op.name().into(),
            tensor: cx.tensor(lane),
            dtype: lane.dtype,
        });
        return None;
    }
    if let Some((held, becomes)) = scalar_misfit(lane.dtype, arith(x)) {
        out.push(Diagnostic::NumberOutOfRange {
            span: arg.span(),
            text: number_text(x),
            dtype: held,
            becomes,
            op: Some(cx.op.name().into()),
        });
        return None;
    }
    Some(x)
}

/// Only `mul` by a power of two (or its negative) undoes exactly.
fn undo(seen: &Seen) -> Inverse {
    let is_add = seen.call.name.value == ADD.name;
    let x = match seen.step.evaluated {
        Evaluated::Number(x) => x,
        _ if is_add => 0.0,
        _ => 1.0,
    };
    if is_add && x == 0.0 || !is_add && x == 1.0 {
        return Ok(Vec::new());
    }
    let exact = !is_add && x != 0.0 && mantissa(x.abs()) == 0.5;
    if !exact {
        let op = if is_add { ADD.name } else { MUL.name };
        return Err(Irreversible::ArithRounds { op, x });
    }
    Ok(vec![made_call(
        MUL.name,
        vec![made::positional(made::float(1.0 / x))],
    )])
}

/// The m of x = m * 2^e with 0.5 <= m < 1 (x finite and positive).
fn mantissa(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = x.log2().floor() as i32 + 1;
    let mut m = x / 2f64.powi(e);
    // Correct rounding of log2 at the edges.
    if m >= 1.0 {
        m /= 2.0;
    } else if m < 0.5 {
        m *= 2.0;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::mantissa;

    #[test]
    fn mantissa_finds_powers_of_two() {
        assert_eq!(mantissa(8.0), 0.5);
        assert_eq!(mantissa(0.125), 0.5);
        assert_ne!(mantissa(3.0), 0.5);
    }
}
