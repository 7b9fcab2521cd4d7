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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::check::check_traced;
use crate::check::defs::Definitions;
use crate::check::env::Lets;
use crate::check::matching::Binding;
use crate::check::ops::Builtin;
use crate::check::pipeline::{bind_args, CallTrace, Instance, Pipelines, Trace, DISTINCT_INPUTS};
use crate::checkpoint::{Config, TensorInfo};
use crate::diagnostics::Diagnostic;
use crate::dtype::DType;
use crate::loader::Loaded;
use crate::plan::{Node, NodeOp, Plan};
use crate::source::{FileId, Span, Spanned};
use crate::syntax::format::{pattern_literal, quote, quote_name, quote_pattern};
use crate::syntax::{
    Arg, ArgValue, Capture, CaptureKind, Expr, ExprKind, Matcher, OpCall, OpDef, Pattern,
    PatternPart, Rule, Targets,
};

/// The result of inverting: the reverse mapping's text, or why not.
#[derive(Debug)]
pub struct Inverted {
    /// The reverse mapping, formatted; `None` when there are diagnostics.
    pub text: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// The forward plan (present whenever the forward mapping checked).
    pub plan: Option<Plan>,
}

/// Derives the reverse of `loaded` from its plan against `tensors`.
/// `title` lines open the output as comments.
pub fn invert(
    loaded: &Loaded,
    tensors: &[TensorInfo],
    config: &Config,
    title: &[String],
) -> Inverted {
    let trace = RefCell::new(Trace::default());
    let checked = check_traced(loaded, tensors, config, Some(&trace));
    let plan = match checked {
        Ok(plan) => plan,
        Err(problems) => {
            return Inverted {
                text: None,
                diagnostics: problems.into_vec(),
                plan: None,
            }
        }
    };
    let trace = trace.into_inner();
    let mut ignored = Vec::new();
    let modules = crate::check::words::resolve(&loaded.modules, &mut ignored);
    let defs = Definitions::collect(&modules, &mut ignored);
    let lets = Lets::evaluate(&defs.lets, config, &mut ignored);
    let casts = defs.global_casts(&mut ignored);
    let mut inv = Inverter {
        loaded,
        plan: &plan,
        defs: &defs,
        trace: &trace,
        lets: &lets,
        config,
        casts,
        out: Vec::new(),
    };
    let text = inv.mapping(tensors, title);
    let diagnostics = std::mem::take(&mut inv.out);
    let text = if diagnostics.is_empty() {
        Some(crate::syntax::format::format(&text).unwrap_or(text))
    } else {
        None
    };
    Inverted {
        text,
        diagnostics,
        plan: Some(plan),
    }
}

struct Inverter<'a> {
    loaded: &'a Loaded,
    plan: &'a Plan,
    defs: &'a Definitions<'a>,
    trace: &'a Trace,
    lets: &'a Lets,
    config: &'a Config,
    casts: HashMap<DType, DType>,
    out: Vec<Diagnostic>,
}

fn refuse(span: Span, problem: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::NotInvertible {
        span,
        problem: problem.into(),
        help: help.into(),
    }
}

fn is_std(loaded: &Loaded, file: FileId) -> bool {
    let f = loaded.sources.get(file);
    f.path.is_none() && f.name.starts_with("std/")
}

