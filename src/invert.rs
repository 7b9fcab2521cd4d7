//! `wmap invert`: the reverse of a mapping, derived from its plan checked
//! against a source checkpoint.
//!
//! Each rule is turned around: its target patterns become source patterns
//! (a capture written `{i + 1}` matches as `{i}`, and the old source writes
//! `{i - 1}`), its pipeline runs backwards with every op replaced by its
//! inverse, and the op arguments that the inverse needs but the mapping does
//! not spell out (the shape a `reshape` came from, the sizes a `concat`
//! joined, the dtype a cast widened) are read from what the checker saw.
//! A user `op` is replaced by another defined op that undoes it exactly
//! (found by running both on the shape it was applied to), or else by the
//! inverses of its body. Regex rules are reversed through their concrete
//! matches, folded back into patterns where the numbers in the names allow.
//! Statements whose effect cannot be undone exactly (a `drop` that took
//! something, `slice`, a narrowing cast, `add`, `mul` by a number that is
//! not a power of two) are reported, one diagnostic each.

use std::collections::{BTreeMap, HashMap};

use crate::check::defs::Definitions;
use crate::check::env::Lets;
use crate::check::ir::{Callee, Lowered, Step, DISTINCT_INPUTS};
use crate::check::matching::Binding;
use crate::check::pipeline::{Instance, Pipelines};
use crate::checkpoint::{Config, Tensor};
use crate::diagnostics::{Diagnostic, Irreversible};
use crate::dtype::DType;
use crate::loader::Loaded;
use crate::ops::{made, made_call, Builtin, Seen};
use crate::plan::{Node, NodeOp, Plan};
use crate::source::{FileId, Span, Spanned};
use crate::syntax::print::Document;
use crate::syntax::{
    Arg, ArgValue, Arm, Branches, Capture, CaptureKind, Drop, Expr, ExprKind, Item, Matcher,
    OpCall, OpDef, Pattern, PatternPart, Reads, Rule, Stage, Targets,
};
use crate::syntax::{ConfigEntry, WriteDef};

/// The result of inverting: the reverse mapping's text, or why not.
#[derive(Debug)]
pub struct Inverted {
    /// The reverse mapping, formatted; `None` when there are diagnostics.
    pub text: Option<String>,
    /// Why the forward mapping does not check, or what cannot be undone; empty when `text` is set.
    pub diagnostics: Vec<Diagnostic>,
    /// The forward plan (present whenever the forward mapping checked).
    pub plan: Option<Plan>,
}

/// Derives the reverse of `loaded` from its checked form against `tensors`.
/// `title` lines open the output as comments.
pub fn invert(loaded: &Loaded, tensors: &[Tensor], config: &Config, title: &[String]) -> Inverted {
    let lowered = match crate::check::lower(loaded, tensors, config) {
        Ok(lowered) => lowered,
        Err(problems) => {
            return Inverted {
                text: None,
                diagnostics: problems.into_vec(),
                plan: None,
            }
        }
    };
    // The mapping checked, so collecting its definitions again finds no
    // problem; the checked form refers to them by place.
    let mut ignored = Vec::new();
    let modules = crate::check::words::resolve(&loaded.modules, &mut ignored);
    let defs = Definitions::collect(&modules, &mut ignored);
    let named = crate::check::env::Named::new(tensors);
    let lets = Lets::evaluate(&defs.lets, config, &named, &mut ignored);
    let casts = defs.global_casts(&mut ignored);
    let mut inv = Inverter {
        loaded,
        lowered: &lowered,
        defs: &defs,
        lets: &lets,
        named: &named,
        config,
        casts,
        out: Vec::new(),
    };
    let doc = inv.mapping(tensors, title);
    let diagnostics = std::mem::take(&mut inv.out);
    let text = diagnostics.is_empty().then(|| doc.text());
    Inverted {
        text,
        diagnostics,
        plan: Some(lowered.plan),
    }
}

/// What checking a reverse mapping against the forward plan found.
#[derive(Debug)]
pub enum SelfCheck {
    /// It checks cleanly and gives back exactly the forward plan's sources.
    Clean,
    /// It does not check against the tensors the forward mapping writes (a
    /// bug in `invert`): its problems, with the loaded text to show them in.
    DoesNotCheck {
        /// The reverse mapping as loaded, for showing the problems in.
        loaded: Box<Loaded>,
        /// What checking it found.
        problems: crate::check::Diagnostics,
    },
    /// It checks, but does not give back the source tensors: `missing` are
    /// sources it does not write, `extra` what it writes that is no source.
    Differs(crate::plan::Fit),
}

