//! "Did you mean" suggestions by string similarity.

/// The candidate most similar to `word`, if any is similar enough.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nearest_n(word, candidates, 1, 0.7).into_iter().next()
}

/// Up to `n` candidates with similarity at least `threshold` (0..1), best first.
pub fn nearest_n<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
    threshold: f64,
) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            (
                strsim::normalized_levenshtein(word, c).max(strsim::jaro_winkler(word, c) - 0.15),
                c,
            )
        })
        .filter(|(s, _)| *s >= threshold)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_typos() {
        assert_eq!(
            super::nearest("tranpose", ["transpose", "reshape"]),
            Some("transpose")
        );
        assert_eq!(super::nearest("xyz", ["transpose", "reshape"]), None);
    }
}