impl Inverter<'_> {
    fn text(&self, span: Span) -> &str {
        self.loaded.sources.slice(span)
    }

    fn location(&self, span: Span) -> String {
        format!(
            "{}:{}",
            self.loaded.sources.get(span.file).name,
            self.loaded.sources.line_of(span)
        )
    }

    fn mapping(&mut self, tensors: &[TensorInfo], title: &[String]) -> String {
        let mut text = String::new();
        for line in title {
            text.push_str(&format!("# {}\n", crate::text::printable(line)));
        }
        text.push_str("wmap 1\n");
        // Stdlib modules the mapping's own files use, then its lets and ops.
        let mut uses = Vec::new();
        let mut defs_text = Vec::new();
        for (file, module) in &self.loaded.modules {
            if is_std(self.loaded, *file) {
                continue;
            }
            for item in &module.items {
                match item {
                    crate::syntax::Item::Use(u)
                        if u.value.starts_with("std/") && !uses.contains(&u.value) =>
                    {
                        uses.push(u.value.clone());
                    }
                    crate::syntax::Item::Let(l) => defs_text.push(self.text(l.span).to_string()),
                    crate::syntax::Item::Op(o) => defs_text.push(self.text(o.span).to_string()),
                    _ => {}
                }
            }
        }
        for u in &uses {
            text.push_str(&format!("use {}\n", quote(u)));
        }
        if !uses.is_empty() {
            text.push('\n');
        }
        for d in &defs_text {
            text.push_str(d);
            text.push('\n');
        }
        if !defs_text.is_empty() {
            text.push('\n');
        }
        self.global_casts(tensors);
        for rule in self.defs.rules.clone() {
            if let Some(r) = self.rule(rule) {
                text.push_str(&r);
            }
        }
        for drop in &self.defs.drops {
            let taken = self.trace.drops.get(&drop.span).copied().unwrap_or(0);
            if taken > 0 {
                self.out.push(refuse(
                    drop.span,
                    format!(
                        "this drop discards {taken} source tensor{}, which the reverse cannot recreate",
                        if taken == 1 { "" } else { "s" }
                    ),
                    "a reverse exists only for mappings that keep every tensor: map these with a rule instead",
                ));
            }
        }
        let ties: Vec<String> = self
            .defs
            .ties
            .iter()
            .map(|tie| {
                let location = self.location(tie.span);
                let head = format!(
                    "# {location}: a copy of {}\n",
                    quote_pattern(&tie.original.display())
                );
                if tie.optional {
                    // Some copies may have been left to rules: drop exactly
                    // the ones this tie made (none, often).
                    let drops: String = self
                        .plan
                        .targets
                        .iter()
                        .filter(|t| t.rule == location)
                        .map(|t| format!("drop {}\n", quote_name(&t.name)))
                        .collect();
                    return if drops.is_empty() {
                        String::new()
                    } else {
                        head + &drops
                    };
                }
                let kinds: HashMap<String, CaptureKind> = tie
                    .original
                    .captures()
                    .map(|c| (c.name.clone(), c.kind.clone().unwrap_or(CaptureKind::Int)))
                    .collect();
                format!(
                    "{head}drop {}\n",
                    quote_pattern(&source_pattern(&tie.copy, &kinds))
                )
            })
            .filter(|text| !text.is_empty())
            .collect();
        if !ties.is_empty() {
            text.push_str("\n# Tied copies: the original is mapped back above.\n");
            for t in ties {
                text.push_str(&t);
            }
        }
        text
    }

    /// A global cast is undone per rule (see [`Self::rule`]); here only
    /// its precondition: it must have widened exactly.
    fn global_casts(&mut self, tensors: &[TensorInfo]) {
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
                    format!(
                        "`{}` is {}, and the cast to {} rounds it",
                        t.name, t.dtype, self.casts[&t.dtype]
                    ),
                    "only widening casts have an exact inverse",
                ));
            }
        }
    }

    /// The reverse of one rule, as text (one or more statements).
    fn rule(&mut self, rule: &Rule) -> Option<String> {
        let Some(rt) = self.trace.rules.get(&rule.span) else {
            return Some(format!(
                "# {}: matched nothing in the source, so nothing to reverse\n",
                self.location(rule.span)
            ));
        };
        let mut ops = self.calls(&rule.pipeline, &[])?;
        // Undo the global cast this rule's inputs went through.
        let restore: Vec<Option<DType>> = rt
            .stored
            .iter()
            .map(|(_, d)| self.casts.get(d).filter(|to| *to != d).map(|_| *d))
            .collect();
        if restore.iter().any(Option::is_some) {
            let first = restore[0];
            if !rt.uniform_dtypes || restore.iter().any(|r| *r != first) {
                self.out.push(refuse(
                    rule.span,
                    "the global cast changed only some of this rule's inputs",
                    "cast this rule's inputs explicitly with `cast(...)` in its pipeline",
                ));
                return None;
            }
            ops.push(format!("cast({})", first.expect("checked").name()));
        }
        let pipeline: String = ops.iter().map(|o| format!(" | {o}")).collect();
        let prefix = match (rule.optional, rule.fallback) {
            (_, true) => "fallback ",
            (true, false) => "optional ",
            _ => "",
        };
        match (&rule.sources, &rule.targets) {
            (Matcher::Patterns(sources), Targets::Patterns(targets)) => {
                let mut kinds: HashMap<String, CaptureKind> = HashMap::new();
                for c in sources.iter().flat_map(|p| p.captures()) {
                    kinds.insert(c.name.clone(), c.kind.clone().unwrap_or(CaptureKind::Int));
                }
                for call in &rule.pipeline {
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
                                format!(
                                    "capture `{}` is written with two different shifts",
                                    c.name
                                ),
                                "the reverse must read each capture from one place",
                            ));
                            return None;
                        }
                    }
                }
                let new_sources: Vec<String> = targets
                    .iter()
                    .map(|p| quote_pattern(&source_pattern(p, &kinds)))
                    .collect();
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
                let new_targets: Vec<String> = sources
                    .iter()
                    .map(|p| quote_pattern(&target_pattern(p, &shifts, &translations)))
                    .collect();
                Some(format!(
                    "{prefix}{}{pipeline} -> {}\n",
                    list(&new_sources),
                    list(&new_targets)
                ))
            }
            _ => {
                // A regex rule: through its concrete matches.
                let pairs: Vec<(String, String)> = rt
                    .instances
                    .iter()
                    .filter_map(|(s, t)| Some((t.first()?.clone(), s.first()?.clone())))
                    .collect();
                let mut text = format!(
                    "# {}: the reverse of `regex {}`\n",
                    self.location(rule.span),
                    match &rule.sources {
                        Matcher::Regex(r) => quote(&r.value),
                        Matcher::Patterns(_) => String::new(),
                    }
                );
                for (from, to) in fold(&pairs) {
                    text.push_str(&format!(
                        "{prefix}{}{pipeline} -> {}\n",
                        quote_pattern(&from),
                        quote_pattern(&to)
                    ));
                }
                Some(text)
            }
        }
    }

    /// The inverses of `calls`, last call first.
    fn calls(&mut self, calls: &[OpCall], path: &[Span]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for call in calls.iter().rev() {
            let mut p = path.to_vec();
            p.push(call.span);
            match self.call(call, &p) {
                Some(ops) => out.extend(ops),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn call(&mut self, call: &OpCall, path: &[Span]) -> Option<Vec<String>> {
        let name = call.name.value.as_str();
        let Some(t) = self.trace.calls.get(path) else {
            self.out.push(refuse(
                call.span,
                "this op never ran, so what it was applied to is unknown",
                "check the mapping against a checkpoint where this rule matches",
            ));
            return None;
        };
        let args = self.text(call.span)[call.name.value.len()..]
            .trim()
            .to_string();
        if let Some(def) = self.defs.ops.get(name).copied() {
            if let Some(inverse) = self.inverse_op(def, path, t) {
                return Some(vec![format!("{inverse}{args}")]);
            }
            return self.calls(&def.body, path);
        }
        let same_shapes = || t.inputs.windows(2).all(|w| w[0] == w[1]);
        let Some(op) = Builtin::from_name(name) else {
            self.out
                .push(refuse(call.span, format!("unknown op `{name}`"), ""));
            return None;
        };
        match op {
            Builtin::Transpose | Builtin::Permute => Some(vec![match &t.perm {
                Some(perm) => {
                    let mut inverse = vec![0; perm.len()];
                    for (k, &p) in perm.iter().enumerate() {
                        inverse[p] = k;
                    }
                    if perm.len() == 2 && op == Builtin::Transpose {
                        format!("{name}{args}")
                    } else {
                        format!("permute({})", join(&inverse))
                    }
                }
                None => format!("{name}{args}"),
            }]),
            Builtin::Reshape => {
                if !t.uniform() || !same_shapes() {
                    self.out.push(refuse(
                        call.span,
                        "the shapes reshaped here differ between tensors, and the inverse needs one",
                        "split the rule so that each reshapes one shape",
                    ));
                    return None;
                }
                Some(vec![format!("reshape({})", join(&t.inputs[0].0))])
            }
            Builtin::Split => {
                let axis = self.arg(call, &["axis", "parts", "sizes"], 0)?;
                Some(vec![format!("concat(axis={axis})")])
            }
            Builtin::Concat => {
                if !t.uniform() {
                    self.out.push(refuse(
                        call.span,
                        "the tensors joined here have different sizes in different matches",
                        "split the rule so that each joins one set of sizes",
                    ));
                    return None;
                }
                let axis_text = self.arg(call, &["axis"], 0)?;
                let (shape0, _) = &t.outputs[0];
                let rank = shape0.len() as i64;
                // The axis as written, or else the one whose sizes add up.
                let axis = axis_text
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .map(|a| if a < 0 { a + rank } else { a } as usize);
                let Some(axis) = axis.or_else(|| concat_axis(&t.inputs, shape0)) else {
                    self.out.push(refuse(
                        call.span,
                        "the axis of this concat is not known",
                        "write the axis as a number",
                    ));
                    return None;
                };
                let sizes: Vec<u64> = t.inputs.iter().map(|(s, _)| s[axis]).collect();
                let split = if sizes.iter().all(|s| *s == sizes[0]) {
                    format!("split(axis={axis_text}, parts={})", sizes.len())
                } else {
                    format!("split(axis={axis_text}, sizes=[{}])", join(&sizes))
                };
                Some(vec![split])
            }
            Builtin::Stack => Some(vec![format!("unstack{args}")]),
            Builtin::Unstack => Some(vec![format!("stack{args}")]),
            Builtin::Slice => {
                self.out.push(refuse(
                    call.span,
                    "slice keeps part of a tensor; the rest cannot be recreated",
                    "a reverse exists only for mappings that keep every element",
                ));
                None
            }
            Builtin::Cast => {
                let from = t.inputs[0].1;
                let to = t.outputs[0].1;
                if t.inputs.iter().any(|(_, d)| *d != from) {
                    self.out.push(refuse(
                        call.span,
                        "this cast applies to tensors of different dtypes",
                        "cast each dtype in a rule of its own",
                    ));
                    return None;
                }
                if from == to {
                    return Some(Vec::new());
                }
                if !from.converts_losslessly_to(to) {
                    self.out.push(refuse(
                        call.span,
                        format!("the cast from {from} to {to} rounds"),
                        "only widening casts have an exact inverse",
                    ));
                    return None;
                }
                Some(vec![format!("cast({})", from.name())])
            }
            Builtin::Add | Builtin::Mul => {
                let x = t
                    .scalar
                    .unwrap_or(if op == Builtin::Add { 0.0 } else { 1.0 });
                if op == Builtin::Add && x == 0.0 || op == Builtin::Mul && x == 1.0 {
                    return Some(Vec::new());
                }
                let exact = op == Builtin::Mul && x != 0.0 && {
                    let (m, _) = frexp(x.abs());
                    m == 0.5
                };
                if !exact {
                    self.out.push(refuse(
                        call.span,
                        format!("floating-point `{name}({x})` rounds, so undoing it is not exact"),
                        "only `mul` by a power of two (or -1) has an exact inverse",
                    ));
                    return None;
                }
                Some(vec![format!("mul({})", float_text(1.0 / x))])
            }
        }
    }

    /// The text of parameter `params[index]` of `call`, given by name or by
    /// position, bound as the checker binds it (the call has checked, so it
    /// binds).
    fn arg(&self, call: &OpCall, params: &[&str], index: usize) -> Option<String> {
        let slots = bind_args(call, params, &mut Vec::new())?;
        slots[index].map(|v| self.text(v.span()).to_string())
    }

    /// Another defined op that undoes `def` exactly on the value it was
    /// applied to, called with the same arguments.
    fn inverse_op(&self, def: &OpDef, path: &[Span], t: &CallTrace) -> Option<String> {
        // Each different shape it met must be undone, each at most 16M
        // elements (the test below follows every element).
        if t.inputs.len() != 1 || t.outputs.len() != 1 || t.distinct.len() > DISTINCT_INPUTS {
            return None;
        }
        let inputs: Vec<(Vec<u64>, DType)> = t
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
        let params: Vec<i64> = self
            .trace
            .params
            .get(path)?
            .iter()
            .map(|(_, v)| *v)
            .collect();
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
        let numel: u64 = shape.iter().product();
        let fake = TensorInfo {
            name: "x".into(),
            dtype,
            shape: shape.to_vec(),
            shard: 0,
            offset: 0,
            nbytes: numel * dtype.size() as u64,
        };
        let pipelines = Pipelines {
            lets: self.lets,
            config: self.config,
            ops: &self.defs.ops,
            sources: std::slice::from_ref(&fake),
            trace: None,
        };
        let calls = [
            literal_call(&f.name.value, params),
            literal_call(&g.name.value, params),
        ];
        let source = Node {
            op: NodeOp::Source(0),
            shape: shape.to_vec(),
            dtype,
        };
        let instance = Instance::new(Binding::new(), vec![source]);
        let mut ignored = Vec::new();
        let Some(result) =
            pipelines.run(&calls, vec![instance], &[], &mut Vec::new(), &mut ignored)
        else {
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

/// The axis along which `inputs` were joined into `output`.
fn concat_axis(inputs: &[(Vec<u64>, DType)], output: &[u64]) -> Option<usize> {
    (0..output.len()).find(|&a| inputs.iter().map(|(s, _)| s[a]).sum::<u64>() == output[a])
}

fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let mut e = x.abs().log2().floor() as i32 + 1;
    let mut m = x / 2f64.powi(e);
    // Correct rounding of log2 at the edges.
    if m >= 1.0 {
        m /= 2.0;
        e += 1;
    } else if m < 0.5 {
        m *= 2.0;
        e -= 1;
    }
    (m, e)
}

fn float_text(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

fn join<T: ToString>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(items: &[String]) -> String {
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("[{}]", items.join(", "))
    }
}

fn arg_name(arg: &Arg) -> Option<String> {
    match &arg.value {
        ArgValue::Expr(e) => e.as_name().map(String::from),
        _ => None,
    }
}

/// A target pattern written as a source pattern: captures take the kinds
/// their sources gave them, and lose their shifts.
fn source_pattern(p: &Pattern, kinds: &HashMap<String, CaptureKind>) -> String {
    let mut out = String::new();
    for part in &p.parts {
        match part {
            PatternPart::Text(t) => out.push_str(&pattern_literal(t)),
            PatternPart::Capture(c) => {
                let kind = match &c.kind {
                    // A translated word list matches the words it wrote.
                    Some(CaptureKind::Translate { to, .. }) => CaptureKind::OneOf(to.clone()),
                    _ => kinds.get(&c.name).cloned().unwrap_or(CaptureKind::Int),
                };
                out.push_str(
                    &Capture {
                        kind: Some(kind),
                        shift: 0,
                        ..c.clone()
                    }
                    .display(),
                )
            }
        }
    }
    out
}

/// A source pattern written as a target: `{i}` becomes `{i - k}` where the
/// forward target wrote `{i + k}`, and a word list translated forward is
/// translated back.
fn target_pattern(
    p: &Pattern,
    shifts: &HashMap<String, i64>,
    translations: &HashMap<String, (Vec<String>, Vec<String>)>,
) -> String {
    let mut out = String::new();
    for part in &p.parts {
        match part {
            PatternPart::Text(t) => out.push_str(&pattern_literal(t)),
            PatternPart::Capture(c) => out.push_str(
                &Capture {
                    kind: translations
                        .get(&c.name)
                        .map(|(from, to)| CaptureKind::Translate {
                            from: to.clone(),
                            to: from.clone(),
                        }),
                    shift: -shifts.get(&c.name).copied().unwrap_or(0),
                    ..c.clone()
                }
                .display(),
            ),
        }
    }
    out
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
/// Both sides come back as pattern bodies (literal text escaped).
fn fold(pairs: &[(String, String)]) -> Vec<(String, String)> {
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
                out.push((
                    pattern_literal(&pairs[m.2].0),
                    pattern_literal(&pairs[m.2].1),
                ));
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
        let mut from = String::new();
        let mut regex_text = String::from("^");
        for (k, text) in ft.iter().enumerate() {
            from.push_str(&pattern_literal(text));
            regex_text.push_str(&regex::escape(text));
            if k < n_from {
                match &names[k] {
                    Some(n) => {
                        from.push_str(&format!("{{{n}}}"));
                        regex_text.push_str("[0-9]+");
                    }
                    None => {
                        from.push_str(&members[0].0[k].to_string());
                        regex_text.push_str(&members[0].0[k].to_string());
                    }
                }
            }
        }
        regex_text.push('$');
        let mut to = String::new();
        for (k, text) in tt.iter().enumerate() {
            to.push_str(&pattern_literal(text));
            if k < links.len() {
                match links[k].and_then(|f| names[f].as_ref()) {
                    Some(n) => to.push_str(&format!("{{{n}}}")),
                    None => to.push_str(&members[0].1[k].to_string()),
                }
            }
        }
        // The pattern must not reach names outside the group.
        let own: std::collections::HashSet<usize> = members.iter().map(|m| m.2).collect();
        let exact = regex::Regex::new(&regex_text).is_ok_and(|re| {
            pairs
                .iter()
                .enumerate()
                .all(|(i, (f, _))| re.is_match(f) == own.contains(&i))
        });
        if exact {
            out.push((from, to));
        } else {
            for m in &members {
                out.push((
                    pattern_literal(&pairs[m.2].0),
                    pattern_literal(&pairs[m.2].1),
                ));
            }
        }
    }
    out.sort();
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

    #[test]
    fn frexp_finds_powers_of_two() {
        assert_eq!(frexp(8.0).0, 0.5);
        assert_eq!(frexp(0.125).0, 0.5);
        assert_ne!(frexp(3.0).0, 0.5);
    }
}
