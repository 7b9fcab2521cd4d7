//! Matching source names: patterns compile to anchored regular expressions
//! whose groups are the captures; regex rules use their own groups.

use std::collections::BTreeMap;

use regex::Regex;

use crate::diagnostics::{CaptureProblem, Diagnostic, RegexProblem};
use crate::source::Span;
use crate::syntax::{CaptureKind, Matcher, Pattern, PatternPart};

/// Capture name -> captured text. Ordered, so bindings sort and print stably.
pub type Binding = BTreeMap<String, String>;

/// Prints a binding as `i = 3, e = 0`.
pub fn show_binding(b: &Binding) -> String {
    if b.is_empty() {
        return "the only binding".into();
    }
    b.iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The most memory one compiled pattern may take (the regex crate's own
/// default, stated here so that messages can say it).
pub const REGEX_SIZE_LIMIT: usize = 10_000_000;

/// One source pattern or regex, ready to match names.
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    pub span: Span,
    /// The anchored regular expression.
    pub regex: Regex,
    /// For patterns: the capture name of each group, in group order.
    /// For regex rules: empty (groups are bound by number and name).
    groups: Vec<String>,
    is_regex: bool,
    /// The pattern as written, for messages.
    pub display: String,
}

impl CompiledMatcher {
    /// Compiles every pattern of a rule's sources (or its one regex).
    pub fn compile_all(
        matcher: &Matcher,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<CompiledMatcher>> {
        match matcher {
            Matcher::Patterns(patterns) => {
                let compiled: Vec<Option<CompiledMatcher>> =
                    patterns.iter().map(|p| Self::pattern(p, out)).collect();
                compiled.into_iter().collect()
            }
            Matcher::Regex(re) => {
                let anchored = format!("^(?:{})$", re.value);
                match regex::RegexBuilder::new(&anchored)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(regex) => Some(vec![CompiledMatcher {
                        span: re.span,
                        regex,
                        groups: Vec::new(),
                        is_regex: true,
                        display: re.value.clone(),
                    }]),
                    Err(e) => {
                        out.push(Diagnostic::InvalidRegex {
                            span: re.span,
                            problem: RegexProblem::Engine(first_line(&e.to_string())),
                        });
                        None
                    }
                }
            }
        }
    }

    /// Compiles a source pattern, checking its captures.
    pub fn pattern(pattern: &Pattern, out: &mut Vec<Diagnostic>) -> Option<CompiledMatcher> {
        let mut re = String::from("^");
        let mut groups = Vec::new();
        let mut kinds: BTreeMap<&str, &Option<CaptureKind>> = BTreeMap::new();
        let mut ok = true;
        for part in &pattern.parts {
            match part {
                PatternPart::Text(t) => re.push_str(&regex::escape(t)),
                PatternPart::Capture(c) => {
                    if c.shift != 0 {
                        out.push(Diagnostic::BadCapture {
                            span: c.span,
                            problem: CaptureProblem::ShiftInSource {
                                capture: c.display(),
                            },
                        });
                        ok = false;
                    }
                    if let Some(prev) = kinds.insert(&c.name, &c.kind) {
                        if *prev != c.kind && c.kind.is_some() && prev.is_some() {
                            out.push(Diagnostic::BadCapture {
                                span: c.span,
                                problem: CaptureProblem::TwoKinds {
                                    name: c.name.clone(),
                                },
                            });
                            ok = false;
                        }
                    }
                    let body = match &c.kind {
                        None | Some(CaptureKind::Int) => "[0-9]+".to_string(),
                        Some(CaptureKind::Segment) => "[^.]+".to_string(),
                        // Any character, line breaks included: names are not lines.
                        Some(CaptureKind::Deep) => "(?s:.+)".to_string(),
                        Some(
                            CaptureKind::OneOf(words) | CaptureKind::Translate { from: words, .. },
                        ) => words
                            .iter()
                            .map(|w| regex::escape(w))
                            .collect::<Vec<_>>()
                            .join("|"),
                    };
                    re.push('(');
                    re.push_str(&body);
                    re.push(')');
                    groups.push(c.name.clone());
                }
            }
        }
        re.push('$');
        if !ok {
            return None;
        }
        let regex = match regex::RegexBuilder::new(&re)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(regex) => regex,
            Err(_) => {
                // Escaped text and word lists always parse: only the size can fail.
                out.push(Diagnostic::PatternTooLarge {
                    span: pattern.span,
                    limit: REGEX_SIZE_LIMIT,
                });
                return None;
            }
        };
        Some(CompiledMatcher {
            span: pattern.span,
            regex,
            groups,
            is_regex: false,
            display: pattern.display(),
        })
    }

    /// The regular expression, for building a `RegexSet`.
    pub fn regex_source(&self) -> &str {
        self.regex.as_str()
    }

    /// The binding of `name`, or `None` if it does not match (or a capture
    /// that appears twice took two different values).
    pub fn bind(&self, name: &str) -> Option<Binding> {
        let caps = self.regex.captures(name)?;
        let mut binding = Binding::new();
        if self.is_regex {
            for (i, group) in self.regex.capture_names().enumerate().skip(1) {
                // The anchoring wrapper is a non-capturing group, so numbers are the author's.
                // A named group is bound by its name only, so that `stack(name)`
                // removes it from the binding without a numbered twin left behind.
                if let Some(m) = caps.get(i) {
                    let key = group.map(String::from).unwrap_or_else(|| i.to_string());
                    binding.insert(key, m.as_str().to_string());
                }
            }
            return Some(binding);
        }
        for (i, cap_name) in self.groups.iter().enumerate() {
            let value = caps.get(i + 1)?.as_str();
            match binding.get(cap_name) {
                Some(prev) if prev != value => return None,
                _ => {
                    binding.insert(cap_name.clone(), value.to_string());
                }
            }
        }
        Some(binding)
    }

    /// The capture names this matcher binds (sorted, unique).
    pub fn capture_names(&self) -> Vec<String> {
        let mut names: Vec<String> = if self.is_regex {
            self.regex
                .capture_names()
                .enumerate()
                .skip(1)
                .map(|(i, n)| n.map(String::from).unwrap_or_else(|| i.to_string()))
                .collect()
        } else {
            self.groups.clone()
        };
        names.sort();
        names.dedup();
        names
    }
}

