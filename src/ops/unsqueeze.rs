//! `unsqueeze(axis)`: a new axis of length 1 (a bias made a 1 x n row).

use crate::diagnostics::{Diagnostic, ShapeText};
use crate::plan::{Node, NodeOp};

use super::{Apply, Ctx, Spec};

/// `unsqueeze(0)`: shape [n] becomes [1, n]; `-1` puts the new axis last.
pub(crate) const UNSQUEEZE: Spec = Spec {
    name: "unsqueeze",
    params: &["axis"],
    takes_a_name: false,
    apply: Apply::EachValue(unsqueeze),
    inverse: super::reshape::back,
};

fn unsqueeze(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let Some(arg) = slots[0] else {
        out.push(cx.needs("`axis`", "unsqueeze(0)"));
        return None;
    };
    // A new axis: one more place than the rank, as in `stack`.
    let v = cx.int(arg, out)?;
    let places = lane.shape.len() as i64 + 1;
    let axis = if v < 0 { v + places } else { v };
    if !(0..places).contains(&axis) {
        out.push(Diagnostic::AxisOutOfRange {
            span: arg.span(),
            tensor: cx.tensor(&lane),
            axis: v,
            shape: ShapeText(lane.shape.clone()),
        });
        return None;
    }
    let mut shape = lane.shape.clone();
    shape.insert(axis as usize, 1);
    let dtype = lane.dtype;
    Some(Node {
        op: NodeOp::Reshape(Box::new(lane)),
        shape,
        dtype,
    })
}
