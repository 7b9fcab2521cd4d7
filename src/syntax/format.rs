//! `wmap fmt`: one canonical layout for `.wmap` files.
//!
//! The layout, decided here once so authors never argue about it:
//! - one space around `->`, `=`, `|`, `??` and the arithmetic operators, none
//!   inside brackets; `, ` between list items and arguments; `axis=1` for named
//!   arguments;
//! - a statement that fits in [`WIDTH`] columns is one line; a longer one puts
//!   each `| op` and the `-> targets` on lines of their own, indented four spaces;
//! - the `->` of consecutive one-line rules without ops line up;
//! - at most one blank line between statements, none at the start or end;
//! - comments stay where they were: whole-line comments as they are, a comment
//!   after a statement two spaces after it. A statement with a comment inside
//!   it (between the lines of a multi-line pipeline) is left exactly as written.
//!
//! Strings and patterns are kept byte for byte, so formatting never changes
//! what a mapping means (tests compare the plans before and after).

use pest::iterators::Pair;
use pest::Parser as _;

use super::parse::{Rule, WmapParser};

/// The width a one-line statement may take.
pub const WIDTH: usize = 100;

/// A string literal as the lexer reads it back (`\"` and `\\` escaped).
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Literal text as it is written inside a pattern, so that the pattern
/// matches exactly `text`: `\\`, `\"`, `{{` and `}}` for the characters the
/// language gives a meaning, and `\n`, `\t`, `\r`, `\u{HEX}` for control
/// characters (a pattern is one line).
pub fn pattern_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A pattern whose body is already in pattern syntax (captures and
/// [`pattern_literal`] text), quoted.
pub fn quote_pattern(body: &str) -> String {
    format!("\"{body}\"")
}

/// A pattern that matches exactly the name `name`.
pub fn quote_name(name: &str) -> String {
    quote_pattern(&pattern_literal(name))
}

/// Formats a whole file, or returns `None` when it does not parse (the
/// caller reports the syntax error through the normal path).
pub fn format(text: &str) -> Option<String> {
    let file = WmapParser::parse(Rule::file, text).ok()?.next()?;
    let mut lines: Vec<Line> = Vec::new();
    let mut last_end = 0;
    for stmt in file.into_inner() {
        if stmt.as_rule() == Rule::EOI {
            break;
        }
        let span = stmt.as_span();
        // A statement's span (and those of rules inside it) can reach over a
        // trailing comment that pest skipped; it really ends where its last
        // token, a pair with nothing inside, does.
        let end = last_token_end(stmt.clone());
        gap(&text[last_end..span.start()], last_end == 0, &mut lines);
        let verbatim = &text[span.start()..end];
        let body = if has_comment(verbatim) {
            Body::Verbatim(verbatim.to_string())
        } else {
            render(stmt)
        };
        lines.push(Line::Statement {
            body,
            comment: None,
        });
        last_end = end;
    }
    gap(&text[last_end..], last_end == 0, &mut lines);
    Some(layout(lines))
}

/// Where the last token of a pair ends: its own end for tokens (pairs with
/// nothing inside; strings and patterns, whose closing quote belongs to no
/// inner pair; and bracketed pairs, whose closing bracket does not either),
/// else the last end among its children.
fn last_token_end(pair: Pair<Rule>) -> usize {
    let end = pair.as_span().end();
    if matches!(
        pair.as_rule(),
        Rule::pattern
            | Rule::string
            | Rule::paren
            | Rule::shape_ref
            | Rule::op_args
            | Rule::op_params
            | Rule::list
            | Rule::pattern_list
            | Rule::json_list
            | Rule::branches
            | Rule::write_decl
    ) {
        return end;
    }
    pair.into_inner().map(last_token_end).max().unwrap_or(end)
}

/// A statement as rendered: one line (with the column of its `->`, when it
/// is a simple rule that may be aligned), several lines, or kept as written.
#[derive(Debug, Clone)]
enum Body {
    OneLine { text: String, arrow: Option<usize> },
    Lines(Vec<String>),
    Verbatim(String),
}

#[derive(Debug, Clone)]
enum Line {
    Statement { body: Body, comment: Option<String> },
    Comment(String),
    Blank,
}

/// Turns the text between two statements (or before the first, or after the
/// last) into comment and blank lines; a comment on the line where the
/// previous statement ended stays with that statement.
fn gap(text: &str, at_start: bool, lines: &mut Vec<Line>) {
    let segments: Vec<&str> = text.split('\n').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        let t = segment.trim();
        if i == 0 && !at_start {
            // The rest of the previous statement's line.
            if t.starts_with('#') {
                if let Some(Line::Statement { comment, .. }) = lines.last_mut() {
                    *comment = Some(t.to_string());
                }
            }
            continue;
        }
        if i == last {
            // The start of the next statement's line, or the end of the file.
            if t.starts_with('#') {
                lines.push(Line::Comment(t.to_string()));
            }
            continue;
        }
        lines.push(if t.is_empty() {
            Line::Blank
        } else {
            Line::Comment(t.to_string())
        });
    }
}

