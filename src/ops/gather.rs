//! `index_select`, `repeat` and `repeat_interleave`: entries of one axis
//! picked by index, as torch's functions of the same names pick them.

use crate::check::ir::Evaluated;
use crate::diagnostics::{ArgProblem, Diagnostic, Irreversible, ShapeText};
use crate::plan::{Node, NodeOp, Pick};
use crate::syntax::ArgValue;

use super::{made, made_call, Apply, Ctx, Inverse, Seen, Spec};

/// `index_select(axis=0, index=[2, 0, 1])`: the entries at these indices,
/// in this order (repeats allowed; negative indices count from the end).
pub(crate) const INDEX_SELECT: Spec = Spec {
    name: "index_select",
    params: &["axis", "index"],
    takes_a_name: false,
    apply: Apply::EachValue(index_select),
    inverse: undo,
};

/// `repeat(3, axis=1)`: the whole axis three times over, as torch's
/// `x.repeat(1, 3, 1)`.
pub(crate) const REPEAT: Spec = Spec {
    name: "repeat",
    params: &["times", "axis"],
    takes_a_name: false,
    apply: Apply::EachValue(repeat),
    inverse: undo,
};

/// `repeat_interleave(2, axis=1)`: each entry twice in a row, as torch's
/// `x.repeat_interleave(2, dim=1)`.
pub(crate) const REPEAT_INTERLEAVE: Spec = Spec {
    name: "repeat_interleave",
    params: &["times", "axis"],
    takes_a_name: false,
    apply: Apply::EachValue(repeat_interleave),
    inverse: undo,
};

fn index_select(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let (Some(axis), Some(index)) = (slots[0], slots[1]) else {
        out.push(cx.needs(
            "`axis` and `index`",
            "index_select(axis=0, index=[2, 0, 1])",
        ));
        return None;
    };
    let axis = cx.axis(axis, &lane, out)?;
    let ArgValue::List(items) = index else {
        out.push(cx.bad(ArgProblem::IndexNotList));
        return None;
    };
    let dim = lane.shape[axis];
    let mut picked = Vec::with_capacity(items.value.len());
    let mut ok = true;
    for item in &items.value {
        let Some(v) = cx.int(item, out) else {
            ok = false;
            continue;
        };
        let at = if v < 0 { v + dim as i64 } else { v };
        if at < 0 || at >= dim as i64 {
            out.push(Diagnostic::IndexOutOfRange {
                span: item.span(),
                tensor: cx.tensor(&lane),
                shape: ShapeText(lane.shape.clone()),
                axis,
                index: v,
            });
            ok = false;
            continue;
        }
        picked.push(at as u64);
    }
    if !ok {
        return None;
    }
    if picked.iter().copied().eq(0..dim) {
        return Some(lane);
    }
    gathered(cx, lane, axis, Pick::Indices(picked), out)
}

fn repeat(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    times(cx, lane, |times| Pick::Tiled { times }, out)
}

fn repeat_interleave(cx: &Ctx, lane: Node, out: &mut Vec<Diagnostic>) -> Option<Node> {
    times(cx, lane, |times| Pick::EachRepeated { times }, out)
}

/// `repeat` and `repeat_interleave`: a count and an axis.
fn times(cx: &Ctx, lane: Node, pick: fn(u64) -> Pick, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let slots = cx.args(out)?;
    let (Some(times), Some(axis)) = (slots[0], slots[1]) else {
        out.push(cx.needs("a count and `axis`", "repeat(2, axis=0)"));
        return None;
    };
    let axis = cx.axis(axis, &lane, out)?;
    let n = cx.int(times, out)?;
    if n < 0 {
        out.push(cx.bad(ArgProblem::NegativeCount { param: "times" }));
        return None;
    }
    if n == 1 {
        return Some(lane);
    }
    gathered(cx, lane, axis, pick(n as u64), out)
}

/// The node that picks `pick` along `axis` of `lane`.
fn gathered(
    cx: &Ctx,
    lane: Node,
    axis: usize,
    pick: Pick,
    out: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let shape = cx.grown(&lane, axis, pick.len(lane.shape[axis]), out)?;
    let dtype = lane.dtype;
    Some(Node {
        op: NodeOp::Gather {
            input: Box::new(lane),
            axis,
            pick,
        },
        shape,
        dtype,
    })
}

/// Picking every entry at least once is undone by picking, for each entry,
/// the first place it went to; `repeat` by a `slice` of the first copy and
/// `repeat_interleave` by a `slice` of every entry's first copy.
fn undo(seen: &Seen) -> Inverse {
    let Evaluated::Gather { axis, dim, pick } = &seen.step.evaluated else {
        return Ok(Vec::new()); // it changed nothing
    };
    let (axis, dim) = (*axis, *dim);
    if !seen.step.uniform() {
        return Err(Irreversible::ShapesDiffer);
    }
    match pick {
        Pick::Tiled { times } if *times > 0 || dim == 0 => Ok(vec![slice(axis, 0, dim)]),
        Pick::EachRepeated { times } if *times > 0 || dim == 0 => {
            // [.., dim * t, ..] -> [.., dim, t, ..], keep copy 0, and back.
            let input = &seen.step.inputs[0].shape;
            let mut split: Vec<u64> = input.clone();
            split.insert(axis + 1, *times);
            let reshape = |dims: &[u64]| {
                made_call(
                    super::reshape::RESHAPE.name,
                    dims.iter()
                        .map(|&d| made::positional(made::int(d as i64)))
                        .collect(),
                )
            };
            Ok(vec![reshape(&split), slice(axis + 1, 0, 1), reshape(input)])
        }
        Pick::Indices(ix) => {
            let mut first = vec![None; dim as usize];
            for (j, &i) in ix.iter().enumerate() {
                first[i as usize].get_or_insert(j as u64);
            }
            let missing = first.iter().filter(|f| f.is_none()).count() as u64;
            if missing > 0 {
                return Err(Irreversible::EntriesLeftOut { missing });
            }
            let index = first
                .into_iter()
                .map(|j| made::int(j.unwrap_or(0) as i64))
                .collect();
            Ok(vec![made_call(
                INDEX_SELECT.name,
                vec![
                    made::named("axis", made::int(axis as i64)),
                    made::named("index", made::list(index)),
                ],
            )])
        }
        // Zero copies of a non-empty axis: nothing of it is left.
        Pick::Tiled { .. } | Pick::EachRepeated { .. } => {
            Err(Irreversible::EntriesLeftOut { missing: dim })
        }
    }
}

/// `slice(axis=A, start, end)`.
fn slice(axis: usize, start: u64, end: u64) -> crate::syntax::OpCall {
    made_call(
        super::slice::SLICE.name,
        vec![
            made::named("axis", made::int(axis as i64)),
            made::positional(made::int(start as i64)),
            made::positional(made::int(end as i64)),
        ],
    )
}
