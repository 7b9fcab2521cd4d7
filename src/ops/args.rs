//! What every op's rule needs: its call's arguments bound to its
//! parameters and evaluated, axes checked against a value, and the
//! name of a value for messages.

use crate::check::env::Scope;
use crate::checkpoint::Tensor;
use crate::diagnostics::{ArgProblem, Diagnostic, Found, ShapeText};
use crate::dtype::DType;
use crate::plan::Node;
use crate::source::Span;
use crate::syntax::{Arg, ArgValue, ExprKind, OpCall};

use super::Builtin;

/// One call of a built-in op, with the names its arguments may use.
pub(crate) struct Ctx<'a> {
    pub op: Builtin,
    pub call: &'a OpCall,
    pub scope: &'a Scope<'a>,
    /// The checkpoint's tensors, to name values in messages.
    pub sources: &'a [Tensor],
}

impl Ctx<'_> {
    /// The call's arguments, one slot per parameter of the op.
    pub fn args(&self, out: &mut Vec<Diagnostic>) -> Option<Vec<Option<&ArgValue>>> {
        bind_args(self.call, self.op.spec().params, out)
    }

    /// `bad_arguments` at the call.
    pub fn bad(&self, problem: ArgProblem) -> Diagnostic {
        Diagnostic::BadArguments {
            span: self.call.span,
            op: self.call.name.value.clone(),
            problem,
        }
    }

    /// `bad_arguments` for a parameter the op cannot do without.
    pub fn needs(&self, what: &'static str, example: &'static str) -> Diagnostic {
        self.bad(ArgProblem::Needs { what, example })
    }

    /// A name for a value in messages: its first source tensor.
    pub fn tensor(&self, node: &Node) -> String {
        node_name(self.sources, node)
    }

    /// An integer argument.
    pub fn int(&self, value: &ArgValue, out: &mut Vec<Diagnostic>) -> Option<i64> {
        int_arg(self.call, self.scope, value, out)
    }

    /// An axis of `lane` (negative ones count from the end).
    pub fn axis(&self, value: &ArgValue, lane: &Node, out: &mut Vec<Diagnostic>) -> Option<usize> {
        let v = self.int(value, out)?;
        match normalize_axis(v, lane.shape.len()) {
            Some(a) => Some(a),
            None => {
                out.push(Diagnostic::AxisOutOfRange {
                    span: value.span(),
                    tensor: self.tensor(lane),
                    axis: v,
                    shape: ShapeText(lane.shape.clone()),
                });
                None
            }
        }
    }

    /// `lane`'s shape with axis `axis` grown to `len` entries (None when
    /// there is no such length), or `integer_overflow` when that many
    /// elements or bytes do not fit in 64 bits.
    pub fn grown(
        &self,
        lane: &Node,
        axis: usize,
        len: Option<u64>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<u64>> {
        let mut shape = lane.shape.clone();
        let fits = len.and_then(|l| {
            shape[axis] = l;
            let mut n = lane.dtype.size() as u64;
            for d in &shape {
                n = n.checked_mul(*d)?;
            }
            Some(n)
        });
        if fits.is_none() {
            out.push(Diagnostic::IntegerOverflow {
                span: self.call.span,
                what: crate::diagnostics::Overflowed::ShapeElements,
            });
            return None;
        }
        Some(shape)
    }

    /// All arguments of `permute` / `reshape`: positional integers.
    pub fn dimensions(&self, out: &mut Vec<Diagnostic>) -> Option<Vec<i64>> {
        if let Some(named) = self.call.args.iter().find_map(|a| a.name.as_ref()) {
            out.push(Diagnostic::BadArguments {
                span: named.span,
                op: self.call.name.value.clone(),
                problem: ArgProblem::PositionalOnly,
            });
            return None;
        }
        if self.call.args.is_empty() {
            out.push(self.bad(ArgProblem::NoDimensions));
            return None;
        }
        self.call
            .args
            .iter()
            .map(|a| self.int(&a.value, out))
            .collect()
    }
}

