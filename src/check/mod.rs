//! The checker: a pure function of (mapping, headers, config) that either
//! builds a [`Plan`] or reports every problem it finds, in one pass.

pub(crate) mod defs;
pub(crate) mod env;
pub mod ir;
pub(crate) mod matching;
pub(crate) mod pipeline;
pub(crate) mod words;

use std::collections::{BTreeMap, HashMap};

use crate::checkpoint::{Config, Tensor};
use crate::collapse;
use crate::diagnostics::{CaptureProblem, Diagnostic, RegexProblem, ShapeText, TargetFit};
use crate::dtype::DType;
use crate::loader::Loaded;
use crate::ops::Builtin;
use crate::plan::{Node, NodeOp, OutputFile, Plan, Target};
use crate::source::{SourceMap, Span, Spanned};
use crate::suggest;
use crate::syntax::{ForRange, JsonExpr, Matcher, OpCall, Reads, Rule, Targets, WriteDef};

use defs::Definitions;
use env::Lets;
use ir::{CheckedDrop, CheckedRule, Group, Lowered};
use matching::{render, show_binding, Binding, CompiledMatcher};
use pipeline::{Instance, Pipelines};

/// Patterns matched together in one regex set.
const SET_CHUNK: usize = 256;

/// The most target tensors one mapping may make (the largest checkpoints of
/// 2026 hold under 100,000); past it, a header is asking for unbounded work.
pub const MAX_TARGETS: u64 = 10_000_000;

/// The most values one op call may make from one value (`unstack`, `split`).
pub const MAX_VALUES_PER_OP: u64 = 1_000_000;

/// What checking produced: the plan, or every problem found. There is no
/// third outcome: a check without a plan always says why.
pub type Checked = Result<Plan, Diagnostics>;

/// The problems of a mapping that made no plan: never empty.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
    /// Number of rules, drops, ties and global casts in the mapping.
    pub rules: usize,
}

impl Diagnostics {
    /// `list`, or [`Diagnostic::NoPlan`] when it is empty (a bug, reported).
    pub fn new(mut list: Vec<Diagnostic>, rules: usize) -> Diagnostics {
        if list.is_empty() {
            list.push(Diagnostic::NoPlan);
        }
        Diagnostics { list, rules }
    }

    /// The diagnostics, ordered by place.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list
    }
}

impl std::ops::Deref for Diagnostics {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        &self.list
    }
}

/// Checks a loaded mapping against a checkpoint's tensors and config.
pub fn check(loaded: &Loaded, tensors: &[Tensor], config: &Config) -> Checked {
    lower(loaded, tensors, config).map(|lowered| lowered.plan)
}

/// [`check`], keeping the checked form of every rule beside the plan.
pub fn lower(loaded: &Loaded, tensors: &[Tensor], config: &Config) -> Result<Lowered, Diagnostics> {
    let mut out: Vec<Diagnostic> = loaded.diagnostics.clone();
    if !out.is_empty() {
        // Syntax errors leave the mapping incomplete; checking it against the
        // checkpoint would only add noise.
        return Err(Diagnostics::new(finish(out), 0));
    }
    let modules = words::resolve(&loaded.modules, &mut out);
    let defs = Definitions::collect(&modules, &mut out);
    let named = env::Named::new(tensors);
    let lets = Lets::evaluate(&defs.lets, config, &named, &mut out);
    let casts = defs.global_casts(&mut out);
    defs.check_ops(&mut out);
    let rules = defs.rules.len() + defs.drops.len() + defs.ties.len() + defs.casts.len();
    let checker = Checker {
        sources: &loaded.sources,
        targets: &loaded.targets,
        tensors,
        casts,
        pipelines: Pipelines {
            lets: &lets,
            config,
            ops: &defs.ops,
            sources: tensors,
            named: &named,
        },
    };
    let plan = checker.plan(&defs, &mut out);
    match plan {
        Some(plan) if out.is_empty() => Ok(plan),
        _ => Err(Diagnostics::new(finish(out), rules)),
    }
}

/// Orders diagnostics by place and drops repeats of one problem at one place
/// (a rule that fails for every layer is reported once).
fn finish(mut out: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let key = |d: &Diagnostic| {
        d.primary_span()
            .map(|s| (0, s.file.0, s.start, s.end))
            .unwrap_or((1, 0, 0, 0))
    };
    out.sort_by_key(key);
    let mut seen = std::collections::HashSet::new();
    out.retain(|d| match d.primary_span() {
        Some(s) => seen.insert(format!("{}@{}:{}-{}", d.code(), s.file.0, s.start, s.end)),
        None => seen.insert(d.message()),
    });
    out
}

/// A wanted output tensor: name, shape, and dtype where it matters.
pub type Wanted = (String, Vec<u64>, Option<DType>);