/// Checks the reverse `text` (shown in reports as `name`) against what the
/// forward plan writes: it must check cleanly and write back exactly the
/// names, shapes and dtypes the forward plan read.
pub fn self_check(text: &str, name: &str, forward: &Plan, config: &Config) -> SelfCheck {
    let reversed = crate::loader::load_text(name, text);
    match crate::check::check(&reversed, &forward.written(), config) {
        Err(problems) => SelfCheck::DoesNotCheck {
            loaded: Box::new(reversed),
            problems,
        },
        Ok(back) => {
            let fit = back.fit(&forward.sources);
            if fit.exact() {
                SelfCheck::Clean
            } else {
                SelfCheck::Differs(fit)
            }
        }
    }
}

struct Inverter<'a> {
    loaded: &'a Loaded,
    lowered: &'a Lowered,
    defs: &'a Definitions<'a>,
    lets: &'a Lets,
    named: &'a crate::check::env::Named<'a>,
    config: &'a Config,
    casts: HashMap<DType, DType>,
    out: Vec<Diagnostic>,
}

fn refuse(span: Span, why: Irreversible) -> Diagnostic {
    Diagnostic::NotInvertible { span, why }
}

fn is_std(loaded: &Loaded, file: FileId) -> bool {
    let f = loaded.sources.get(file);
    f.path.is_none() && f.name.starts_with("std/")
}

fn nowhere() -> Span {
    Span::new(FileId(0), 0..0)
}

/// A pattern with no place in any file.
fn made_pattern(parts: Vec<PatternPart>) -> Pattern {
    Pattern {
        span: nowhere(),
        parts,
    }
}

/// The pattern that matches exactly `name`.
fn exact(name: &str) -> Pattern {
    made_pattern(vec![PatternPart::Text(name.to_string())])
}

fn made_rule(
    rule: &Rule,
    sources: Vec<Pattern>,
    pipeline: Vec<Stage>,
    targets: Vec<Pattern>,
) -> Item {
    Item::Rule(Rule {
        span: nowhere(),
        optional: rule.optional,
        fallback: rule.fallback,
        reads: Reads::Claims,
        sources: Matcher::Patterns(sources),
        pipeline,
        targets: Targets::Patterns(targets),
        when: None,
    })
}

fn made_drop(pattern: Pattern) -> Item {
    Item::Drop(Drop {
        span: nowhere(),
        optional: false,
        matcher: Matcher::Patterns(vec![pattern]),
    })
}

