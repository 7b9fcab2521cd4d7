//! The built-in ops, one file per family. Each family file holds, for each
//! of its ops, a [`Spec`]: the argument schema, the shape and dtype rule that
//! checks a call and lowers it to the plan's primitive nodes (whose kernels
//! the executor runs), and the exact inverse that `wmap invert` writes, or
//! why there is none.
//!
//! The [`builtins!`] table below is the only list of ops: it makes the
//! [`Builtin`] enum, [`Builtin::ALL`] and [`Builtin::spec`], so adding an op
//! is one line here and one file beside this one.

mod args;
mod arith;
mod axes;
mod cast;
mod elementwise;
mod experts;
mod fill;
mod fused;
mod gather;
mod pad;
mod quant;
mod reshape;
mod slice;
mod unsqueeze;

pub(crate) use args::{bind_args, dtype_arg, int_arg, node_name, Ctx};
pub(crate) use cast::cast;

use crate::check::ir::Step;
use crate::check::pipeline::{Instance, Pipelines};
use crate::diagnostics::{Diagnostic, Irreversible};
use crate::plan::Node;
use crate::syntax::OpCall;

/// Where a rule reports problems.
type Out = Vec<Diagnostic>;

/// An op's shape and dtype rule, by how it treats the values a pipeline
/// carries. Each checks the call and builds the plan nodes it lowers to.
pub(crate) enum Apply {
    /// Each value on its own, one value out.
    EachValue(fn(&Ctx, Node, &mut Out) -> Option<Node>),
    /// One value in, several out (`split`).
    OneToMany(fn(&Ctx, &[Node], &mut Out) -> Option<Vec<Node>>),
    /// All values in, one out (`concat`).
    ManyToOne(fn(&Ctx, Vec<Node>, &mut Out) -> Option<Node>),
    /// Values regrouped across bindings (`stack`, `unstack`).
    AcrossBindings(Regroup),
    /// No value in: the tensor a `make` rule makes, given the `like`
    /// tensor's node if the rule has one (its shape and dtype, not its data).
    Makes(fn(&Ctx, Option<&Node>, &mut Out) -> Option<Node>),
}

/// The rule of an op that regroups values across bindings: given every
/// binding and the parameters of the enclosing `op`.
pub(crate) type Regroup =
    fn(&Pipelines, &OpCall, Vec<Instance>, &[(String, i64)], &mut Out) -> Option<Vec<Instance>>;

/// What an inverse is given: the call as written and what the checker saw
/// it do.
pub(crate) struct Seen<'a> {
    pub call: &'a OpCall,
    pub step: &'a Step,
}

/// The calls that undo an op (none when it changed nothing), or why no
/// exact inverse exists.
pub(crate) type Inverse = Result<Vec<OpCall>, Irreversible>;

/// Everything wmap knows about one built-in op.
pub(crate) struct Spec {
    /// The name a mapping calls it by.
    pub name: &'static str,
    /// Its parameters, in positional order; empty for ops that take any
    /// number of positional integers (`permute`, `reshape`).
    pub params: &'static [&'static str],
    /// Whether its first argument may be a bare name that is no `let`: a
    /// capture (`stack(e)`) or a dtype (`cast(bf16)`).
    pub takes_a_name: bool,
    /// Its shape and dtype rule.
    pub apply: Apply,
    /// Its exact inverse.
    pub inverse: fn(&Seen) -> Inverse,
}

/// Makes [`Builtin`] from a table of `Variant => family::SPEC`.
macro_rules! builtins {
    ($($variant:ident => $spec:path,)*) => {
        /// A built-in op, resolved once from a call's name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Builtin {
            $(#[doc = concat!("See `", stringify!($spec), "`.")] $variant,)*
        }

        impl Builtin {
            /// Every built-in op, in the order the documentation lists them.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant,)*];

            /// Its schema, rule and inverse.
            pub(crate) fn spec(self) -> &'static Spec {
                match self {
                    $(Builtin::$variant => &$spec,)*
                }
            }
        }
    };
}

builtins! {
    Transpose => axes::TRANSPOSE,
    Permute => axes::PERMUTE,
    Reshape => reshape::RESHAPE,
    Split => fused::SPLIT,
    Concat => fused::CONCAT,
    Stack => experts::STACK,
    Unstack => experts::UNSTACK,
    Slice => slice::SLICE,
    Cast => cast::CAST,
    Add => arith::ADD,
    Mul => arith::MUL,
    Unsqueeze => unsqueeze::UNSQUEEZE,
    Neg => elementwise::NEG,
    Abs => elementwise::ABS,
    Sqrt => elementwise::SQRT,
    Exp => elementwise::EXP,
    Log => elementwise::LOG,
    IndexSelect => gather::INDEX_SELECT,
    Repeat => gather::REPEAT,
    RepeatInterleave => gather::REPEAT_INTERLEAVE,
    Pad => pad::PAD,
    DequantFp8 => quant::DEQUANT_FP8,
    QuantFp8 => quant::QUANT_FP8,
    Zeros => fill::ZEROS,
    Ones => fill::ONES,
    Full => fill::FULL,
}

impl Builtin {
    /// The name a mapping calls it by.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The op a name calls, if it is built in.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// Whether its first argument may be a bare name that is no `let`.
    pub fn takes_a_name(self) -> bool {
        self.spec().takes_a_name
    }
}

/// A call `name(args)` made by an inverse, with no place in any file.
pub(crate) fn made_call(name: &str, args: Vec<crate::syntax::Arg>) -> OpCall {
    let span = crate::source::Span::new(crate::source::FileId(0), 0..0);
    OpCall {
        span,
        name: crate::source::Spanned::new(name.to_string(), span),
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_found_by_its_name_and_no_other() {
        for &op in Builtin::ALL {
            assert_eq!(Builtin::from_name(op.name()), Some(op));
        }
        assert_eq!(Builtin::from_name("transposed"), None);
        assert_eq!(Builtin::from_name(""), None);
        let mut names: Vec<&str> = Builtin::ALL.iter().map(|op| op.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Builtin::ALL.len());
    }
}

/// Arguments for the calls inverses make.
pub(crate) mod made {
    use crate::source::{FileId, Span, Spanned};
    use crate::syntax::{Arg, ArgValue, Expr, ExprKind};

    fn nowhere() -> Span {
        Span::new(FileId(0), 0..0)
    }

    /// An integer expression with no place in any file.
    pub fn int(v: i64) -> ArgValue {
        ArgValue::Expr(Expr {
            span: nowhere(),
            kind: ExprKind::Int(Some(v)),
        })
    }

    /// A bare name (a dtype, a capture).
    pub fn name(n: &str) -> ArgValue {
        ArgValue::Expr(Expr {
            span: nowhere(),
            kind: ExprKind::Name(n.to_string()),
        })
    }

    /// A decimal number.
    pub fn float(x: f64) -> ArgValue {
        ArgValue::Float(Spanned::new(x, nowhere()))
    }

    /// A list of values.
    pub fn list(items: Vec<ArgValue>) -> ArgValue {
        ArgValue::List(Spanned::new(items, nowhere()))
    }

    /// A positional argument.
    pub fn positional(value: ArgValue) -> Arg {
        Arg {
            span: nowhere(),
            name: None,
            value,
        }
    }

    /// `name=value`.
    pub fn named(name: &str, value: ArgValue) -> Arg {
        Arg {
            span: nowhere(),
            name: Some(Spanned::new(name.to_string(), nowhere())),
            value,
        }
    }
}