/// Whether a statement's text has a `#` comment outside strings.
fn has_comment(text: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '#' {
            return true;
        }
    }
    false
}

fn layout(lines: Vec<Line>) -> String {
    // Drop blank lines at the start and end, and repeats.
    let mut kept: Vec<Line> = Vec::new();
    for line in lines {
        if matches!(line, Line::Blank) && matches!(kept.last(), None | Some(Line::Blank)) {
            continue;
        }
        kept.push(line);
    }
    while matches!(kept.last(), Some(Line::Blank)) {
        kept.pop();
    }
    // Align the arrows of runs of adjacent simple one-line rules.
    let mut out = String::new();
    let mut i = 0;
    while i < kept.len() {
        let run_end = (i..kept.len())
            .find(|&j| !is_alignable(&kept[j]))
            .unwrap_or(kept.len());
        if run_end > i + 1 {
            let column = kept[i..run_end]
                .iter()
                .filter_map(arrow_of)
                .max()
                .unwrap_or(0);
            for line in &kept[i..run_end] {
                let Line::Statement {
                    body:
                        Body::OneLine {
                            text,
                            arrow: Some(a),
                        },
                    comment,
                } = line
                else {
                    unreachable!("only alignable lines are in a run")
                };
                let aligned = format!("{}{}{}", &text[..*a], " ".repeat(column - a), &text[*a..]);
                push_line(&mut out, &aligned, comment.as_deref());
            }
            i = run_end;
            continue;
        }
        match &kept[i] {
            Line::Blank => out.push('\n'),
            Line::Comment(c) => {
                out.push_str(c);
                out.push('\n');
            }
            Line::Statement { body, comment } => match body {
                Body::OneLine { text, .. } => push_line(&mut out, text, comment.as_deref()),
                Body::Lines(ls) => {
                    for (k, l) in ls.iter().enumerate() {
                        let c = if k + 1 == ls.len() {
                            comment.as_deref()
                        } else {
                            None
                        };
                        push_line(&mut out, l, c);
                    }
                }
                Body::Verbatim(v) => push_line(&mut out, v, comment.as_deref()),
            },
        }
        i += 1;
    }
    out
}

fn push_line(out: &mut String, text: &str, comment: Option<&str>) {
    out.push_str(text);
    if let Some(c) = comment {
        out.push_str("  ");
        out.push_str(c);
    }
    out.push('\n');
}

fn is_alignable(line: &Line) -> bool {
    arrow_of(line).is_some()
}

fn arrow_of(line: &Line) -> Option<usize> {
    match line {
        Line::Statement {
            body: Body::OneLine { arrow: Some(a), .. },
            ..
        } => Some(*a),
        _ => None,
    }
}

// ------------------------------------------------------------- rendering

fn render(stmt: Pair<Rule>) -> Body {
    match stmt.as_rule() {
        Rule::rule | Rule::fallback_rule | Rule::regex_rule | Rule::make_rule => render_rule(stmt),
        Rule::op_def => render_op_def(stmt),
        Rule::write_decl => render_write(stmt),
        _ => Body::OneLine {
            text: render_simple(stmt),
            arrow: None,
        },
    }
}