impl Inverter<'_> {
    fn location(&self, span: Span) -> String {
        format!(
            "{}:{}",
            self.loaded.sources.get(span.file).name,
            self.loaded.sources.line_of(span)
        )
    }

    fn mapping(&mut self, tensors: &[Tensor], title: &[String]) -> Document {
        let mut doc = Document::new();
        for line in title {
            doc.comment(line);
        }
        doc.item(Item::Version(Spanned::new(1, nowhere())));
        // Stdlib modules the mapping's own files use, then its lets and ops.
        let mut uses: Vec<String> = Vec::new();
        let mut definitions = Vec::new();
        for (file, module) in &self.loaded.modules {
            if is_std(self.loaded, *file) {
                continue;
            }
            for item in &module.items {
                match item {
                    Item::Use(u) if u.value.starts_with("std/") && !uses.contains(&u.value) => {
                        uses.push(u.value.clone());
                    }
                    // A size read from a forward source tensor is that
                    // number in the reverse, whose source has other names.
                    Item::Let(l) if l.value.names_a_tensor() => {
                        let mut pinned = l.clone();
                        if let Some(Some(v)) = self.lets.get(&l.name.value) {
                            pinned.value = crate::syntax::Expr {
                                span: nowhere(),
                                kind: crate::syntax::ExprKind::Int(Some(*v)),
                            };
                        }
                        definitions.push(Item::Let(pinned));
                    }
                    Item::Let(_) | Item::Op(_) => definitions.push(item.clone()),
                    _ => {}
                }
            }
        }
        if !uses.is_empty() {
            for u in uses {
                doc.item(Item::Use(Spanned::new(u, nowhere())));
            }
            doc.blank();
        }
        if !definitions.is_empty() {
            for d in definitions {
                doc.item(d);
            }
            doc.blank();
        }
        self.global_casts(tensors);
        for rule in self.defs.rules.clone() {
            self.rule(rule, &mut doc);
        }
        for drop in &self.defs.drops {
            let taken = self
                .lowered
                .drops
                .iter()
                .find(|d| d.span == drop.span)
                .map_or(0, |d| d.taken);
            if taken > 0 {
                self.out
                    .push(refuse(drop.span, Irreversible::Drop { taken }));
            }
        }
        let mut ties = Document::new();
        for tie in &self.defs.ties {
            let location = self.location(tie.span);
            let head = format!(
                "{location}: a copy of {}",
                crate::syntax::print::pattern(&tie.original)
            );
            if tie.optional {
                // Some copies may have been left to rules: drop exactly
                // the ones this tie made (none, often).
                let made: Vec<&str> = self
                    .lowered
                    .plan
                    .targets
                    .iter()
                    .filter(|t| t.rule == location)
                    .map(|t| t.name.as_str())
                    .collect();
                if !made.is_empty() {
                    ties.comment(&head);
                    for name in made {
                        ties.item(made_drop(exact(name)));
                    }
                }
                continue;
            }
            let kinds: HashMap<String, CaptureKind> = tie
                .original
                .captures()
                .map(|c| (c.name.clone(), c.kind.clone().unwrap_or(CaptureKind::Int)))
                .collect();
            ties.comment(&head);
            ties.item(made_drop(source_pattern(&tie.copy, &kinds)));
        }
        if !ties.is_empty() {
            doc.blank();
            doc.comment("Tied copies: the original is mapped back above.");
            doc.extend(ties);
        }
        if !self.defs.writes.is_empty() {
            self.source_config(&mut doc);
        }
        doc
    }

    /// The forward mapping wrote the output's config: the reverse writes
    /// back the source's, key for key, as literals.
    fn source_config(&self, doc: &mut Document) {
        let name = self
            .config
            .file
            .as_deref()
            .map(|f| {
                std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let name = if name.ends_with(".json") {
            name
        } else {
            "config.json".into()
        };
        doc.blank();
        let list = self
            .config
            .file
            .as_ref()
            .and_then(|_| ConfigEntry::literals(&self.config.root));
        let Some(list) = list else {
            doc.comment("The forward mapping writes the output's config; this reverse cannot say the source's: copy it.");
            return;
        };
        doc.comment("The forward mapping wrote the output's config: this is the source's.");
        doc.item(Item::Write(WriteDef {
            span: nowhere(),
            file: Spanned::new(name, nowhere()),
            from_config: false,
            entries: list,
        }));
    }

    /// A global cast is undone per rule (see [`Self::rule`]); here only
    /// its precondition: it must have widened exactly.
    fn global_casts(&mut self, tensors: &[Tensor]) {
        for cast in self.defs.casts.clone() {
            let narrowed = tensors.iter().find(|t| {
                let applies = cast.from.value == "float" && t.dtype.is_float()
                    || cast.from.value == t.dtype.name();
                applies
                    && self
                        .casts
                        .get(&t.dtype)
                        .is_some_and(|to| !t.dtype.converts_losslessly_to(*to))
            });
            if let Some(t) = narrowed {
                self.out.push(refuse(
                    cast.span,
                    Irreversible::NarrowingGlobalCast {
                        tensor: t.name.clone(),
                        from: t.dtype,
                        to: self.casts[&t.dtype],
                    },
                ));
            }
        }
    }

    /// The reverse of one rule: one or more statements.
    fn rule(&mut self, rule: &Rule, doc: &mut Document) {
        if !matches!(rule.reads, Reads::Claims) {
            self.dropped_again(rule, doc);
            return;
        }
        let lowered = self.lowered;
        let Some(checked) = lowered.rule(rule.span) else {
            doc.comment(&format!(
                "{}: matched nothing in the source, so nothing to reverse",
                self.location(rule.span)
            ));
            return;
        };
        let Some(mut ops) = self.calls(&rule.pipeline, &checked.steps) else {
            return;
        };
        // Undo the global cast this rule's inputs went through.
        let restore: Vec<Option<DType>> = checked
            .stored
            .iter()
            .map(|(_, d)| self.casts.get(d).filter(|to| *to != d).map(|_| *d))
            .collect();
        if let Some(&Some(first)) = restore.iter().find(|r| r.is_some()) {
            if !checked.uniform_dtypes || restore.iter().any(|r| *r != Some(first)) {
                self.out
                    .push(refuse(rule.span, Irreversible::PartialGlobalCast));
                return;
            }
            ops.push(Stage::Call(made_call(
                Builtin::Cast.name(),
                vec![made::positional(made::name(first.name()))],
            )));
        }
        match (&rule.sources, &rule.targets) {
            (Matcher::Patterns(sources), Targets::Patterns(targets)) => {
                let mut kinds: HashMap<String, CaptureKind> = HashMap::new();
                for c in sources.iter().flat_map(|p| p.captures()) {
                    kinds.insert(c.name.clone(), c.kind.clone().unwrap_or(CaptureKind::Int));
                }
                for call in Stage::calls(&rule.pipeline) {
                    if Builtin::from_name(&call.name.value) == Some(Builtin::Unstack) {
                        if let Some(name) = call.args.first().and_then(arg_name) {
                            kinds.insert(name, CaptureKind::Int);
                        }
                    }
                }
                let mut shifts: HashMap<String, i64> = HashMap::new();
                for c in targets.iter().flat_map(|p| p.captures()) {
                    if let Some(prev) = shifts.insert(c.name.clone(), c.shift) {
                        if prev != c.shift {
                            self.out.push(refuse(
                                c.span,
                                Irreversible::TwoShifts {
                                    capture: c.name.clone(),
                                },
                            ));
                            return;
                        }
                    }
                }
                let new_sources = targets.iter().map(|p| source_pattern(p, &kinds)).collect();
                let translations: HashMap<String, (Vec<String>, Vec<String>)> = targets
                    .iter()
                    .flat_map(|p| p.captures())
                    .filter_map(|c| match &c.kind {
                        Some(CaptureKind::Translate { from, to }) => {
                            Some((c.name.clone(), (from.clone(), to.clone())))
                        }
                        _ => None,
                    })
                    .collect();
                let new_targets = sources
                    .iter()
                    .map(|p| target_pattern(p, &shifts, &translations))
                    .collect();
                doc.item(made_rule(rule, new_sources, ops, new_targets));
            }
            _ => {
                // A regex rule: through its concrete matches.
                let plan = &self.lowered.plan;
                let pairs: Vec<(String, String)> = checked
                    .groups
                    .iter()
                    .filter_map(|g| {
                        let target = &plan.targets[*checked.targets_of(g).first()?];
                        let source = &plan.sources[*checked.sources_of(g).first()?];
                        Some((target.name.clone(), source.name.clone()))
                    })
                    .collect();
                let regex = match &rule.sources {
                    Matcher::Regex(r) => crate::syntax::format::quote(&r.value),
                    Matcher::Patterns(_) => String::new(),
                };
                doc.comment(&format!(
                    "{}: the reverse of `regex {regex}`",
                    self.location(rule.span)
                ));
                for (from, to) in fold(&pairs) {
                    doc.item(made_rule(rule, vec![from], ops.clone(), vec![to]));
                }
            }
        }
    }

    /// The reverse of a `make` rule or an `also` rule: its targets hold
    /// nothing the reverse needs (made values, or a second reading of a
    /// tensor another rule maps back), so it drops exactly them.
    fn dropped_again(&mut self, rule: &Rule, doc: &mut Document) {
        let Targets::Patterns(targets) = &rule.targets else {
            return;
        };
        let mut kinds: HashMap<String, CaptureKind> = HashMap::new();
        if let Matcher::Patterns(sources) = &rule.sources {
            for c in sources.iter().flat_map(|p| p.captures()) {
                kinds.insert(c.name.clone(), c.kind.clone().unwrap_or(CaptureKind::Int));
            }
        }
        let why = match rule.reads {
            Reads::Makes(_) => "made from no source",
            _ => "a second reading of a source mapped back by another rule",
        };
        doc.comment(&format!("{}: {why}", self.location(rule.span)));
        for t in targets {
            doc.item(made_drop(source_pattern(t, &kinds)));
        }
    }

    /// The inverses of `stages`, last first; `steps` is what the checker
    /// saw each do.
    fn calls(&mut self, stages: &[Stage], steps: &[Step]) -> Option<Vec<Stage>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (k, stage) in stages.iter().enumerate().rev() {
            let inverse = match stage {
                Stage::Call(call) => self.call(call, steps.get(k)),
                Stage::Branches(b) => self.branches(b, steps.get(k)).map(|s| vec![s]),
            };
            let inverse = match inverse {
                Some(stages) if Stage::name_a_tensor(&stages) => {
                    self.out
                        .push(refuse(stage.span(), Irreversible::NamesASourceTensor));
                    None
                }
                other => other,
            };
            match inverse {
                Some(stages) => out.extend(stages),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Branches undo arm by arm: each arm that left one value is undone by
    /// its inverse, in the same place; `_` stays `_`.
    fn branches(&mut self, branches: &Branches, step: Option<&Step>) -> Option<Stage> {
        let Some(step) = step.filter(|s| s.ran) else {
            self.out.push(refuse(branches.span, Irreversible::NeverRan));
            return None;
        };
        let mut arms = Vec::new();
        let mut ok = true;
        for (arm, steps) in branches.arms.iter().zip(&step.arms) {
            if arm.stages.is_empty() {
                arms.push(Arm {
                    span: nowhere(),
                    stages: Vec::new(),
                });
                continue;
            }
            let values = steps.last().map_or(1, |s| s.outputs.len());
            if values != 1 {
                self.out
                    .push(refuse(arm.span, Irreversible::ArmOfSeveral { values }));
                ok = false;
                continue;
            }
            match self.calls(&arm.stages, steps) {
                Some(stages) => arms.push(Arm {
                    span: nowhere(),
                    stages,
                }),
                None => ok = false,
            }
        }
        ok.then_some(Stage::Branches(Branches {
            span: nowhere(),
            arms,
        }))
    }

    fn call(&mut self, call: &OpCall, step: Option<&Step>) -> Option<Vec<Stage>> {
        let Some(step) = step.filter(|s| s.ran) else {
            self.out.push(refuse(call.span, Irreversible::NeverRan));
            return None;
        };
        match &step.callee {
            Callee::User(name) => {
                let def = self.defs.ops.get(name.as_str()).copied()?;
                if let Some(inverse) = self.inverse_op(def, step) {
                    let body = self.defs.ops.get(inverse.as_str()).map(|g| &g.body[..]);
                    if body.is_some_and(Stage::name_a_tensor) {
                        self.out
                            .push(refuse(call.span, Irreversible::NamesASourceTensor));
                        return None;
                    }
                    return Some(vec![Stage::Call(made_call(&inverse, call.args.clone()))]);
                }
                self.calls(&def.body, &step.body)
            }
            Callee::Branches => unreachable!("branches are no call"),
            Callee::Builtin(op) => match (op.spec().inverse)(&Seen { call, step }) {
                Ok(calls) => Some(calls.into_iter().map(Stage::Call).collect()),
                Err(why) => {
                    self.out.push(refuse(call.span, why));
                    None
                }
            },
        }
    }

    /// Another defined op that undoes `def` exactly on the value it was
    /// applied to, called with the same arguments.
    fn inverse_op(&self, def: &OpDef, step: &Step) -> Option<String> {
        // Each different shape it met must be undone, each at most 16M
        // elements (the test below follows every element).
        if step.inputs.len() != 1
            || step.outputs.len() != 1
            || step.distinct.len() > DISTINCT_INPUTS
        {
            return None;
        }
        let inputs: Vec<(Vec<u64>, DType)> = step
            .distinct
            .iter()
            .filter_map(|v| v.first().cloned())
            .collect();
        if inputs
            .iter()
            .any(|(s, _)| s.iter().product::<u64>() > 1 << 24)
        {
            return None;
        }
        let params: Vec<i64> = step.params.iter().map(|(_, v)| *v).collect();
        let mut candidates: Vec<&&OpDef> = self
            .defs
            .ops
            .values()
            .filter(|g| g.name.value != def.name.value && g.params.len() == def.params.len())
            .collect();
        // Ops named as the inverse (`un`-, `to`/`from`, `a_to_b`/`b_to_a`)
        // first, then by how alike the names are: several ops may undo this
        // one on this shape (every transpose undoes every other), and the
        // reader should see the one meant as its inverse.
        let forward = def.name.value.as_str();
        let named = inverse_names(forward);
        candidates.sort_by(|a, b| {
            let rank = |g: &OpDef| {
                let n = g.name.value.as_str();
                (
                    !named.iter().any(|x| x == n),
                    -(strsim::normalized_levenshtein(forward, n) * 1e6) as i64,
                    n.to_string(),
                )
            };
            rank(a).cmp(&rank(b))
        });
        candidates
            .into_iter()
            .find(|g| {
                inputs
                    .iter()
                    .all(|(shape, dtype)| self.undoes(def, g, &params, shape, *dtype))
            })
            .map(|g| g.name.value.clone())
    }

    /// Whether `g(params)` after `f(params)` gives back every element of a
    /// tensor of `shape` in place.
    fn undoes(&self, f: &OpDef, g: &OpDef, params: &[i64], shape: &[u64], dtype: DType) -> bool {
        let fake = Tensor {
            name: "x".into(),
            dtype,
            shape: shape.to_vec(),
        };
        let pipelines = Pipelines {
            lets: self.lets,
            config: self.config,
            ops: &self.defs.ops,
            sources: std::slice::from_ref(&fake),
            named: self.named,
        };
        let calls = [
            Stage::Call(literal_call(&f.name.value, params)),
            Stage::Call(literal_call(&g.name.value, params)),
        ];
        let source = Node {
            op: NodeOp::Source(0),
            shape: shape.to_vec(),
            dtype,
        };
        let instance = Instance::new(Binding::new(), vec![source]);
        let mut ignored = Vec::new();
        let Some(result) = pipelines.run(
            &calls,
            vec![instance],
            &[],
            &mut Vec::new(),
            &mut Vec::new(),
            &mut ignored,
        ) else {
            return false;
        };
        let [inst] = result.as_slice() else {
            return false;
        };
        let [lane] = inst.lanes.as_slice() else {
            return false;
        };
        lane.shape == shape
            && lane.dtype == dtype
            && index_map(lane)
                .is_some_and(|m| m.iter().enumerate().all(|(i, v)| i as u64 == *v as u64))
    }
}

/// The names an inverse of op `name` would go by.
fn inverse_names(name: &str) -> Vec<String> {
    let mut out = vec![
        format!("un{name}"),
        name.strip_prefix("un").unwrap_or("").to_string(),
        name.replace("_to_", "_from_"),
        name.replace("_from_", "_to_"),
    ];
    if let Some(rest) = name.strip_prefix("to_") {
        out.push(format!("from_{rest}"));
    }
    if let Some(rest) = name.strip_prefix("from_") {
        out.push(format!("to_{rest}"));
    }
    if let Some((a, b)) = name.split_once("_to_") {
        out.push(format!("{b}_to_{a}"));
    }
    out.retain(|n| !n.is_empty() && n != name);
    out
}

/// `f(1, 2)` with literal integer arguments.
fn literal_call(name: &str, args: &[i64]) -> OpCall {
    let span = Span::new(FileId(0), 0..0);
    OpCall {
        span,
        name: Spanned::new(name.to_string(), span),
        args: args
            .iter()
            .map(|v| Arg {
                span,
                name: None,
                value: ArgValue::Expr(Expr {
                    span,
                    kind: ExprKind::Int(Some(*v)),
                }),
            })
            .collect(),
    }
}

/// Where each element of `node` comes from, for nodes built of reshapes and
/// permutes only.
fn index_map(node: &Node) -> Option<Vec<u32>> {
    match &node.op {
        NodeOp::Source(_) => Some((0..node.numel() as u32).collect()),
        NodeOp::Reshape(n) => index_map(n),
        NodeOp::Permute(n, perm) => {
            let data = index_map(n)?;
            Some(permute(&data, &n.shape, perm))
        }
        _ => None,
    }
}

fn permute(data: &[u32], shape: &[u64], perm: &[usize]) -> Vec<u32> {
    let rank = shape.len();
    let mut strides = vec![1u64; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    let out_shape: Vec<u64> = perm.iter().map(|&p| shape[p]).collect();
    let out_strides: Vec<u64> = perm.iter().map(|&p| strides[p]).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0u64; rank];
    for _ in 0..data.len() {
        let offset: u64 = index.iter().zip(&out_strides).map(|(i, s)| i * s).sum();
        out.push(data[offset as usize]);
        for k in (0..rank).rev() {
            index[k] += 1;
            if index[k] < out_shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

fn arg_name(arg: &Arg) -> Option<String> {
    match &arg.value {
        ArgValue::Expr(e) => e.as_name().map(String::from),
        _ => None,
    }
}

/// A target pattern written as a source pattern: captures take the kinds
/// their sources gave them, and lose their shifts.
fn source_pattern(p: &Pattern, kinds: &HashMap<String, CaptureKind>) -> Pattern {
    let parts = p
        .parts
        .iter()
        .map(|part| match part {
            PatternPart::Text(t) => PatternPart::Text(t.clone()),
            PatternPart::Capture(c) => {
                let kind = match &c.kind {
                    // A translated word list matches the words it wrote.
                    Some(CaptureKind::Translate { to, .. }) => CaptureKind::OneOf(to.clone()),
                    _ => kinds.get(&c.name).cloned().unwrap_or(CaptureKind::Int),
                };
                PatternPart::Capture(Capture {
                    kind: Some(kind),
                    shift: 0,
                    ..c.clone()
                })
            }
        })
        .collect();
    made_pattern(parts)
}

/// A source pattern written as a target: `{i}` becomes `{i - k}` where the
/// forward target wrote `{i + k}`, and a word list translated forward is
/// translated back.
fn target_pattern(
    p: &Pattern,
    shifts: &HashMap<String, i64>,
    translations: &HashMap<String, (Vec<String>, Vec<String>)>,
) -> Pattern {
    let parts = p
        .parts
        .iter()
        .map(|part| match part {
            PatternPart::Text(t) => PatternPart::Text(t.clone()),
            PatternPart::Capture(c) => PatternPart::Capture(Capture {
                kind: translations
                    .get(&c.name)
                    .map(|(from, to)| CaptureKind::Translate {
                        from: to.clone(),
                        to: from.clone(),
                    }),
                shift: -shifts.get(&c.name).copied().unwrap_or(0),
                ..c.clone()
            }),
        })
        .collect();
    made_pattern(parts)
}

/// `{name}`: an integer capture.
fn int_capture(name: &str) -> PatternPart {
    PatternPart::Capture(Capture {
        span: nowhere(),
        name: name.to_string(),
        kind: None,
        shift: 0,
    })
}

/// A name cut into text and runs of digits. A run with a leading zero
/// ("007") stays text: `{i}` would not write it back.
fn pieces(name: &str) -> (Vec<String>, Vec<u64>) {
    let mut texts = vec![String::new()];
    let mut numbers = Vec::new();
    let bytes = name.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let run = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = texts.last_mut().expect("nonempty");
        if run == 0 {
            let ch = name[at..].chars().next().expect("in bounds");
            text.push(ch);
            at += ch.len_utf8();
            continue;
        }
        let digits = &name[at..at + run];
        match digits.parse::<u64>() {
            Ok(v) if run == 1 || !digits.starts_with('0') => {
                numbers.push(v);
                texts.push(String::new());
            }
            _ => text.push_str(digits),
        }
        at += run;
    }
    (texts, numbers)
}

/// The numbers of a pair's `from` and `to` names, and its index.
type Member = (Vec<u64>, Vec<u64>, usize);

/// Folds concrete (from, to) name pairs into patterns: pairs whose names
/// differ only in their numbers become one pattern when every number of
/// `to` is a number of `from` (or the same in every pair). A pattern is kept
/// only if it matches exactly its own pairs among all the `from` names.
fn fold(pairs: &[(String, String)]) -> Vec<(Pattern, Pattern)> {
    // Group by the text around the numbers and by which number of `from`
    // each number of `to` equals.
    type Key = (Vec<String>, Vec<String>, Vec<Option<usize>>);
    let mut groups: BTreeMap<Key, Vec<Member>> = BTreeMap::new();
    for (i, (from, to)) in pairs.iter().enumerate() {
        let (ft, fnums) = pieces(from);
        let (tt, tnums) = pieces(to);
        let links: Vec<Option<usize>> = tnums
            .iter()
            .map(|v| fnums.iter().position(|f| f == v))
            .collect();
        groups
            .entry((ft, tt, links))
            .or_default()
            .push((fnums, tnums, i));
    }
    let mut out = Vec::new();
    for ((ft, tt, links), members) in groups {
        let varies = |k: usize, nums: fn(&Member) -> &Vec<u64>| {
            members.iter().any(|m| nums(m)[k] != nums(&members[0])[k])
        };
        let n_from = members[0].0.len();
        let from_var: Vec<bool> = (0..n_from).map(|k| varies(k, |m| &m.0)).collect();
        let to_ok = (0..members[0].1.len()).all(|k| match links[k] {
            Some(f) if from_var[f] => true,
            _ => !varies(k, |m| &m.1),
        });
        if members.len() == 1 || !to_ok {
            for m in &members {
                out.push((exact(&pairs[m.2].0), exact(&pairs[m.2].1)));
            }
            continue;
        }
        // Varying numbers become captures i, j, k, ... in order.
        let mut names: Vec<Option<String>> = vec![None; n_from];
        let mut next = 0;
        for k in 0..n_from {
            if from_var[k] {
                names[k] = Some(capture_name(next));
                next += 1;
            }
        }
        let mut from = Vec::new();
        let mut regex_text = String::from("^");
        for (k, text) in ft.iter().enumerate() {
            from.push(PatternPart::Text(text.clone()));
            regex_text.push_str(&regex::escape(text));
            if k < n_from {
                match &names[k] {
                    Some(n) => {
                        from.push(int_capture(n));
                        regex_text.push_str("[0-9]+");
                    }
                    None => {
                        from.push(PatternPart::Text(members[0].0[k].to_string()));
                        regex_text.push_str(&members[0].0[k].to_string());
                    }
                }
            }
        }
        regex_text.push('$');
        let mut to = Vec::new();
        for (k, text) in tt.iter().enumerate() {
            to.push(PatternPart::Text(text.clone()));
            if k < links.len() {
                match links[k].and_then(|f| names[f].as_ref()) {
                    Some(n) => to.push(int_capture(n)),
                    None => to.push(PatternPart::Text(members[0].1[k].to_string())),
                }
            }
        }
        // The pattern must not reach names outside the group.
        let own: std::collections::HashSet<usize> = members.iter().map(|m| m.2).collect();
        let reaches_only_its_own = regex::Regex::new(&regex_text).is_ok_and(|re| {
            pairs
                .iter()
                .enumerate()
                .all(|(i, (f, _))| re.is_match(f) == own.contains(&i))
        });
        if reaches_only_its_own {
            out.push((made_pattern(merge_text(from)), made_pattern(merge_text(to))));
        } else {
            for m in &members {
                out.push((exact(&pairs[m.2].0), self::exact(&pairs[m.2].1)));
            }
        }
    }
    out.sort_by_cached_key(|(from, to)| (from.display(), to.display()));
    out
}

/// Adjacent text parts joined, empty ones left out.
fn merge_text(parts: Vec<PatternPart>) -> Vec<PatternPart> {
    let mut out: Vec<PatternPart> = Vec::new();
    for part in parts {
        match (out.last_mut(), part) {
            (_, PatternPart::Text(t)) if t.is_empty() => {}
            (Some(PatternPart::Text(prev)), PatternPart::Text(t)) => prev.push_str(&t),
            (_, part) => out.push(part),
        }
    }
    out
}

fn capture_name(k: usize) -> String {
    const NAMES: [&str; 6] = ["i", "j", "k", "l", "m", "n"];
    NAMES
        .get(k)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("n{k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(from: &str, to: &str) -> (String, String) {
        (from.to_string(), to.to_string())
    }

    /// `fold`, its patterns as written.
    fn fold(pairs: &[(String, String)]) -> Vec<(String, String)> {
        super::fold(pairs)
            .into_iter()
            .map(|(f, t)| (f.display(), t.display()))
            .collect()
    }

    #[test]
    fn folds_numbered_names_into_patterns() {
        let pairs = vec![
            p(
                "layers.0.ffn.out.weight",
                "bert.encoder.layer.0.output.dense.weight",
            ),
            p(
                "layers.1.ffn.out.weight",
                "bert.encoder.layer.1.output.dense.weight",
            ),
            p(
                "layers.10.ffn.out.weight",
                "bert.encoder.layer.10.output.dense.weight",
            ),
        ];
        assert_eq!(
            fold(&pairs),
            vec![p(
                "layers.{i}.ffn.out.weight",
                "bert.encoder.layer.{i}.output.dense.weight"
            )]
        );
    }

    #[test]
    fn keeps_pairs_whose_numbers_do_not_line_up() {
        let pairs = vec![p("a.0.x", "b.5.y"), p("a.1.x", "b.9.y")];
        assert_eq!(fold(&pairs), pairs);
    }

    #[test]
    fn a_pattern_that_would_reach_other_names_is_not_used() {
        // `h.{i}.w` would also match h.2.w, which goes elsewhere.
        let pairs = vec![p("h.0.w", "x.0"), p("h.1.w", "x.1"), p("h.2.w", "y")];
        let folded = fold(&pairs);
        assert!(folded.contains(&p("h.2.w", "y")));
        assert!(!folded.iter().any(|(f, _)| f.contains('{')), "{folded:?}");
    }

    #[test]
    fn constant_numbers_stay_literal() {
        let pairs = vec![p("m.0.q.3", "t.0.q3"), p("m.1.q.3", "t.1.q3")];
        assert_eq!(fold(&pairs), vec![p("m.{i}.q.3", "t.{i}.q3")]);
    }

    #[test]
    fn names_cut_at_their_numbers() {
        assert_eq!(
            pieces("h.10.w007.x2"),
            (vec!["h.".into(), ".w007.x".into(), "".into()], vec![10, 2])
        );
    }

    #[test]
    fn permute_follows_the_axis_order() {
        // [[0, 1, 2], [3, 4, 5]] transposed.
        assert_eq!(
            permute(&[0, 1, 2, 3, 4, 5], &[2, 3], &[1, 0]),
            vec![0, 3, 1, 4, 2, 5]
        );
    }

    #[test]
    fn inverse_names_cover_the_stdlib_pairs() {
        assert!(inverse_names("linear_to_burn").contains(&"linear_from_burn".to_string()));
        assert!(inverse_names("conv1d_to_linear").contains(&"linear_to_conv1d".to_string()));
        assert!(inverse_names("unpermute_rotary").contains(&"permute_rotary".to_string()));
        assert!(inverse_names("permute_rotary").contains(&"unpermute_rotary".to_string()));
    }
}