/// An integer argument of `call`, evaluated in `scope`.
pub(crate) fn int_arg(
    call: &OpCall,
    scope: &Scope,
    value: &ArgValue,
    out: &mut Vec<Diagnostic>,
) -> Option<i64> {
    let found = match value {
        ArgValue::Expr(e) => return scope.eval(e, out),
        ArgValue::Float(f) => Found::Float(f.value),
        ArgValue::List(_) => Found::List,
    };
    out.push(Diagnostic::BadArguments {
        span: value.span(),
        op: call.name.value.clone(),
        problem: ArgProblem::NotInteger { found },
    });
    None
}

/// The capture name a `stack`/`unstack` takes first.
pub(crate) fn capture_arg(
    call: &OpCall,
    value: Option<&ArgValue>,
    out: &mut Vec<Diagnostic>,
) -> Option<String> {
    match value {
        Some(ArgValue::Expr(e)) if matches!(e.kind, ExprKind::Name(_)) => {
            e.as_name().map(String::from)
        }
        _ => {
            out.push(Diagnostic::BadArguments {
                span: call.span,
                op: call.name.value.clone(),
                problem: ArgProblem::CaptureFirst,
            });
            None
        }
    }
}

/// `axis` as an index into `rank` axes, counting negative ones from the end.
pub(crate) fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let rank = rank as i64;
    let a = if axis < 0 { axis + rank } else { axis };
    (0..rank).contains(&a).then_some(a as usize)
}

/// A name for a node in messages: its first source tensor.
pub(crate) fn node_name(sources: &[Tensor], node: &Node) -> String {
    let srcs = node.sources();
    match srcs.as_slice() {
        [] => "?".into(),
        [one] => sources[*one].name.clone(),
        [first, rest @ ..] => format!("{} (and {} more)", sources[*first].name, rest.len()),
    }
}

/// Matches a call's arguments to parameter names: named ones by name,
/// positional ones in order, each to the first parameter not given yet.
/// Reports extra, unknown and repeated arguments.
pub(crate) fn bind_args<'c>(
    call: &'c OpCall,
    names: &[&str],
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Option<&'c ArgValue>>> {
    let takes = || names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let bad = |span: Span, problem: ArgProblem| Diagnostic::BadArguments {
        span,
        op: call.name.value.clone(),
        problem,
    };
    let mut slots: Vec<Option<&ArgValue>> = vec![None; names.len()];
    let mut next_positional = 0;
    for Arg { span, name, value } in &call.args {
        let index = match name {
            Some(n) => match names.iter().position(|p| *p == n.value) {
                Some(i) => i,
                None => {
                    out.push(bad(
                        n.span,
                        ArgProblem::NoSuchParameter {
                            name: n.value.clone(),
                            takes: takes(),
                        },
                    ));
                    return None;
                }
            },
            None => {
                // A positional argument takes the next parameter not already
                // given by name, so `slice(axis=0, 0, 64)` reads as written.
                while slots.get(next_positional).is_some_and(Option::is_some) {
                    next_positional += 1;
                }
                let i = next_positional;
                next_positional += 1;
                if i >= names.len() {
                    out.push(bad(*span, ArgProblem::TooMany { takes: takes() }));
                    return None;
                }
                i
            }
        };
        if slots[index].is_some() {
            out.push(bad(
                *span,
                ArgProblem::GivenTwice {
                    param: names[index].to_string(),
                },
            ));
            return None;
        }
        slots[index] = Some(value);
    }
    Some(slots)
}

/// A dtype argument: a bare dtype name.
pub(crate) fn dtype_arg(value: &ArgValue, out: &mut Vec<Diagnostic>) -> Option<DType> {
    let (name, span): (&str, Span) = match value {
        ArgValue::Expr(e) => match e.as_name() {
            Some(n) => (n, e.span),
            None => ("", e.span),
        },
        other => ("", other.span()),
    };
    match DType::from_name(name) {
        Some(d) => Some(d),
        None => {
            out.push(Diagnostic::UnknownDtype {
                span,
                name: name.to_string(),
                suggestion: crate::suggest::nearest(
                    name,
                    crate::dtype::ALL.iter().map(|d| d.name()),
                )
                .map(String::from),
            });
            None
        }
    }
}
