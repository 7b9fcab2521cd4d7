//! `words` lists: resolving `{p:name}` captures to the words of the list
//! called `name`, and a list in a target into a translation from its source
//! capture's list (`{p:torch_norm}` -> `{p:burn_norm}` writes `gamma` where
//! the source matched `weight`).

use std::collections::HashMap;

use crate::diagnostics::Diagnostic;
use crate::source::FileId;
use crate::syntax::{CaptureKind, Item, Matcher, Module, Pattern, PatternPart, Targets};

/// The modules with every capture kind that names a `words` list replaced
/// by its words, and every word list in a rule's target by a translation.
pub fn resolve(modules: &[(FileId, Module)], out: &mut Vec<Diagnostic>) -> Vec<(FileId, Module)> {
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    for (_, module) in modules {
        for item in &module.items {
            if let Item::Words(w) = item {
                lists
                    .entry(w.name.value.clone())
                    .or_insert_with(|| w.words.iter().map(|w| w.value.clone()).collect());
            }
        }
    }
    let mut modules = modules.to_vec();
    if lists.is_empty() {
        return modules;
    }
    let expand = |p: &mut Pattern| {
        for part in &mut p.parts {
            if let PatternPart::Capture(c) = part {
                if let Some(CaptureKind::OneOf(words)) = &c.kind {
                    if let [one] = words.as_slice() {
                        if let Some(list) = lists.get(one) {
                            c.kind = Some(CaptureKind::OneOf(list.clone()));
                        }
                    }
                }
            }
        }
    };
    for (_, module) in &mut modules {
        for item in &mut module.items {
            match item {
                Item::Rule(r) => {
                    if let Matcher::Patterns(ps) = &mut r.sources {
                        ps.iter_mut().for_each(expand);
                    }
                    if let Targets::Patterns(ps) = &mut r.targets {
                        ps.iter_mut().for_each(expand);
                    }
                    if let (Matcher::Patterns(sources), Targets::Patterns(targets)) =
                        (&r.sources, &mut r.targets)
                    {
                        for t in targets {
                            translate(t, sources, out);
                        }
                    }
                }
                Item::Drop(d) => {
                    if let Matcher::Patterns(ps) = &mut d.matcher {
                        ps.iter_mut().for_each(expand);
                    }
                }
                Item::Tie(t) => {
                    expand(&mut t.copy);
                    expand(&mut t.original);
                }
                _ => {}
            }
        }
    }
    modules
}

/// Turns a target capture `{p:x|y}` into a translation from the words of
/// the source capture `{p:a|b}`.
fn translate(target: &mut Pattern, sources: &[Pattern], out: &mut Vec<Diagnostic>) {
    for part in &mut target.parts {
        let PatternPart::Capture(c) = part else {
            continue;
        };
        let Some(CaptureKind::OneOf(to)) = &c.kind else {
            continue;
        };
        let from = sources
            .iter()
            .flat_map(|p| p.captures())
            .find(|s| s.name == c.name)
            .and_then(|s| match &s.kind {
                Some(CaptureKind::OneOf(from)) => Some(from.clone()),
                _ => None,
            });
        match from {
            Some(from) if from.len() == to.len() => {
                c.kind = Some(CaptureKind::Translate {
                    from,
                    to: to.clone(),
                });
            }
            Some(from) => out.push(Diagnostic::BadCapture {
                span: c.span,
                problem: crate::diagnostics::CaptureProblem::WordCount {
                    capture: c.display(),
                    name: c.name.clone(),
                    from,
                    to: to.len(),
                },
            }),
            // Reported by the target pattern check: a list needs a list.
            None => {}
        }
    }
}
