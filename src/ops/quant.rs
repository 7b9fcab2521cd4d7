//! `dequant_fp8` and `quant_fp8`: FP8 E4M3 weights with one scale per
//! block (DeepSeek-V3's `weight_scale_inv`, `quantization_config
//! .weight_block_size`), as transformers 5's `Fp8Dequantize` and
//! `Fp8Quantize` compute them (see [`crate::exec::quant`]).

use crate::checkpoint::config::Lookup;
use crate::diagnostics::{ArgProblem, Diagnostic, GridMismatch, Irreversible, ShapeText};
use crate::dtype::DType;
use crate::plan::{Node, NodeOp, QuantPart};

use super::{Apply, Ctx, Inverse, Seen, Spec};

/// `[weight, weight_scale_inv] | dequant_fp8(block=[128, 128])`: f32.
pub(crate) const DEQUANT_FP8: Spec = Spec {
    name: "dequant_fp8",
    params: &["block"],
    takes_a_name: false,
    apply: Apply::ManyToOne(dequant),
    inverse: undo_dequant,
};

/// `weight | quant_fp8(block=[128, 128])`: [E4M3 values, f32 inverse scales].
pub(crate) const QUANT_FP8: Spec = Spec {
    name: "quant_fp8",
    params: &["block"],
    takes_a_name: false,
    apply: Apply::OneToMany(quant),
    inverse: undo_quant,
};

/// The block: `block=[bm, bn]`, else the config's
/// `quantization_config.weight_block_size`.
fn block(cx: &Ctx, out: &mut Vec<Diagnostic>) -> Option<[u64; 2]> {
    let slots = cx.args(out)?;
    let values: Option<Vec<i64>> = match slots[0] {
        Some(crate::syntax::ArgValue::List(list)) => {
            let mut v = Vec::new();
            for item in &list.value {
                v.push(cx.int(item, out)?);
            }
            Some(v)
        }
        Some(other) => Some(vec![cx.int(other, out)?]),
        None => match cx
            .scope
            .config
            .lookup(&["quantization_config".into(), "weight_block_size".into()])
        {
            Lookup::Found(serde_json::Value::Array(items)) => {
                items.iter().map(|i| i.as_i64()).collect()
            }
            _ => None,
        },
    };
    match values.as_deref() {
        Some(&[m, n]) if m > 0 && n > 0 => Some([m as u64, n as u64]),
        _ => {
            out.push(cx.bad(ArgProblem::BlockSize));
            None
        }
    }
}

/// Rows and columns of the scale grid of `shape` in `block`s.
fn grid(shape: &[u64], block: [u64; 2]) -> Vec<u64> {
    let n = shape.len();
    let mut g = shape[..n - 2].to_vec();
    g.push(shape[n - 2].div_ceil(block[0]));
    g.push(shape[n - 1].div_ceil(block[1]));
    g
}

fn matrix(cx: &Ctx, lane: &Node, out: &mut Vec<Diagnostic>) -> Option<()> {
    if lane.shape.len() < 2 {
        out.push(Diagnostic::AxisOutOfRange {
            span: cx.call.span,
            tensor: cx.tensor(lane),
            axis: -2,
            shape: ShapeText(lane.shape.clone()),
        });
        return None;
    }
    Some(())
}

fn dequant(cx: &Ctx, lanes: Vec<Node>, out: &mut Vec<Diagnostic>) -> Option<Node> {
    let [values, scales] = <[Node; 2]>::try_from(lanes).ok().or_else(|| {
        out.push(cx.needs(
            "two values, the weight and its scales",
            "[\"w.weight\", \"w.weight_scale_inv\"] | dequant_fp8",
        ));
        None
    })?;
    let block = block(cx, out)?;
    if !matches!(values.dtype, DType::F8E4M3 | DType::F8E5M2) {
        out.push(cx.bad(ArgProblem::QuantDtype {
            input: "values",
            found: values.dtype,
            takes: "f8_e4m3 or f8_e5m2",
        }));
        return None;
    }
    if !matches!(scales.dtype, DType::F32 | DType::BF16 | DType::F8E8M0) {
        out.push(cx.bad(ArgProblem::QuantDtype {
            input: "scales",
            found: scales.dtype,
            takes: "f32, bf16 or f8_e8m0",
        }));
        return None;
    }
    matrix(cx, &values, out)?;
    let expected = grid(&values.shape, block);
    if scales.shape != expected {
        out.push(cx.bad(ArgProblem::ScaleGrid(Box::new(GridMismatch {
            values: ShapeText(values.shape.clone()),
            block,
            expected: ShapeText(expected),
            found: ShapeText(scales.shape.clone()),
        }))));
        return None;
    }
    let shape = values.shape.clone();
    Some(Node {
        op: NodeOp::BlockDequant {
            values: Box::new(values),
            scales: Box::new(scales),
            block,
        },
        shape,
        dtype: DType::F32,
    })
}

fn quant(cx: &Ctx, lanes: &[Node], out: &mut Vec<Diagnostic>) -> Option<Vec<Node>> {
    let [lane] = lanes else {
        out.push(Diagnostic::ArityForOp {
            span: cx.call.span,
            op: QUANT_FP8.name.into(),
            needs: "one value",
            found: lanes.len(),
        });
        return None;
    };
    let block = block(cx, out)?;
    if !lane.dtype.is_float() {
        out.push(cx.bad(ArgProblem::QuantDtype {
            input: "values",
            found: lane.dtype,
            takes: "a float dtype",
        }));
        return None;
    }
    matrix(cx, lane, out)?;
    let node = |part, shape, dtype| Node {
        op: NodeOp::BlockQuant {
            input: Box::new(lane.clone()),
            block,
            part,
        },
        shape,
        dtype,
    };
    Some(vec![
        node(QuantPart::Values, lane.shape.clone(), DType::F8E4M3),
        node(QuantPart::Scales, grid(&lane.shape, block), DType::F32),
    ])
}

fn undo_dequant(_: &Seen) -> Inverse {
    Err(Irreversible::Quantizes {
        op: DEQUANT_FP8.name,
    })
}

fn undo_quant(_: &Seen) -> Inverse {
    Err(Irreversible::Quantizes { op: QUANT_FP8.name })
}
