//! The abstract syntax of one `.wmap` file, as written: nothing is resolved
//! yet (names, dtypes, op names and config keys are checked later).

use crate::source::{Span, Spanned};

/// One parsed file.
#[derive(Debug, Clone, Default)]
pub struct Module {
    pub items: Vec<Item>,
}

impl Module {
    /// The `use` statements of this module.
    pub fn uses(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.items.iter().filter_map(|i| match i {
            Item::Use(u) => Some(u),
            _ => None,
        })
    }
}

/// A statement.
#[derive(Debug, Clone)]
pub enum Item {
    /// `wmap 1`
    Version(Spanned<u64>),
    /// `target llama`
    Target(Spanned<String>),
    /// `use "std/torch"`; the span covers the string.
    Use(Spanned<String>),
    Let(LetDef),
    Words(WordsDef),
    Cast(GlobalCast),
    Op(OpDef),
    Rule(Rule),
    Drop(Drop),
    Tie(Tie),
}

/// `let name = expr`
#[derive(Debug, Clone)]
pub struct LetDef {
    pub span: Span,
    pub name: Spanned<String>,
    pub value: Expr,
}

/// `words name = a | b | c`
#[derive(Debug, Clone)]
pub struct WordsDef {
    pub span: Span,
    pub name: Spanned<String>,
    pub words: Vec<Spanned<String>>,
}

/// `cast FROM -> TO`; `from` may be `float`.
#[derive(Debug, Clone)]
pub struct GlobalCast {
    pub span: Span,
    pub from: Spanned<String>,
    pub to: Spanned<String>,
}

/// `op name(params) = pipeline`
#[derive(Debug, Clone)]
pub struct OpDef {
    pub span: Span,
    pub name: Spanned<String>,
    pub params: Vec<Spanned<String>>,
    pub body: Vec<OpCall>,
}

/// How a rule or drop selects source tensors.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// One pattern or a list of them.
    Patterns(Vec<Pattern>),
    /// `regex "..."`: the string is the regular expression as written.
    Regex(Spanned<String>),
}

/// Where a rule's results go.
#[derive(Debug, Clone)]
pub enum Targets {
    Patterns(Vec<Pattern>),
    /// The `$1` / `${name}` template of a regex rule.
    Template(Spanned<String>),
}

/// `SOURCES | ops -> TARGETS`, `regex ... -> ...` and `fallback ... -> ...`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub span: Span,
    pub optional: bool,
    pub fallback: bool,
    pub sources: Matcher,
    pub pipeline: Vec<OpCall>,
    pub targets: Targets,
}

/// `drop ...`
#[derive(Debug, Clone)]
pub struct Drop {
    pub span: Span,
    pub optional: bool,
    pub matcher: Matcher,
}

/// `tie COPY = ORIGINAL`: both are target patterns.
#[derive(Debug, Clone)]
pub struct Tie {
    pub span: Span,
    /// `optional tie`: no copy where the copy's name is produced already,
    /// and no error when the original matches nothing.
    pub optional: bool,
    pub copy: Pattern,
    pub original: Pattern,
}

/// A tensor-name pattern: literal text and captures.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub span: Span,
    pub parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatternPart {
    Text(String),
    Capture(Capture),
}

/// `{name}`, `{name:KIND}` or `{name + k}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub span: Span,
    pub name: String,
    /// `None` when no kind was written (an integer capture in a source).
    pub kind: Option<CaptureKind>,
    /// `{i + 1}` is 1, `{i - 1}` is -1; 0 when absent.
    pub shift: i64,
}

/// What a source capture matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureKind {
    /// `{i}`: one or more digits.
    Int,
    /// `{x:*}`: one name segment (no `.`).
    Segment,
    /// `{x:**}`: any non-empty text.
    Deep,
    /// `{p:a|b}`: one of the listed words (or a `words` list, by name).
    OneOf(Vec<String>),
    /// In a target, `{p:x|y}` after a source `{p:a|b}`: writes the word at
    /// the position of the one matched (`a` -> `x`, `b` -> `y`).
    Translate { from: Vec<String>, to: Vec<String> },
}

impl Pattern {
    pub fn captures(&self) -> impl Iterator<Item = &Capture> {
        self.parts.iter().filter_map(|p| match p {
            PatternPart::Capture(c) => Some(c),
            PatternPart::Text(_) => None,
        })
    }

    /// The pattern as written, without quotes.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                PatternPart::Text(t) => out.push_str(&super::format::pattern_literal(t)),
                PatternPart::Capture(c) => out.push_str(&c.display()),
            }
        }
        out
    }
}

impl Capture {
    pub fn display(&self) -> String {
        let kind = match &self.kind {
            None => String::new(),
            Some(CaptureKind::Int) => String::new(),
            Some(CaptureKind::Segment) => ":*".into(),
            Some(CaptureKind::Deep) => ":**".into(),
            Some(CaptureKind::OneOf(words)) => format!(":{}", words.join("|")),
            Some(CaptureKind::Translate { to, .. }) => format!(":{}", to.join("|")),
        };
        let shift = match self.shift {
            0 => String::new(),
            s if s > 0 => format!(" + {s}"),
            s => format!(" - {}", -s),
        };
        format!("{{{}{kind}{shift}}}", self.name)
    }
}

/// One step of a pipeline: `transpose`, `split(axis=0, parts=3)`, `my_op(h)`.
#[derive(Debug, Clone)]
pub struct OpCall {
    pub span: Span,
    pub name: Spanned<String>,
    pub args: Vec<Arg>,
}

/// A positional or named argument.
#[derive(Debug, Clone)]
pub struct Arg {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub value: ArgValue,
}

#[derive(Debug, Clone)]
pub enum ArgValue {
    Expr(Expr),
    Float(Spanned<f64>),
    List(Spanned<Vec<ArgValue>>),
}

impl ArgValue {
    pub fn span(&self) -> Span {
        match self {
            ArgValue::Expr(e) => e.span,
            ArgValue::Float(f) => f.span,
            ArgValue::List(l) => l.span,
        }
    }
}

/// An integer expression.
#[derive(Debug, Clone)]
pub struct Expr {
    pub span: Span,
    pub kind: ExprKind,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A literal; `None` when it does not fit in 64 bits (reported when parsed).
    Int(Option<i64>),
    /// A `let` name, an op parameter, a capture or dtype name (by context).
    Name(String),
    /// `config.a.b`
    Config(Vec<String>),
    /// `shape[k]`
    Shape(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a ?? b`
    Coalesce(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

impl Expr {
    /// The bare name, if this expression is just an identifier.
    pub fn as_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Name(n) => Some(n),
            _ => None,
        }
    }
}
