//! Collecting the statements of all modules, and the checks that need no
//! checkpoint: version headers, duplicate definitions, target models,
//! global casts, and calls to ops that do not exist or call themselves.

use std::collections::HashMap;

use crate::diagnostics::ArgProblem;
use crate::diagnostics::Diagnostic;
use crate::dtype::{self, DType};
use crate::ops::{dtype_arg, Builtin};
use crate::source::{FileId, Span, Spanned};
use crate::suggest;
use crate::syntax::{
    ArgValue, Drop, Expr, ExprKind, GlobalCast, Item, LetDef, Module, OpCall, OpDef, Rule, Stage,
    Tie, WordsDef, WriteDef,
};

/// Burn models that `target` may name.
pub const TARGET_MODELS: &[&str] = &["gpt2", "bert", "llama"];

/// Records a `target` declaration in `slot`, unless another one of the same
/// kind names something else (`conflicting_target_model`).
fn declare_target<'a>(
    slot: &mut Option<&'a Spanned<String>>,
    t: &'a Spanned<String>,
    out: &mut Vec<Diagnostic>,
) {
    match slot {
        Some(prev) if prev.value != t.value => out.push(Diagnostic::ConflictingTargetModel {
            span: t.span,
            previous: prev.span,
            found: t.value.clone(),
            other: prev.value.clone(),
        }),
        _ => *slot = Some(t),
    }
}

/// Every statement of the mapping, by kind, in module order.
pub struct Definitions<'a> {
    pub target_model: Option<&'a Spanned<String>>,
    /// `target "PATH"`: the wanted layout as a file.
    pub target_file: Option<&'a Spanned<String>>,
    pub lets: Vec<&'a LetDef>,
    pub ops: HashMap<String, &'a OpDef>,
    pub casts: Vec<&'a GlobalCast>,
    pub rules: Vec<&'a Rule>,
    pub drops: Vec<&'a Drop>,
    pub ties: Vec<&'a Tie>,
    pub words: HashMap<String, &'a WordsDef>,
    pub writes: Vec<&'a WriteDef>,
}

/// Why `name` cannot be a file a `write` makes: it must be a plain `.json`
/// file name in the output folder, and not one wmap writes itself.
fn bad_file_name(name: &str) -> Option<&'static str> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        Some("a file name of letters, digits, `.`, `_` and `-`, not starting with `.`")
    } else if !name.ends_with(".json") {
        Some("a `.json` file")
    } else if name.ends_with(".safetensors.index.json") {
        Some("not the shard index, which wmap writes itself")
    } else {
        None
    }
}

/// Adds a named definition, or reports it as a duplicate of the first one.
fn define<'a, T>(
    map: &mut HashMap<String, &'a T>,
    name: &Spanned<String>,
    def: &'a T,
    what: &'static str,
    span_of: impl Fn(&T) -> Span,
    out: &mut Vec<Diagnostic>,
) {
    match map.get(&name.value) {
        Some(prev) => out.push(Diagnostic::DuplicateDefinition {
            span: name.span,
            previous: span_of(prev),
            what,
            name: name.value.clone(),
        }),
        None => {
            map.insert(name.value.clone(), def);
        }
    }
}

