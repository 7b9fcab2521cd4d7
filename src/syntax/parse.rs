//! From text to [`Module`]: pest does the parsing, and this file converts its
//! `Pairs` into the AST straight away, so no other module touches pest.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/wmap.pest"]
pub(crate) struct WmapParser;

/// Parses one file. Syntax errors stop at the first one (pest cannot
/// recover); an integer literal too large for 64 bits is reported and the
/// rest of the file is still read.
pub fn parse(file: FileId, text: &str) -> Result<Module, Vec<Diagnostic>> {
    // Let pest record the literal tokens it tried (`->`, `]`, a closing
    // quote), not only the rules, so that a syntax error can point at the
    // token that is missing. The setting is global; files are small.
    pest::set_error_detail(true);
    let pairs =
        WmapParser::parse(Rule::file, text).map_err(|e| vec![syntax_error(file, text, e)])?;
    let mut builder = Builder {
        file,
        diagnostics: Vec::new(),
    };
    let mut module = Module::default();
    for pair in pairs.flatten().filter(is_statement) {
        // Expressions become trees that are evaluated recursively; a statement
        // of absurd size (a chain of 100,000 `+`, as a fuzzer writes) is
        // refused here rather than overflowing the stack later.
        let size = pair.clone().into_inner().flatten().count();
        if size > MAX_STATEMENT_PAIRS {
            builder.diagnostics.push(Diagnostic::Syntax {
                span: builder.span(&pair),
                expected: Vec::new(),
                found: format!(
                    "a statement this large ({size} grammar elements; the limit is {MAX_STATEMENT_PAIRS})"
                ),
            });
            continue;
        }
        module.items.push(builder.statement(pair));
    }
    if builder.diagnostics.is_empty() {
        Ok(module)
    } else {
        Err(builder.diagnostics)
    }
}

/// The most grammar elements one statement may have; real statements have
/// tens.
const MAX_STATEMENT_PAIRS: usize = 4096;

fn is_statement(pair: &Pair<Rule>) -> bool {
    matches!(
        pair.as_rule(),
        Rule::version_decl
            | Rule::target_decl
            | Rule::use_decl
            | Rule::use_under_decl
            | Rule::let_decl
            | Rule::words_decl
            | Rule::cast_decl
            | Rule::op_def
            | Rule::tie_decl
            | Rule::drop_decl
            | Rule::fallback_rule
            | Rule::regex_rule
            | Rule::rule
            | Rule::make_rule
            | Rule::write_decl
    )
}

