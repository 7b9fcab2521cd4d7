//! Integer expressions: `let` values, config lookups, op arguments and
//! `shape[k]`, with exact division and overflow checks.

use std::collections::HashMap;

use crate::checkpoint::config::{Config, Lookup};
use crate::checkpoint::Tensor;
use crate::diagnostics::{Diagnostic, Overflowed, ShapeProblem};
use crate::source::Span;
use crate::suggest;
use crate::syntax::{BinOp, Expr, ExprKind, LetDef};

/// The value of every `let`; `None` for one whose definition failed (its
/// problem is already reported, so uses of it stay silent).
#[derive(Debug, Default, Clone)]
pub struct Lets {
    values: HashMap<String, Option<i64>>,
}

impl Lets {
    pub fn get(&self, name: &str) -> Option<&Option<i64>> {
        self.values.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Evaluates the `let`s in order; each may use the ones before it.
    pub fn evaluate(
        defs: &[&LetDef],
        config: &Config,
        named: &Named,
        out: &mut Vec<Diagnostic>,
    ) -> Lets {
        let mut lets = Lets::default();
        for def in defs {
            let scope = Scope {
                lets: &lets,
                config,
                named,
                params: &[],
                shape: None,
            };
            let value = scope.eval(&def.value, out);
            lets.values.insert(def.name.value.clone(), value);
        }
        lets
    }
}

/// The shapes `shape[k]` may refer to: the tensors entering the pipeline.
pub type EntryShapes = [Vec<u64>];

/// The source's tensors by name, for `shape("name")[k]`.
pub struct Named<'a> {
    tensors: &'a [Tensor],
    index: HashMap<&'a str, usize>,
}

impl<'a> Named<'a> {
    pub fn new(tensors: &'a [Tensor]) -> Named<'a> {
        let index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        Named { tensors, index }
    }

    fn get(&self, name: &str) -> Option<&'a Tensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }
}

/// Everything a name in an expression can refer to.
pub struct Scope<'a> {
    pub lets: &'a Lets,
    pub config: &'a Config,
    /// The source's tensors, for `shape("name")[k]`.
    pub named: &'a Named<'a>,
    /// Parameters of the `op` being expanded, innermost call.
    pub params: &'a [(String, i64)],
    /// The tensors entering the enclosing pipeline; `None` outside pipelines.
    pub shape: Option<&'a EntryShapes>,
}