/// Renders a target pattern under a binding.
pub fn render(pattern: &Pattern, binding: &Binding) -> Result<String, Diagnostic> {
    let mut out = String::new();
    for part in &pattern.parts {
        match part {
            PatternPart::Text(t) => out.push_str(t),
            PatternPart::Capture(c) => {
                let Some(value) = binding.get(&c.name) else {
                    return Err(Diagnostic::UnboundCapture {
                        span: c.span,
                        name: c.name.clone(),
                        bound: binding.keys().cloned().collect(),
                    });
                };
                if let Some(CaptureKind::Translate { from, to }) = &c.kind {
                    match from.iter().position(|w| w == value) {
                        Some(i) => out.push_str(&to[i]),
                        None => out.push_str(value),
                    }
                    continue;
                }
                if c.shift == 0 {
                    out.push_str(value);
                    continue;
                }
                let shifted = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|v| v.checked_add(c.shift));
                match shifted {
                    Some(v) if v >= 0 => out.push_str(&v.to_string()),
                    _ => {
                        return Err(Diagnostic::BadCapture {
                            span: c.span,
                            problem: CaptureProblem::NotNonNegative {
                                capture: c.display(),
                                name: c.name.clone(),
                                value: value.to_string(),
                            },
                        })
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Checks a target pattern on its own: no kinds, shifts only on integers.
pub fn check_target_pattern(pattern: &Pattern, out: &mut Vec<Diagnostic>) {
    for c in pattern.captures() {
        let problem = match &c.kind {
            None | Some(CaptureKind::Translate { .. }) => continue,
            Some(CaptureKind::OneOf(_)) => CaptureProblem::WordsNeedWords {
                capture: c.display(),
                name: c.name.clone(),
            },
            Some(_) => CaptureProblem::KindInTarget {
                capture: c.display(),
            },
        };
        out.push(Diagnostic::BadCapture {
            span: c.span,
            problem,
        });
    }
}

/// Expands a regex rule's template (`$1`, `${name}`, `$name`, `$$`).
pub fn expand_template(template: &str, binding: &Binding) -> Result<String, RegexProblem> {
    let mut out = String::new();
    for piece in template_pieces(template) {
        match piece {
            TemplatePiece::Text(t) => out.push_str(t),
            TemplatePiece::Ref(r) => match binding.get(r) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(RegexProblem::NoSuchGroup {
                        group: r.to_string(),
                    })
                }
            },
        }
    }
    Ok(out)
}

/// The group references of a template, for checking them before matching.
pub fn template_refs(template: &str) -> Vec<String> {
    template_pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            TemplatePiece::Ref(r) => Some(r.to_string()),
            TemplatePiece::Text(_) => None,
        })
        .collect()
}

enum TemplatePiece<'a> {
    Text(&'a str),
    Ref(&'a str),
}

fn template_pieces(t: &str) -> Vec<TemplatePiece<'_>> {
    let mut out = Vec::new();
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied();
        let (reference, end) = match next {
            Some(b'$') => {
                out.push(TemplatePiece::Text(&t[text_start..i + 1]));
                i += 2;
                text_start = i;
                continue;
            }
            Some(b'{') => match t[i + 2..].find('}') {
                Some(close) => (&t[i + 2..i + 2 + close], i + 3 + close),
                None => {
                    i += 1;
                    continue;
                }
            },
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' => {
                let len = t[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                (&t[i + 1..i + 1 + len], i + 1 + len)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(TemplatePiece::Text(&t[text_start..i]));
        out.push(TemplatePiece::Ref(reference));
        i = end;
        text_start = end;
    }
    out.push(TemplatePiece::Text(&t[text_start..]));
    out.retain(|p| !matches!(p, TemplatePiece::Text("")));
    out
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand() {
        let mut b = Binding::new();
        b.insert("1".into(), "3".into());
        b.insert("kind".into(), "bias".into());
        assert_eq!(expand_template("l.$1.x.${kind}", &b).unwrap(), "l.3.x.bias");
        assert_eq!(expand_template("$$1", &b).unwrap(), "$1");
        assert!(expand_template("$2", &b).is_err());
        assert_eq!(template_refs("a.$1_b.${x}"), vec!["1_b", "x"]);
    }
}