struct Builder {
    file: FileId,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start()..s.end())
    }

    fn spanned_str(&self, pair: &Pair<Rule>) -> Spanned<String> {
        Spanned::new(pair.as_str().to_string(), self.span(pair))
    }

    fn statement(&mut self, pair: Pair<Rule>) -> Item {
        let span = self.span(&pair);
        let kind = pair.as_rule();
        let mut inner: Vec<Pair<Rule>> = pair.into_inner().collect();
        let optional = inner.first().is_some_and(|p| p.as_rule() == Rule::optional);
        if optional {
            inner.remove(0);
        }
        // Keywords carry no information beyond the statement's kind.
        inner.retain(|p| !is_keyword(p.as_rule()));
        let mut it = inner.into_iter();
        let mut next = || it.next().expect("grammar guarantees this child");
        match kind {
            Rule::version_decl => {
                let int = next();
                let value = self.int(&int).map(|v| v as u64).unwrap_or(u64::MAX);
                Item::Version(Spanned::new(value, self.span(&int)))
            }
            Rule::target_decl => {
                let name = next();
                if name.as_rule() == Rule::string {
                    Item::TargetFile(self.string(name))
                } else {
                    Item::Target(self.spanned_str(&name))
                }
            }
            Rule::use_decl => Item::Use(self.string(next())),
            Rule::use_under_decl => {
                let path = self.string(next());
                let from = self.string(next()).value;
                let to = it
                    .next()
                    .map(|p| self.string(p).value)
                    .unwrap_or_else(|| from.clone());
                Item::UseUnder(UseUnder { path, from, to })
            }
            Rule::let_decl => {
                let name = self.spanned_str(&next());
                let value = self.expr(next());
                let span = until(span, value.span);
                Item::Let(LetDef { span, name, value })
            }
            Rule::words_decl => {
                let name = self.spanned_str(&next());
                let words = it.map(|w| self.spanned_str(&w)).collect();
                Item::Words(WordsDef { span, name, words })
            }
            Rule::cast_decl => {
                let from = self.spanned_str(&next());
                let to = self.spanned_str(&next());
                Item::Cast(GlobalCast { span, from, to })
            }
            Rule::op_def => {
                let name = self.spanned_str(&next());
                let mut params = Vec::new();
                let mut body = Vec::new();
                for p in it {
                    match p.as_rule() {
                        Rule::op_params => {
                            params = p.into_inner().map(|p| self.spanned_str(&p)).collect()
                        }
                        _ => body.push(self.stage(p)),
                    }
                }
                let span = body.last().map_or(span, |c| until(span, c.span()));
                Item::Op(OpDef {
                    span,
                    name,
                    params,
                    body,
                })
            }
            Rule::tie_decl => {
                let copy = self.pattern(next());
                let original = self.pattern(next());
                Item::Tie(Tie {
                    span,
                    optional,
                    copy,
                    original,
                })
            }
            Rule::drop_decl => {
                let matcher = self.matcher(next());
                Item::Drop(Drop {
                    span,
                    optional,
                    matcher,
                })
            }
            Rule::write_decl => {
                let file = self.string(next());
                let mut from_config = false;
                let mut entries = Vec::new();
                for p in it {
                    match p.as_rule() {
                        Rule::from_config => from_config = true,
                        Rule::config_entry => {
                            let span = self.span(&p);
                            let mut inner = p.into_inner();
                            let key =
                                self.spanned_str(&inner.next().expect("grammar guarantees a key"));
                            let value =
                                self.json(inner.next().expect("grammar guarantees a value"));
                            entries.push(ConfigEntry { span, key, value });
                        }
                        other => unreachable!("unexpected {other:?} in a write"),
                    }
                }
                Item::Write(WriteDef {
                    span,
                    file,
                    from_config,
                    entries,
                })
            }
            Rule::make_rule => {
                let fill = self.op_call(next());
                let mut sources = Matcher::Patterns(Vec::new());
                let mut like = false;
                let mut pipeline = Vec::new();
                let mut targets = None;
                let mut ranges = Vec::new();
                let mut when = None;
                let mut end = span;
                for p in it {
                    end = self.span(&p);
                    match p.as_rule() {
                        Rule::like_clause => {
                            let pattern = p
                                .into_inner()
                                .find(|p| p.as_rule() == Rule::pattern)
                                .expect("grammar guarantees the pattern");
                            sources = Matcher::Patterns(vec![self.pattern(pattern)]);
                            like = true;
                        }
                        Rule::op_call | Rule::branches => pipeline.push(self.stage(p)),
                        Rule::targets => targets = Some(Targets::Patterns(self.patterns(p))),
                        Rule::for_clause => {
                            for r in p.into_inner().filter(|p| p.as_rule() == Rule::for_range) {
                                ranges.push(self.for_range(r));
                            }
                        }
                        Rule::when_clause => when = Some(self.when(p)),
                        other => unreachable!("unexpected {other:?} in a make rule"),
                    }
                }
                let span = until(span, end);
                Item::Rule(Rule_ {
                    span,
                    optional,
                    fallback: false,
                    reads: Reads::Makes(Box::new(Made { fill, like, ranges })),
                    sources,
                    pipeline,
                    targets: targets.expect("grammar guarantees targets"),
                    when,
                })
            }
            Rule::fallback_rule | Rule::regex_rule | Rule::rule => {
                let mut first = next();
                let mut reads = Reads::Claims;
                if first.as_rule() == Rule::also {
                    reads = Reads::Shares;
                    first = next();
                }
                let sources = self.matcher(first);
                let mut pipeline = Vec::new();
                let mut targets = None;
                let mut when = None;
                let mut end = span;
                for p in it {
                    // The span ends at the last token (a failed `when` may have
                    // crossed a trailing comment).
                    end = self.span(&p);
                    match p.as_rule() {
                        Rule::op_call | Rule::branches => pipeline.push(self.stage(p)),
                        Rule::targets => targets = Some(Targets::Patterns(self.patterns(p))),
                        Rule::string => targets = Some(Targets::Template(self.string(p))),
                        Rule::when_clause => when = Some(self.when(p)),
                        other => unreachable!("unexpected {other:?} in a rule"),
                    }
                }
                let span = until(span, end);
                Item::Rule(Rule_ {
                    span,
                    optional,
                    fallback: kind == Rule::fallback_rule,
                    reads,
                    sources,
                    pipeline,
                    targets: targets.expect("grammar guarantees targets"),
                    when,
                })
            }
            other => unreachable!("not a statement: {other:?}"),
        }
    }

    fn json(&mut self, pair: Pair<Rule>) -> JsonExpr {
        let span = self.span(&pair);
        let literal = |v: serde_json::Value| JsonExpr::Literal(Spanned::new(v, span));
        match pair.as_rule() {
            Rule::json_literal => literal(match pair.as_str() {
                "true" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                _ => serde_json::Value::Null,
            }),
            Rule::string => literal(serde_json::Value::String(self.string(pair).value)),
            Rule::json_default => {
                let mut inner = pair
                    .into_inner()
                    .filter(|p| p.as_rule() != Rule::coalesce_op);
                let key = self.expr(inner.next().expect("grammar guarantees the key"));
                let or = Box::new(self.json(inner.next().expect("grammar guarantees the value")));
                JsonExpr::Default { key, or }
            }
            Rule::json_list => {
                let items = pair.into_inner().map(|p| self.json(p)).collect();
                JsonExpr::List(Spanned::new(items, span))
            }
            Rule::float => match self.value(pair) {
                ArgValue::Float(f) => match serde_json::Number::from_f64(f.value) {
                    Some(n) => literal(serde_json::Value::Number(n)),
                    None => literal(serde_json::Value::Null),
                },
                _ => literal(serde_json::Value::Null),
            },
            _ => JsonExpr::Expr(self.expr(pair)),
        }
    }

    fn when(&mut self, pair: Pair<Rule>) -> Expr {
        let e = pair
            .into_inner()
            .find(|p| p.as_rule() != Rule::kw_when)
            .expect("grammar guarantees the condition");
        self.expr(e)
    }

    fn for_range(&mut self, pair: Pair<Rule>) -> ForRange {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_in);
        let capture = self.spanned_str(&inner.next().expect("grammar guarantees the capture"));
        let start = self.expr(inner.next().expect("grammar guarantees the start"));
        let end = self.expr(inner.next().expect("grammar guarantees the end"));
        ForRange {
            span,
            capture,
            start,
            end,
        }
    }

    fn matcher(&mut self, pair: Pair<Rule>) -> Matcher {
        match pair.as_rule() {
            Rule::regex_source => {
                let string = pair
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::string)
                    .expect("grammar guarantees the regex string");
                Matcher::Regex(self.string(string))
            }
            Rule::sources => Matcher::Patterns(self.patterns(pair)),
            other => unreachable!("not a matcher: {other:?}"),
        }
    }

    /// `sources` / `targets`: one pattern or a list.
    fn patterns(&mut self, pair: Pair<Rule>) -> Vec<Pattern> {
        let inner = pair.into_inner().next().expect("one child");
        match inner.as_rule() {
            Rule::pattern => vec![self.pattern(inner)],
            Rule::pattern_list => inner.into_inner().map(|p| self.pattern(p)).collect(),
            other => unreachable!("not patterns: {other:?}"),
        }
    }

    fn pattern(&mut self, pair: Pair<Rule>) -> Pattern {
        let span = self.span(&pair);
        let mut parts = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::pattern_text => {
                    let text = unescape_pattern(part.as_str());
                    // Adjacent texts (`a{{b`) are one part, as before.
                    if let Some(PatternPart::Text(prev)) = parts.last_mut() {
                        prev.push_str(&text);
                    } else {
                        parts.push(PatternPart::Text(text));
                    }
                }
                Rule::capture => parts.push(PatternPart::Capture(self.capture(part))),
                other => unreachable!("not a pattern part: {other:?}"),
            }
        }
        Pattern { span, parts }
    }

    fn capture(&mut self, pair: Pair<Rule>) -> Capture {
        let span = self.span(&pair);
        let mut name = String::new();
        let mut kind = None;
        let mut shift = 0;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = p.as_str().to_string(),
                Rule::capture_kind => {
                    let k = p.into_inner().next().expect("kind");
                    kind = Some(match k.as_rule() {
                        Rule::deep => CaptureKind::Deep,
                        Rule::segment => CaptureKind::Segment,
                        _ => CaptureKind::OneOf(
                            k.into_inner().map(|w| w.as_str().to_string()).collect(),
                        ),
                    });
                }
                Rule::capture_shift => {
                    let mut it = p.into_inner();
                    let sign = it.next().expect("sign").as_str();
                    let amount = it.next().expect("amount");
                    let value = self.int(&amount).unwrap_or(0);
                    shift = if sign == "-" { -value } else { value };
                }
                other => unreachable!("not a capture part: {other:?}"),
            }
        }
        Capture {
            span,
            name,
            kind,
            shift,
        }
    }

    fn string(&self, pair: Pair<Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        let body = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
        Spanned::new(unescape(body), span)
    }

    fn stage(&mut self, pair: Pair<Rule>) -> Stage {
        match pair.as_rule() {
            Rule::branches => {
                let span = self.span(&pair);
                let arms = pair
                    .into_inner()
                    .map(|arm| {
                        let span = self.span(&arm);
                        let stages = arm
                            .into_inner()
                            .filter(|p| p.as_rule() != Rule::keep)
                            .map(|p| self.stage(p))
                            .collect::<Vec<_>>();
                        // The arm's own span runs on over blanks before `,`.
                        let span = match (stages.first(), stages.last()) {
                            (Some(a), Some(b)) => a.span().to(b.span()),
                            _ => Span::new(span.file, span.start..span.start + 1),
                        };
                        Arm { span, stages }
                    })
                    .collect();
                Stage::Branches(Branches { span, arms })
            }
            _ => Stage::Call(self.op_call(pair)),
        }
    }

    fn op_call(&mut self, pair: Pair<Rule>) -> OpCall {
        let mut inner = pair.into_inner();
        let name = self.spanned_str(&inner.next().expect("op name"));
        // From the name to the `)`: pest's own span of a call without
        // arguments runs on over the blanks and comment after it.
        let (span, args) = match inner.next() {
            Some(args) => (
                name.span.to(self.span(&args)),
                args.into_inner().map(|a| self.arg(a)).collect(),
            ),
            None => (name.span, Vec::new()),
        };
        OpCall { span, name, args }
    }

    fn arg(&mut self, pair: Pair<Rule>) -> Arg {
        let mut name: Option<Spanned<String>> = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::arg_name => name = Some(self.spanned_str(&p)),
                _ => value = Some(self.value(p)),
            }
        }
        let value: ArgValue = value.expect("grammar guarantees a value");
        // The value's own span ends at its last token, pest's at the blanks after it.
        let span = match &name {
            Some(n) => n.span.to(value.span()),
            None => value.span(),
        };
        Arg { span, name, value }
    }

    fn value(&mut self, pair: Pair<Rule>) -> ArgValue {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::list => {
                let items = pair.into_inner().map(|p| self.value(p)).collect();
                ArgValue::List(Spanned::new(items, span))
            }
            Rule::float => {
                // The grammar admits only well-formed decimal numbers.
                let text = pair.as_str();
                let v: f64 = text.parse().unwrap_or(f64::NAN);
                let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
                let lost = v == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
                if !v.is_finite() || lost {
                    self.diagnostics.push(Diagnostic::NumberOutOfRange {
                        span,
                        text: text.into(),
                        dtype: crate::dtype::DType::F64,
                        becomes: if lost { "0" } else { "infinite" }.into(),
                        op: None,
                    });
                }
                ArgValue::Float(Spanned::new(v, span))
            }
            _ => ArgValue::Expr(self.expr(pair)),
        }
    }

    fn int(&mut self, pair: &Pair<Rule>) -> Option<i64> {
        match pair.as_str().parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.diagnostics.push(Diagnostic::IntegerOverflow {
                    span: self.span(pair),
                    what: crate::diagnostics::Overflowed::Literal(pair.as_str().to_string()),
                });
                None
            }
        }
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr
            | Rule::sum
            | Rule::product
            | Rule::inner_expr
            | Rule::inner_sum
            | Rule::inner_product => {
                let mut inner = pair.into_inner();
                let mut acc = self.expr(inner.next().expect("operand"));
                while let Some(op) = inner.next() {
                    let rhs = self.expr(inner.next().expect("operand"));
                    let span = acc.span.to(rhs.span);
                    let kind = match op.as_str() {
                        "??" => ExprKind::Coalesce(Box::new(acc), Box::new(rhs)),
                        "+" => ExprKind::Binary(BinOp::Add, Box::new(acc), Box::new(rhs)),
                        "-" => ExprKind::Binary(BinOp::Sub, Box::new(acc), Box::new(rhs)),
                        "*" => ExprKind::Binary(BinOp::Mul, Box::new(acc), Box::new(rhs)),
                        _ => ExprKind::Binary(BinOp::Div, Box::new(acc), Box::new(rhs)),
                    };
                    acc = Expr { span, kind };
                }
                acc
            }
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .expect("grammar guarantees an expression");
                let inner = self.expr(inner);
                Expr {
                    span,
                    kind: inner.kind,
                }
            }
            Rule::unary => {
                let mut inner: Vec<Pair<Rule>> = pair.into_inner().collect();
                let atom = self.expr(inner.pop().expect("atom"));
                inner.iter().rev().fold(atom, |e, neg| Expr {
                    span: self.span(neg).to(e.span),
                    kind: ExprKind::Neg(Box::new(e)),
                })
            }
            Rule::int => Expr {
                span,
                kind: ExprKind::Int(self.int(&pair)),
            },
            Rule::ident => Expr {
                span,
                kind: ExprKind::Name(pair.as_str().to_string()),
            },
            Rule::config_ref => Expr {
                span,
                kind: ExprKind::Config(
                    pair.into_inner()
                        .filter(|p| p.as_rule() == Rule::config_key)
                        .map(|p| p.as_str().to_string())
                        .collect(),
                ),
            },
            Rule::shape_ref => {
                let mut tensor = None;
                let mut axis = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::shape_of => {
                            let name = p
                                .into_inner()
                                .find(|p| p.as_rule() == Rule::string)
                                .expect("shape_of holds a string");
                            tensor = Some(Box::new(self.string(name)));
                        }
                        Rule::inner_expr => axis = Some(self.expr(p)),
                        _ => {}
                    }
                }
                Expr {
                    span,
                    kind: ExprKind::Shape {
                        tensor,
                        axis: Box::new(axis.expect("shape index")),
                    },
                }
            }
            other => unreachable!("not an expression: {other:?}"),
        }
    }
}

