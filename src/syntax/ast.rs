//! The abstract syntax of one `.wmap` file, as written: nothing is resolved
//! yet (names, dtypes, op names and config keys are checked later).

use crate::source::{Span, Spanned};

/// One parsed file.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// The statements, in source order.
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

    /// The `use .. under ..` statements.
    pub fn uses_under(&self) -> impl Iterator<Item = &UseUnder> {
        self.items.iter().filter_map(|i| match i {
            Item::UseUnder(u) => Some(u),
            _ => None,
        })
    }

    /// Prefixes every name its rules, drops and ties read with `from` and
    /// every name they write with `to`.
    pub fn prefix(&mut self, from: &str, to: &str) {
        fn pat(p: &mut Pattern, prefix: &str) {
            match p.parts.first_mut() {
                Some(PatternPart::Text(t)) => t.insert_str(0, prefix),
                _ => p.parts.insert(0, PatternPart::Text(prefix.to_string())),
            }
        }
        fn matcher(m: &mut Matcher, prefix: &str) {
            match m {
                Matcher::Patterns(ps) => ps.iter_mut().for_each(|p| pat(p, prefix)),
                Matcher::Regex(r) => {
                    r.value = format!("{}(?:{})", regex::escape(prefix), r.value);
                }
            }
        }
        // The output is the using mapping's: its `target` is the one that counts.
        self.items
            .retain(|i| !matches!(i, Item::Target(_) | Item::TargetFile(_)));
        for item in &mut self.items {
            match item {
                Item::Rule(r) => {
                    matcher(&mut r.sources, from);
                    match &mut r.targets {
                        Targets::Patterns(ps) => ps.iter_mut().for_each(|p| pat(p, to)),
                        Targets::Template(t) => t.value.insert_str(0, &to.replace('$', "$$")),
                    }
                }
                Item::Drop(d) => matcher(&mut d.matcher, from),
                Item::Tie(t) => {
                    pat(&mut t.copy, to);
                    pat(&mut t.original, to);
                }
                _ => {}
            }
        }
    }
}

/// A statement.
#[derive(Debug, Clone)]
pub enum Item {
    /// `wmap 1`
    Version(Spanned<u64>),
    /// `target llama`
    Target(Spanned<String>),
    /// `target "layout.safetensors"`: the wanted output layout, a checkpoint
    /// or a spec, relative to the file that declares it.
    TargetFile(Spanned<String>),
    /// `use "std/torch"`; the span covers the string.
    Use(Spanned<String>),
    /// `let name = expr`
    Let(LetDef),
    /// `words name = a | b`
    Words(WordsDef),
    /// `cast FROM -> TO`
    Cast(GlobalCast),
    /// `op name(params) = pipeline`
    Op(OpDef),
    /// A rule, including `regex` and `fallback` rules.
    Rule(Rule),
    /// `drop ...`
    Drop(Drop),
    /// `tie COPY = ORIGINAL`
    Tie(Tie),
    /// `write "params.json" { .. }`
    Write(WriteDef),
    /// `use "./text.wmap" under "language_model."`
    UseUnder(UseUnder),
}

/// `use "FILE" under "PREFIX" [-> "PREFIX"]`: a module whose names are
/// prefixed, sources with `from` and targets with `to`.
#[derive(Debug, Clone)]
pub struct UseUnder {
    /// The module, as in `use`; the span covers the string.
    pub path: Spanned<String>,
    /// The prefix of its source names.
    pub from: String,
    /// The prefix of its target names (`from` when not given).
    pub to: String,
}

/// `write "FILE" [from config] { key = value ... }`: a JSON file of the output.
#[derive(Debug, Clone)]
pub struct WriteDef {
    /// The whole statement.
    pub span: Span,
    /// The file's name in the output folder.
    pub file: Spanned<String>,
    /// `from config`: start from the source's config.
    pub from_config: bool,
    /// The keys set, in order.
    pub entries: Vec<ConfigEntry>,
}

/// `key = value` in a `write`.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// The whole entry.
    pub span: Span,
    /// The key, or a dotted path of keys.
    pub key: Spanned<String>,
    /// The value.
    pub value: JsonExpr,
}

