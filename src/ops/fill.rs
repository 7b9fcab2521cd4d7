//! `zeros`, `ones` and `full(x)`: the tensors a `make` rule makes, with a
//! shape and dtype written out or taken from its `like` tensor.

use crate::diagnostics::{ArgProblem, Diagnostic};
use crate::plan::{Node, NodeOp};
use crate::syntax::ArgValue;

use super::{dtype_arg, Apply, Ctx, Inverse, Seen, Spec};

/// `zeros(shape=[n], dtype=f32)`.
pub(crate) const ZEROS: Spec = Spec {
    name: "zeros",
    params: &["shape", "dtype"],
    takes_a_name: false,
    apply: Apply::Makes(zeros),
    inverse: nothing,
};

/// `ones(shape=[n], dtype=f32)`.
pub(crate) const ONES: Spec = Spec {
    name: "ones",
    params: &["shape", "dtype"],
    takes_a_name: false,
    apply: Apply::Makes(ones),
    inverse: nothing,
};

/// `full(0.5, shape=[n], dtype=f32)`.
pub(crate) const FULL: Spec = Spec {
    name: "full",
    params: &["value", "shape", "dtype"],
    takes_a_name: false,
    apply: Apply::Makes(full),
    inverse: nothing,
};

fn zeros(cx: &Ctx, like: Option<&Node>, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    made(cx, None, 0.0, slots[0], slots[1], like, out)
}

fn ones(cx: &Ctx, like: Option<&Node>, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    made(cx, None, 1.0, slots[0], slots[1], like, out)
}

fn full(cx: &Ctx, like: Option<&Node>, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let Some(value) = slots[0] else {
        out.push(cx.needs("a value", "full(0.5, shape=[64], dtype=f32)"));
        return None;
    };
    made(cx, Some(value), 0.0, slots[1], slots[2], like, out)
}

/// The made node: `shape` and `dtype` as written, else the `like` tensor's.
fn made(
    cx: &Ctx,
    value: Option<&ArgValue>,
    default: f64,
    shape: Option<&ArgValue>,
    dtype: Option<&ArgValue>,
    like: Option<&Node>,
    out: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let dtype = match (dtype, like) {
        (Some(d), _) => dtype_arg(d, out)?,
        (None, Some(l)) => l.dtype,
        (None, None) => {
            out.push(cx.needs(
                "`shape` and `dtype` (or a `like` tensor)",
                "zeros(shape=[64], dtype=f32)",
            ));
            return None;
        }
    };
    let shape = match (shape, like) {
        (Some(ArgValue::List(items)), _) => {
            let mut dims = Vec::with_capacity(items.value.len());
            for item in &items.value {
                let d = cx.int(item, out)?;
                if d < 0 {
                    out.push(cx.bad(ArgProblem::BadDimensions));
                    return None;
                }
                dims.push(d as u64);
            }
            dims
        }
        (Some(_), _) => {
            out.push(cx.bad(ArgProblem::ShapeNotList));
            return None;
        }
        (None, Some(l)) => l.shape.clone(),
        (None, None) => {
            out.push(cx.needs(
                "`shape` and `dtype` (or a `like` tensor)",
                "zeros(shape=[64], dtype=f32)",
            ));
            return None;
        }
    };
    if !dtype.is_encodable() {
        out.push(Diagnostic::UnsupportedDtype {
            span: cx.call.span,
            op: cx.call.name.value.clone(),
            dtype,
            problem: crate::diagnostics::DtypeProblem::NotWritten,
        });
        return None;
    }
    let x = match value {
        None => default,
        Some(v) => super::pad::number_for(cx, v, dtype, out)?,
    };
    // The element and byte counts must fit in 64 bits.
    let bytes = shape
        .iter()
        .try_fold(dtype.size() as u64, |n, d| n.checked_mul(*d));
    if bytes.is_none() {
        out.push(Diagnostic::IntegerOverflow {
            span: cx.call.span,
            what: crate::diagnostics::Overflowed::ShapeElements,
        });
        return None;
    }
    Some(Node {
        op: NodeOp::Full(x),
        shape,
        dtype,
    })
}

/// A made tensor is dropped by the reverse, not undone by an op.
fn nothing(_: &Seen) -> Inverse {
    Ok(Vec::new())
}
