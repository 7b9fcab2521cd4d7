//! `wmap infer`: a draft mapping from one checkpoint's tensor list to
//! another's (or to a burn model's spec), paired by layer indices, shapes
//! and names.
//!
//! Both sides are collapsed into patterns (`h.{i}.attn.c_attn.weight`), so
//! pairs are made and rules written once per layer pattern. Two patterns can
//! pair when they cover the same layer indices, hold the same kind of
//! parameter (a weight with a weight, a bias with a bias), and every
//! member's shape equals its partner's or is its transpose. Among those,
//! names decide: each name is read as a set of concepts through a table of
//! the words checkpoints use (`q_proj`, `query`, `wq` are all q; `gamma` is
//! a weight), and pairs are taken best first. Square matrices, whose shape
//! cannot tell whether a layout changed, follow the checkpoint's other
//! matrices (embeddings keep their layout). A pattern left over whose size
//! along one axis is the sum of several left-over targets' is split into
//! them (a fused QKV). What is still unpaired is written as comments with
//! the candidates considered.

use std::collections::{BTreeMap, BTreeSet};

use crate::collapse;
use crate::dtype::DType;
use crate::ops::{made, made_call, Builtin};
use crate::source::{FileId, Span, Spanned};
use crate::syntax::format::quote_pattern;
use crate::syntax::print::Document;
use crate::syntax::{Item, Matcher, OpCall, Pattern, PatternPart, Rule, Targets};

use crate::checkpoint::Config;
pub use crate::checkpoint::Tensor;

/// A draft and how much of it was resolved.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    /// Rules written (pairs and splits).
    pub rules: usize,
    /// Source and target patterns left as comments.
    pub unresolved_sources: usize,
    pub unresolved_targets: usize,
    /// Pairings decided by a tie (marked `# guess:` in the text).
    pub guesses: usize,
    /// Target biases no source holds, drafted as `make zeros`.
    pub made: usize,
    /// Whether the draft writes the target's config file.
    pub wrote_config: bool,
}

/// One side's layer pattern.
#[derive(Debug)]
struct Group {
    /// The pattern's body as written (for comments).
    pattern: String,
    /// The pattern as syntax (for rules).
    parts: Vec<PatternPart>,
    /// Layer indices of each member -> the member's tensor.
    members: BTreeMap<Vec<u64>, usize>,
    concepts: BTreeSet<String>,
    role: Option<&'static str>,
    embedding: bool,
    /// The kind of module the tensor belongs to, when its name says.
    kind: Option<Kind>,
}

/// Kinds of module that a pairing never crosses: an attention tensor is
/// never paired with an MLP's, a norm with a projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Embedding,
    Norm,
    Attention,
    Mlp,
}

impl Kind {
    fn of(concepts: &BTreeSet<String>) -> Option<Kind> {
        let has = |words: &[&str]| words.iter().any(|w| concepts.contains(*w));
        if has(&["embed"]) {
            Some(Kind::Embedding)
        } else if has(&["norm"]) {
            Some(Kind::Norm)
        } else if has(&["mlp", "up", "gate", "down", "moe", "expert", "intermediate"]) {
            Some(Kind::Mlp)
        } else if has(&["attn", "q", "k", "v"]) {
            Some(Kind::Attention)
        } else {
            None
        }
    }
}

/// Whether two groups may pair: their kinds agree where both are known.
fn same_kind(a: &Group, b: &Group) -> bool {
    match (a.kind, b.kind) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Scores closer than this are a tie.
const TIE: f64 = 1e-9;

impl Group {
    /// The tensor of the first member (the one shown for the group).
    fn first(&self) -> usize {
        *self.members.values().next().expect("a group has members")
    }

    /// `"pattern" [shape] dtype xN`.
    fn describe(&self, tensors: &[Tensor]) -> String {
        let t = &tensors[self.first()];
        format!(
            "{} {} {} x{}",
            quote_pattern(&self.pattern),
            shape_text(&t.shape),
            t.dtype.name(),
            self.members.len()
        )
    }
}

/// How a source's shape relates to its partner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Same,
    Transposed,
    /// Square matrices: either.
    Either,
}

