//! Grammar tests, one (or a few) per construct of the language: each parses
//! text with `wmap::syntax::parse` and compares the AST with what was meant,
//! printed as a compact S-expression so that precedence and structure show.
//! The error tests check where a syntax error points and what it says.

use wmap::diagnostics::Diagnostic;
use wmap::source::{FileId, Span};
use wmap::syntax::*;

// ------------------------------------------------------------------ helpers

fn parse(text: &str) -> Module {
    match wmap::syntax::parse(FileId(0), text) {
        Ok(m) => m,
        Err(d) => panic!("{text:?} should parse, got {d:#?}"),
    }
}

fn parse_err(text: &str) -> Vec<Diagnostic> {
    match wmap::syntax::parse(FileId(0), text) {
        Ok(m) => panic!("{text:?} should not parse, got {:?}", sexprs_of(&m)),
        Err(d) => d,
    }
}

/// The one syntax error of `text`: (span, expected, found).
fn syntax_err(text: &str) -> (Span, Vec<String>, String, Diagnostic) {
    let diags = parse_err(text);
    assert_eq!(diags.len(), 1, "{diags:?}");
    match &diags[0] {
        Diagnostic::Syntax {
            span,
            expected,
            found,
        } => (*span, expected.clone(), found.clone(), diags[0].clone()),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// The text a span covers.
fn slice(text: &str, span: Span) -> &str {
    assert_eq!(span.file, FileId(0));
    &text[span.start..span.end]
}

fn sexprs_of(m: &Module) -> Vec<String> {
    m.items.iter().map(item).collect()
}

fn sexprs(text: &str) -> Vec<String> {
    sexprs_of(&parse(text))
}

/// The S-expression of a file holding exactly one statement.
fn one(text: &str) -> String {
    let mut all = sexprs(text);
    assert_eq!(all.len(), 1, "{text:?}: {all:?}");
    all.remove(0)
}

/// The S-expression of `let x = EXPR`'s expression.
fn e(src: &str) -> String {
    let m = parse(&format!("let x = {src}"));
    match &m.items[..] {
        [Item::Let(l)] => expr(&l.value),
        other => panic!("{other:?}"),
    }
}

/// The single rule of a file.
fn rule_of(m: &Module) -> &Rule {
    match &m.items[..] {
        [Item::Rule(r)] => r,
        other => panic!("expected one rule, got {other:?}"),
    }
}

/// The pipeline of `"a" | PIPE -> "b"`, printed.
fn pipe(src: &str) -> String {
    let m = parse(&format!("\"a\" | {src} -> \"b\""));
    rule_of(&m)
        .pipeline
        .iter()
        .map(stage)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn item(i: &Item) -> String {
    match i {
        Item::Version(v) => format!("(wmap {})", v.value),
        Item::Target(t) => format!("(target {})", t.value),
        Item::TargetFile(t) => format!("(target-file {})", t.value),
        Item::Use(u) => format!("(use {})", u.value),
        Item::UseUnder(u) => format!("(use {} under {} -> {})", u.path.value, u.from, u.to),
        Item::Let(l) => format!("(let {} {})", l.name.value, expr(&l.value)),
        Item::Cast(c) => format!("(cast {} {})", c.from.value, c.to.value),
        Item::Words(w) => format!(
            "(words {} {})",
            w.name.value,
            w.words
                .iter()
                .map(|w| w.value.as_str())
                .collect::<Vec<_>>()
                .join("|")
        ),
        Item::Op(o) => {
            let params: Vec<&str> = o.params.iter().map(|p| p.value.as_str()).collect();
            format!(
                "(op {}({}) {})",
                o.name.value,
                params.join(", "),
                o.body.iter().map(stage).collect::<Vec<_>>().join(" | ")
            )
        }
        Item::Rule(r) => {
            let mut s = String::from("(");
            if r.optional {
                s += "optional ";
            }
            if r.fallback {
                s += "fallback ";
            }
            match &r.reads {
                wmap::syntax::Reads::Claims => {}
                wmap::syntax::Reads::Shares => s += "also ",
                wmap::syntax::Reads::Makes(m) => s += &format!("make {} like ", call(&m.fill)),
            }
            s += &matcher(&r.sources);
            for c in &r.pipeline {
                s += " | ";
                s += &stage(c);
            }
            s += " -> ";
            s += &match &r.targets {
                Targets::Patterns(ps) => patterns(ps),
                Targets::Template(t) => format!("<{}>", t.value),
            };
            s + ")"
        }
        Item::Drop(d) => format!(
            "({}drop {})",
            if d.optional { "optional " } else { "" },
            matcher(&d.matcher)
        ),
        Item::Tie(t) => format!("(tie {} {})", pattern(&t.copy), pattern(&t.original)),
        Item::Write(w) => format!(
            "(write {}{} {})",
            w.file.value,
            if w.from_config { " from config" } else { "" },
            w.entries
                .iter()
                .map(|e| format!("{}={}", e.key.value, wmap::syntax::print::json(&e.value)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn matcher(m: &Matcher) -> String {
    match m {
        Matcher::Patterns(ps) => patterns(ps),
        Matcher::Regex(r) => format!("regex<{}>", r.value),
    }
}

fn patterns(ps: &[Pattern]) -> String {
    if ps.len() == 1 {
        pattern(&ps[0])
    } else {
        format!(
            "[{}]",
            ps.iter().map(pattern).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Text as written; captures as `{name}`, `{name:*}`, `{name:**}`,
/// `{name:a|b}`, with shifts as `{i+1}` / `{i-1}`.
fn pattern(p: &Pattern) -> String {
    let mut s = String::from("\"");
    for part in &p.parts {
        match part {
            PatternPart::Text(t) => s += t,
            PatternPart::Capture(c) => {
                s += "{";
                s += &c.name;
                match &c.kind {
                    None => {}
                    Some(CaptureKind::Int) => s += ":int",
                    Some(CaptureKind::Segment) => s += ":*",
                    Some(CaptureKind::Deep) => s += ":**",
                    Some(CaptureKind::OneOf(w)) => s += &format!(":{}", w.join("|")),
                    Some(CaptureKind::Translate { from, to }) => {
                        s += &format!(":{}->{}", from.join("|"), to.join("|"))
                    }
                }
                if c.shift != 0 {
                    s += &format!("{:+}", c.shift);
                }
                s += "}";
            }
        }
    }
    s + "\""
}

fn stage(s: &Stage) -> String {
    match s {
        Stage::Call(c) => call(c),
        Stage::Branches(b) => {
            let arms: Vec<String> = b
                .arms
                .iter()
                .map(|a| match a.stages.as_slice() {
                    [] => "_".to_string(),
                    stages => stages.iter().map(stage).collect::<Vec<_>>().join(" | "),
                })
                .collect();
            format!("[{}]", arms.join(", "))
        }
    }
}

fn call(c: &OpCall) -> String {
    if c.args.is_empty() {
        return c.name.value.clone();
    }
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{}={}", n.value, value(&a.value)),
            None => value(&a.value),
        })
        .collect();
    format!("{}({})", c.name.value, args.join(", "))
}

fn value(v: &ArgValue) -> String {
    match v {
        ArgValue::Expr(x) => expr(x),
        ArgValue::Float(f) => format!("{:?}f", f.value),
        ArgValue::List(l) => format!(
            "[{}]",
            l.value.iter().map(value).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn expr(x: &Expr) -> String {
    match &x.kind {
        ExprKind::Int(Some(v)) => v.to_string(),
        ExprKind::Int(None) => "<overflow>".into(),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Config(path) => format!(
            "config{}",
            path.iter().map(|k| format!(".{k}")).collect::<String>()
        ),
        ExprKind::Shape { tensor: None, axis } => format!("shape[{}]", expr(axis)),
        ExprKind::Shape {
            tensor: Some(t),
            axis,
        } => format!("shape({:?})[{}]", t.value, expr(axis)),
        ExprKind::Neg(inner) => format!("(neg {})", expr(inner)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), expr(a), expr(b)),
        ExprKind::Coalesce(a, b) => format!("(?? {} {})", expr(a), expr(b)),
    }
}

fn capture(
    name: &str,
    kind: Option<CaptureKind>,
    shift: i64,
) -> (String, Option<CaptureKind>, i64) {
    (name.to_string(), kind, shift)
}

/// The captures of a pattern as (name, kind, shift), checking each span
/// covers its `{...}` in `text`.
fn captures_of(text: &str, p: &Pattern) -> Vec<(String, Option<CaptureKind>, i64)> {
    p.captures()
        .map(|c| {
            let s = slice(text, c.span);
            assert!(
                s.starts_with('{') && s.ends_with('}'),
                "capture span covers {s:?}"
            );
            (c.name.clone(), c.kind.clone(), c.shift)
        })
        .collect()
}

// ------------------------------------------------------------ statements

#[test]
fn version_header() {
    let text = "wmap 1";
    let m = parse(text);
    assert_eq!(sexprs_of(&m), ["(wmap 1)"]);
    let Item::Version(v) = &m.items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, v.span), "1");
    // Other versions parse; the checker rejects them.
    assert_eq!(one("wmap 2"), "(wmap 2)");
    // A header followed by statements.
    assert_eq!(
        sexprs("wmap 1\ntarget llama\n"),
        ["(wmap 1)", "(target llama)"]
    );
}

#[test]
fn target_declaration() {
    assert_eq!(one("target gpt2"), "(target gpt2)");
    assert_eq!(one("target   bert   # the burn model"), "(target bert)");
    let text = "target llama";
    let Item::Target(t) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, t.span), "llama");
    // A quoted path is a layout file, not a model.
    assert_eq!(
        one("target \"meta/consolidated.safetensors\""),
        "(target-file meta/consolidated.safetensors)"
    );
    let text = "target \"spec.json\"";
    let Item::TargetFile(t) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, t.span), "\"spec.json\"");
}

#[test]
fn use_stdlib_and_relative_files() {
    let text = "use \"std/torch\"\nuse \"./shared_rules.wmap\"\nuse \"../common/base.wmap\"";
    let m = parse(text);
    assert_eq!(
        sexprs_of(&m),
        [
            "(use std/torch)",
            "(use ./shared_rules.wmap)",
            "(use ../common/base.wmap)"
        ]
    );
    let uses: Vec<&str> = m.uses().map(|u| u.value.as_str()).collect();
    assert_eq!(
        uses,
        ["std/torch", "./shared_rules.wmap", "../common/base.wmap"]
    );
    // The span covers the string, quotes included.
    let spans: Vec<&str> = m.uses().map(|u| slice(text, u.span)).collect();
    assert_eq!(
        spans,
        [
            "\"std/torch\"",
            "\"./shared_rules.wmap\"",
            "\"../common/base.wmap\""
        ]
    );
}

#[test]
fn let_with_integers_names_and_config_paths() {
    assert_eq!(one("let dim = 64"), "(let dim 64)");
    assert_eq!(
        one("let heads = config.num_attention_heads"),
        "(let heads config.num_attention_heads)"
    );
    assert_eq!(
        one("let head_dim = dim / heads"),
        "(let head_dim (/ dim heads))"
    );
    // Dotted paths reach nested keys; each key is one element of the path.
    let m = parse("let factor = config.rope_parameters.factor");
    let Item::Let(l) = &m.items[0] else {
        unreachable!()
    };
    let ExprKind::Config(path) = &l.value.kind else {
        panic!("{:?}", l.value)
    };
    assert_eq!(path, &["rope_parameters", "factor"]);
    assert_eq!(l.name.value, "factor");
    assert_eq!(e("config.a.b.c"), "config.a.b.c");
    // Keys may hold digits and dashes (as some configs do).
    assert_eq!(e("config.layer_0.n-heads"), "config.layer_0.n-heads");
    // `config` and `shape` only start a config path / shape index as whole words.
    assert_eq!(e("configs"), "configs");
    assert_eq!(e("config_dim"), "config_dim");
    assert_eq!(e("shapes"), "shapes");
    assert_eq!(e("reshape"), "reshape");
    // Keywords are only keywords as whole words.
    assert_eq!(one("let letter = 1"), "(let letter 1)");
    assert_eq!(one("let target_dim = 1"), "(let target_dim 1)");
    // Spans of the name and the value.
    let text = "let  kv = config.n_kv   # a comment";
    let Item::Let(l) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, l.name.span), "kv");
    assert_eq!(slice(text, l.value.span), "config.n_kv");
}

#[test]
fn coalesce() {
    assert_eq!(
        one("let kv_heads = config.num_key_value_heads ?? heads"),
        "(let kv_heads (?? config.num_key_value_heads heads))"
    );
    assert_eq!(e("config.a ?? 8"), "(?? config.a 8)");
    // Left-associative, and looser than every arithmetic operator.
    assert_eq!(
        e("config.a ?? config.b ?? 8"),
        "(?? (?? config.a config.b) 8)"
    );
    assert_eq!(e("config.a ?? b + 1"), "(?? config.a (+ b 1))");
    assert_eq!(e("config.a * 2 ?? b / 2"), "(?? (* config.a 2) (/ b 2))");
    assert_eq!(e("(config.a ?? 4) * 2"), "(* (?? config.a 4) 2)");
    assert_eq!(e("config.a??8"), "(?? config.a 8)");
}

#[test]
fn arithmetic_precedence_and_associativity() {
    assert_eq!(e("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(e("1 * 2 + 3"), "(+ (* 1 2) 3)");
    assert_eq!(e("1 - 2 / 3"), "(- 1 (/ 2 3))");
    assert_eq!(e("8 - 4 - 2"), "(- (- 8 4) 2)");
    assert_eq!(e("8 / 4 / 2"), "(/ (/ 8 4) 2)");
    assert_eq!(e("8 / 4 * 2"), "(* (/ 8 4) 2)");
    assert_eq!(e("a - b * c / d + e"), "(+ (- a (/ (* b c) d)) e)");
    assert_eq!(e("dim/heads"), "(/ dim heads)");
    assert_eq!(e("1+2*3-4"), "(- (+ 1 (* 2 3)) 4)");
}

#[test]
fn unary_minus() {
    assert_eq!(e("-1"), "(neg 1)");
    assert_eq!(e("-x"), "(neg x)");
    assert_eq!(e("- -x"), "(neg (neg x))");
    assert_eq!(e("--x"), "(neg (neg x))");
    // Binds tighter than any binary operator.
    assert_eq!(e("-a * b"), "(* (neg a) b)");
    assert_eq!(e("2 * -3"), "(* 2 (neg 3))");
    assert_eq!(e("2 - -3"), "(- 2 (neg 3))");
    assert_eq!(e("-(a + b)"), "(neg (+ a b))");
    assert_eq!(e("-shape[0]"), "(neg shape[0])");
    // Its span starts at the minus sign.
    let text = "let x = - y";
    let Item::Let(l) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, l.value.span), "- y");
}

#[test]
fn parentheses() {
    assert_eq!(e("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(e("1 - (2 - 3)"), "(- 1 (- 2 3))");
    assert_eq!(e("((a))"), "a");
    assert_eq!(e("( a / ( b * c ) )"), "(/ a (* b c))");
    // A parenthesised expression may span lines (a `(` is open).
    assert_eq!(e("(\n  a + b\n)"), "(+ a b)");
    // Spans of binary expressions run from the first operand to the last.
    let text = "let x = a * (b + c)";
    let Item::Let(l) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, l.value.span), "a * (b + c)");
    let ExprKind::Binary(BinOp::Mul, lhs, rhs) = &l.value.kind else {
        panic!()
    };
    assert_eq!(slice(text, lhs.span), "a");
    // A parenthesised operand's span includes its parentheses.
    assert_eq!(slice(text, rhs.span), "(b + c)");
    let text = "let x = (a + b)";
    let Item::Let(l) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, l.value.span), "(a + b)");
}

#[test]
fn expressions_break_lines_only_inside_brackets() {
    // While a `(` or `[` is open, a line break may come around an operator.
    assert_eq!(e("(a +\n b)"), "(+ a b)");
    assert_eq!(e("(a\n  * b  # times\n  ?? 3)"), "(?? (* a b) 3)");
    assert_eq!(e("shape[\n  k -\n  1\n]"), "shape[(- k 1)]");
    assert_eq!(
        pipe("split(axis=0, sizes=[heads *\n    hd, kv\n    * hd,\n])"),
        "split(axis=0, sizes=[(* heads hd), (* kv hd)])"
    );
    assert_eq!(
        pipe("reshape(h, shape[0] /\n  h, -1)"),
        "reshape(h, (/ shape[0] h), (neg 1))"
    );
    // A `-` on the next line inside a list is a subtraction, not a new item.
    assert_eq!(pipe("permute(a\n - 1, 0)"), "permute((- a 1), 0)");
    // Outside brackets a line break ends the `let`.
    let (at, _, _, _) = error_at("let x = a +\n b");
    assert_eq!(at, 11);
    let (at, covers, expected, _) = error_at("let x = a\n+ b");
    assert_eq!((at, covers), (10, "+"));
    assert!(
        expected.contains(&"a statement".to_string()),
        "{expected:?}"
    );
}

#[test]
fn shape_index() {
    assert_eq!(e("shape[0]"), "shape[0]");
    assert_eq!(e("shape[-1]"), "shape[(neg 1)]");
    assert_eq!(e("shape[k + 1]"), "shape[(+ k 1)]");
    assert_eq!(e("shape[0] / h / 2"), "(/ (/ shape[0] h) 2)");
    assert_eq!(e("shape[0] * shape[1]"), "(* shape[0] shape[1])");
    assert_eq!(e("shape[shape[0]]"), "shape[shape[0]]");
    // A named source tensor's axis.
    assert_eq!(e("shape(\"a.b\")[0]"), "shape(\"a.b\")[0]");
    assert_eq!(e("shape( \"w\" )[-1] / 2"), "(/ shape(\"w\")[(neg 1)] 2)");
    let text = "let x = shape[ 1 ] + 2";
    let Item::Let(l) = &parse(text).items[0] else {
        unreachable!()
    };
    let ExprKind::Binary(BinOp::Add, lhs, _) = &l.value.kind else {
        panic!()
    };
    assert_eq!(slice(text, lhs.span), "shape[ 1 ]");
}

#[test]
fn global_casts() {
    assert_eq!(one("cast bf16 -> f32"), "(cast bf16 f32)");
    assert_eq!(one("cast float -> f16"), "(cast float f16)");
    assert_eq!(one("cast f8_e4m3->bf16"), "(cast f8_e4m3 bf16)");
    let text = "cast bf16 -> f32  # widen";
    let Item::Cast(c) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, c.from.span), "bf16");
    assert_eq!(slice(text, c.to.span), "f32");
    assert_eq!(slice(text, c.span), "cast bf16 -> f32");
}