/// `span`, ending where `end` ends.
fn until(span: Span, end: Span) -> Span {
    Span {
        end: end.end,
        ..span
    }
}

// `Rule` is pest's generated enum; the AST's rule type is renamed on import.
use super::ast::Rule as Rule_;

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_wmap
            | Rule::kw_target
            | Rule::kw_use
            | Rule::kw_let
            | Rule::kw_words
            | Rule::kw_cast
            | Rule::kw_op
            | Rule::kw_tie
            | Rule::kw_drop
            | Rule::kw_fallback
            | Rule::kw_regex
            | Rule::kw_make
            | Rule::kw_write
            | Rule::kw_under
    )
}

/// Resolves the two escapes of the language; any other backslash stays.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('"') | Some('\\') => {
                    out.push(chars.next().expect("peeked"));
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Resolves the escapes of pattern text: `{{`, `}}`, `\"`, `\\`, `\n`,
/// `\t`, `\r`, `\u{HEX}`; any other backslash stays, as in strings.
fn unescape_pattern(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        let mut advance = c.len_utf8();
        match c {
            '{' | '}' if rest[1..].starts_with(c) => {
                out.push(c);
                advance = 2;
            }
            '\\' => match rest[1..].chars().next() {
                Some(e @ ('"' | '\\')) => {
                    out.push(e);
                    advance = 2;
                }
                Some('n') => {
                    out.push('\n');
                    advance = 2;
                }
                Some('t') => {
                    out.push('\t');
                    advance = 2;
                }
                Some('r') => {
                    out.push('\r');
                    advance = 2;
                }
                Some('u') => {
                    let code = rest[2..]
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .filter(|(hex, _)| (1..=6).contains(&hex.len()))
                        .and_then(|(hex, _)| Some((hex.len(), u32::from_str_radix(hex, 16).ok()?)))
                        .and_then(|(n, v)| Some((n, char::from_u32(v)?)));
                    match code {
                        Some((n, ch)) => {
                            out.push(ch);
                            advance = 2 + n + 2;
                        }
                        None => out.push('\\'),
                    }
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
        rest = &rest[advance..];
    }
    out
}

/// Turns pest's error into plain words: what was expected, what was found.
/// pest's report names the rules it tried at the last place a rule was
/// tried; the literal tokens it tried (`->`, `]`, a closing quote) often
/// failed further on, and that further place is where the error is.
fn syntax_error(file: FileId, text: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let rule_pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let attempts = error.parse_attempts();
    let start = attempts
        .as_ref()
        .map_or(rule_pos, |a| a.max_position.max(rule_pos))
        .min(text.len());
    let mut expected: Vec<&'static str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        if rule_pos == start {
            expected.extend(positives.iter().filter_map(|r| describe_rule(*r)));
        }
    }
    if let Some(a) = attempts.as_ref().filter(|a| a.max_position == start) {
        let tokens = a.expected_tokens();
        expected.extend(tokens.iter().filter_map(|t| describe_token(&t.to_string())));
    }
    // A quote that starts a pattern, string or statement is said by those words.
    if expected
        .iter()
        .any(|e| e.contains("quoted") || *e == "a statement")
    {
        expected.retain(|e| *e != "`\"`");
    }
    expected.sort_unstable();
    expected.dedup();
    let found = describe_found(&text[start..]);
    let end = (start + found.1).min(text.len());
    Diagnostic::Syntax {
        span: Span::new(file, start..end),
        expected: expected.into_iter().map(String::from).collect(),
        found: found.0,
    }
}

