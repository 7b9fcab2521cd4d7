//! Running a rule's pipeline on shapes and dtypes: each call is resolved to
//! a built-in op (whose rule, in `crate::ops`, checks it and builds the plan
//! nodes) or to a user `op` (whose body runs in its place), and is recorded
//! as a [`Step`] of the checked form.

use std::collections::HashMap;

use super::env::{Lets, Scope};
use super::ir::{merge, Callee, Step, Value};
use super::matching::Binding;
use crate::checkpoint::{Config, Tensor};
use crate::diagnostics::{ArgProblem, BranchProblem, Diagnostic, DtypeProblem};
use crate::ops::{bind_args, Apply, Builtin, Ctx};
use crate::plan::Node;
use crate::syntax::{Branches, OpCall, OpDef, Stage};

/// One run of a rule: a binding of its captures and the values it carries.
#[derive(Debug, Clone)]
pub struct Instance {
    pub binding: Binding,
    pub lanes: Vec<Node>,
    /// Shapes entering each enclosing pipeline (the rule's, then each `op`'s).
    pub(crate) entry: Vec<Vec<Vec<u64>>>,
}

impl Instance {
    pub fn new(binding: Binding, lanes: Vec<Node>) -> Self {
        let shapes = lanes.iter().map(|l| l.shape.clone()).collect();
        Instance {
            binding,
            lanes,
            entry: vec![shapes],
        }
    }
}

/// What pipelines need to know about the rest of the mapping.
pub struct Pipelines<'a> {
    pub lets: &'a Lets,
    pub config: &'a Config,
    pub ops: &'a HashMap<String, &'a OpDef>,
    pub sources: &'a [Tensor],
    /// The same tensors by name, for `shape("name")[k]`.
    pub named: &'a super::env::Named<'a>,
}

/// What a call resolves to.
pub(crate) enum Resolved<'d> {
    Builtin(Builtin),
    User(&'d OpDef),
}

/// The op `name` calls: a user `op` of that name first, else a built-in.
pub(crate) fn resolve<'d>(ops: &HashMap<String, &'d OpDef>, name: &str) -> Option<Resolved<'d>> {
    match ops.get(name) {
        Some(def) => Some(Resolved::User(def)),
        None => Builtin::from_name(name).map(Resolved::Builtin),
    }
}