impl Scope<'_> {
    /// Evaluates `expr`, reporting problems to `out`; `None` if it failed.
    pub fn eval(&self, expr: &Expr, out: &mut Vec<Diagnostic>) -> Option<i64> {
        match &expr.kind {
            ExprKind::Int(v) => *v,
            ExprKind::Name(name) => self.name(name, expr.span, out),
            ExprKind::Config(path) => self.config(path, expr.span, out),
            ExprKind::Shape { tensor: None, axis } => self.shape(axis, expr.span, out),
            ExprKind::Shape {
                tensor: Some(name),
                axis,
            } => self.shape_of(name, axis, expr.span, out),
            ExprKind::Neg(inner) => {
                let v = self.eval(inner, out)?;
                checked(v.checked_neg(), expr, out)
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let l = self.eval(lhs, out);
                let r = self.eval(rhs, out);
                let (l, r) = (l?, r?);
                match op {
                    BinOp::Add => checked(l.checked_add(r), expr, out),
                    BinOp::Sub => checked(l.checked_sub(r), expr, out),
                    BinOp::Mul => checked(l.checked_mul(r), expr, out),
                    BinOp::Div => {
                        if r == 0 {
                            out.push(Diagnostic::DivisionByZero { span: expr.span });
                            None
                        } else if l.checked_rem(r) != Some(0) {
                            if l.checked_rem(r).is_none() {
                                return checked(None, expr, out);
                            }
                            out.push(Diagnostic::InexactDivision {
                                span: expr.span,
                                lhs: l,
                                rhs: r,
                            });
                            None
                        } else {
                            checked(l.checked_div(r), expr, out)
                        }
                    }
                }
            }
            ExprKind::Coalesce(lhs, rhs) => {
                let only_missing = |ds: &[Diagnostic]| {
                    !ds.is_empty()
                        && ds
                            .iter()
                            .all(|d| matches!(d, Diagnostic::UnknownConfigKey { .. }))
                };
                let mut probe = Vec::new();
                if let Some(v) = self.eval(lhs, &mut probe) {
                    return Some(v);
                }
                if !only_missing(&probe) {
                    out.append(&mut probe);
                    return None;
                }
                let mut rest = Vec::new();
                let v = self.eval(rhs, &mut rest);
                if v.is_some() || !only_missing(&rest) {
                    out.append(&mut rest);
                    return v;
                }
                // Every key of the chain is missing: say so once, naming them all.
                let mut paths = Vec::new();
                let mut config = None;
                for d in probe.iter().chain(&rest) {
                    if let Diagnostic::UnknownConfigKey {
                        path,
                        also,
                        config: c,
                        ..
                    } = d
                    {
                        paths.push(path.clone());
                        paths.extend(also.iter().cloned());
                        config = c.clone();
                    }
                }
                let path = paths.remove(0);
                out.push(Diagnostic::UnknownConfigKey {
                    span: expr.span,
                    path,
                    also: paths,
                    config,
                    suggestion: None,
                });
                None
            }
        }
    }

    fn name(&self, name: &str, span: Span, out: &mut Vec<Diagnostic>) -> Option<i64> {
        if let Some((_, v)) = self.params.iter().rev().find(|(n, _)| n == name) {
            return Some(*v);
        }
        match self.lets.get(name) {
            Some(v) => *v,
            None => {
                let candidates = self
                    .params
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .chain(self.lets.names());
                out.push(Diagnostic::UnknownName {
                    span,
                    name: name.to_string(),
                    suggestion: suggest::nearest(name, candidates).map(String::from),
                });
                None
            }
        }
    }

    fn config(&self, path: &[String], span: Span, out: &mut Vec<Diagnostic>) -> Option<i64> {
        let dotted = path.join(".");
        match self.config.lookup(path) {
            Lookup::Found(value) => match as_integer(value) {
                Some(v) => Some(v),
                None => {
                    out.push(Diagnostic::ConfigNotInteger {
                        span,
                        path: dotted,
                        found: describe_json(value),
                    });
                    None
                }
            },
            Lookup::Missing => {
                let keys = self.config.key_paths();
                out.push(Diagnostic::UnknownConfigKey {
                    span,
                    path: dotted.clone(),
                    also: Vec::new(),
                    config: self.config.file.clone(),
                    suggestion: suggest::nearest(&dotted, keys.iter().map(String::as_str))
                        .map(|s| format!("config.{s}")),
                });
                None
            }
        }
    }

    /// `shape("name")[k]`: axis `k` of a source tensor, wherever it is used.
    fn shape_of(
        &self,
        name: &crate::source::Spanned<String>,
        index: &Expr,
        span: Span,
        out: &mut Vec<Diagnostic>,
    ) -> Option<i64> {
        let k = self.eval(index, out);
        let Some(tensor) = self.named.get(&name.value) else {
            out.push(Diagnostic::UnknownTensor {
                span: name.span,
                name: name.value.clone(),
                suggestion: suggest::nearest(
                    &name.value,
                    self.named.tensors.iter().map(|t| t.name.as_str()),
                )
                .map(String::from),
            });
            return None;
        };
        let k = k?;
        let rank = tensor.shape.len() as i64;
        let axis = if k < 0 { k + rank } else { k };
        if axis < 0 || axis >= rank {
            out.push(Diagnostic::AxisOutOfRange {
                span,
                tensor: tensor.name.clone(),
                axis: k,
                shape: crate::diagnostics::ShapeText(tensor.shape.clone()),
            });
            return None;
        }
        match i64::try_from(tensor.shape[axis as usize]) {
            Ok(d) => Some(d),
            Err(_) => checked(None, index, out),
        }
    }

    fn shape(&self, index: &Expr, span: Span, out: &mut Vec<Diagnostic>) -> Option<i64> {
        let k = self.eval(index, out)?;
        let Some(shapes) = self.shape else {
            out.push(Diagnostic::AmbiguousShape {
                span,
                problem: ShapeProblem::OutsidePipeline,
            });
            return None;
        };
        let mut value = None;
        for shape in shapes {
            let rank = shape.len() as i64;
            let axis = if k < 0 { k + rank } else { k };
            if axis < 0 || axis >= rank {
                out.push(Diagnostic::AxisOutOfRange {
                    span,
                    tensor: "the pipeline's input".into(),
                    axis: k,
                    shape: crate::diagnostics::ShapeText(shape.clone()),
                });
                return None;
            }
            let dim = i64::try_from(shape[axis as usize]).ok();
            match (value, dim) {
                (None, Some(d)) => value = Some(d),
                (Some(v), Some(d)) if v == d => {}
                (Some(v), Some(d)) => {
                    out.push(Diagnostic::AmbiguousShape {
                        span,
                        problem: ShapeProblem::InputsDiffer {
                            first: v,
                            other: d,
                            axis: k,
                        },
                    });
                    return None;
                }
                (_, None) => return checked(None, index, out),
            }
        }
        value
    }
}

fn checked(v: Option<i64>, expr: &Expr, out: &mut Vec<Diagnostic>) -> Option<i64> {
    if v.is_none() {
        out.push(Diagnostic::IntegerOverflow {
            span: expr.span,
            what: Overflowed::Expression,
        });
    }
    v
}

/// An integer, or a float with an integral value (`4096.0`).
fn as_integer(value: &serde_json::Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let f = value.as_f64()?;
    if value.is_number() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(f as i64)
    } else {
        None
    }
}

fn describe_json(value: &serde_json::Value) -> String {
    use serde_json::Value::*;
    match value {
        Null => "null".into(),
        Bool(b) => format!("the boolean {b}"),
        Number(n) => format!("the number {n}"),
        String(s) => format!("the string \"{s}\""),
        Array(_) => "a list".into(),
        Object(_) => "an object".into(),
    }
}