/// The words for a literal token pest tried, or `None` for blanks and for
/// pieces of names and numbers, which the rules' words already cover.
fn describe_token(token: &str) -> Option<&'static str> {
    Some(match token {
        "\n" | "\r\n" | "\r" => "the end of the line",
        "->" => "`->`",
        "|" => "`|`",
        "," => "`,`",
        "=" => "`=`",
        ")" => "`)`",
        "]" => "`]`",
        "}" => "`}`",
        "\"" => "`\"`",
        _ => return None,
    })
}

/// What the text at an error position is, in words, and how long it is.
fn describe_found(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c == '\n' || c == '\r' {
        return ("the end of the line".into(), 0);
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !word.is_empty() {
        return (format!("`{word}`"), word.len());
    }
    (format!("`{c}`"), c.len_utf8())
}

/// The words for what a grammar rule stands for, or `None` for rules that
/// would only add noise to "expected ..." lists.
fn describe_rule(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI | Rule::nl => "the end of the line",
        // Keywords that only start a statement are one of "a statement".
        Rule::file
        | Rule::version_decl
        | Rule::kw_wmap
        | Rule::kw_target
        | Rule::kw_use
        | Rule::kw_let
        | Rule::kw_words
        | Rule::kw_cast
        | Rule::kw_op
        | Rule::kw_tie
        | Rule::target_decl
        | Rule::use_decl
        | Rule::use_under_decl
        | Rule::let_decl
        | Rule::words_decl
        | Rule::cast_decl
        | Rule::op_def
        | Rule::tie_decl
        | Rule::drop_decl
        | Rule::fallback_rule
        | Rule::regex_rule
        | Rule::make_rule
        | Rule::write_decl
        | Rule::rule => "a statement",
        Rule::also => "`also`",
        Rule::from_config | Rule::kw_from => "`from config`",
        Rule::config_entry | Rule::entry_key => "`key = value`",
        Rule::json_literal => "`true`, `false` or `null`",
        Rule::json_list => "a list",
        Rule::kw_make => "`make`",
        Rule::like_clause | Rule::kw_like => "`like \"pattern\"`",
        Rule::for_clause | Rule::kw_for => "`for i in 0..n`",
        Rule::for_range | Rule::kw_in => "`i in 0..n`",
        Rule::when_clause => "`when EXPR`",
        Rule::branches | Rule::arm => "`[arm, ...]` (one per value)",
        Rule::keep => "`_`",
        Rule::optional => "`optional`",
        Rule::sources | Rule::targets | Rule::pattern | Rule::pattern_list => {
            "a quoted tensor name pattern"
        }
        Rule::pattern_text => "pattern text",
        Rule::capture => "a `{capture}`",
        Rule::capture_kind => "`:*`, `:**` or `:word|word`",
        Rule::capture_shift => "`+ N` or `- N`",
        Rule::deep | Rule::segment | Rule::one_of | Rule::alt_word => "a capture kind",
        Rule::string | Rule::string_body => "a quoted string",
        Rule::regex_source | Rule::kw_regex => "`regex`",
        Rule::op_call => "an op such as `transpose`",
        Rule::op_args => "`(`",
        Rule::op_params => "a parameter list",
        Rule::arg | Rule::arg_name => "an argument",
        Rule::list => "a list",
        Rule::float => "a number",
        Rule::expr
        | Rule::sum
        | Rule::product
        | Rule::inner_expr
        | Rule::inner_sum
        | Rule::inner_product
        | Rule::paren
        | Rule::unary
        | Rule::neg => "an expression",
        Rule::int => "an integer",
        Rule::ident => "a name",
        Rule::config_ref | Rule::kw_config => "`config.KEY`",
        Rule::config_key => "a config key",
        Rule::shape_ref | Rule::kw_shape => "`shape[k]`",
        Rule::shape_of => "`(\"tensor name\")`",
        Rule::coalesce_op => "`??`",
        Rule::add_op => "`+` or `-`",
        Rule::mul_op => "`*` or `/`",
        Rule::kw_drop => "`drop`",
        Rule::kw_fallback => "`fallback`",
        _ => return None,
    })
}