/// Words of whole name segments.
const SEGMENTS: &[(&str, &[&str])] = &[
    ("transformer", &[]),
    ("model", &[]),
    ("encoder", &[]),
    ("bert", &[]),
    ("self", &[]),
    ("dense", &[]),
    ("h", &["layer"]),
    ("layer", &["layer"]),
    ("layers", &["layer"]),
    ("block", &["layer"]),
    ("blocks", &["layer"]),
    ("attn", &["attn"]),
    ("attention", &["attn"]),
    ("self_attn", &["attn"]),
    ("self_attention", &["attn"]),
    ("mlp", &["mlp"]),
    ("ffn", &["mlp"]),
    ("feed_forward", &["mlp"]),
    ("block_sparse_moe", &["moe"]),
    ("experts", &["expert"]),
    ("q", &["q"]),
    ("q_proj", &["q"]),
    ("query", &["q"]),
    ("wq", &["q"]),
    ("k", &["k"]),
    ("k_proj", &["k"]),
    ("key", &["k"]),
    ("wk", &["k"]),
    ("v", &["v"]),
    ("v_proj", &["v"]),
    ("value", &["v"]),
    ("wv", &["v"]),
    ("o", &["out"]),
    ("o_proj", &["out"]),
    ("out", &["out"]),
    ("out_proj", &["out"]),
    ("wo", &["out"]),
    ("c_proj", &["out"]),
    ("proj", &["out"]),
    ("c_attn", &["q", "k", "v"]),
    ("qkv", &["q", "k", "v"]),
    ("qkv_proj", &["q", "k", "v"]),
    ("wqkv", &["q", "k", "v"]),
    ("c_fc", &["up"]),
    ("fc", &["up"]),
    ("fc1", &["up"]),
    ("up", &["up"]),
    ("up_proj", &["up"]),
    ("w3", &["up"]),
    ("gate", &["gate"]),
    ("gate_proj", &["gate"]),
    ("w1", &["gate"]),
    ("down", &["down"]),
    ("down_proj", &["down"]),
    ("fc2", &["down"]),
    ("w2", &["down"]),
    ("input_layernorm", &["attn", "norm"]),
    ("attention_norm", &["attn", "norm"]),
    ("post_attention_layernorm", &["mlp", "norm"]),
    ("ffn_norm", &["mlp", "norm"]),
    ("output_norm", &["output", "norm"]),
    ("wte", &["tok", "embed"]),
    ("embed_tokens", &["tok", "embed"]),
    ("tok_embeddings", &["tok", "embed"]),
    ("word_embeddings", &["tok", "embed"]),
    ("wpe", &["pos", "embed"]),
    ("position_embeddings", &["pos", "embed"]),
    ("token_type_embeddings", &["type", "embed"]),
    ("embeddings", &["embed"]),
    ("lm_head", &["output"]),
];

/// Words inside segments (split at `_`).
const WORDS: &[(&str, &str)] = &[
    ("ln", "norm"),
    ("layernorm", "norm"),
    ("norm", "norm"),
    ("embed", "embed"),
    ("embedding", "embed"),
    ("embeddings", "embed"),
];

/// The last segment's kind of parameter.
fn role(segment: &str) -> Option<&'static str> {
    match segment {
        "weight" | "gamma" | "kernel" | "scale" => Some("weight"),
        "bias" | "beta" => Some("bias"),
        _ => None,
    }
}

/// The concepts of a name (its numbers and its role left out).
fn concepts(name: &str, hints: &[(String, String)]) -> (BTreeSet<String>, Option<&'static str>) {
    let mut name = name.to_string();
    for (from, to) in hints {
        name = name.replace(from.as_str(), to);
    }
    let segments: Vec<String> = name.split('.').map(|s| s.to_lowercase()).collect();
    let role = segments.last().and_then(|s| role(s));
    let body = if role.is_some() {
        &segments[..segments.len() - 1]
    } else {
        &segments[..]
    };
    let mut out = BTreeSet::new();
    for seg in body {
        // Layer numbers (or the `{}` that stands for them in a skeleton).
        if seg == "{}" || seg.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((_, words)) = SEGMENTS.iter().find(|(s, _)| s == seg) {
            out.extend(words.iter().map(|w| w.to_string()));
            continue;
        }
        for word in seg.split('_').filter(|w| !w.is_empty()) {
            // `norm1`, `ln2`: a known word numbered; the number says nothing
            // a name can be matched by.
            let stem = word.trim_end_matches(|c: char| c.is_ascii_digit());
            let known = |w: &str| WORDS.iter().find(|(k, _)| *k == w).map(|(_, c)| *c);
            match known(word).or_else(|| {
                (stem != word && !stem.is_empty())
                    .then(|| known(stem))
                    .flatten()
            }) {
                Some(c) => out.insert(c.to_string()),
                None => out.insert(word.to_string()),
            };
        }
    }
    (out, role)
}