impl ConfigEntry {
    /// The entries of a `write` that give `map` key for key as literals
    /// (nested objects by dotted keys), with no place in any file; `None`
    /// when a key is not a plain word or a value has no written form (an
    /// object inside a list).
    pub fn literals(map: &serde_json::Map<String, serde_json::Value>) -> Option<Vec<ConfigEntry>> {
        fn literal(v: &serde_json::Value) -> Option<JsonExpr> {
            Some(match v {
                serde_json::Value::Array(items) => JsonExpr::List(Spanned::new(
                    items.iter().map(literal).collect::<Option<Vec<_>>>()?,
                    nowhere(),
                )),
                serde_json::Value::Object(_) => return None,
                other => JsonExpr::Literal(Spanned::new(other.clone(), nowhere())),
            })
        }
        fn entries(
            prefix: &str,
            map: &serde_json::Map<String, serde_json::Value>,
            out: &mut Vec<ConfigEntry>,
        ) -> Option<()> {
            let plain = |k: &str| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            };
            for (k, v) in map {
                if !plain(k) {
                    return None;
                }
                let key = format!("{prefix}{k}");
                match v {
                    serde_json::Value::Object(inner) if !inner.is_empty() => {
                        entries(&format!("{key}."), inner, out)?
                    }
                    _ => out.push(ConfigEntry {
                        span: nowhere(),
                        key: Spanned::new(key, nowhere()),
                        value: literal(v)?,
                    }),
                }
            }
            Some(())
        }
        let mut out = Vec::new();
        entries("", map, &mut out)?;
        Some(out)
    }
}

fn nowhere() -> Span {
    Span::new(crate::source::FileId(0), 0..0)
}

/// A value in a `write`.
#[derive(Debug, Clone)]
pub enum JsonExpr {
    /// `true`, `false`, `null`, a string or a decimal number.
    Literal(Spanned<serde_json::Value>),
    /// `[v, w]`.
    List(Spanned<Vec<JsonExpr>>),
    /// `config.key ?? value` for a value that is no integer expression.
    Default {
        /// The `config.key`.
        key: Expr,
        /// The value when the key is absent.
        or: Box<JsonExpr>,
    },
    /// An integer expression; a lone `config.key` (or `config.key ?? v`)
    /// copies the config's value, whatever its type.
    Expr(Expr),
}

/// `let name = expr`
#[derive(Debug, Clone)]
pub struct LetDef {
    /// From `let` to the end of the value.
    pub span: Span,
    /// The name defined.
    pub name: Spanned<String>,
    /// The value, not yet evaluated.
    pub value: Expr,
}

/// `words name = a | b | c`
#[derive(Debug, Clone)]
pub struct WordsDef {
    /// The whole statement.
    pub span: Span,
    /// The list's name, usable as a capture kind (`{p:name}`).
    pub name: Spanned<String>,
    /// The words, in the order written.
    pub words: Vec<Spanned<String>>,
}

/// `cast FROM -> TO`; `from` may be `float`.
#[derive(Debug, Clone)]
pub struct GlobalCast {
    /// The whole statement.
    pub span: Span,
    /// The dtype converted from, or `float` for every float dtype.
    pub from: Spanned<String>,
    /// The dtype converted to.
    pub to: Spanned<String>,
}

/// `op name(params) = pipeline`
#[derive(Debug, Clone)]
pub struct OpDef {
    /// From `op` to the end of the body's last call.
    pub span: Span,
    /// The op's name.
    pub name: Spanned<String>,
    /// The parameter names, in order.
    pub params: Vec<Spanned<String>>,
    /// The pipeline a call of the op stands for, in order.
    pub body: Vec<Stage>,
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
    /// One pattern or a list of them.
    Patterns(Vec<Pattern>),
    /// The `$1` / `${name}` template of a regex rule.
    Template(Spanned<String>),
}

/// `SOURCES | ops -> TARGETS`, `regex ... -> ...` and `fallback ... -> ...`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The whole rule.
    pub span: Span,
    /// `optional`: no error when the rule matches no tensor.
    pub optional: bool,
    /// `fallback`: applies only to tensors no other rule or drop claims.
    pub fallback: bool,
    /// How the rule comes by its first values: it claims its sources, reads
    /// them (`also`), or makes tensors (`make`).
    pub reads: Reads,
    /// The source tensors the rule reads; for `make`, its `like` pattern,
    /// if any.
    pub sources: Matcher,
    /// The ops applied, in order; empty for a plain rename.
    pub pipeline: Vec<Stage>,
    /// The names of the results.
    pub targets: Targets,
    /// `when EXPR`: the rule applies only where EXPR is not 0.
    pub when: Option<Expr>,
}