impl Pipelines<'_> {
    /// Runs `stages` over `instances`, recording a step for each; `None`
    /// when a problem was reported.
    pub fn run(
        &self,
        stages: &[Stage],
        mut instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        steps: &mut Vec<Step>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        for stage in stages {
            instances = match stage {
                Stage::Call(call) => self.call(call, instances, params, stack, steps, out)?,
                Stage::Branches(b) => self.branches(b, instances, params, stack, steps, out)?,
            };
        }
        Some(instances)
    }

    /// Branches: each instance's k-th value through the k-th arm, on its
    /// own (`shape` in an arm is that value's), the arms' results in order.
    fn branches(
        &self,
        branches: &Branches,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        steps: &mut Vec<Step>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let mut step = self.step(branches.span, Callee::Branches, &instances);
        let arms = branches.arms.len();
        if let Some(inst) = instances.iter().find(|i| i.lanes.len() != arms) {
            out.push(Diagnostic::BadBranches {
                span: branches.span,
                problem: BranchProblem::Count {
                    arms,
                    values: inst.lanes.len(),
                },
            });
            steps.push(step);
            return None;
        }
        let mut made: Vec<Vec<Node>> = vec![Vec::new(); instances.len()];
        let mut failed = false;
        for (k, arm) in branches.arms.iter().enumerate() {
            if arm.stages.is_empty() {
                for (slot, inst) in made.iter_mut().zip(&instances) {
                    slot.push(inst.lanes[k].clone());
                }
                step.arms.push(Vec::new());
                continue;
            }
            let entering = instances
                .iter()
                .map(|inst| {
                    let lane = inst.lanes[k].clone();
                    let mut entry = inst.entry.clone();
                    entry.push(vec![lane.shape.clone()]);
                    Instance {
                        binding: inst.binding.clone(),
                        lanes: vec![lane],
                        entry,
                    }
                })
                .collect::<Vec<_>>();
            let mut arm_steps = Vec::new();
            let result = self.run(&arm.stages, entering, params, stack, &mut arm_steps, out);
            step.arms.push(arm_steps);
            match result {
                Some(result) if result.len() == made.len() => {
                    for (slot, inst) in made.iter_mut().zip(result) {
                        slot.extend(inst.lanes);
                    }
                }
                Some(_) => {
                    // Only an op across bindings changes their number.
                    let across = Stage::calls(&arm.stages).into_iter().find(|c| {
                        matches!(
                            resolve(self.ops, &c.name.value),
                            Some(Resolved::Builtin(op))
                                if matches!(op.spec().apply, Apply::AcrossBindings(_))
                        )
                    });
                    out.push(Diagnostic::BadBranches {
                        span: across.map_or(arm.span, |c| c.span),
                        problem: BranchProblem::AcrossBindings {
                            op: across.map_or_else(|| "an op".into(), |c| c.name.value.clone()),
                        },
                    });
                    failed = true;
                }
                None => failed = true,
            }
        }
        if failed {
            steps.push(step);
            return None;
        }
        let result: Vec<Instance> = instances
            .into_iter()
            .zip(made)
            .map(|(mut inst, lanes)| {
                inst.lanes = lanes;
                inst
            })
            .collect();
        let before = step.inputs.first().cloned();
        let outputs = result.first().map(|i| self.values(i)).unwrap_or_default();
        step.ran = before.is_some() && !outputs.is_empty();
        step.outputs = outputs;
        steps.push(step);
        Some(result)
    }

    /// A step about to run `callee` on `instances`.
    fn step(&self, span: crate::source::Span, callee: Callee, instances: &[Instance]) -> Step {
        Step::new(
            span,
            callee,
            instances
                .first()
                .map(|i| self.values(i))
                .unwrap_or_default(),
            instances.iter().map(|i| i.lanes.as_slice()),
        )
    }

    fn values(&self, inst: &Instance) -> Vec<Value> {
        inst.lanes
            .iter()
            .map(|l| Value {
                tensor: crate::ops::node_name(self.sources, l),
                shape: l.shape.clone(),
                dtype: l.dtype,
            })
            .collect()
    }

    fn call(
        &self,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        steps: &mut Vec<Step>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        // Unknown ops are reported once, by the static check of pipelines.
        let resolved = resolve(self.ops, &call.name.value)?;
        let callee = match &resolved {
            Resolved::Builtin(op) => Callee::Builtin(*op),
            Resolved::User(def) => Callee::User(def.name.value.clone()),
        };
        let mut step = self.step(call.span, callee, &instances);
        let before = instances.first().and_then(|i| i.lanes.first()).cloned();
        let result = match resolved {
            Resolved::User(def) => {
                self.user_op(call, def, instances, params, stack, &mut step, out)
            }
            Resolved::Builtin(op) => self.builtin(op, call, instances, params, out),
        };
        let first = result.as_ref().and_then(|r| r.first());
        let outputs = first.map(|i| self.values(i)).unwrap_or_default();
        step.finish(
            before.as_ref(),
            first.and_then(|i| i.lanes.first()),
            outputs,
        );
        steps.push(step);
        result
    }

    /// The names an op's arguments may use for `inst`.
    pub(crate) fn scope<'s>(
        &'s self,
        params: &'s [(String, i64)],
        inst: &'s Instance,
    ) -> Scope<'s> {
        Scope {
            lets: self.lets,
            config: self.config,
            named: self.named,
            params,
            shape: inst.entry.last().map(Vec::as_slice),
        }
    }

    /// A call of `op`, its arguments read in `scope`.
    pub(crate) fn ctx<'s>(
        &'s self,
        op: Builtin,
        call: &'s OpCall,
        scope: &'s Scope<'s>,
    ) -> Ctx<'s> {
        Ctx {
            op,
            call,
            scope,
            sources: self.sources,
        }
    }

    fn builtin(
        &self,
        op: Builtin,
        call: &OpCall,
        instances: Vec<Instance>,
        params: &[(String, i64)],
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        let each = |mut inst: Instance, out: &mut Vec<Diagnostic>| {
            let lanes = std::mem::take(&mut inst.lanes);
            let scope = self.scope(params, &inst);
            let cx = self.ctx(op, call, &scope);
            let lanes = match op.spec().apply {
                Apply::EachValue(f) => lanes
                    .into_iter()
                    .map(|lane| f(&cx, lane, out))
                    .collect::<Option<Vec<Node>>>()?,
                Apply::OneToMany(f) => f(&cx, &lanes, out)?,
                Apply::ManyToOne(f) => vec![f(&cx, lanes, out)?],
                Apply::AcrossBindings(_) | Apply::Makes(_) => unreachable!("handled below"),
            };
            inst.lanes = lanes;
            Some(inst)
        };
        // Packed dtypes only reshape and cast; dtypes wmap does not write
        // are moved, never computed in.
        let computes = matches!(
            op,
            Builtin::Add
                | Builtin::Mul
                | Builtin::Neg
                | Builtin::Abs
                | Builtin::Sqrt
                | Builtin::Exp
                | Builtin::Log
                | Builtin::Pad
        );
        let moves_only_bytes = matches!(op, Builtin::Reshape | Builtin::Unsqueeze | Builtin::Cast);
        let lanes = instances.iter().flat_map(|i| i.lanes.iter());
        for lane in lanes {
            let problem = if lane.dtype.is_packed() && !moves_only_bytes {
                Some(DtypeProblem::Packed)
            } else if !lane.dtype.is_encodable() && computes {
                Some(DtypeProblem::NotComputed)
            } else {
                None
            };
            if let Some(problem) = problem {
                out.push(Diagnostic::UnsupportedDtype {
                    span: call.span,
                    op: call.name.value.clone(),
                    dtype: lane.dtype,
                    problem,
                });
                return None;
            }
        }
        match op.spec().apply {
            Apply::AcrossBindings(f) => f(self, call, instances, params, out),
            Apply::Makes(_) => {
                out.push(Diagnostic::MisplacedFill {
                    span: call.span,
                    op: call.name.value.clone(),
                    in_pipeline: true,
                });
                None
            }
            _ => instances.into_iter().map(|inst| each(inst, out)).collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn user_op(
        &self,
        call: &OpCall,
        def: &OpDef,
        mut instances: Vec<Instance>,
        params: &[(String, i64)],
        stack: &mut Vec<String>,
        step: &mut Step,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Instance>> {
        if stack.contains(&def.name.value) || stack.len() > 64 {
            return None; // reported by the static recursion check
        }
        let names: Vec<&str> = def.params.iter().map(|p| p.value.as_str()).collect();
        // Each instance's arguments are evaluated in the caller's scope.
        let mut per_instance: Vec<Vec<(String, i64)>> = Vec::new();
        for inst in &instances {
            let slots = bind_args(call, &names, out)?;
            let scope = self.scope(params, inst);
            let mut bound = Vec::new();
            for (name, slot) in names.iter().zip(slots) {
                let Some(value) = slot else {
                    out.push(Diagnostic::BadArguments {
                        span: call.span,
                        op: call.name.value.clone(),
                        problem: ArgProblem::Missing {
                            param: name.to_string(),
                        },
                    });
                    return None;
                };
                bound.push((
                    name.to_string(),
                    crate::ops::int_arg(call, &scope, value, out)?,
                ));
            }
            per_instance.push(bound);
        }
        step.params = per_instance.first().cloned().unwrap_or_default();
        for inst in &mut instances {
            let shapes = inst.lanes.iter().map(|l| l.shape.clone()).collect();
            inst.entry.push(shapes);
        }
        stack.push(def.name.value.clone());
        let result = if per_instance.windows(2).all(|w| w[0] == w[1]) {
            let bound = per_instance.into_iter().next().unwrap_or_default();
            self.run(&def.body, instances, &bound, stack, &mut step.body, out)
        } else {
            let mut all = Vec::new();
            let mut failed = false;
            for (inst, bound) in instances.into_iter().zip(per_instance) {
                let mut steps = Vec::new();
                let made = self.run(&def.body, vec![inst], &bound, stack, &mut steps, out);
                merge(&mut step.body, steps);
                match made {
                    Some(made) => all.extend(made),
                    None => {
                        failed = true;
                        break;
                    }
                }
            }
            (!failed).then_some(all)
        };
        stack.pop();
        let mut result = result?;
        for inst in &mut result {
            inst.entry.pop();
        }
        Some(result)
    }
}
