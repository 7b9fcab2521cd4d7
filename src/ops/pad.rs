//! `pad(axis, before, after, fill)`: new entries along one axis, holding a
//! number or the mean of the existing entries (vocabulary extension).

use crate::check::ir::Evaluated;
use crate::diagnostics::{ArgProblem, Diagnostic, Irreversible};
use crate::exec::convert::{number_text, scalar_misfit, Arith};
use crate::plan::{Fill, Node, NodeOp};
use crate::syntax::{ArgValue, ExprKind};

use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};

/// `pad(axis=0, after=8)` adds 8 zero rows; `fill=0.5` fills them with a
/// number and `fill=mean` with the mean of the existing rows.
pub(crate) const PAD: Spec = Spec {
    name: "pad",
    params: &["axis", "before", "after", "fill"],
    takes_a_name: false,
    apply: Apply::EachValue(pad),
    inverse: undo,
};

fn pad(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let Some(axis) = slots[0] else {
        out.push(cx.needs("`axis`", "pad(axis=0, after=8)"));
        return None;
    };
    let axis = cx.axis(axis, &lane, out)?;
    let mut count = |slot: Option<&ArgValue>, param: &'static str| -> Option<u64> {
        let Some(v) = slot else { return Some(0) };
        let n = cx.int(v, out)?;
        if n < 0 {
            out.push(cx.bad(ArgProblem::NegativeCount { param }));
            return None;
        }
        Some(n as u64)
    };
    let before = count(slots[1], "before");
    let after = count(slots[2], "after");
    let fill = fill(cx, slots[3], &lane, out);
    let (before, after, fill) = (before?, after?, fill?);
    if fill == Fill::Mean && lane.shape[axis] == 0 {
        out.push(cx.bad(ArgProblem::MeanOfNothing));
        return None;
    }
    if before == 0 && after == 0 {
        return Some(lane);
    }
    let grown = lane.shape[axis]
        .checked_add(before)
        .and_then(|d| d.checked_add(after));
    let shape = cx.grown(&lane, axis, grown, out)?;
    let dtype = lane.dtype;
    Some(Node {
        op: NodeOp::Pad {
            input: Box::new(lane),
            axis,
            before,
            after,
            fill,
        },
        shape,
        dtype,
    })
}

/// `fill`: absent (zero), a number that `lane`'s dtype holds, or `mean`
/// (float tensors only).
fn fill(cx: &Ctx, slot: Option<&ArgValue>, lane: &Node, out: &mut Vec<Diagnostic>) -> Option<Fill> {
    let x = match slot {
        None => return Some(Fill::Value(0.0)),
        Some(ArgValue::Expr(e)) if matches!(&e.kind, ExprKind::Name(n) if n == "mean") => {
            if !lane.dtype.is_float() {
                out.push(Diagnostic::NotFloat {
                    span: e.span,
                    op: "pad(fill=mean)".into(),
                    tensor: cx.tensor(lane),
                    dtype: lane.dtype,
                });
                return None;
            }
            return Some(Fill::Mean);
        }
        Some(ArgValue::List(_)) => {
            out.push(cx.bad(ArgProblem::BadFill));
            return None;
        }
        Some(v) => v,
    };
    Some(Fill::Value(number_for(cx, x, lane.dtype, out)?))
}

/// A number (a decimal or an integer expression) that fills a `dtype`
/// tensor: rounded once to a float dtype as `add` holds its number, or an
/// integer that the integer dtype holds exactly.
pub(crate) fn number_for(
    cx: &Ctx,
    value: &ArgValue,
    dtype: crate::dtype::DType,
    out: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let x = match value {
        ArgValue::Float(f) => f.value,
        other => cx.int(other, out)? as f64,
    };
    let span = value.span();
    if dtype.is_float() {
        if let Some((held, becomes)) = scalar_misfit(dtype, Arith::Add(x)) {
            out.push(Diagnostic::NumberOutOfRange {
                span,
                text: number_text(x),
                dtype: held,
                becomes,
                op: Some(cx.op.name().into()),
            });
            return None;
        }
    } else if x.fract() != 0.0 || !fits_int(dtype, x) {
        out.push(Diagnostic::NumberOutOfRange {
            span,
            text: number_text(x),
            dtype,
            becomes: "not held exactly".into(),
            op: Some(cx.op.name().into()),
        });
        return None;
    }
    Some(x)
}

/// Whether the integer `x` is a value of the integer (or bool) dtype.
fn fits_int(dtype: crate::dtype::DType, x: f64) -> bool {
    use crate::dtype::DType::*;
    let (lo, hi) = match dtype {
        Bool => (0.0, 1.0),
        U8 => (0.0, u8::MAX as f64),
        I8 => (i8::MIN as f64, i8::MAX as f64),
        I16 => (i16::MIN as f64, i16::MAX as f64),
        U16 => (0.0, u16::MAX as f64),
        I32 => (i32::MIN as f64, i32::MAX as f64),
        U32 => (0.0, u32::MAX as f64),
        I64 => (-(2f64.powi(53)), 2f64.powi(53)),
        U64 => (0.0, 2f64.powi(53)),
        _ => return true,
    };
    (lo..=hi).contains(&x)
}

/// Undone by slicing the original entries back out.
fn undo(seen: &Seen) -> Inverse {
    let Evaluated::Pad { axis, dim, before } = seen.step.evaluated else {
        return Ok(Vec::new()); // it changed nothing
    };
    if !seen.step.uniform() {
        return Err(Irreversible::ShapesDiffer);
    }
    Ok(vec![made_call(
        super::slice::SLICE.name,
        vec![
            made::named("axis", made::int(axis as i64)),
            made::positional(made::int(before as i64)),
            made::positional(made::int((before + dim) as i64)),
        ],
    )])
}