/// How the plan's targets differ from `wanted` (name, shape, and dtype
/// where given), or None when they are exactly those.
pub fn compare(plan: &Plan, wanted: &[Wanted]) -> Option<TargetFit> {
    let written: HashMap<&str, (&Vec<u64>, DType)> = plan
        .targets
        .iter()
        .map(|t| (t.name.as_str(), (&t.node.shape, t.node.dtype)))
        .collect();
    let names: std::collections::HashSet<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
    let mut fit = TargetFit::default();
    for (name, shape, dtype) in wanted {
        match written.get(name.as_str()) {
            None => fit.missing.push((name.clone(), ShapeText(shape.clone()))),
            Some((s, _)) if *s != shape => fit.misshapen.push((
                name.clone(),
                ShapeText(shape.clone()),
                ShapeText((*s).clone()),
            )),
            Some((_, d)) if dtype.is_some_and(|want| want != *d) => {
                fit.mistyped.push((name.clone(), dtype.unwrap_or(*d), *d));
            }
            Some(_) => {}
        }
    }
    fit.unexpected = plan
        .targets
        .iter()
        .filter(|t| !names.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect();
    let same = fit.missing.is_empty()
        && fit.unexpected.is_empty()
        && fit.misshapen.is_empty()
        && fit.mistyped.is_empty();
    (!same).then_some(fit)
}

/// Removes the value at dotted `path` from `root`, if there is one.
fn remove_path(root: &mut serde_json::Map<String, serde_json::Value>, path: &str) {
    match path.split_once('.') {
        None => {
            root.remove(path);
        }
        Some((head, rest)) => {
            if let Some(serde_json::Value::Object(inner)) = root.get_mut(head) {
                remove_path(inner, rest);
            }
        }
    }
}

/// Who claims a source tensor: a rule or a drop, and which of its patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimant {
    Rule(usize),
    Drop(usize),
}

struct Claim {
    who: Claimant,
    pattern: usize,
    span: Span,
    binding: Binding,
}

struct Checker<'a> {
    sources: &'a SourceMap,
    targets: &'a [crate::loader::TargetFile],
    tensors: &'a [Tensor],
    casts: HashMap<DType, DType>,
    pipelines: Pipelines<'a>,
}

/// One compiled rule or drop.
struct Compiled {
    matchers: Vec<CompiledMatcher>,
}