/// How a rule comes by the values its pipeline starts with.
#[derive(Debug, Clone)]
pub enum Reads {
    /// Its sources, which no other rule may claim.
    Claims,
    /// `also`: its sources, which another rule claims.
    Shares,
    /// `make`: tensors that no source holds.
    Makes(Box<Made>),
}

/// What a `make` rule makes: `zeros(shape=[n], dtype=f32)`, bound by `like`
/// (its pattern is the rule's sources) or `for` ranges.
#[derive(Debug, Clone)]
pub struct Made {
    /// `zeros(..)`, `ones(..)` or `full(x, ..)`.
    pub fill: OpCall,
    /// Whether the rule has a `like` pattern.
    pub like: bool,
    /// `for i in 0..n`: integer captures and their ranges.
    pub ranges: Vec<ForRange>,
}

/// `i in START..END` of a `for` clause.
#[derive(Debug, Clone)]
pub struct ForRange {
    /// The whole range.
    pub span: Span,
    /// The capture it binds.
    pub capture: Spanned<String>,
    /// The first value.
    pub start: Expr,
    /// One past the last value.
    pub end: Expr,
}

/// `drop ...`
#[derive(Debug, Clone)]
pub struct Drop {
    /// The whole statement.
    pub span: Span,
    /// `optional drop`: no error when it matches no tensor.
    pub optional: bool,
    /// The source tensors dropped.
    pub matcher: Matcher,
}

/// `tie COPY = ORIGINAL`: both are target patterns.
#[derive(Debug, Clone)]
pub struct Tie {
    /// The whole statement.
    pub span: Span,
    /// `optional tie`: no copy where the copy's name is produced already,
    /// and no error when the original matches nothing.
    pub optional: bool,
    /// The target pattern the copy is written under.
    pub copy: Pattern,
    /// The target pattern whose tensors are copied.
    pub original: Pattern,
}

/// A tensor-name pattern: literal text and captures.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern, quotes included.
    pub span: Span,
    /// The text and captures, in order; adjacent texts are merged into one.
    pub parts: Vec<PatternPart>,
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternPart {
    /// Literal text, unescaped (`{{` is stored as `{`).
    Text(String),
    /// A `{...}` capture.
    Capture(Capture),
}

/// `{name}`, `{name:KIND}` or `{name + k}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The capture, braces included.
    pub span: Span,
    /// The capture's name, without kind or shift.
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
    Translate {
        /// The words of the source capture of the same name.
        from: Vec<String>,
        /// The words written in their place, one for each of `from`.
        to: Vec<String>,
    },
}

impl Pattern {
    /// The captures of the pattern, in order.
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
    /// The capture as written, braces included; a `Translate` shows its target words.
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

/// One stage of a pipeline: an op call, or a pipeline for each value.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `transpose`, `split(axis=0, parts=3)`, `my_op(h)`.
    Call(OpCall),
    /// `[_, reshape(a, b) | transpose]`: one arm per value, in order.
    Branches(Branches),
}

/// `[_, reshape(a, b) | transpose]`: the values entering are taken one per
/// arm, in order; each arm's pipeline runs on its value alone (`shape` is
/// that value's shape), and the values the arms leave follow one another.
#[derive(Debug, Clone)]
pub struct Branches {
    /// From `[` to `]`.
    pub span: Span,
    /// One per value entering.
    pub arms: Vec<Arm>,
}

/// One arm of [`Branches`]: `_` (no stages: the value passes unchanged) or
/// a pipeline.
#[derive(Debug, Clone)]
pub struct Arm {
    /// The `_` or the arm's pipeline.
    pub span: Span,
    /// Its stages, in order; empty for `_`.
    pub stages: Vec<Stage>,
}

impl Stage {
    /// The stage's place in its file.
    pub fn span(&self) -> Span {
        match self {
            Stage::Call(c) => c.span,
            Stage::Branches(b) => b.span,
        }
    }