impl<'a> Definitions<'a> {
    pub fn collect(modules: &'a [(FileId, Module)], out: &mut Vec<Diagnostic>) -> Definitions<'a> {
        let mut defs = Definitions {
            target_model: None,
            target_file: None,
            lets: Vec::new(),
            ops: HashMap::new(),
            casts: Vec::new(),
            rules: Vec::new(),
            drops: Vec::new(),
            ties: Vec::new(),
            words: HashMap::new(),
            writes: Vec::new(),
        };
        let mut let_spans: HashMap<&str, Span> = HashMap::new();
        for (_, module) in modules {
            for (index, item) in module.items.iter().enumerate() {
                match item {
                    Item::Version(v) => {
                        if index != 0 {
                            out.push(Diagnostic::MisplacedVersion { span: v.span });
                        } else if v.value != 1 {
                            out.push(Diagnostic::UnsupportedVersion {
                                span: v.span,
                                found: v.value,
                            });
                        }
                    }
                    Item::Target(t) => {
                        if !TARGET_MODELS.contains(&t.value.as_str()) {
                            out.push(Diagnostic::UnknownTargetModel {
                                span: t.span,
                                found: t.value.clone(),
                                known: TARGET_MODELS.iter().map(|s| s.to_string()).collect(),
                            });
                        }
                        declare_target(&mut defs.target_model, t, out);
                    }
                    Item::TargetFile(t) => declare_target(&mut defs.target_file, t, out),
                    Item::Use(_) | Item::UseUnder(_) => {}
                    Item::Let(l) => {
                        if let Some(prev) = let_spans.insert(&l.name.value, l.name.span) {
                            out.push(Diagnostic::DuplicateDefinition {
                                span: l.name.span,
                                previous: prev,
                                what: "let",
                                name: l.name.value.clone(),
                            });
                        } else {
                            defs.lets.push(l);
                        }
                    }
                    Item::Op(o) => define(&mut defs.ops, &o.name, o, "op", |d| d.name.span, out),
                    Item::Words(w) => {
                        define(&mut defs.words, &w.name, w, "words", |d| d.name.span, out)
                    }
                    Item::Cast(c) => defs.casts.push(c),
                    Item::Rule(r) => defs.rules.push(r),
                    Item::Drop(d) => defs.drops.push(d),
                    Item::Tie(t) => defs.ties.push(t),
                    Item::Write(w) => {
                        if let Some(why) = bad_file_name(&w.file.value) {
                            out.push(Diagnostic::InvalidFileName {
                                span: w.file.span,
                                name: w.file.value.clone(),
                                why,
                            });
                        } else if let Some(prev) =
                            defs.writes.iter().find(|p| p.file.value == w.file.value)
                        {
                            out.push(Diagnostic::DuplicateDefinition {
                                span: w.file.span,
                                previous: prev.file.span,
                                what: "write",
                                name: w.file.value.clone(),
                            });
                        } else {
                            defs.writes.push(w);
                        }
                    }
                }
            }
        }
        defs
    }

    /// Resolves the global `cast` rules into a dtype map.
    pub fn global_casts(&self, out: &mut Vec<Diagnostic>) -> HashMap<DType, DType> {
        let mut map: HashMap<DType, (DType, Span)> = HashMap::new();
        for cast in &self.casts {
            let from: Vec<DType> = if cast.from.value == "float" {
                dtype::ALL
                    .iter()
                    .copied()
                    .filter(|d| d.is_float())
                    .collect()
            } else {
                match resolve_dtype(&cast.from, out) {
                    Some(d) => vec![d],
                    None => continue,
                }
            };
            let Some(to) = resolve_dtype(&cast.to, out) else {
                continue;
            };
            if !to.is_encodable() {
                out.push(Diagnostic::UnsupportedDtype {
                    span: cast.to.span,
                    op: "cast".into(),
                    dtype: to,
                    problem: crate::diagnostics::DtypeProblem::NotWritten,
                });
                continue;
            }
            // Complex values are not cast by `cast float -> ..` (not a float).
            if from.contains(&DType::C64) {
                out.push(Diagnostic::UnsupportedDtype {
                    span: cast.from.span,
                    op: "cast".into(),
                    dtype: DType::C64,
                    problem: crate::diagnostics::DtypeProblem::Complex,
                });
                continue;
            }
            for d in from {
                if d == to {
                    continue;
                }
                if let Some((_, prev)) = map.insert(d, (to, cast.span)) {
                    out.push(Diagnostic::ConflictingCast {
                        span: cast.span,
                        previous: prev,
                        dtype: d,
                    });
                }
            }
        }
        map.into_iter().map(|(k, (v, _))| (k, v)).collect()
    }

    /// Checks every op call in rules and op bodies: known names, the right
    /// number of arguments for `op`s, dtype arguments, and no recursion.
    pub fn check_ops(&self, out: &mut Vec<Diagnostic>) {
        let known: Vec<&str> = Builtin::ALL
            .iter()
            .map(|op| op.name())
            .chain(self.ops.keys().map(String::as_str))
            .collect();
        let calls = self
            .rules
            .iter()
            .flat_map(|r| Stage::calls(&r.pipeline))
            .chain(self.ops.values().flat_map(|o| Stage::calls(&o.body)));
        for call in calls {
            self.check_call(call, &known, out);
        }
        let mut names: Vec<&String> = self.ops.keys().collect();
        names.sort();
        for name in names {
            let mut chain = vec![name.clone()];
            if let Some(span) = self.find_cycle(name, name, &mut chain) {
                // Report each cycle once, from its alphabetically first op.
                if chain.iter().all(|c| c >= name) {
                    out.push(Diagnostic::RecursiveOp { span, chain });
                }
            }
        }
        // `shape` and config keys are fine in op args; names must be let or params.
        for def in self.ops.values() {
            let params: Vec<&str> = def.params.iter().map(|p| p.value.as_str()).collect();
            for call in Stage::calls(&def.body) {
                for arg in &call.args {
                    self.check_names(&arg.value, &params, call, out);
                }
            }
        }
    }

    fn check_call(&self, call: &OpCall, known: &[&str], out: &mut Vec<Diagnostic>) {
        let name = call.name.value.as_str();
        if let Some(def) = self.ops.get(name) {
            let positional = call.args.iter().filter(|a| a.name.is_none()).count();
            if positional > def.params.len() || call.args.len() != def.params.len() {
                out.push(Diagnostic::BadArguments {
                    span: call.span,
                    op: name.to_string(),
                    problem: ArgProblem::Count {
                        takes: def.params.iter().map(|p| p.value.clone()).collect(),
                        given: call.args.len(),
                    },
                });
            }
        } else if Builtin::from_name(name).is_none() {
            out.push(Diagnostic::UnknownOp {
                span: call.name.span,
                name: name.to_string(),
                suggestion: suggest::nearest(name, known.iter().copied()).map(String::from),
            });
        } else if Builtin::from_name(name) == Some(Builtin::Cast) {
            if let Some(arg) = call.args.first() {
                dtype_arg(&arg.value, out);
            }
        }
    }

    /// Names in an op body's arguments must be parameters or `let`s; capture
    /// names are allowed as the first argument of stack/unstack, and dtype
    /// names in cast.
    fn check_names(
        &self,
        value: &ArgValue,
        params: &[&str],
        call: &OpCall,
        out: &mut Vec<Diagnostic>,
    ) {
        let lets: Vec<&str> = self.lets.iter().map(|l| l.name.value.as_str()).collect();
        let exempt = Builtin::from_name(&call.name.value).is_some_and(Builtin::takes_a_name);
        fn walk(e: &Expr, visit: &mut dyn FnMut(&Expr)) {
            visit(e);
            match &e.kind {
                ExprKind::Shape { axis: i, .. } | ExprKind::Neg(i) => walk(i, visit),
                ExprKind::Binary(_, a, b) | ExprKind::Coalesce(a, b) => {
                    walk(a, visit);
                    walk(b, visit)
                }
                _ => {}
            }
        }
        match value {
            ArgValue::Expr(e) => {
                if exempt && e.as_name().is_some() {
                    return;
                }
                walk(e, &mut |e| {
                    if let ExprKind::Name(n) = &e.kind {
                        if !params.contains(&n.as_str()) && !lets.contains(&n.as_str()) {
                            out.push(Diagnostic::UnknownName {
                                span: e.span,
                                name: n.clone(),
                                suggestion: suggest::nearest(
                                    n,
                                    params.iter().chain(lets.iter()).copied(),
                                )
                                .map(String::from),
                            });
                        }
                    }
                });
            }
            ArgValue::List(l) => {
                for v in &l.value {
                    self.check_names(v, params, call, out);
                }
            }
            ArgValue::Float(_) => {}
        }
    }

    /// A call path from op `current` back to `start`, if there is one; the
    /// span is the call that closes the cycle.
    fn find_cycle(&self, start: &str, current: &str, chain: &mut Vec<String>) -> Option<Span> {
        if chain.len() > 64 {
            return None;
        }
        let def = self.ops.get(current)?;
        for call in Stage::calls(&def.body) {
            let callee = call.name.value.as_str();
            if callee == start {
                chain.push(callee.to_string());
                return Some(call.name.span);
            }
            if self.ops.contains_key(callee) && !chain.iter().any(|c| c == callee) {
                chain.push(callee.to_string());
                if let Some(span) = self.find_cycle(start, callee, chain) {
                    return Some(span);
                }
                chain.pop();
            }
        }
        None
    }
}

fn resolve_dtype(name: &Spanned<String>, out: &mut Vec<Diagnostic>) -> Option<DType> {
    let found = DType::from_name(&name.value);
    if found.is_none() {
        out.push(Diagnostic::UnknownDtype {
            span: name.span,
            name: name.value.clone(),
            suggestion: suggest::nearest(&name.value, dtype::ALL.iter().map(|d| d.name()))
                .map(String::from),
        });
    }
    found
}