fn groups(tensors: &[Tensor], hints: &[(String, String)]) -> Vec<Group> {
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    collapse::collapse(&names)
        .into_iter()
        .map(|g| {
            let members = g
                .members
                .iter()
                .map(|&i| (collapse::skeleton(&tensors[i].name).1, i))
                .collect();
            let (concepts, role) = concepts(&g.skeleton, hints);
            Group {
                pattern: g.capture_pattern,
                parts: g.capture_parts,
                members,
                embedding: concepts.contains("embed"),
                kind: Kind::of(&concepts),
                concepts,
                role,
            }
        })
        .collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

fn layout(a: &[u64], b: &[u64]) -> Option<Layout> {
    let transposed = a.len() == 2 && b.len() == 2 && a[0] == b[1] && a[1] == b[0];
    match (a == b, transposed) {
        (true, true) => Some(Layout::Either),
        (true, false) => Some(Layout::Same),
        (false, true) => Some(Layout::Transposed),
        (false, false) => None,
    }
}

/// How every member of `s` relates to its partner in `t`, if they pair.
fn pair_layout(s: &Group, t: &Group, src: &[Tensor], dst: &[Tensor]) -> Option<Layout> {
    if s.role != t.role || s.members.len() != t.members.len() {
        return None;
    }
    let mut found: Option<Layout> = None;
    for (values, &si) in &s.members {
        let &ti = t.members.get(values)?;
        let l = layout(&src[si].shape, &dst[ti].shape)?;
        found = match (found, l) {
            (None, l) => Some(l),
            (Some(a), b) if a == b => Some(a),
            (Some(Layout::Either), b) | (Some(b), Layout::Either) => Some(b),
            _ => return None,
        };
    }
    found
}

fn shape_text(shape: &[u64]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The order fused parts usually come in.
fn part_rank(g: &Group) -> usize {
    ["q", "k", "v", "gate", "up"]
        .iter()
        .position(|c| g.concepts.contains(*c))
        .unwrap_or(9)
}

/// Drafts a mapping from `src` to `dst`. `hints` replace text in source
/// names before names are compared.
pub fn infer(
    src: &[Tensor],
    dst: &[Tensor],
    hints: &[(String, String)],
    configs: Option<(&Config, &Config)>,
    title: &[String],
) -> Draft {
    let sg = groups(src, hints);
    let tg = groups(dst, &[]);

    // Every pair that could be, best first.
    let mut candidates: Vec<(f64, usize, usize, Layout)> = Vec::new();
    for (a, s) in sg.iter().enumerate() {
        for (b, t) in tg.iter().enumerate() {
            if !same_kind(s, t) {
                continue;
            }
            if let Some(l) = pair_layout(s, t, src, dst) {
                let score = jaccard(&s.concepts, &t.concepts);
                if score > 0.0 {
                    candidates.push((score, a, b, l));
                }
            }
        }
    }
    candidates.sort_by(|x, y| {
        y.0.partial_cmp(&x.0)
            .expect("finite")
            .then((x.3 == Layout::Transposed).cmp(&(y.3 == Layout::Transposed)))
            .then(x.1.cmp(&y.1))
            .then(x.2.cmp(&y.2))
    });
    let mut src_used = vec![false; sg.len()];
    let mut dst_used = vec![false; tg.len()];
    let mut pairs: Vec<(usize, usize, Layout)> = Vec::new();
    let mut chosen_score: Vec<f64> = Vec::new();
    for &(score, a, b, l) in &candidates {
        if !src_used[a] && !dst_used[b] {
            src_used[a] = true;
            dst_used[b] = true;
            pairs.push((a, b, l));
            chosen_score.push(score);
        }
    }
    // A pairing is a guess when another, equally good one was open when it
    // was made: the same source with another target, or the reverse (a side
    // taken by a strictly better pairing was not open).
    let mut src_taken_at = vec![f64::NEG_INFINITY; sg.len()];
    let mut dst_taken_at = vec![f64::NEG_INFINITY; tg.len()];
    for (&(a, b, _), &score) in pairs.iter().zip(&chosen_score) {
        src_taken_at[a] = score;
        dst_taken_at[b] = score;
    }
    let alternatives: Vec<Vec<String>> = pairs
        .iter()
        .zip(&chosen_score)
        .map(|(&(a, b, _), &score)| {
            let open = |taken: f64| taken <= score + TIE;
            let mut alts: Vec<String> = candidates
                .iter()
                .filter(|c| (c.0 - score).abs() <= TIE)
                .filter_map(|&(_, ca, cb, _)| {
                    if ca == a && cb != b && open(dst_taken_at[cb]) {
                        Some(format!("-> {}", quote_pattern(&tg[cb].pattern)))
                    } else if cb == b && ca != a && open(src_taken_at[ca]) {
                        Some(format!("from {}", quote_pattern(&sg[ca].pattern)))
                    } else {
                        None
                    }
                })
                .collect();
            alts.sort();
            alts.dedup();
            alts
        })
        .collect();
    let mut guesses = 0;

    // Square matrices follow the other matrices' layout (embeddings excepted).
    let (mut kept, mut flipped) = (0, 0);
    for &(a, _, l) in &pairs {
        if !sg[a].embedding {
            match l {
                Layout::Same if src[sg[a].first()].shape.len() == 2 => kept += 1,
                Layout::Transposed => flipped += 1,
                _ => {}
            }
        }
    }
    let square_transposed = flipped > kept;

    // Fused tensors: a left-over source split into left-over targets.
    let mut splits: Vec<(usize, Split)> = Vec::new();
    for (a, s) in sg.iter().enumerate() {
        if src_used[a] {
            continue;
        }
        let free: Vec<usize> = (0..tg.len())
            .filter(|&b| {
                !dst_used[b]
                    && same_kind(s, &tg[b])
                    && tg[b].role == s.role
                    && tg[b].members.keys().eq(s.members.keys())
                    && jaccard(&s.concepts, &tg[b].concepts) > 0.0
            })
            .collect();
        if let Some((parts, axis, transpose, tied)) =
            fused(s, &free, &tg, src, dst, square_transposed)
        {
            src_used[a] = true;
            for &b in &parts {
                dst_used[b] = true;
            }
            splits.push((a, (parts, axis, transpose, tied)));
        }
    }

    let mut doc = Document::new();
    for line in title {
        doc.comment(line);
    }
    doc.item(Item::Version(Spanned::new(1, nowhere())));
    doc.blank();
    let mut rules = 0;
    // Each rule with the comments that go before it, by its source's place.
    let mut order: Vec<(usize, Document)> = Vec::new();
    for (&(a, b, l), alts) in pairs.iter().zip(&alternatives) {
        let s = &sg[a];
        let t = &tg[b];
        let mut entry = Document::new();
        if !alts.is_empty() {
            guesses += 1;
            entry.comment(&format!(
                "guess: a tie; as good: {}",
                alts.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let (si, ti) = (s.first(), t.first());
        let transpose = match l {
            Layout::Transposed => true,
            Layout::Either => square_transposed && !s.embedding,
            Layout::Same => false,
        };
        let mut ops = Vec::new();
        if transpose {
            ops.push(made_call(Builtin::Transpose.name(), Vec::new()));
        }
        if src[si].dtype != dst[ti].dtype {
            ops.push(cast_to(dst[ti].dtype));
        }
        entry.item(rule(s, ops, vec![pattern(t)]));
        order.push((a, entry));
        rules += 1;
    }
    for (a, (parts, axis, transpose, tied)) in &splits {
        let s = &sg[*a];
        let si = s.first();
        let sizes: Vec<u64> = parts
            .iter()
            .map(|&b| {
                let ti = tg[b].first();
                let shape = &dst[ti].shape;
                if *transpose {
                    shape[1 - axis]
                } else {
                    shape[*axis]
                }
            })
            .collect();
        let how = if sizes.iter().all(|x| *x == sizes[0]) {
            made::named("parts", made::int(sizes.len() as i64))
        } else {
            made::named(
                "sizes",
                made::list(sizes.iter().map(|&x| made::int(x as i64)).collect()),
            )
        };
        let mut ops = vec![made_call(
            Builtin::Split.name(),
            vec![made::named("axis", made::int(*axis as i64)), how],
        )];
        if *transpose {
            ops.push(made_call(Builtin::Transpose.name(), Vec::new()));
        }
        let ti = tg[parts[0]].first();
        if src[si].dtype != dst[ti].dtype {
            ops.push(cast_to(dst[ti].dtype));
        }
        let mut entry = Document::new();
        entry.comment(&format!(
            "{}: fused; split into the {} targets it sums to",
            s.pattern,
            parts.len()
        ));
        if let Some(other) = tied {
            guesses += 1;
            entry.comment(&format!(
                "guess: a tie; as good: [{}]",
                other
                    .iter()
                    .map(|&b| quote_pattern(&tg[b].pattern))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let targets = parts.iter().map(|&b| pattern(&tg[b])).collect();
        entry.item(rule(s, ops, targets));
        order.push((*a, entry));
        rules += 1;
    }
    order.sort_by_key(|(a, _)| *a);
    for (_, entry) in order {
        doc.extend(entry);
    }

    // Target biases no source has: a zero bias computes what a missing one
    // does (Qwen2's projections into Llama with `attention_bias`).
    let mut made_doc = Document::new();
    let mut made = 0;
    for (b, t) in tg.iter().enumerate() {
        if dst_used[b] || t.role != Some("bias") {
            continue;
        }
        if let Some(item) = zero_bias(t, dst) {
            dst_used[b] = true;
            made += 1;
            made_doc.comment(&format!(
                "nothing in the source for {}: made as zeros (if the source holds it under another name, map that instead)",
                t.describe(dst)
            ));
            made_doc.item(item);
        }
    }
    if !made_doc.is_empty() {
        doc.blank();
        doc.extend(made_doc);
    }
    let wrote_config = match configs.and_then(|(s, t)| draft_config(s, t)) {
        Some((name, write)) => {
            doc.blank();
            doc.comment(&format!(
                "The target's {name}: keys equal to the source config's are read from it, the others are the target's values."
            ));
            doc.item(write);
            true
        }
        None => false,
    };

    // What is left, with the candidates considered.
    let mut left = Document::new();
    let unresolved_sources = sg
        .iter()
        .enumerate()
        .filter(|(a, _)| !src_used[*a])
        .map(|(_, s)| {
            let candidates = considered(s, &tg, dst, |b| !dst_used[b]);
            left.comment(&format!("{}: no target found{candidates}", s.describe(src)));
        })
        .count();
    let unresolved_targets = tg
        .iter()
        .enumerate()
        .filter(|(b, _)| !dst_used[*b])
        .map(|(_, t)| {
            let candidates = considered(t, &sg, src, |a| !src_used[a]);
            left.comment(&format!(
                "nothing found for {}{candidates}",
                t.describe(dst)
            ));
        })
        .count();
    if !left.is_empty() {
        doc.blank();
        doc.comment(
            "Unresolved: write these rules by hand (or `drop` what the target does not need).",
        );
        doc.extend(left);
    }
    let text = doc.text();
    Draft {
        text,
        rules,
        unresolved_sources,
        unresolved_targets,
        guesses,
        made,
        wrote_config,
    }
}

/// A `write` of the target's config file (`config.json`, or Meta's
/// `params.json`), when there is one and it is not the source's: each key
/// whose value the source config holds at the same path reads it
/// (`hidden_size = config.hidden_size`), every other key is the target's
/// literal value.
fn draft_config(source: &Config, target: &Config) -> Option<(String, Item)> {
    use crate::checkpoint::config::Lookup;
    use crate::syntax::{ConfigEntry, Expr, ExprKind, JsonExpr, WriteDef};
    let name = std::path::Path::new(target.file.as_deref()?)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    if !name.ends_with(".json") || target.root.is_empty() || target.root == source.root {
        return None;
    }
    let mut entries = ConfigEntry::literals(&target.root)?;
    for entry in &mut entries {
        let path: Vec<String> = entry.key.value.split('.').map(String::from).collect();
        let same = match (&entry.value, source.lookup(&path)) {
            (JsonExpr::Literal(v), Lookup::Found(found)) => v.value == *found,
            (JsonExpr::List(_), Lookup::Found(found)) => {
                target.lookup(&path) == Lookup::Found(found)
            }
            _ => false,
        };
        if same {
            entry.value = JsonExpr::Expr(Expr {
                span: nowhere(),
                kind: ExprKind::Config(path),
            });
        }
    }
    let write = Item::Write(WriteDef {
        span: nowhere(),
        file: Spanned::new(name.clone(), nowhere()),
        from_config: false,
        entries,
    });
    Some((name, write))
}

/// `make zeros(shape=[..], dtype=..) -> "PATTERN" for i in A..B, ...` for
/// every member of `t`, when they share one shape and dtype and their
/// layer indices are every combination of one range per capture.
fn zero_bias(t: &Group, dst: &[Tensor]) -> Option<Item> {
    use crate::syntax::ast::{Made, Reads};
    use crate::syntax::{Expr, ExprKind, ForRange};
    let first = &dst[t.first()];
    if t.members
        .values()
        .any(|&m| dst[m].shape != first.shape || dst[m].dtype != first.dtype)
    {
        return None;
    }
    let captures: Vec<String> = t
        .parts
        .iter()
        .filter_map(|p| match p {
            PatternPart::Capture(c) => Some(c.name.clone()),
            PatternPart::Text(_) => None,
        })
        .collect();
    let mut ranges = Vec::new();
    let mut count: usize = 1;
    for (k, name) in captures.iter().enumerate() {
        let values: BTreeSet<u64> = t
            .members
            .keys()
            .filter_map(|key| key.get(k).copied())
            .collect();
        let (lo, hi) = (*values.first()?, *values.last()?);
        if (hi - lo + 1) as usize != values.len() {
            return None; // not one range
        }
        count = count.checked_mul(values.len())?;
        let int = |v: u64| Expr {
            span: nowhere(),
            kind: ExprKind::Int(i64::try_from(v).ok()),
        };
        ranges.push(ForRange {
            span: nowhere(),
            capture: Spanned::new(name.clone(), nowhere()),
            start: int(lo),
            end: int(hi + 1),
        });
    }
    if count != t.members.len() {
        return None; // not every combination
    }
    let shape = first.shape.iter().map(|&d| made::int(d as i64)).collect();
    let fill = made_call(
        "zeros",
        vec![
            made::named("shape", made::list(shape)),
            made::named("dtype", made::name(first.dtype.name())),
        ],
    );
    Some(Item::Rule(Rule {
        span: nowhere(),
        optional: false,
        fallback: false,
        reads: Reads::Makes(Box::new(Made {
            fill,
            like: false,
            ranges,
        })),
        sources: Matcher::Patterns(Vec::new()),
        pipeline: Vec::new(),
        targets: Targets::Patterns(vec![pattern(t)]),
        when: None,
    }))
}

fn nowhere() -> Span {
    Span::new(FileId(0), 0..0)
}

/// A group's pattern as syntax.
fn pattern(g: &Group) -> Pattern {
    Pattern {
        span: nowhere(),
        parts: g.parts.clone(),
    }
}

/// `cast(DTYPE)`.
fn cast_to(dtype: DType) -> OpCall {
    made_call(
        Builtin::Cast.name(),
        vec![made::positional(made::name(dtype.name()))],
    )
}

/// `SOURCE | ops -> TARGETS`.
fn rule(source: &Group, pipeline: Vec<OpCall>, targets: Vec<Pattern>) -> Item {
    Item::Rule(Rule {
        span: nowhere(),
        optional: false,
        fallback: false,
        reads: crate::syntax::ast::Reads::Claims,
        sources: Matcher::Patterns(vec![pattern(source)]),
        pipeline: pipeline
            .into_iter()
            .map(crate::syntax::Stage::Call)
            .collect(),
        targets: Targets::Patterns(targets),
        when: None,
    })
}

/// `; candidates: "a" [64, 64], "b" [64]`: the closest names on the other side.
fn considered(
    g: &Group,
    other: &[Group],
    tensors: &[Tensor],
    free: impl Fn(usize) -> bool,
) -> String {
    let mut scored: Vec<(f64, usize)> = other
        .iter()
        .enumerate()
        .filter(|(b, o)| free(*b) && o.role == g.role)
        .map(|(b, o)| (jaccard(&g.concepts, &o.concepts), b))
        .filter(|(s, _)| *s > 0.0)
        .collect();
    scored.sort_by(|x, y| y.0.partial_cmp(&x.0).expect("finite").then(x.1.cmp(&y.1)));
    if scored.is_empty() {
        return String::new();
    }
    let list: Vec<String> = scored
        .iter()
        .take(3)
        .map(|&(_, b)| {
            let i = other[b].first();
            format!(
                "{} {}",
                quote_pattern(&other[b].pattern),
                shape_text(&tensors[i].shape)
            )
        })
        .collect();
    format!("; candidates: {}", list.join(", "))
}

/// A fused split: the target parts in order, the axis, whether the source
/// is transposed first, and another set of parts as good, if any (a guess).
type Split = (Vec<usize>, usize, bool, Option<Vec<usize>>);

/// Left-over targets that `s` is the concatenation of, along one axis
/// (directly, or of their transposes): (parts in order, axis, transpose).
fn fused(
    s: &Group,
    free: &[usize],
    tg: &[Group],
    src: &[Tensor],
    dst: &[Tensor],
    square_transposed: bool,
) -> Option<Split> {
    let si = s.first();
    let shape = &src[si].shape;
    for transpose in [square_transposed, !square_transposed] {
        if transpose && shape.len() != 2 {
            continue;
        }
        for axis in 0..shape.len() {
            // Targets that agree with the source on every other axis.
            let fits: Vec<usize> = free
                .iter()
                .copied()
                .filter(|&b| {
                    let ti = tg[b].first();
                    let mut t = dst[ti].shape.clone();
                    if transpose {
                        t.reverse();
                    }
                    t.len() == shape.len()
                        && (0..shape.len()).all(|k| k == axis || t[k] == shape[k])
                        && t[axis] < shape[axis]
                })
                .collect();
            // The best-named subset (of 2 to 4) whose sizes sum to the source's.
            let size = |b: usize| {
                let ti = tg[b].first();
                let t = &dst[ti].shape;
                if transpose {
                    t[t.len() - 1 - axis]
                } else {
                    t[axis]
                }
            };
            let mut best: Option<(f64, Vec<usize>)> = None;
            // Another subset as good as the best, if any.
            let mut tied: Option<Vec<usize>> = None;
            let n = fits.len().min(12);
            for mask in 1u32..(1 << n) {
                let count = mask.count_ones();
                if !(2..=4).contains(&count) {
                    continue;
                }
                let subset: Vec<usize> = (0..n)
                    .filter(|k| mask & (1 << k) != 0)
                    .map(|k| fits[k])
                    .collect();
                if subset.iter().map(|&b| size(b)).sum::<u64>() != shape[axis] {
                    continue;
                }
                let score = subset
                    .iter()
                    .map(|&b| jaccard(&s.concepts, &tg[b].concepts))
                    .sum::<f64>()
                    / subset.len() as f64;
                match &best {
                    Some((s0, _)) if (score - s0).abs() <= TIE => tied = Some(subset),
                    Some((s0, _)) if score < *s0 => {}
                    _ => {
                        best = Some((score, subset));
                        tied = None;
                    }
                }
            }
            if let Some((_, mut parts)) = best {
                parts.sort_by_key(|&b| (part_rank(&tg[b]), tg[b].pattern.clone()));
                // Every member must split the same way.
                let ok = s.members.iter().all(|(values, &si)| {
                    let total: u64 = parts
                        .iter()
                        .map(|&b| {
                            let ti = tg[b].members[values];
                            let t = &dst[ti].shape;
                            if transpose {
                                t[t.len() - 1 - axis]
                            } else {
                                t[axis]
                            }
                        })
                        .sum();
                    total == src[si].shape[axis]
                });
                if ok {
                    return Some((parts, axis, transpose, tied));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_concepts() {
        let c = |n: &str| concepts(n, &[]).0.into_iter().collect::<Vec<_>>();
        assert_eq!(
            c("model.layers.3.self_attn.q_proj.weight"),
            ["attn", "layer", "q"]
        );
        assert_eq!(c("layers.3.attention.wq.weight"), ["attn", "layer", "q"]);
        assert_eq!(
            c("model.layers.0.post_attention_layernorm.weight"),
            ["layer", "mlp", "norm"]
        );
        assert_eq!(c("layers.0.ffn_norm.gamma"), ["layer", "mlp", "norm"]);
        assert_eq!(concepts("ln_f.beta", &[]).1, Some("bias"));
        let hinted = concepts("foo.7.bar.weight", &[("bar".into(), "attention".into())]).0;
        assert!(hinted.contains("attn"));
    }

    #[test]
    fn shapes_relate_directly_or_transposed() {
        assert_eq!(layout(&[2, 3], &[3, 2]), Some(Layout::Transposed));
        assert_eq!(layout(&[3, 3], &[3, 3]), Some(Layout::Either));
        assert_eq!(layout(&[4], &[4]), Some(Layout::Same));
        assert_eq!(layout(&[4], &[5]), None);
    }
}