// -------------------------------------------------------------- patterns

#[test]
fn simple_rename() {
    let text = "\"transformer.wte.weight\" -> \"embed.weight\"";
    let m = parse(text);
    assert_eq!(
        sexprs_of(&m),
        ["(\"transformer.wte.weight\" -> \"embed.weight\")"]
    );
    let r = rule_of(&m);
    assert!(!r.optional && !r.fallback && r.pipeline.is_empty());
    let Matcher::Patterns(src) = &r.sources else {
        panic!()
    };
    assert_eq!(src.len(), 1);
    assert_eq!(
        src[0].parts,
        [PatternPart::Text("transformer.wte.weight".into())]
    );
    let Targets::Patterns(dst) = &r.targets else {
        panic!()
    };
    assert_eq!(dst[0].parts, [PatternPart::Text("embed.weight".into())]);
    assert_eq!(slice(text, r.span), text);
    assert_eq!(slice(text, src[0].span), "\"transformer.wte.weight\"");
    assert_eq!(slice(text, dst[0].span), "\"embed.weight\"");
}

#[test]
fn capture_kinds() {
    let text = "\"h.{i}.{x:*}.{p:query|key|value}.{rest:**}\" -> \"out\"";
    let m = parse(text);
    let Matcher::Patterns(src) = &rule_of(&m).sources else {
        panic!()
    };
    assert_eq!(
        captures_of(text, &src[0]),
        [
            capture("i", None, 0),
            capture("x", Some(CaptureKind::Segment), 0),
            capture(
                "p",
                Some(CaptureKind::OneOf(vec![
                    "query".into(),
                    "key".into(),
                    "value".into()
                ])),
                0
            ),
            capture("rest", Some(CaptureKind::Deep), 0),
        ]
    );
    // Text between captures is kept, dots included.
    let texts: Vec<&str> = src[0]
        .parts
        .iter()
        .filter_map(|p| match p {
            PatternPart::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["h.", ".", ".", "."]);
    assert_eq!(src[0].parts.len(), 8);
    // Capture spans cover exactly the braces.
    let spans: Vec<&str> = src[0].captures().map(|c| slice(text, c.span)).collect();
    assert_eq!(spans, ["{i}", "{x:*}", "{p:query|key|value}", "{rest:**}"]);
}

#[test]
fn capture_forms() {
    assert_eq!(
        one("\"ln_{n:1|2}.w\" -> \"ln{n}\""),
        "(\"ln_{n:1|2}.w\" -> \"ln{n}\")"
    );
    assert_eq!(
        one("\"{name:**}\" -> \"{name}\""),
        "(\"{name:**}\" -> \"{name}\")"
    );
    assert_eq!(
        one("\"{a}{b:*}\" -> \"{a}.{b}\""),
        "(\"{a}{b:*}\" -> \"{a}.{b}\")"
    );
    // A one-word alternative, words with dashes and digits.
    assert_eq!(one("\"{p:only}\" -> \"{p}\""), "(\"{p:only}\" -> \"{p}\")");
    assert_eq!(
        one("\"{p:w-1|w_2}\" -> \"{p}\""),
        "(\"{p:w-1|w_2}\" -> \"{p}\")"
    );
    // Spaces are allowed inside the braces.
    assert_eq!(
        one("\"a.{ i }\" -> \"b.{ i + 1 }\""),
        "(\"a.{i}\" -> \"b.{i+1}\")"
    );
    // Capture names follow the identifier rules.
    assert_eq!(one("\"{_x1}\" -> \"{_x1}\""), "(\"{_x1}\" -> \"{_x1}\")");
}

#[test]
fn capture_shifts() {
    let text = "\"l.{i}\" -> [\"a.{i + 1}\", \"b.{i - 1}\", \"c.{i+12}\", \"d.{i}\"]";
    let m = parse(text);
    let Targets::Patterns(dst) = &rule_of(&m).targets else {
        panic!()
    };
    let caps: Vec<_> = dst.iter().flat_map(|p| captures_of(text, p)).collect();
    assert_eq!(
        caps,
        [
            capture("i", None, 1),
            capture("i", None, -1),
            capture("i", None, 12),
            capture("i", None, 0),
        ]
    );
    let spans: Vec<&str> = dst
        .iter()
        .flat_map(|p| p.captures())
        .map(|c| slice(text, c.span))
        .collect();
    assert_eq!(spans, ["{i + 1}", "{i - 1}", "{i+12}", "{i}"]);
    // A shift may be written on a source pattern too; the checker rejects it there.
    assert_eq!(one("\"a.{i + 1}\" -> \"b\""), "(\"a.{i+1}\" -> \"b\")");
}

#[test]
fn escapes_in_patterns() {
    // `\"` and `\\` are escapes; any other backslash stays.
    let m = parse(r#""a\"b\\c\.d" -> "x""#);
    let Matcher::Patterns(src) = &rule_of(&m).sources else {
        panic!()
    };
    assert_eq!(src[0].parts, [PatternPart::Text(r#"a"b\c\.d"#.into())]);
}

#[test]
fn source_and_target_lists() {
    assert_eq!(
        one("[\"a.{i}.q\", \"a.{i}.k\", \"a.{i}.v\"] | concat(axis=0) -> \"a.{i}.qkv\""),
        "([\"a.{i}.q\", \"a.{i}.k\", \"a.{i}.v\"] | concat(axis=0) -> \"a.{i}.qkv\")"
    );
    assert_eq!(
        one("\"qkv\" | split(axis=0, parts=3) -> [\"q\",\"k\",\"v\"]"),
        "(\"qkv\" | split(axis=0, parts=3) -> [\"q\", \"k\", \"v\"])"
    );
    // A list of one.
    let m = parse("[\"a\"] -> [\"b\"]");
    let r = rule_of(&m);
    let (Matcher::Patterns(s), Targets::Patterns(t)) = (&r.sources, &r.targets) else {
        panic!()
    };
    assert_eq!((s.len(), t.len()), (1, 1));
    // Trailing commas.
    assert_eq!(
        one("[\"a\", \"b\",] | concat(axis=0) -> \"c\""),
        "([\"a\", \"b\"] | concat(axis=0) -> \"c\")"
    );
    assert_eq!(
        one("\"c\" | split(axis=0, parts=2) -> [\"a\", \"b\", ]"),
        "(\"c\" | split(axis=0, parts=2) -> [\"a\", \"b\"])"
    );
}

#[test]
fn multi_line_lists_with_comments_and_trailing_commas() {
    let text = r#"
[
    "layers.{i}.wq.weight",   # query
    "layers.{i}.wk.weight",
    # a comment line inside the list

    "layers.{i}.wv.weight",
]
    | concat(axis=0)
    -> "layers.{i}.wqkv.weight"
"layers.{i}.wqkv.weight" | split(axis=0, parts=3) -> [
    "q.{i}",
    "k.{i}"
    , "v.{i}"
]
"#;
    assert_eq!(
        sexprs(text),
        [
            "([\"layers.{i}.wq.weight\", \"layers.{i}.wk.weight\", \"layers.{i}.wv.weight\"] | concat(axis=0) -> \"layers.{i}.wqkv.weight\")",
            "(\"layers.{i}.wqkv.weight\" | split(axis=0, parts=3) -> [\"q.{i}\", \"k.{i}\", \"v.{i}\"])",
        ]
    );
}

// ------------------------------------------------------------- pipelines

#[test]
fn pipeline_on_one_line() {
    assert_eq!(
        one("\"transformer.h.{i}.mlp.c_fc.weight\" | transpose -> \"blocks.{i}.mlp.fc.weight\""),
        "(\"transformer.h.{i}.mlp.c_fc.weight\" | transpose -> \"blocks.{i}.mlp.fc.weight\")"
    );
    assert_eq!(
        one("\"a\" | transpose | cast(f16) | mul(2.0) -> \"b\""),
        "(\"a\" | transpose | cast(f16) | mul(2.0f) -> \"b\")"
    );
    assert_eq!(
        one("\"a\"|transpose->\"b\""),
        "(\"a\" | transpose -> \"b\")"
    );
}

#[test]
fn pipeline_continued_on_following_lines() {
    let text = r#"
"transformer.h.{i}.attn.c_attn.weight"
    | split(axis=1, parts=3)
    -> ["blocks.{i}.attn.q.weight", "blocks.{i}.attn.k.weight", "blocks.{i}.attn.v.weight"]
"a" | transpose
    | cast(f16) -> "b"
"c"
-> "d"
"#;
    assert_eq!(
        sexprs(text),
        [
            "(\"transformer.h.{i}.attn.c_attn.weight\" | split(axis=1, parts=3) -> [\"blocks.{i}.attn.q.weight\", \"blocks.{i}.attn.k.weight\", \"blocks.{i}.attn.v.weight\"])",
            "(\"a\" | transpose | cast(f16) -> \"b\")",
            "(\"c\" -> \"d\")",
        ]
    );
}

#[test]
fn comments_between_continuation_lines() {
    let text = r#"
"a.weight"            # the fused tensor
    # split it first
    | split(axis=0, parts=2)   # two halves
    # then name them

    -> ["x", "y"]     # done
"b" -> "c"
"#;
    assert_eq!(
        sexprs(text),
        [
            "(\"a.weight\" | split(axis=0, parts=2) -> [\"x\", \"y\"])",
            "(\"b\" -> \"c\")"
        ]
    );
}

#[test]
fn rule_span_covers_the_continuation_lines() {
    let text = "\"a\"\n  | transpose  # c\n  -> \"b\"  # trailing\n";
    let m = parse(text);
    assert_eq!(
        slice(text, rule_of(&m).span),
        "\"a\"\n  | transpose  # c\n  -> \"b\""
    );
}

// ------------------------------------------------------------------- ops

#[test]
fn split_with_parts_and_sizes() {
    assert_eq!(pipe("split(axis=1, parts=3)"), "split(axis=1, parts=3)");
    assert_eq!(
        pipe("split(axis=0, sizes=[a, b, c])"),
        "split(axis=0, sizes=[a, b, c])"
    );
    assert_eq!(
        pipe("split(axis=0, sizes=[heads * hd, kv * hd, kv * hd])"),
        "split(axis=0, sizes=[(* heads hd), (* kv hd), (* kv hd)])"
    );
    assert_eq!(
        pipe("split(axis = -1, parts = 2)"),
        "split(axis=(neg 1), parts=2)"
    );
    assert_eq!(pipe("split(0, 2)"), "split(0, 2)");
    assert_eq!(pipe("split(axis=0, sizes=[])"), "split(axis=0, sizes=[])");
    assert_eq!(
        pipe("split(axis=0, sizes=[1, 2,])"),
        "split(axis=0, sizes=[1, 2])"
    );
}

#[test]
fn concat_stack_unstack() {
    assert_eq!(pipe("concat(axis=0)"), "concat(axis=0)");
    assert_eq!(pipe("concat(0)"), "concat(0)");
    assert_eq!(pipe("stack(e, axis=0)"), "stack(e, axis=0)");
    assert_eq!(pipe("unstack(e, axis=0)"), "unstack(e, axis=0)");
    assert_eq!(pipe("stack(e)"), "stack(e)");
    assert_eq!(
        one("\"model.layers.{i}.mlp.experts.{e}.w1.weight\" | stack(e, axis=0) -> \"layers.{i}.moe.w1\""),
        "(\"model.layers.{i}.mlp.experts.{e}.w1.weight\" | stack(e, axis=0) -> \"layers.{i}.moe.w1\")"
    );
}

#[test]
fn slice_cast_add_mul() {
    assert_eq!(
        pipe("slice(axis=0, start=0, end=4)"),
        "slice(axis=0, start=0, end=4)"
    );
    assert_eq!(
        pipe("slice(axis=1, start=dim, end=2 * dim)"),
        "slice(axis=1, start=dim, end=(* 2 dim))"
    );
    assert_eq!(pipe("slice(0, -4, -1)"), "slice(0, (neg 4), (neg 1))");
    assert_eq!(pipe("cast(f16)"), "cast(f16)");
    assert_eq!(pipe("cast(dtype=bf16)"), "cast(dtype=bf16)");
    assert_eq!(pipe("add(1.0)"), "add(1.0f)");
    assert_eq!(pipe("mul(-0.5)"), "mul(-0.5f)");
    assert_eq!(pipe("mul(1e-3)"), "mul(0.001f)");
    assert_eq!(pipe("mul(2.5E+2)"), "mul(250.0f)");
    assert_eq!(pipe("mul(x=0.25)"), "mul(x=0.25f)");
    // An integer argument stays an integer expression.
    assert_eq!(pipe("add(1)"), "add(1)");
    assert_eq!(pipe("add(-1)"), "add((neg 1))");
}

#[test]
fn reshape_permute_transpose() {
    assert_eq!(
        pipe("reshape(h, 2, shape[0] / h / 2, shape[1])"),
        "reshape(h, 2, (/ (/ shape[0] h) 2), shape[1])"
    );
    assert_eq!(pipe("reshape(-1)"), "reshape((neg 1))");
    assert_eq!(pipe("reshape(experts, -1)"), "reshape(experts, (neg 1))");
    assert_eq!(pipe("permute(0, 2, 1)"), "permute(0, 2, 1)");
    assert_eq!(pipe("transpose"), "transpose");
    assert_eq!(pipe("transpose(1, 2)"), "transpose(1, 2)");
    assert_eq!(pipe("transpose(a=0, b=1)"), "transpose(a=0, b=1)");
    assert_eq!(pipe("transpose()"), "transpose");
    // User ops are calls like any other.
    assert_eq!(pipe("unpermute_rotary(heads)"), "unpermute_rotary(heads)");
    assert_eq!(pipe("linear_to_burn"), "linear_to_burn");
}

#[test]
fn named_and_positional_arguments() {
    let text = "\"a\" | split(axis = 1 , parts=n) -> \"b\"";
    let m = parse(text);
    let Stage::Call(c) = &rule_of(&m).pipeline[0] else {
        panic!("a call")
    };
    assert_eq!(slice(text, c.name.span), "split");
    let names: Vec<Option<&str>> = c
        .args
        .iter()
        .map(|a| a.name.as_ref().map(|n| n.value.as_str()))
        .collect();
    assert_eq!(names, [Some("axis"), Some("parts")]);
    assert_eq!(slice(text, c.args[0].name.as_ref().unwrap().span), "axis");
    assert_eq!(slice(text, c.args[0].value.span()), "1");
    assert_eq!(slice(text, c.args[1].value.span()), "n");
    // A comparison-like `==` is not a named argument.
    assert!(wmap::syntax::parse(FileId(0), "\"a\" | f(x == 1) -> \"b\"").is_err());
}

#[test]
fn arguments_spanning_lines() {
    let text = r#"
"a" | split(
    axis=0,        # rows
    sizes=[
        heads * hd,
        kv * hd,   # keys
        kv * hd,
    ],
) -> ["q", "k", "v"]
"b" | reshape(h, 2,
              shape[0] / h / 2, shape[1]
        ) | permute(
    0, 2, 1) -> "c"
"#;
    assert_eq!(
        sexprs(text),
        [
            "(\"a\" | split(axis=0, sizes=[(* heads hd), (* kv hd), (* kv hd)]) -> [\"q\", \"k\", \"v\"])",
            "(\"b\" | reshape(h, 2, (/ (/ shape[0] h) 2), shape[1]) | permute(0, 2, 1) -> \"c\")",
        ]
    );
}

#[test]
fn every_op_of_the_ops_table_in_one_file() {
    let text = r#"
"w" | transpose | transpose(1, 2) | permute(0, 2, 1) | reshape(h, 2, shape[0] / h / 2, shape[1]) -> "a"
"w" | split(axis=1, parts=3) -> ["q", "k", "v"]
"w" | split(axis=0, sizes=[a, b, c]) -> ["q", "k", "v"]
["q", "k"] | concat(axis=0) -> "qk"
"e.{e}" | stack(e, axis=0) -> "s"
"s" | unstack(e, axis=0) -> "e.{e}"
"w" | slice(axis=0, start=0, end=4) | cast(f16) | add(1.0) | mul(-0.5) -> "b"
"#;
    assert_eq!(
        sexprs(text),
        [
            "(\"w\" | transpose | transpose(1, 2) | permute(0, 2, 1) | reshape(h, 2, (/ (/ shape[0] h) 2), shape[1]) -> \"a\")",
            "(\"w\" | split(axis=1, parts=3) -> [\"q\", \"k\", \"v\"])",
            "(\"w\" | split(axis=0, sizes=[a, b, c]) -> [\"q\", \"k\", \"v\"])",
            "([\"q\", \"k\"] | concat(axis=0) -> \"qk\")",
            "(\"e.{e}\" | stack(e, axis=0) -> \"s\")",
            "(\"s\" | unstack(e, axis=0) -> \"e.{e}\")",
            "(\"w\" | slice(axis=0, start=0, end=4) | cast(f16) | add(1.0f) | mul(-0.5f) -> \"b\")",
        ]
    );
}

// ------------------------------------------------- regex, drop, optional, tie

#[test]
fn regex_rules_keep_backslashes() {
    let text = r#"regex "^bert\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$" -> "layers.$1.ffn.out.$2""#;
    assert_eq!(
        one(text),
        r"(regex<^bert\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$> -> <layers.$1.ffn.out.$2>)"
    );
    let m = parse(text);
    let r = rule_of(&m);
    let Matcher::Regex(re) = &r.sources else {
        panic!()
    };
    assert_eq!(
        re.value,
        r"^bert\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$"
    );
    assert_eq!(
        slice(text, re.span),
        r#""^bert\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$""#
    );
    let Targets::Template(t) = &r.targets else {
        panic!()
    };
    assert_eq!(t.value, "layers.$1.ffn.out.$2");
    assert_eq!(slice(text, t.span), "\"layers.$1.ffn.out.$2\"");
    // Named groups and `${name}` templates.
    assert_eq!(
        one(r#"regex "^h\.(?P<n>\d+)\.w$" -> "l.${n}.w""#),
        r"(regex<^h\.(?P<n>\d+)\.w$> -> <l.${n}.w>)"
    );
}

#[test]
fn string_escapes() {
    // `\"` is a quote, `\\` one backslash, any other backslash stays.
    let m = parse(r#"regex "say \"hi\" \\d \d \\\\ \n" -> "x""#);
    let Matcher::Regex(re) = &rule_of(&m).sources else {
        panic!()
    };
    assert_eq!(re.value, r#"say "hi" \d \d \\ \n"#);
    let m = parse(r#"use "a\\b\"c""#);
    assert_eq!(m.uses().next().unwrap().value, r#"a\b"c"#);
    // An empty string.
    assert_eq!(one(r#"regex "" -> """#), "(regex<> -> <>)");
}

#[test]
fn regex_rules_with_pipelines_and_optional() {
    assert_eq!(
        one(r#"regex "^a\.(\d+)$" | transpose -> "b.$1""#),
        r"(regex<^a\.(\d+)$> | transpose -> <b.$1>)"
    );
    assert_eq!(
        one("optional regex \"^x$\"\n    | cast(f16)\n    -> \"y\""),
        "(optional regex<^x$> | cast(f16) -> <y>)"
    );
}

#[test]
fn drops() {
    assert_eq!(
        one("drop \"transformer.h.{i}.attn.bias\""),
        "(drop \"transformer.h.{i}.attn.bias\")"
    );
    assert_eq!(
        one("drop [\"a.{i}.bias\", \"a.{i}.masked_bias\"]"),
        "(drop [\"a.{i}.bias\", \"a.{i}.masked_bias\"])"
    );
    assert_eq!(
        one("drop [\n  \"x\",  # one\n  \"y\",\n]"),
        "(drop [\"x\", \"y\"])"
    );
    assert_eq!(
        one(r#"drop regex "^.*\.inv_freq$""#),
        r"(drop regex<^.*\.inv_freq$>)"
    );
    assert_eq!(
        one("optional drop \"embeddings.position_ids\""),
        "(optional drop \"embeddings.position_ids\")"
    );
    assert_eq!(
        one("optional drop regex \"^x$\""),
        "(optional drop regex<^x$>)"
    );
    let text = "optional drop \"p\"   # old checkpoints";
    let Item::Drop(d) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, d.span), "optional drop \"p\"");
}

#[test]
fn optional_rules() {
    assert_eq!(
        one("optional \"model.layers.{i}.self_attn.q_proj.bias\" -> \"layers.{i}.attn.q.bias\""),
        "(optional \"model.layers.{i}.self_attn.q_proj.bias\" -> \"layers.{i}.attn.q.bias\")"
    );
    assert_eq!(
        one("optional [\"a\", \"b\"]\n  | concat(axis=0)\n  -> \"c\""),
        "(optional [\"a\", \"b\"] | concat(axis=0) -> \"c\")"
    );
    let text = "optional \"a\" -> \"b\"";
    let m = parse(text);
    assert_eq!(slice(text, rule_of(&m).span), text);
}

#[test]
fn ties() {
    let text = "tie \"lm_head.weight\" = \"embed.weight\"";
    assert_eq!(one(text), "(tie \"lm_head.weight\" \"embed.weight\")");
    let Item::Tie(t) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, t.copy.span), "\"lm_head.weight\"");
    assert_eq!(slice(text, t.original.span), "\"embed.weight\"");
    assert_eq!(slice(text, t.span), text);
    assert_eq!(
        one("tie \"out.{i}\"=\"in.{i}\""),
        "(tie \"out.{i}\" \"in.{i}\")"
    );
}

#[test]
fn fallbacks() {
    assert_eq!(
        one("fallback \"{name:**}\" -> \"{name}\""),
        "(fallback \"{name:**}\" -> \"{name}\")"
    );
    assert_eq!(
        one("fallback \"{name:**}\" | cast(f16) -> \"{name}\""),
        "(fallback \"{name:**}\" | cast(f16) -> \"{name}\")"
    );
    assert_eq!(
        one("optional fallback \"x.{n:**}\"\n    -> \"y.{n}\""),
        "(optional fallback \"x.{n:**}\" -> \"y.{n}\")"
    );
}

#[test]
fn op_definitions() {
    assert_eq!(
        one("op unpermute_rotary(h) = reshape(h, 2, shape[0] / h / 2, shape[1]) | transpose(1, 2) | reshape(shape[0], shape[1])"),
        "(op unpermute_rotary(h) reshape(h, 2, (/ (/ shape[0] h) 2), shape[1]) | transpose(1, 2) | reshape(shape[0], shape[1]))"
    );
    assert_eq!(
        one("op linear_to_burn = transpose"),
        "(op linear_to_burn() transpose)"
    );
    assert_eq!(one("op f() = transpose"), "(op f() transpose)");
    assert_eq!(
        one("op g(a, b,) = permute(a, b)"),
        "(op g(a, b) permute(a, b))"
    );
    // Bodies and parameter lists continue like rules.
    assert_eq!(
        one("op h(\n  a,\n  b\n) = transpose\n  # then\n  | reshape(a, b)\n  | cast(f16)"),
        "(op h(a, b) transpose | reshape(a, b) | cast(f16))"
    );
    let text = "op flip(n) = transpose(0, n) | cast(f32)   # comment";
    let Item::Op(o) = &parse(text).items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, o.name.span), "flip");
    assert_eq!(slice(text, o.params[0].span), "n");
    assert_eq!(
        slice(text, o.span),
        "op flip(n) = transpose(0, n) | cast(f32)"
    );
}

// ----------------------------------------------------- whole files, layout

#[test]
fn the_language_reference_example_parses() {
    let text = r#"
wmap 1                                    # optional version header, first statement
target gpt2                               # optional: the burn model the output is for (gpt2, bert, llama)

use "std/torch"                           # a stdlib module (stdlib/torch.wmap, embedded in the binary)
use "./shared_rules.wmap"                 # a file relative to this one

let heads    = config.num_attention_heads # integer read from the source's config.json (dotted paths
                                          # reach nested keys: config.rope_parameters.factor)
let kv_heads = config.num_key_value_heads ?? heads   # default when the key is absent
let dim      = config.hidden_size
let head_dim = dim / heads                # `/` must divide exactly, or it is an error

cast bf16 -> f32                          # global dtype rule: every bf16 tensor becomes f32
                                          # `float` stands for every floating dtype: cast float -> f16

"transformer.wte.weight" -> "embed.weight"                      # rename
"transformer.h.{i}.ln_1.weight" -> "blocks.{i}.norm1.gamma"     # {i}: integer capture
"transformer.h.{i}.mlp.c_fc.weight" | transpose -> "blocks.{i}.mlp.fc.weight"

"transformer.h.{i}.attn.c_attn.weight"
    | split(axis=1, parts=3)
    -> ["blocks.{i}.attn.q.weight", "blocks.{i}.attn.k.weight", "blocks.{i}.attn.v.weight"]

["layers.{i}.wq.weight", "layers.{i}.wk.weight", "layers.{i}.wv.weight"]
    | concat(axis=0) -> "layers.{i}.wqkv.weight"

"model.layers.{i}.mlp.experts.{e}.w1.weight" | stack(e, axis=0) -> "layers.{i}.moe.w1"
"layers.{i}.moe.w1" | unstack(e, axis=0) -> "model.layers.{i}.mlp.experts.{e}.w1.weight"

"model.layers.{i}.self_attn.q_proj.weight" | unpermute_rotary(heads) -> "layers.{i}.attention.wq.weight"

regex "^bert\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$" -> "layers.$1.ffn.out.$2"

drop "transformer.h.{i}.attn.bias"        # causal-mask buffers are not weights
optional drop "embeddings.position_ids"   # `optional`: may match nothing (older checkpoints only)
optional "model.layers.{i}.self_attn.q_proj.bias" -> "layers.{i}.attn.q.bias"   # Qwen2 has it, Llama not
tie "lm_head.weight" = "embed.weight"     # target lm_head.weight is a copy of target embed.weight
fallback "{name:**}" -> "{name}"          # applies only to tensors no other rule matches

op unpermute_rotary(h) = reshape(h, 2, shape[0] / h / 2, shape[1]) | transpose(1, 2) | reshape(shape[0], shape[1])
"#;
    let items = sexprs(text);
    assert_eq!(items.len(), 24, "{items:#?}");
    assert_eq!(items[0], "(wmap 1)");
    assert_eq!(
        items[5],
        "(let kv_heads (?? config.num_key_value_heads heads))"
    );
    assert_eq!(items[8], "(cast bf16 f32)");
    assert_eq!(items[23].split_whitespace().next(), Some("(op"));
    // The fused expert layout of the language reference.
    let moe = r#"
["model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight", "model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight"]
    | concat(axis=0) | stack(e, axis=0) -> "model.layers.{i}.mlp.experts.gate_up_proj"
"model.layers.{i}.mlp.experts.gate_up_proj" | unstack(e, axis=0) | split(axis=0, parts=2)
    -> ["model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight", "model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight"]
"#;
    assert_eq!(
        sexprs(moe),
        [
            "([\"model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight\", \"model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight\"] | concat(axis=0) | stack(e, axis=0) -> \"model.layers.{i}.mlp.experts.gate_up_proj\")",
            "(\"model.layers.{i}.mlp.experts.gate_up_proj\" | unstack(e, axis=0) | split(axis=0, parts=2) -> [\"model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight\", \"model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight\"])",
        ]
    );
}

#[test]
fn every_shipped_mapping_and_stdlib_module_parses() {
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["stdlib", "mappings/gpt2", "tests/fixtures/check/ok"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "wmap") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(d) = wmap::syntax::parse(FileId(0), &text) {
            panic!("{}: {d:?}", path.display());
        }
    }
}

#[test]
fn crlf_line_endings() {
    let text = "wmap 1\r\n# comment\r\n\r\nlet h = config.n_head ?? 4\r\n\"a.{i}\"\r\n    | split(axis=0, parts=2)  # c\r\n    -> [\r\n  \"b.{i}\",\r\n  \"c.{i}\",\r\n]\r\nop f(\r\n  x\r\n) = reshape(x,\r\n  -1)\r\ndrop \"d\"\r\n";
    let m = parse(text);
    assert_eq!(
        sexprs_of(&m),
        [
            "(wmap 1)",
            "(let h (?? config.n_head 4))",
            "(\"a.{i}\" | split(axis=0, parts=2) -> [\"b.{i}\", \"c.{i}\"])",
            "(op f(x) reshape(x, (neg 1)))",
            "(drop \"d\")",
        ]
    );
    // No `\r` leaks into names or spans.
    let Item::Rule(r) = &m.items[2] else {
        unreachable!()
    };
    assert_eq!(slice(text, r.span), "\"a.{i}\"\r\n    | split(axis=0, parts=2)  # c\r\n    -> [\r\n  \"b.{i}\",\r\n  \"c.{i}\",\r\n]");
    let Item::Drop(d) = &m.items[4] else {
        unreachable!()
    };
    assert_eq!(slice(text, d.span), "drop \"d\"");
    // A lone `\r` is a line break too.
    assert_eq!(
        sexprs("wmap 1\rtarget gpt2\r"),
        ["(wmap 1)", "(target gpt2)"]
    );
}

#[test]
fn blank_lines_and_comments_everywhere() {
    assert!(parse("").items.is_empty());
    assert!(parse("\n\n   \n\t\n").items.is_empty());
    assert!(parse("# only a comment").items.is_empty());
    assert!(parse("# one\n\n  # two\n#three").items.is_empty());
    let text = "\n\n# header comment\n   wmap 1   # version\n\n\n\t\"a\"   ->   \"b\"\t# t\n   \n# last line without newline";
    assert_eq!(sexprs(text), ["(wmap 1)", "(\"a\" -> \"b\")"]);
    // A `#` inside a pattern or string is text, not a comment.
    assert_eq!(one("\"a#b\" -> \"c # d\""), "(\"a#b\" -> \"c # d\")");
    assert_eq!(
        one("regex \"^a#(\\d+)$\" -> \"x$1\"  # real comment"),
        r"(regex<^a#(\d+)$> -> <x$1>)"
    );
    // Comments after every kind of statement.
    let text = r#"
wmap 1 # a
target gpt2 # b
use "std/torch" # c
let x = 1 # d
cast bf16 -> f32 # e
op f = transpose # f
"a" -> "b" # g
drop "c" # h
tie "d" = "b" # i
fallback "{n:**}" -> "{n}" # j
regex "r" -> "s" # k
"#;
    assert_eq!(sexprs(text).len(), 11);
}

// ----------------------------------------------------------------- spans

#[test]
fn spans_of_patterns_and_op_calls() {
    let text = "[\"a.{i}\", \"b.{i}\"]   | concat(axis=0)  |  transpose   |cast( f16 )\n    | reshape(-1)\n  -> \"c.{i + 1}\"";
    let m = parse(text);
    let r = rule_of(&m);
    let Matcher::Patterns(src) = &r.sources else {
        panic!()
    };
    let srcs: Vec<&str> = src.iter().map(|p| slice(text, p.span)).collect();
    assert_eq!(srcs, ["\"a.{i}\"", "\"b.{i}\""]);
    let calls: Vec<&str> = r.pipeline.iter().map(|c| slice(text, c.span())).collect();
    assert_eq!(
        calls,
        ["concat(axis=0)", "transpose", "cast( f16 )", "reshape(-1)"]
    );
    let names: Vec<&str> = Stage::calls(&r.pipeline)
        .iter()
        .map(|c| slice(text, c.name.span))
        .collect();
    assert_eq!(names, ["concat", "transpose", "cast", "reshape"]);
    let Targets::Patterns(dst) = &r.targets else {
        panic!()
    };
    assert_eq!(slice(text, dst[0].span), "\"c.{i + 1}\"");
    assert_eq!(slice(text, r.span), text);
}

#[test]
fn op_call_spans_exclude_trailing_blanks_and_comments() {
    // An op without arguments at the end of a line, followed by a comment.
    let text = "\"a\" | transpose    # swap\n    | transpose\t\n    -> \"b\"";
    let m = parse(text);
    let calls: Vec<&str> = rule_of(&m)
        .pipeline
        .iter()
        .map(|c| slice(text, c.span()))
        .collect();
    assert_eq!(calls, ["transpose", "transpose"]);
    let text = "op f = transpose   # doc\n\"x\" -> \"y\"";
    let m = parse(text);
    let Item::Op(o) = &m.items[0] else {
        unreachable!()
    };
    assert_eq!(slice(text, o.body[0].span()), "transpose");
    assert_eq!(slice(text, o.span), "op f = transpose");
}

#[test]
fn argument_spans() {
    let text = "\"a\" | permute(0 , 2,1 ) | split(axis=1 , sizes=[a , b]) -> [\"x\", \"y\"]";
    let m = parse(text);
    let r = rule_of(&m);
    let calls = Stage::calls(&r.pipeline);
    let args: Vec<&str> = calls[0].args.iter().map(|a| slice(text, a.span)).collect();
    assert_eq!(args, ["0", "2", "1"]);
    let args: Vec<&str> = calls[1].args.iter().map(|a| slice(text, a.span)).collect();
    assert_eq!(args, ["axis=1", "sizes=[a , b]"]);
    let ArgValue::List(list) = &calls[1].args[1].value else {
        panic!()
    };
    assert_eq!(slice(text, list.span), "[a , b]");
    let items: Vec<&str> = list.value.iter().map(|v| slice(text, v.span())).collect();
    assert_eq!(items, ["a", "b"]);
}

#[test]
fn spans_carry_the_file_id() {
    let m = wmap::syntax::parse(FileId(7), "\"a\" | transpose -> \"b\"").unwrap();
    let r = rule_of(&m);
    assert_eq!(r.span.file, FileId(7));
    assert_eq!(r.pipeline[0].span().file, FileId(7));
}

// ---------------------------------------------------------------- errors

/// Parses `text`, expecting one syntax error; returns what its span covers,
/// the expected list and the headline.
fn error_at(text: &str) -> (usize, &str, Vec<String>, String) {
    let (span, expected, _, d) = syntax_err(text);
    (span.start, slice(text, span), expected, d.message())
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn two_statements_on_one_line() {
    let text = "wmap 1\n\"transformer.wte.weight\" -> \"embed.weight\" \"extra\" -> \"x\"";
    let (span, expected, found, d) = syntax_err(text);
    assert_eq!(span.start, text.find("\"extra\"").unwrap());
    assert_eq!(slice(text, span), "\"");
    assert_eq!(expected, ["the end of the line"]);
    assert_eq!(found, "`\"`");
    assert_eq!(
        d.message(),
        "syntax error: expected the end of the line, found `\"`"
    );
    assert_eq!(d.code(), "syntax");
    assert_eq!(d.primary_span(), Some(span));

    let (at, covers, expected, message) = error_at("wmap 1 target gpt2");
    assert_eq!((at, covers), (7, "target"));
    assert_eq!(expected, ["the end of the line"]);
    assert_eq!(
        message,
        "syntax error: expected the end of the line, found `target`"
    );

    // After an expression, an operator could still follow.
    let (at, covers, expected, _) = error_at("let a = 1 let b = 2");
    assert_eq!((at, covers), (10, "let"));
    assert!(
        expected.contains(&"the end of the line".to_string()),
        "{expected:?}"
    );

    let (at, covers, expected, _) = error_at("drop \"a\" drop \"b\"");
    assert_eq!((at, covers), (9, "drop"));
    assert_eq!(expected, ["the end of the line"]);
}

#[test]
fn missing_arrow() {
    // The error is at the second pattern, not inside the first one.
    let (at, covers, expected, message) = error_at("\"a.weight\" \"b.weight\"");
    assert_eq!((at, covers), (11, "\""));
    assert_eq!(expected, strings(&["`->`", "`|`", "the end of the line"]));
    assert_eq!(
        message,
        "syntax error: expected `->`, `|` or the end of the line, found `\"`"
    );

    // A pipeline whose arrow is missing: the next line does not continue it.
    let text = "\"a\" | transpose\n\"b\"";
    let (at, _, expected, _) = error_at(text);
    assert_eq!(at, text.find('\n').unwrap() + 1);
    assert_eq!(expected, strings(&["`->`", "`|`", "the end of the line"]));

    let (at, covers, expected, _) = error_at("optional \"a\"");
    assert_eq!((at, covers), (12, ""));
    assert_eq!(expected, strings(&["`->`", "`|`", "the end of the line"]));

    // Nothing after the arrow.
    let text = "\"a\" ->";
    let (span, expected, found, _) = syntax_err(text);
    assert_eq!((span.start, span.end), (6, 6));
    assert_eq!(found, "the end of the file");
    assert_eq!(expected, ["a quoted tensor name pattern"]);

    // A tie without `=`.
    let (at, covers, expected, _) = error_at("tie \"a\" \"b\"");
    assert_eq!((at, covers), (8, "\""));
    assert_eq!(expected, ["`=`"]);
}

#[test]
fn unclosed_bracket() {
    let (at, covers, expected, message) = error_at("[\"a\", \"b\" | concat(axis=0) -> \"c\"");
    assert_eq!((at, covers), (10, "|"));
    assert_eq!(expected, strings(&["`,`", "`]`", "the end of the line"]));
    assert_eq!(
        message,
        "syntax error: expected `,`, `]` or the end of the line, found `|`"
    );

    let text = "\"a\" | split(axis=0, sizes=[1, 2) -> [\"x\", \"y\"]";
    let (at, covers, expected, _) = error_at(text);
    assert_eq!((at, covers), (text.find(')').unwrap(), ")"));
    assert!(expected.contains(&"`]`".to_string()), "{expected:?}");
    assert!(expected.contains(&"`,`".to_string()), "{expected:?}");

    // An argument list left open at the end of the line.
    let text = "\"a\" | concat(axis=0\n-> \"b\"\n";
    let (at, covers, expected, _) = error_at(text);
    assert_eq!((at, covers), (text.find("->").unwrap(), "-"));
    assert!(expected.contains(&"`)`".to_string()), "{expected:?}");

    // An open `(` in an expression, up to the end of the file.
    let (at, _, expected, message) = error_at("let x = (1");
    assert_eq!(at, 10);
    assert!(expected.contains(&"`)`".to_string()), "{expected:?}");
    assert!(message.ends_with("found the end of the file"), "{message}");

    // A source list left open before the statement's end.
    let text = "[\"a\",\n\"b\"\n\"c\" -> \"d\"";
    let (at, _, expected, _) = error_at(text);
    assert_eq!(at, text.find("\"c\"").unwrap());
    assert!(expected.contains(&"`]`".to_string()), "{expected:?}");
}

#[test]
fn unclosed_string() {
    // The closing quote is missing at the end of the line.
    let text = "use \"std/torch\nlet x = 1";
    let (span, expected, found, d) = syntax_err(text);
    assert_eq!((span.start, span.end), (14, 14));
    assert_eq!(found, "the end of the line");
    assert_eq!(expected, ["`\"`"]);
    assert_eq!(
        d.message(),
        "syntax error: expected `\"`, found the end of the line"
    );

    let text = "regex \"^a\\.(\\d+)$ -> \"b\"";
    let (at, covers, _, _) = error_at(text);
    // `"^a\.(\d+)$ -> "` is a whole string; `b` follows it.
    assert_eq!(covers, "b");
    assert_eq!(at, text.rfind('b').unwrap());

    let text = "\"a\" -> \"b";
    let (span, expected, found, _) = syntax_err(text);
    assert_eq!(span.start, text.len());
    assert_eq!(found, "the end of the file");
    assert!(expected.contains(&"`\"`".to_string()), "{expected:?}");

    // An escaped quote does not close a string.
    let text = "use \"a\\\"";
    let (at, _, expected, _) = error_at(text);
    assert_eq!(at, text.len());
    assert_eq!(expected, ["`\"`"]);
}

#[test]
fn unclosed_capture() {
    let text = "\"a.{i.b\" -> \"c\"";
    let (at, covers, expected, _) = error_at(text);
    assert_eq!((at, covers), (5, "."));
    assert!(expected.contains(&"`}`".to_string()), "{expected:?}");

    let (at, covers, expected, _) = error_at("\"a.{\" -> \"c\"");
    assert_eq!((at, covers), (4, "\""));
    assert_eq!(expected, ["a name"]);

    let (at, _, expected, _) = error_at("\"a.{x:\" -> \"c\"");
    assert_eq!(at, 6);
    assert_eq!(expected, ["a capture kind"]);

    // `{p:a|b` without its brace.
    let text = "\"a.{p:q|k.w\" -> \"c\"";
    let (at, covers, expected, _) = error_at(text);
    assert_eq!((at, covers), (text.find("w\"").unwrap() + 1, "\""));
    assert!(expected.contains(&"`}`".to_string()), "{expected:?}");
}

#[test]
fn garbage() {
    let (span, expected, found, d) = syntax_err("@@@");
    assert_eq!((span.start, span.end), (0, 1));
    assert_eq!(found, "`@`");
    assert!(
        expected.contains(&"a statement".to_string()),
        "{expected:?}"
    );
    assert_eq!(
        d.message(),
        "syntax error: expected a statement or the end of the line, found `@`"
    );

    let text = "wmap 1\nhello world";
    let (at, covers, expected, message) = error_at(text);
    assert_eq!((at, covers), (7, "hello"));
    assert_eq!(expected, strings(&["a statement", "the end of the line"]));
    assert_eq!(
        message,
        "syntax error: expected a statement or the end of the line, found `hello`"
    );

    let (at, covers, expected, _) = error_at("\"a\" | 3 -> \"b\"");
    assert_eq!((at, covers), (6, "3"));
    assert_eq!(expected, ["`[arm, ...]` (one per value)", "a name"]);

    let (at, covers, expected, _) = error_at("let = 3");
    assert_eq!((at, covers), (4, "="));
    assert_eq!(expected, ["a name"]);

    let (at, covers, expected, message) = error_at("let x = ");
    assert_eq!((at, covers), (8, ""));
    assert_eq!(expected, ["an expression"]);
    assert_eq!(
        message,
        "syntax error: expected an expression, found the end of the file"
    );

    let (at, _, expected, _) = error_at("\"a\" | split(axis=0,, parts=2) -> \"b\"");
    assert_eq!(at, 19);
    assert!(
        expected.contains(&"an argument".to_string()),
        "{expected:?}"
    );

    let (at, _, expected, _) = error_at("drop");
    assert_eq!(at, 4);
    assert_eq!(
        expected,
        strings(&["`regex`", "a quoted tensor name pattern"])
    );

    let (at, covers, _, _) = error_at("cast bf16 f32");
    assert_eq!((at, covers), (10, "f32"));

    // The expected list is in plain words, never pest's rule names.
    for bad in [
        "@@@",
        "\"a\" \"b\"",
        "let x = (1",
        "\"a\" | f(x=) -> \"b\"",
        "op = transpose",
        "cast -> f32",
        "tie \"a\" \"b\"",
        "\"a.{p:x\" -> \"b\"",
        "optional hello",
        "\"a\" | f(shape[) -> \"b\"",
    ] {
        let (_, expected, _, _) = syntax_err(bad);
        assert!(!expected.is_empty(), "{bad}");
        for x in &expected {
            assert!(
                x.contains(' ') || x.starts_with('`'),
                "{bad}: {x:?} in the expected list"
            );
        }
    }
}

#[test]
fn syntax_errors_point_at_the_right_line_with_crlf() {
    let text = "wmap 1\r\n\"a\" -> \"b\"\r\n\"c\" \"d\"\r\n";
    let (at, covers, expected, _) = error_at(text);
    assert_eq!((at, covers), (text.find("\"d\"").unwrap(), "\""));
    assert_eq!(expected, strings(&["`->`", "`|`", "the end of the line"]));
    let text = "use \"x\r\n";
    let (span, _, found, _) = syntax_err(text);
    assert_eq!(span.start, 6);
    assert_eq!(found, "the end of the line");
}

#[test]
fn oversized_integer_literals() {
    let cases = [
        ("wmap 99999999999999999999", "99999999999999999999"),
        ("let x = 9223372036854775808", "9223372036854775808"),
        (
            "\"a\" | reshape(123456789012345678901234567890) -> \"b\"",
            "123456789012345678901234567890",
        ),
        (
            "\"a.{i}\" -> \"b.{i + 99999999999999999999}\"",
            "99999999999999999999",
        ),
        (
            "let x = shape[18446744073709551616]",
            "18446744073709551616",
        ),
    ];
    for (text, literal) in cases {
        let diags = parse_err(text);
        assert_eq!(diags.len(), 1, "{text}: {diags:?}");
        let Diagnostic::IntegerOverflow { span, what } = &diags[0] else {
            panic!("{text}: {diags:?}")
        };
        assert_eq!(slice(text, *span), literal, "{text}");
        assert!(what.to_string().contains(literal), "{what}");
        assert_eq!(diags[0].code(), "integer_overflow");
    }
    // i64::MAX fits.
    assert_eq!(e("9223372036854775807"), "9223372036854775807");
    // Every oversized literal of a file is reported, not only the first.
    let text = "let a = 99999999999999999999\nlet b = 1\nlet c = 88888888888888888888";
    let diags = parse_err(text);
    assert_eq!(diags.len(), 2, "{diags:?}");
    assert!(diags
        .iter()
        .all(|d| matches!(d, Diagnostic::IntegerOverflow { .. })));
}