impl Checker<'_> {
    fn plan(&self, defs: &Definitions, out: &mut Vec<Diagnostic>) -> Option<Lowered> {
        // A rule whose `when` is 0 does not apply: it claims, reads and makes nothing.
        let rules: Vec<Option<Compiled>> = defs
            .rules
            .iter()
            .map(|r| {
                let applies = r.when.as_ref().is_none_or(|e| {
                    let scope = env::Scope {
                        lets: self.pipelines.lets,
                        config: self.pipelines.config,
                        named: self.pipelines.named,
                        params: &[],
                        shape: None,
                    };
                    scope.eval(e, out).is_some_and(|v| v != 0)
                });
                let compiled = self.compile_rule(r, out);
                compiled.filter(|_| applies)
            })
            .collect();
        let drops: Vec<Option<Compiled>> = defs
            .drops
            .iter()
            .map(|d| {
                CompiledMatcher::compile_all(&d.matcher, out).map(|matchers| Compiled { matchers })
            })
            .collect();

        // Who claims each source tensor.
        let mut claims: Vec<Vec<Claim>> = self.tensors.iter().map(|_| Vec::new()).collect();
        let mut entries: Vec<(Claimant, usize, &CompiledMatcher)> = Vec::new();
        for (i, c) in rules.iter().enumerate() {
            // Fallbacks take what is left; `also` and `make` rules claim nothing.
            if defs.rules[i].fallback || !matches!(defs.rules[i].reads, Reads::Claims) {
                continue;
            }
            if let Some(c) = c {
                entries.extend(
                    c.matchers
                        .iter()
                        .enumerate()
                        .map(|(j, m)| (Claimant::Rule(i), j, m)),
                );
            }
        }
        for (i, c) in drops.iter().enumerate() {
            if let Some(c) = c {
                entries.extend(
                    c.matchers
                        .iter()
                        .enumerate()
                        .map(|(j, m)| (Claimant::Drop(i), j, m)),
                );
            }
        }
        // Matched through regex sets of a bounded number of patterns each; a
        // set too large for the regex engine is matched pattern by pattern
        // (each compiled on its own already), so no rule is ever skipped.
        for chunk_start in (0..entries.len()).step_by(SET_CHUNK) {
            let chunk = &entries[chunk_start..(chunk_start + SET_CHUNK).min(entries.len())];
            let set = regex::RegexSetBuilder::new(chunk.iter().map(|(_, _, m)| m.regex_source()))
                .size_limit(matching::REGEX_SIZE_LIMIT * 4)
                .build()
                .ok();
            for (ti, t) in self.tensors.iter().enumerate() {
                let hits: Vec<usize> = match &set {
                    Some(set) => set.matches(&t.name).iter().collect(),
                    None => (0..chunk.len())
                        .filter(|&e| chunk[e].2.regex.is_match(&t.name))
                        .collect(),
                };
                for e in hits {
                    let (who, pattern, m) = chunk[e];
                    if let Some(binding) = m.bind(&t.name) {
                        claims[ti].push(Claim {
                            who,
                            pattern,
                            span: m.span,
                            binding,
                        });
                    }
                }
            }
        }

        // A rule that matched something is not "unmatched", even if an
        // ambiguity gave its tensors to another rule.
        let mut matched_rule = vec![false; defs.rules.len()];
        let mut matched_drop = vec![false; defs.drops.len()];
        for c in claims.iter().flatten() {
            match c.who {
                Claimant::Rule(r) => matched_rule[r] = true,
                Claimant::Drop(d) => matched_drop[d] = true,
            }
        }
        // Ambiguities, then fallbacks for what nobody claimed.
        let mut taken: Vec<Option<Claim>> = Vec::with_capacity(self.tensors.len());
        // A tensor that one rule's source list names twice fills both slots
        // (so the group is complete) and is reported as what it is.
        let mut doubled: Vec<(usize, Claim)> = Vec::new();
        for (ti, mut cs) in claims.into_iter().enumerate() {
            if cs.len() > 1 && cs.iter().all(|c| c.who == cs[0].who) {
                out.push(Diagnostic::DuplicateSource {
                    tensor: self.tensors[ti].name.clone(),
                    first: cs[0].span,
                    second: cs[1].span,
                });
                doubled.extend(cs.drain(1..).map(|c| (ti, c)));
            } else if cs.len() > 1 {
                out.push(Diagnostic::AmbiguousMatch {
                    tensor: self.tensors[ti].name.clone(),
                    first: cs[0].span,
                    second: cs[1].span,
                });
            }
            taken.push(if cs.is_empty() {
                None
            } else {
                Some(cs.swap_remove(0))
            });
        }
        let fallbacks: Vec<(usize, usize, &CompiledMatcher)> = rules
            .iter()
            .enumerate()
            .filter(|(i, _)| defs.rules[*i].fallback)
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .flat_map(|(i, c)| c.matchers.iter().enumerate().map(move |(j, m)| (i, j, m)))
            .collect();
        let mut unmapped = Vec::new();
        for (ti, slot) in taken.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let name = &self.tensors[ti].name;
            let mut found: Vec<Claim> = fallbacks
                .iter()
                .filter_map(|(i, j, m)| {
                    m.bind(name).map(|binding| Claim {
                        who: Claimant::Rule(*i),
                        pattern: *j,
                        span: m.span,
                        binding,
                    })
                })
                .collect();
            if found.len() > 1 {
                out.push(Diagnostic::AmbiguousMatch {
                    tensor: name.clone(),
                    first: found[0].span,
                    second: found[1].span,
                });
            }
            if found.is_empty() {
                unmapped.push(ti);
            } else {
                *slot = Some(found.swap_remove(0));
            }
        }

        // Group each rule's tensors by binding.
        let mut per_rule: Vec<BTreeMap<Binding, Vec<Option<usize>>>> =
            vec![BTreeMap::new(); defs.rules.len()];
        let mut per_drop: Vec<Vec<usize>> = vec![Vec::new(); defs.drops.len()];
        // By value: each binding moves into its group, none is copied.
        for (ti, claim) in taken.into_iter().enumerate() {
            let Some(claim) = claim else { continue };
            match claim.who {
                Claimant::Rule(r) => {
                    let width = rules[r].as_ref().map(|c| c.matchers.len()).unwrap_or(1);
                    let slots = per_rule[r]
                        .entry(claim.binding)
                        .or_insert_with(|| vec![None; width]);
                    slots[claim.pattern] = Some(ti);
                }
                Claimant::Drop(d) => per_drop[d].push(ti),
            }
        }
        for (ti, claim) in doubled {
            if let Claimant::Rule(r) = claim.who {
                let width = rules[r].as_ref().map(|c| c.matchers.len()).unwrap_or(1);
                let slots = per_rule[r]
                    .entry(claim.binding)
                    .or_insert_with(|| vec![None; width]);
                slots[claim.pattern] = Some(ti);
            }
        }

        // `also` and `make like` rules read (the headers of) tensors that
        // other rules claim; `make .. for` rules bind their ranges.
        for (r, rule) in defs.rules.iter().enumerate() {
            let Some(compiled) = &rules[r] else { continue };
            let reads_names = match &rule.reads {
                Reads::Claims => false,
                Reads::Shares => true,
                Reads::Makes(made) => made.like,
            };
            match &rule.reads {
                Reads::Claims => {}
                _ if reads_names => {
                    let width = compiled.matchers.len();
                    for (ti, t) in self.tensors.iter().enumerate() {
                        for (j, m) in compiled.matchers.iter().enumerate() {
                            if let Some(binding) = m.bind(&t.name) {
                                let slots = per_rule[r]
                                    .entry(binding)
                                    .or_insert_with(|| vec![None; width]);
                                slots[j] = Some(ti);
                                matched_rule[r] = true;
                            }
                        }
                    }
                }
                Reads::Shares => {}
                Reads::Makes(made) => {
                    matched_rule[r] = true;
                    for binding in self.ranges(&made.ranges, Binding::new(), out) {
                        per_rule[r].insert(binding, Vec::new());
                    }
                }
            }
            // `make .. like P .. for ..`: each match times the ranges.
            if let Reads::Makes(made) = &rule.reads {
                if made.like && !made.ranges.is_empty() {
                    let matched = std::mem::take(&mut per_rule[r]);
                    for (binding, slots) in matched {
                        for b in self.ranges(&made.ranges, binding, out) {
                            per_rule[r].insert(b, slots.clone());
                        }
                    }
                }
            }
        }

        let mut checked_rules: Vec<CheckedRule> = Vec::new();
        // The plan's targets: what the checked rules made, then the ties' copies.
        let mut targets: Vec<(Target, Span)> = Vec::new();
        for (r, rule) in defs.rules.iter().enumerate() {
            let Some(compiled) = &rules[r] else { continue };
            let groups = std::mem::take(&mut per_rule[r]);
            if groups.is_empty() {
                if !rule.optional && !rule.fallback && !matched_rule[r] {
                    out.push(self.unmatched(rule.span, "rule", &compiled.matchers));
                }
                continue;
            }
            if let Some((checked, made)) = self.run_rule(rule, groups, targets.len(), out) {
                checked_rules.push(checked);
                targets.extend(made);
            }
        }
        let mut dropped = Vec::new();
        let mut checked_drops = Vec::new();
        for (d, drop) in defs.drops.iter().enumerate() {
            let Some(compiled) = &drops[d] else { continue };
            if per_drop[d].is_empty() && !drop.optional && !matched_drop[d] {
                out.push(self.unmatched(drop.span, "drop", &compiled.matchers));
            }
            checked_drops.push(CheckedDrop {
                span: drop.span,
                taken: per_drop[d].len(),
            });
            dropped.extend(per_drop[d].iter().map(|&ti| self.tensors[ti].name.clone()));
        }
        self.ties(defs, &mut targets, out);
        self.duplicates(&targets, out);
        self.writable(&targets, out);
        for group in collapse::collapse(
            &unmapped
                .iter()
                .map(|&ti| self.tensors[ti].name.as_str())
                .collect::<Vec<_>>(),
        ) {
            out.push(Diagnostic::UnmappedTensors {
                pattern: group.pattern,
                count: group.members.len(),
                example: self.tensors[unmapped[group.members[0]]].name.clone(),
            });
        }
        // Sorted by name; the checked rules follow their targets there.
        let mut order: Vec<usize> = (0..targets.len()).collect();
        order.sort_unstable_by(|&a, &b| targets[a].0.name.cmp(&targets[b].0.name).then(a.cmp(&b)));
        let mut position = vec![0; targets.len()];
        for (new, &old) in order.iter().enumerate() {
            position[old] = new;
        }
        for r in &mut checked_rules {
            for t in &mut r.targets {
                *t = position[*t];
            }
        }
        // The same order: a stable sort by name, as `order` is.
        let mut targets: Vec<Target> = targets.into_iter().map(|(t, _)| t).collect();
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        dropped.sort();
        let plan = Plan {
            target_model: defs.target_model.as_ref().map(|t| t.value.clone()),
            sources: self.tensors.to_vec(),
            targets,
            dropped,
            rules: defs.rules.len() + defs.drops.len() + defs.ties.len() + defs.casts.len(),
            files: defs
                .writes
                .iter()
                .filter_map(|w| self.file(w, out))
                .collect(),
        };
        // Checked against the target model once the plan itself is sound.
        if let (Some(target), true) = (defs.target_model, out.is_empty()) {
            self.fits_target(target, &plan, out);
        }
        if let Some(target) = defs.target_file {
            self.fits_target_file(target, &plan, out);
        }
        Some(Lowered {
            rules: checked_rules,
            drops: checked_drops,
            plan,
        })
    }

    /// Compiles a rule's matchers and checks what can be checked without tensors.
    fn compile_rule(&self, rule: &Rule, out: &mut Vec<Diagnostic>) -> Option<Compiled> {
        let matchers = CompiledMatcher::compile_all(&rule.sources, out)?;
        let names: Vec<Vec<String>> = matchers.iter().map(|m| m.capture_names()).collect();
        if let Some(other) = names.iter().find(|n| **n != names[0]) {
            if let Matcher::Patterns(ps) = &rule.sources {
                let span = ps[0].span.to(ps[ps.len() - 1].span);
                out.push(Diagnostic::MismatchedCaptures {
                    span,
                    first: names[0].clone(),
                    other: other.clone(),
                });
                return None;
            }
        }
        match &rule.targets {
            Targets::Patterns(ps) => {
                if matches!(rule.sources, Matcher::Regex(_)) {
                    out.push(Diagnostic::InvalidRegex {
                        span: rule.span,
                        problem: RegexProblem::PatternTarget,
                    });
                    return None;
                }
                let before = out.len();
                for p in ps {
                    matching::check_target_pattern(p, out);
                }
                if out.len() > before {
                    return None;
                }
            }
            Targets::Template(t) => {
                let groups = &names[0];
                for r in matching::template_refs(&t.value) {
                    if !groups.contains(&r) {
                        // A named group is referred to by its name, not its number.
                        let named = r
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| matchers[0].regex.capture_names().nth(i).flatten());
                        let problem = match named {
                            Some(n) => RegexProblem::NamedGroup {
                                group: r,
                                name: n.to_string(),
                            },
                            None => RegexProblem::NoSuchGroup { group: r },
                        };
                        out.push(Diagnostic::InvalidRegex {
                            span: t.span,
                            problem,
                        });
                        return None;
                    }
                }
            }
        }
        Some(Compiled { matchers })
    }

    /// Every binding of a `make` rule's `for` ranges (the one empty
    /// binding without ranges), at most [`MAX_TARGETS`].
    fn ranges(
        &self,
        ranges: &[ForRange],
        base: Binding,
        out: &mut Vec<Diagnostic>,
    ) -> Vec<Binding> {
        let scope = env::Scope {
            lets: self.pipelines.lets,
            config: self.pipelines.config,
            named: self.pipelines.named,
            params: &[],
            shape: None,
        };
        let mut bindings = vec![base];
        for range in ranges {
            let (Some(start), Some(end)) =
                (scope.eval(&range.start, out), scope.eval(&range.end, out))
            else {
                return Vec::new();
            };
            if bindings
                .iter()
                .any(|b| b.contains_key(&range.capture.value))
            {
                out.push(Diagnostic::BadCapture {
                    span: range.capture.span,
                    problem: CaptureProblem::RangeBoundTwice {
                        name: range.capture.value.clone(),
                    },
                });
                return Vec::new();
            }
            let count = end.saturating_sub(start).max(0) as u64;
            let total = count.saturating_mul(bindings.len() as u64);
            if total > MAX_TARGETS {
                out.push(Diagnostic::LimitExceeded {
                    span: range.span,
                    what: crate::diagnostics::Limit::Targets,
                    found: total,
                    limit: MAX_TARGETS,
                });
                return Vec::new();
            }
            bindings = bindings
                .into_iter()
                .flat_map(|b| {
                    (start..end.max(start)).map(move |v| {
                        let mut b = b.clone();
                        b.insert(range.capture.value.clone(), v.to_string());
                        b
                    })
                })
                .collect();
        }
        bindings
    }

    /// Compares the plan's targets with the tensors the `target` model
    /// expects for the output's config: the `config.json` the mapping writes,
    /// else the source's. Dtypes are free: the models convert on load.
    fn fits_target(&self, target: &Spanned<String>, plan: &Plan, out: &mut Vec<Diagnostic>) {
        let Some(kind) = crate::verify::ModelKind::from_name(&target.value) else {
            return; // reported where it is declared
        };
        let config = plan
            .files
            .iter()
            .find(|f| f.name == "config.json")
            .and_then(|f| f.value.as_object())
            .unwrap_or(&self.pipelines.config.root);
        let mismatch = |problem| Diagnostic::TargetMismatch {
            span: Some(target.span),
            model: target.value.clone(),
            file: false,
            fit: Box::new(TargetFit {
                problem,
                ..TargetFit::default()
            }),
        };
        if self.pipelines.config.file.is_none() {
            return; // no config: nothing to compute the model from
        }
        let expected = match crate::verify::expected_for(kind, config) {
            Ok(e) => e,
            Err(e) => {
                out.push(mismatch(Some(e.to_string())));
                return;
            }
        };
        let wanted: Vec<Wanted> = expected
            .into_iter()
            .map(|e| (e.name, e.shape, None))
            .collect();
        if let Some(fit) = compare(plan, &wanted) {
            out.push(Diagnostic::TargetMismatch {
                span: Some(target.span),
                model: target.value.clone(),
                file: false,
                fit: Box::new(fit),
            });
        }
    }

    /// Compares the plan's targets with the layout `target "PATH"` names
    /// (read by the loader): names, shapes, and dtypes for a checkpoint.
    fn fits_target_file(&self, target: &Spanned<String>, plan: &Plan, out: &mut Vec<Diagnostic>) {
        let Some(read) = self.targets.iter().find(|t| t.span == target.span) else {
            return; // not read: a mapping loaded without its files
        };
        match &read.wanted {
            Err(why) => out.push(Diagnostic::UnreadableTarget {
                span: target.span,
                path: target.value.clone(),
                why: why.clone(),
            }),
            Ok(wanted) if out.is_empty() => {
                if let Some(fit) = compare(plan, wanted) {
                    out.push(Diagnostic::TargetMismatch {
                        span: Some(target.span),
                        model: target.value.clone(),
                        file: true,
                        fit: Box::new(fit),
                    });
                }
            }
            Ok(_) => {} // the plan is not sound yet: comparing it adds noise
        }
    }

    /// The JSON file a `write` makes, its values read from the config.
    fn file(&self, w: &WriteDef, out: &mut Vec<Diagnostic>) -> Option<OutputFile> {
        let config = self.pipelines.config;
        let mut root = serde_json::Map::new();
        if w.from_config {
            root = config.root.clone();
            for key in &config.set {
                remove_path(&mut root, key);
            }
        }
        let before = out.len();
        for entry in &w.entries {
            let Some(value) = self.json(&entry.value, out) else {
                continue;
            };
            let path: Vec<&str> = entry.key.value.split('.').collect();
            let mut node = &mut root;
            for part in &path[..path.len() - 1] {
                let next = node
                    .entry(part.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if !next.is_object() {
                    *next = serde_json::Value::Object(Default::default());
                }
                node = next.as_object_mut().expect("just made an object");
            }
            node.insert(path[path.len() - 1].to_string(), value);
        }
        (out.len() == before).then(|| OutputFile {
            name: w.file.value.clone(),
            value: serde_json::Value::Object(root),
        })
    }

    /// A value of a `write`: a lone `config.key` (or `config.key ?? v`)
    /// copies what the config holds there, any other expression is an integer.
    fn json(&self, v: &JsonExpr, out: &mut Vec<Diagnostic>) -> Option<serde_json::Value> {
        use crate::checkpoint::config::Lookup;
        use crate::syntax::ExprKind;
        let scope = env::Scope {
            lets: self.pipelines.lets,
            config: self.pipelines.config,
            named: self.pipelines.named,
            params: &[],
            shape: None,
        };
        match v {
            JsonExpr::Literal(l) => Some(l.value.clone()),
            JsonExpr::List(items) => {
                let values: Vec<Option<serde_json::Value>> =
                    items.value.iter().map(|i| self.json(i, out)).collect();
                values
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(serde_json::Value::Array)
            }
            JsonExpr::Default { key, or } => match &key.kind {
                ExprKind::Config(path) => match scope.config.lookup(path) {
                    Lookup::Found(v) => Some(v.clone()),
                    _ => self.json(or, out),
                },
                _ => self.json(or, out),
            },
            JsonExpr::Expr(e) => {
                let copied = |e: &crate::syntax::Expr| match &e.kind {
                    ExprKind::Config(path) => match scope.config.lookup(path) {
                        Lookup::Found(v) => Some(Some(v.clone())),
                        _ => Some(None),
                    },
                    _ => None,
                };
                match &e.kind {
                    ExprKind::Config(_) => match copied(e) {
                        Some(Some(v)) => Some(v),
                        _ => scope.eval(e, out).map(serde_json::Value::from),
                    },
                    ExprKind::Coalesce(lhs, rhs) if matches!(lhs.kind, ExprKind::Config(_)) => {
                        match copied(lhs) {
                            Some(Some(v)) => Some(v),
                            _ => self.json(&JsonExpr::Expr((**rhs).clone()), out),
                        }
                    }
                    _ => scope.eval(e, out).map(serde_json::Value::from),
                }
            }
        }
    }

    /// The tensor a `make` rule's fill makes for one binding.
    fn made(
        &self,
        fill: &OpCall,
        like: Option<Node>,
        binding: &Binding,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Node> {
        let _ = binding;
        let op = match Builtin::from_name(&fill.name.value) {
            Some(op) if matches!(op.spec().apply, crate::ops::Apply::Makes(_)) => op,
            Some(_) => {
                out.push(Diagnostic::MisplacedFill {
                    span: fill.span,
                    op: fill.name.value.clone(),
                    in_pipeline: false,
                });
                return None;
            }
            None => {
                out.push(Diagnostic::UnknownOp {
                    span: fill.name.span,
                    name: fill.name.value.clone(),
                    suggestion: crate::suggest::nearest(
                        &fill.name.value,
                        ["zeros", "ones", "full"],
                    )
                    .map(String::from),
                });
                return None;
            }
        };
        let crate::ops::Apply::Makes(make) = op.spec().apply else {
            return None;
        };
        let shapes: Vec<Vec<u64>> = like.iter().map(|l| l.shape.clone()).collect();
        let scope = env::Scope {
            lets: self.pipelines.lets,
            config: self.pipelines.config,
            named: self.pipelines.named,
            params: &[],
            shape: like.is_some().then_some(shapes.as_slice()),
        };
        let cx = self.pipelines.ctx(op, fill, &scope);
        make(&cx, like.as_ref(), out)
    }

    fn source_node(&self, ti: usize) -> Node {
        let t = &self.tensors[ti];
        let node = Node {
            op: NodeOp::Source(ti),
            shape: t.shape.clone(),
            dtype: t.dtype,
        };
        match self.casts.get(&t.dtype) {
            Some(to) => crate::ops::cast(node, *to),
            None => node,
        }
    }

    fn rule_location(&self, span: Span) -> String {
        format!(
            "{}:{}",
            self.sources.get(span.file).name,
            self.sources.line_of(span)
        )
    }

    /// Runs one rule over its bindings: its checked form and the targets it
    /// makes, which the plan numbers from `first_target`; `None` when it
    /// failed (and said why).
    fn run_rule(
        &self,
        rule: &Rule,
        groups: BTreeMap<Binding, Vec<Option<usize>>>,
        first_target: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Option<(CheckedRule, Vec<(Target, Span)>)> {
        let mut instances = Vec::new();
        let mut stored: Option<ir::Values> = None;
        let mut uniform_dtypes = true;
        for (binding, slots) in groups {
            if let Some(missing) = slots.iter().position(Option::is_none) {
                let Matcher::Patterns(ps) = &rule.sources else {
                    continue;
                };
                let present = slots
                    .iter()
                    .flatten()
                    .map(|&ti| self.tensors[ti].name.clone())
                    .collect();
                out.push(Diagnostic::IncompleteSourceGroup {
                    span: ps[missing].span,
                    binding: show_binding(&binding),
                    missing: render(&ps[missing], &binding).unwrap_or_default(),
                    present,
                });
                continue;
            }
            let lanes = match &rule.reads {
                Reads::Makes(made) => {
                    let like = slots
                        .first()
                        .copied()
                        .flatten()
                        .map(|ti| self.source_node(ti));
                    match self.made(&made.fill, like, &binding, out) {
                        Some(node) => vec![node],
                        None => continue,
                    }
                }
                _ => slots
                    .iter()
                    .flatten()
                    .map(|&ti| self.source_node(ti))
                    .collect(),
            };
            match &stored {
                None => {
                    stored = Some(
                        slots
                            .iter()
                            .flatten()
                            .map(|&ti| (self.tensors[ti].shape.clone(), self.tensors[ti].dtype))
                            .collect(),
                    )
                }
                Some(first) => {
                    let dtypes = slots.iter().flatten().map(|&ti| self.tensors[ti].dtype);
                    uniform_dtypes &= dtypes.eq(first.iter().map(|v| v.1));
                }
            }
            instances.push(Instance::new(binding, lanes));
        }
        let mut steps = Vec::new();
        let instances = self.pipelines.run(
            &rule.pipeline,
            instances,
            &[],
            &mut Vec::new(),
            &mut steps,
            out,
        )?;
        let location = self.rule_location(rule.span);
        let n_targets = match &rule.targets {
            Targets::Patterns(ps) => ps.len(),
            Targets::Template(_) => 1,
        };
        let mut groups = Vec::new();
        let mut made = Vec::new();
        let mut sources: Vec<usize> = Vec::new();
        for inst in instances {
            if inst.lanes.len() != n_targets {
                let span = rule.pipeline.last().map(|c| c.span()).unwrap_or(rule.span);
                out.push(Diagnostic::ArityMismatch {
                    span,
                    produced: inst.lanes.len(),
                    targets: n_targets,
                });
                return None;
            }
            let (from, first) = (sources.len(), first_target + made.len());
            for lane in &inst.lanes {
                lane.visit_sources(&mut |ti| {
                    if !sources[from..].contains(&ti) {
                        sources.push(ti);
                    }
                });
            }
            for (j, node) in inst.lanes.into_iter().enumerate() {
                let (name, span) = match &rule.targets {
                    Targets::Patterns(ps) => match render(&ps[j], &inst.binding) {
                        Ok(n) => (n, ps[j].span),
                        Err(d) => {
                            out.push(d);
                            return None;
                        }
                    },
                    Targets::Template(t) => {
                        match matching::expand_template(&t.value, &inst.binding) {
                            Ok(n) => (n, t.span),
                            Err(problem) => {
                                out.push(Diagnostic::InvalidRegex {
                                    span: t.span,
                                    problem,
                                });
                                return None;
                            }
                        }
                    }
                };
                let target = Target {
                    name,
                    node,
                    rule: location.clone(),
                };
                made.push((target, span));
            }
            groups.push(Group {
                sources: from..sources.len(),
                targets: first - first_target..made.len(),
            });
        }
        let checked = CheckedRule {
            span: rule.span,
            groups,
            sources,
            targets: (first_target..first_target + made.len()).collect(),
            stored: stored.unwrap_or_default(),
            uniform_dtypes,
            steps,
        };
        Some((checked, made))
    }

    fn unmatched(
        &self,
        span: Span,
        what: &'static str,
        matchers: &[CompiledMatcher],
    ) -> Diagnostic {
        let names: Vec<&str> = self.tensors.iter().map(|t| t.name.as_str()).collect();
        let groups = collapse::collapse(&names);
        let display = matchers
            .iter()
            .map(|m| m.display.clone())
            .collect::<Vec<_>>()
            .join("\", \"");
        let candidates: Vec<&str> = groups.iter().map(|g| g.capture_pattern.as_str()).collect();
        let first = matchers.first().map(|m| m.display.as_str()).unwrap_or("");
        let suggestions = suggest::nearest_n(first, candidates, 3, 0.5)
            .into_iter()
            .map(String::from)
            .collect();
        Diagnostic::UnmatchedRule {
            span,
            what,
            pattern: display,
            suggestions,
        }
    }

    fn ties(
        &self,
        defs: &Definitions,
        targets: &mut Vec<(Target, Span)>,
        out: &mut Vec<Diagnostic>,
    ) {
        for tie in &defs.ties {
            matching::check_target_pattern(&tie.copy, out);
            let mut original = tie.original.clone();
            // The original is matched like a source pattern, against target
            // names; `{i + 1}` there matches i + 1, so i is the match minus 1.
            let mut shifts = Vec::new();
            for part in &mut original.parts {
                if let crate::syntax::PatternPart::Capture(c) = part {
                    if c.shift != 0 {
                        shifts.push((c.name.clone(), c.shift));
                        c.shift = 0;
                    }
                }
            }
            let Some(m) = CompiledMatcher::pattern(&original, out) else {
                continue;
            };
            let location = self.rule_location(tie.span);
            let matched: Vec<(&Target, Binding)> = targets
                .iter()
                .filter_map(|(t, _)| m.bind(&t.name).map(|b| (t, b)))
                .filter_map(|(t, mut b)| {
                    for (name, shift) in &shifts {
                        let v = b.get(name)?.parse::<i64>().ok()?.checked_sub(*shift)?;
                        if v < 0 {
                            return None;
                        }
                        b.insert(name.clone(), v.to_string());
                    }
                    Some((t, b))
                })
                .collect();
            if matched.is_empty() {
                if tie.optional {
                    continue;
                }
                out.push(Diagnostic::TieOriginalMissing {
                    span: tie.original.span,
                    name: tie.original.display(),
                });
                continue;
            }
            let produced: std::collections::HashSet<&str> =
                targets.iter().map(|(t, _)| t.name.as_str()).collect();
            let copies: Vec<(Target, Span)> = matched
                .into_iter()
                .filter_map(|(t, b)| match render(&tie.copy, &b) {
                    Ok(name) if tie.optional && produced.contains(name.as_str()) => None,
                    Ok(name) => Some((
                        Target {
                            name,
                            node: t.node.clone(),
                            rule: location.clone(),
                        },
                        tie.copy.span,
                    )),
                    Err(d) => {
                        out.push(d);
                        None
                    }
                })
                .collect();
            targets.extend(copies);
        }
    }

    /// Every target name must be one a safetensors file can hold, and all of
    /// them together must fit in a header that readers accept.
    fn writable(&self, targets: &[(Target, Span)], out: &mut Vec<Diagnostic>) {
        use crate::diagnostics::{Limit, NameProblem};
        if targets.len() as u64 > MAX_TARGETS {
            out.push(Diagnostic::LimitExceeded {
                span: targets[0].1,
                what: Limit::Targets,
                found: targets.len() as u64,
                limit: MAX_TARGETS,
            });
            return;
        }
        let mut header: u64 = 64;
        let mut first_long: Option<Span> = None;
        for (t, span) in targets {
            let problem = match t.name.as_str() {
                "__metadata__" => Some(NameProblem::Reserved),
                "" => Some(NameProblem::Empty),
                _ => None,
            };
            if let Some(problem) = problem {
                out.push(Diagnostic::InvalidTargetName {
                    span: *span,
                    name: t.name.clone(),
                    problem,
                });
            }
            // `"NAME":{"dtype":"BF16","shape":[..],"data_offsets":[A,B]},`,
            // with every number at its widest.
            let entry = crate::checkpoint::layout::json_string_len(&t.name)
                + 64
                + 21 * t.node.shape.len() as u64;
            header += entry;
            if entry > 1 << 20 && first_long.is_none() {
                first_long = Some(*span);
            }
        }
        let limit = crate::checkpoint::header::MAX_HEADER_LEN;
        if header > limit {
            out.push(Diagnostic::HeaderTooLarge {
                span: first_long.unwrap_or(targets[0].1),
                bytes: header,
                limit,
            });
        }
    }

    fn duplicates(&self, targets: &[(Target, Span)], out: &mut Vec<Diagnostic>) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (t, span) in targets {
            if let Some(first) = seen.insert(&t.name, *span) {
                out.push(Diagnostic::DuplicateTarget {
                    target: t.name.clone(),
                    first,
                    second: *span,
                });
            }
        }
    }
}
