//! Collapsing tensor names into patterns: `transformer.h.{0..11}.attn.bias`.
//! Used for unmapped-tensor diagnostics, suggestions and `wmap inspect`.

use std::collections::BTreeMap;

/// Names that differ only in their numeric segments, collapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The names with every numeric segment replaced by `{}`.
    pub skeleton: String,
    /// The display form, with each numeric position's values as ranges.
    pub pattern: String,
    /// The form with `{i}`, `{j}`, ... captures, as a `.wmap` pattern.
    pub capture_pattern: String,
    /// Indices (into the input) of the names in this group.
    pub members: Vec<usize>,
}

fn is_number(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// Splits a name into its skeleton and the values of its numeric segments.
pub fn skeleton(name: &str) -> (String, Vec<u64>) {
    let mut values = Vec::new();
    let parts: Vec<String> = name
        .split('.')
        .map(|seg| {
            if is_number(seg) {
                match seg.parse::<u64>() {
                    // Keep leading zeros literal, so `01` is not shown as `1`.
                    Ok(v) if v.to_string() == seg => {
                        values.push(v);
                        "{}".to_string()
                    }
                    _ => seg.to_string(),
                }
            } else {
                seg.to_string()
            }
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

/// Groups names by skeleton, in order of first appearance.
pub fn collapse<S: AsRef<str>>(names: &[S]) -> Vec<Group> {
    // skeleton -> (first index, member indices, numeric values of each member)
    type Members = (usize, Vec<usize>, Vec<Vec<u64>>);
    let mut by_skeleton: BTreeMap<String, Members> = BTreeMap::new();
    for (idx, name) in names.iter().enumerate() {
        let (skel, values) = skeleton(name.as_ref());
        let entry = by_skeleton
            .entry(skel)
            .or_insert_with(|| (idx, Vec::new(), Vec::new()));
        entry.1.push(idx);
        entry.2.push(values);
    }
    let mut groups: Vec<(usize, Group)> = by_skeleton
        .into_iter()
        .map(|(skel, (first, members, values))| {
            let positions = values.first().map(Vec::len).unwrap_or(0);
            let mut pattern = String::new();
            let mut capture_pattern = String::new();
            let mut pos = 0;
            for (i, piece) in skel.split("{}").enumerate() {
                if i > 0 {
                    let column: Vec<u64> = values.iter().map(|v| v[pos]).collect();
                    let r = ranges(&column);
                    if members.len() == 1 {
                        pattern.push_str(&r);
                    } else {
                        pattern.push_str(&format!("{{{r}}}"));
                    }
                    let name = CAPTURE_NAMES.get(pos).copied().unwrap_or("x");
                    capture_pattern.push_str(&format!("{{{name}}}"));
                    pos += 1;
                }
                pattern.push_str(piece);
                capture_pattern.push_str(piece);
            }
            debug_assert_eq!(pos, positions);
            (
                first,
                Group {
                    skeleton: skel,
                    pattern,
                    capture_pattern,
                    members,
                },
            )
        })
        .collect();
    groups.sort_by_key(|(first, _)| *first);
    groups.into_iter().map(|(_, g)| g).collect()
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
    fn single_member_shows_value() {
        let g = collapse(&["h.3.w"]);
        assert_eq!(g[0].pattern, "h.3.w");
    }
}
