//! Collapsing tensor names into patterns: `transformer.h.{0..11}.attn.bias`.
//! Used for unmapped-tensor diagnostics, suggestions and `wmap inspect`.

use crate::syntax::PatternPart;
use std::collections::BTreeMap;

/// Names that differ only in their numeric segments, collapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The names with every numeric segment replaced by `{}`.
    pub skeleton: String,
    /// The display form, with each numeric position's values as ranges
    /// (control characters escaped).
    pub pattern: String,
    /// The form with `{i}`, `{j}`, ... captures, as the body of a `.wmap`
    /// pattern (literal text escaped: `{{`, `\\n`...).
    pub capture_pattern: String,
    /// The same pattern as syntax: text and integer captures.
    pub capture_parts: Vec<crate::syntax::PatternPart>,
    /// Indices (into the input) of the names in this group.
    pub members: Vec<usize>,
}

fn is_number(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// One dot-separated segment of a name: literal text, or a number that
/// varies across a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Text(String),
    Number,
}

fn segments(name: &str) -> (Vec<Segment>, Vec<u64>) {
    let mut values = Vec::new();
    let segments = name
        .split('.')
        .map(|seg| {
            if is_number(seg) {
                match seg.parse::<u64>() {
                    // Keep leading zeros literal, so `01` is not shown as `1`.
                    Ok(v) if v.to_string() == seg => {
                        values.push(v);
                        return Segment::Number;
                    }
                    _ => {}
                }
            }
            Segment::Text(seg.to_string())
        })
        .collect();
    (segments, values)
}

/// Splits a name into its skeleton (numeric segments as `{}`, for display
/// and for reading words off) and the values of its numeric segments.
pub fn skeleton(name: &str) -> (String, Vec<u64>) {
    let (segments, values) = segments(name);
    let parts: Vec<&str> = segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.as_str(),
            Segment::Number => "{}",
        })
        .collect();
    (parts.join("."), values)
}

/// `0..11`, `0..3,7`, `5`.
pub fn ranges(values: &[u64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        if j > i {
            out.push(format!("{start}..{}", sorted[j]));
        } else {
            out.push(start.to_string());
        }
        i = j + 1;
    }
    out.join(",")
}

const CAPTURE_NAMES: [&str; 6] = ["i", "j", "k", "l", "m", "n"];

/// Groups names by skeleton, in order of first appearance. Names are
/// grouped by their segments, never by text, so a name that itself holds
/// `{}` or `.` cannot be confused with a skeleton.
pub fn collapse<S: AsRef<str>>(names: &[S]) -> Vec<Group> {
    // segments -> (first index, member indices, numeric values of each member)
    type Members = (usize, Vec<usize>, Vec<Vec<u64>>);
    let mut by_segments: BTreeMap<Vec<Segment>, Members> = BTreeMap::new();
    for (idx, name) in names.iter().enumerate() {
        let (segs, values) = segments(name.as_ref());
        let entry = by_segments
            .entry(segs)
            .or_insert_with(|| (idx, Vec::new(), Vec::new()));
        entry.1.push(idx);
        entry.2.push(values);
    }
    let mut groups: Vec<(usize, Group)> = by_segments
        .into_iter()
        .map(|(segs, (first, members, values))| {
            let mut skeleton = Vec::new();
            let mut pattern = Vec::new();
            let mut capture_pattern = Vec::new();
            let mut parts = Vec::new();
            let mut pos = 0;
            for (k, seg) in segs.iter().enumerate() {
                if k > 0 {
                    parts.push(PatternPart::Text(".".into()));
                }
                match seg {
                    Segment::Text(t) => {
                        skeleton.push(t.clone());
                        pattern.push(crate::text::printable(t).into_owned());
                        capture_pattern.push(crate::syntax::format::pattern_literal(t));
                        parts.push(PatternPart::Text(t.clone()));
                    }
                    Segment::Number => {
                        let column: Vec<u64> = values.iter().map(|v| v[pos]).collect();
                        let r = ranges(&column);
                        skeleton.push("{}".into());
                        pattern.push(if members.len() == 1 {
                            r
                        } else {
                            format!("{{{r}}}")
                        });
                        let name = CAPTURE_NAMES.get(pos).copied().unwrap_or("x");
                        capture_pattern.push(format!("{{{name}}}"));
                        parts.push(PatternPart::Capture(crate::syntax::Capture {
                            span: crate::source::Span::new(crate::source::FileId(0), 0..0),
                            name: name.to_string(),
                            kind: None,
                            shift: 0,
                        }));
                        pos += 1;
                    }
                }
            }
            (
                first,
                Group {
                    skeleton: skeleton.join("."),
                    pattern: pattern.join("."),
                    capture_pattern: capture_pattern.join("."),
                    capture_parts: joined(parts),
                    members,
                },
            )
        })
        .collect();
    groups.sort_by_key(|(first, _)| *first);
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Adjacent text parts as one.
fn joined(parts: Vec<PatternPart>) -> Vec<PatternPart> {
    let mut out: Vec<PatternPart> = Vec::new();
    for part in parts {
        match (out.last_mut(), part) {
            (Some(PatternPart::Text(prev)), PatternPart::Text(t)) => prev.push_str(&t),
            (_, part) => out.push(part),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_layers() {
        let names: Vec<String> = (0..12)
            .map(|i| format!("transformer.h.{i}.attn.bias"))
            .chain(["wte.weight".to_string()])
            .collect();
        let groups = collapse(&names);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].pattern, "transformer.h.{0..11}.attn.bias");
        assert_eq!(groups[0].capture_pattern, "transformer.h.{i}.attn.bias");
        assert_eq!(groups[0].members.len(), 12);
        assert_eq!(groups[1].pattern, "wte.weight");
    }

    #[test]
    fn ranges_with_gaps() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0..3,7,9..10");
        assert_eq!(ranges(&[5]), "5");
    }

    #[test]
    fn names_holding_braces_and_control_characters_group_and_escape() {
        let names = ["c{}.3.w", "c{}.4.w", "a\nb.{1}"];
        let g = collapse(&names);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].pattern, "c{}.{3..4}.w");
        assert_eq!(g[0].capture_pattern, "c{{}}.{i}.w");
        assert_eq!(g[1].pattern, "a\\nb.{1}");
        assert_eq!(g[1].capture_pattern, "a\\nb.{{1}}");
    }

    #[test]
    fn single_member_shows_value() {
        let g = collapse(&["h.3.w"]);
        assert_eq!(g[0].pattern, "h.3.w");
    }
}
