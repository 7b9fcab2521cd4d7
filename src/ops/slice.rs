//! `slice(axis, start, end)`: part of one axis.

use crate::diagnostics::{Diagnostic, Irreversible, ShapeText};
use crate::plan::{Node, NodeOp};

use super::{Apply, Ctx, Inverse, Seen, Spec};

/// `slice(axis=0, 0, 64)`; negative bounds count from the end.
pub(crate) const SLICE: Spec = Spec {
    name: "slice",
    params: &["axis", "start", "end"],
    takes_a_name: false,
    apply: Apply::EachValue(slice),
    inverse: undo,
};

fn slice(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let (Some(axis), Some(start), Some(end)) = (slots[0], slots[1], slots[2]) else {
        out.push(cx.needs("`axis`, `start` and `end`", ""));
        return None;
    };
    let axis = cx.axis(axis, &lane, out)?;
    let dim = lane.shape[axis] as i64;
    let from_end = |v: i64| if v < 0 { v + dim } else { v };
    let start = from_end(cx.int(start, out)?);
    let end = from_end(cx.int(end, out)?);
    if start < 0 || start > end || end > dim {
        out.push(Diagnostic::SliceOutOfRange {
            span: cx.call.span,
            tensor: cx.tensor(&lane),
            shape: ShapeText(lane.shape.clone()),
            axis,
            start,
            end,
        });
        return None;
    }
    let mut shape = lane.shape.clone();
    shape[axis] = (end - start) as u64;
    let dtype = lane.dtype;
    Some(Node {
        op: NodeOp::Slice {
            input: Box::new(lane),
            axis,
            start: start as u64,
            end: end as u64,
        },
        shape,
        dtype,
    })
}

/// What a slice leaves out cannot be recreated.
fn undo(_: &Seen) -> Inverse {
    Err(Irreversible::Slice)
}