    /// Every op call of `stages`, arms included, in order.
    pub fn calls(stages: &[Stage]) -> Vec<&OpCall> {
        let mut out = Vec::new();
        fn walk<'a>(stages: &'a [Stage], out: &mut Vec<&'a OpCall>) {
            for s in stages {
                match s {
                    Stage::Call(c) => out.push(c),
                    Stage::Branches(b) => {
                        for arm in &b.arms {
                            walk(&arm.stages, out);
                        }
                    }
                }
            }
        }
        walk(stages, &mut out);
        out
    }

    /// Whether an argument of `stages` reads a source tensor by name
    /// (`shape("NAME")[k]`).
    pub fn name_a_tensor(stages: &[Stage]) -> bool {
        Stage::calls(stages)
            .iter()
            .any(|c| c.args.iter().any(|a| a.value.names_a_tensor()))
    }
}

/// One op call of a pipeline: `transpose`, `split(axis=0, parts=3)`, `my_op(h)`.
#[derive(Debug, Clone)]
pub struct OpCall {
    /// From the name to the closing `)`; only the name when there are no arguments.
    pub span: Span,
    /// The op's name, not yet resolved.
    pub name: Spanned<String>,
    /// The arguments, in order.
    pub args: Vec<Arg>,
}

/// A positional or named argument.
#[derive(Debug, Clone)]
pub struct Arg {
    /// From the argument's name, if any, to the end of its value.
    pub span: Span,
    /// The name of a named argument (`axis=0`); `None` for a positional one.
    pub name: Option<Spanned<String>>,
    /// The value.
    pub value: ArgValue,
}

/// The value of an argument.
#[derive(Debug, Clone)]
pub enum ArgValue {
    /// An integer expression.
    Expr(Expr),
    /// A decimal number.
    Float(Spanned<f64>),
    /// `[a, b, ...]`; the span covers the brackets.
    List(Spanned<Vec<ArgValue>>),
}

impl ArgValue {
    /// Whether the value reads a source tensor by name (`shape("NAME")[k]`).
    pub fn names_a_tensor(&self) -> bool {
        match self {
            ArgValue::Expr(e) => e.names_a_tensor(),
            ArgValue::Float(_) => false,
            ArgValue::List(items) => items.value.iter().any(ArgValue::names_a_tensor),
        }
    }

    /// Where the value is written.
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
    /// The expression as written, parentheses included.
    pub span: Span,
    /// What the expression is.
    pub kind: ExprKind,
}

/// The forms of an integer expression.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A literal; `None` when it does not fit in 64 bits (reported when parsed).
    Int(Option<i64>),
    /// A `let` name, an op parameter, a capture or dtype name (by context).
    Name(String),
    /// `config.a.b`
    Config(Vec<String>),
    /// `shape[k]`: axis `k` of the tensor entering the pipeline; with a
    /// name, `shape("name")[k]`, of that source tensor.
    Shape {
        /// The source tensor's name, when given.
        tensor: Option<Box<Spanned<String>>>,
        /// The axis.
        axis: Box<Expr>,
    },
    /// `-e`
    Neg(Box<Expr>),
    /// `a + b`, `a - b`, `a * b` or `a / b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a ?? b`
    Coalesce(Box<Expr>, Box<Expr>),
}

/// An arithmetic operator of an integer expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: exact division; a remainder is an error.
    Div,
}

impl BinOp {
    /// The operator as written.
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
    /// Whether the expression reads a source tensor by name (`shape("NAME")[k]`).
    pub fn names_a_tensor(&self) -> bool {
        match &self.kind {
            ExprKind::Shape {
                tensor: Some(_), ..
            } => true,
            ExprKind::Shape { axis: e, .. } | ExprKind::Neg(e) => e.names_a_tensor(),
            ExprKind::Binary(_, a, b) | ExprKind::Coalesce(a, b) => {
                a.names_a_tensor() || b.names_a_tensor()
            }
            ExprKind::Int(_) | ExprKind::Name(_) | ExprKind::Config(_) => false,
        }
    }

    /// The bare name, if this expression is just an identifier.
    pub fn as_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Name(n) => Some(n),
            _ => None,
        }
    }
}