fn render_simple(stmt: Pair<Rule>) -> String {
    let kind = stmt.as_rule();
    let parts: Vec<Pair<Rule>> = stmt.into_inner().collect();
    let text = |i: usize| render_any(parts[i].clone());
    match kind {
        Rule::version_decl | Rule::target_decl | Rule::use_decl => {
            format!("{} {}", text(0), text(1))
        }
        Rule::use_under_decl if parts.len() == 5 => {
            format!("use {} under {} -> {}", text(1), text(3), text(4))
        }
        Rule::use_under_decl => format!("use {} under {}", text(1), text(3)),
        Rule::let_decl => format!("let {} = {}", text(1), text(2)),
        Rule::cast_decl => format!("cast {} -> {}", text(1), text(2)),
        Rule::words_decl => format!(
            "words {} = {}",
            text(1),
            (2..parts.len()).map(text).collect::<Vec<_>>().join(" | ")
        ),
        Rule::tie_decl => {
            // `[optional] tie COPY = ORIGINAL`
            let n = parts.len();
            let head = if n == 4 { "optional tie" } else { "tie" };
            format!("{head} {} = {}", text(n - 2), text(n - 1))
        }
        // drop_decl: `[optional] drop SOURCES`.
        _ => parts
            .iter()
            .map(|p| render_any(p.clone()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `[optional] [fallback|regex|also] SOURCES [| op]* -> TARGETS`, and
/// `[optional] make FILL [like P] [| op]* -> TARGETS [for ..]`.
fn render_rule(stmt: Pair<Rule>) -> Body {
    let mut head: Vec<String> = Vec::new();
    let mut ops: Vec<String> = Vec::new();
    let mut target = String::new();
    let mut seen_sources = false;
    let mut fill_seen = stmt.as_rule() != Rule::make_rule;
    for p in stmt.into_inner() {
        match p.as_rule() {
            Rule::optional | Rule::kw_fallback | Rule::also | Rule::kw_make => {
                head.push(p.as_str().to_string())
            }
            Rule::op_call if !fill_seen => {
                fill_seen = true;
                head.push(render_any(p));
            }
            Rule::op_call | Rule::branches => ops.push(render_any(p)),
            Rule::like_clause => {
                let pattern = p.into_inner().last().map(render_any).unwrap_or_default();
                head.push(format!("like {pattern}"));
            }
            Rule::sources | Rule::regex_source if !seen_sources => {
                seen_sources = true;
                head.push(render_any(p));
            }
            Rule::for_clause => {
                let ranges: Vec<String> = p
                    .into_inner()
                    .filter(|r| r.as_rule() == Rule::for_range)
                    .map(|r| {
                        let parts: Vec<String> = r
                            .into_inner()
                            .filter(|x| x.as_rule() != Rule::kw_in)
                            .map(render_any)
                            .collect();
                        format!("{} in {}..{}", parts[0], parts[1], parts[2])
                    })
                    .collect();
                target.push_str(&format!(" for {}", ranges.join(", ")));
            }
            Rule::when_clause => {
                let cond: String = p
                    .into_inner()
                    .filter(|x| x.as_rule() != Rule::kw_when)
                    .map(render_any)
                    .collect();
                target.push_str(&format!(" when {cond}"));
            }
            _ => target = render_any(p) + &target,
        }
    }
    let left = head.join(" ");
    let mut one = left.clone();
    for op in &ops {
        one.push_str(" | ");
        one.push_str(op);
    }
    let arrow = one.len() + 1;
    one.push_str(" -> ");
    one.push_str(&target);
    if one.chars().count() <= WIDTH {
        return Body::OneLine {
            text: one,
            arrow: ops.is_empty().then_some(arrow),
        };
    }
    let mut lines = vec![left];
    lines.extend(ops.iter().map(|op| format!("    | {op}")));
    lines.push(format!("    -> {target}"));
    Body::Lines(lines)
}

/// `write "FILE" [from config] {`, one `key = value` per line, `}`.
fn render_write(stmt: Pair<Rule>) -> Body {
    let mut head = String::from("write");
    let mut entries = Vec::new();
    for p in stmt.into_inner() {
        match p.as_rule() {
            Rule::kw_write => {}
            Rule::string => head = format!("{head} {}", p.as_str()),
            Rule::from_config => head.push_str(" from config"),
            Rule::config_entry => {
                let parts: Vec<String> = p.into_inner().map(render_any).collect();
                entries.push(format!("    {} = {}", parts[0], parts[1]));
            }
            _ => {}
        }
    }
    let mut lines = vec![format!("{head} {{")];
    lines.extend(entries);
    lines.push("}".into());
    Body::Lines(lines)
}

/// `op name(params) = call | call ...`.
fn render_op_def(stmt: Pair<Rule>) -> Body {
    let mut name = String::new();
    let mut params = String::new();
    let mut calls: Vec<String> = Vec::new();
    for p in stmt.into_inner() {
        match p.as_rule() {
            Rule::kw_op => {}
            Rule::ident => name = p.as_str().to_string(),
            Rule::op_params => {
                let names: Vec<&str> = p.into_inner().map(|i| i.as_str()).collect();
                params = format!("({})", names.join(", "));
            }
            _ => calls.push(render_any(p)),
        }
    }
    let head = format!("op {name}{params} =");
    let one = format!("{head} {}", calls.join(" | "));
    if one.chars().count() <= WIDTH {
        return Body::OneLine {
            text: one,
            arrow: None,
        };
    }
    let mut lines = vec![format!("{head} {}", calls[0])];
    lines.extend(calls[1..].iter().map(|c| format!("    | {c}")));
    Body::Lines(lines)
}

/// Canonical text of any other construct.
fn render_any(p: Pair<Rule>) -> String {
    match p.as_rule() {
        Rule::sources | Rule::targets => p.into_inner().map(render_any).collect(),
        Rule::pattern_list | Rule::list | Rule::json_list => {
            let items: Vec<String> = p.into_inner().map(render_any).collect();
            format!("[{}]", items.join(", "))
        }
        Rule::regex_source => {
            let s = p
                .into_inner()
                .last()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            format!("regex {s}")
        }
        Rule::branches => {
            let arms: Vec<String> = p.into_inner().map(render_any).collect();
            format!("[{}]", arms.join(", "))
        }
        Rule::arm => {
            let stages: Vec<String> = p.into_inner().map(render_any).collect();
            stages.join(" | ")
        }
        Rule::op_call => {
            let mut it = p.into_inner();
            let name = it
                .next()
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            match it.next() {
                Some(args) => {
                    let args: Vec<String> = args.into_inner().map(render_any).collect();
                    format!("{name}({})", args.join(", "))
                }
                None => name,
            }
        }
        Rule::arg => {
            let parts: Vec<Pair<Rule>> = p.into_inner().collect();
            match parts.as_slice() {
                [name, value] if name.as_rule() == Rule::arg_name => {
                    format!("{}={}", name.as_str(), render_any(value.clone()))
                }
                _ => parts.into_iter().map(render_any).collect(),
            }
        }
        Rule::expr
        | Rule::inner_expr
        | Rule::sum
        | Rule::inner_sum
        | Rule::product
        | Rule::inner_product => {
            let parts: Vec<String> = p.into_inner().map(render_any).collect();
            parts.join(" ")
        }
        Rule::unary => p.into_inner().map(render_any).collect(),
        Rule::json_default => {
            let parts: Vec<String> = p.into_inner().map(render_any).collect();
            parts.join(" ")
        }
        Rule::paren => format!("({})", p.into_inner().map(render_any).collect::<String>()),
        Rule::shape_ref => {
            let mut of = String::new();
            let mut inner = String::new();
            for i in p.into_inner() {
                match i.as_rule() {
                    Rule::kw_shape => {}
                    Rule::shape_of => {
                        let name: String = i.into_inner().map(render_any).collect();
                        of = format!("({name})");
                    }
                    _ => inner.push_str(&render_any(i)),
                }
            }
            format!("shape{of}[{inner}]")
        }
        // Tokens, strings, patterns and config paths exactly as written.
        _ => p.as_str().to_string(),
    }
}
