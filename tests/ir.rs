//! The checked form (`wmap::check::lower`): each rule's steps hold the op,
//! its evaluated arguments and the values before and after, and each
//! binding's sources and targets point at the plan's tensors by name.

use wmap::check::ir::{Callee, Evaluated};
use wmap::ops::Builtin;

fn lower(text: &str) -> wmap::check::ir::Lowered {
    let preset = crate::common::preset("gpt2");
    let loaded = wmap::loader::load_text("ir.wmap", text);
    match wmap::check::lower(&loaded, &preset.infos(), &preset.config()) {
        Ok(lowered) => lowered,
        Err(problems) => panic!("{:?}", problems.into_vec()),
    }
}

#[test]
fn steps_record_the_op_its_arguments_and_the_values_around_it() {
    let lowered = lower(
        r#"wmap 1
"transformer.h.{i}.attn.c_attn.weight" | transpose | split(axis=0, sizes=[64, 64, 64])
    -> ["q.{i}", "k.{i}", "v.{i}"]
fallback "{name:**}" -> "{name}"
"#,
    );
    let rule = lowered
        .rules
        .iter()
        .find(|r| r.steps.len() == 2)
        .expect("the split rule");
    let [transpose, split] = &rule.steps[..] else {
        unreachable!()
    };
    assert_eq!(transpose.callee, Callee::Builtin(Builtin::Transpose));
    assert_eq!(transpose.evaluated, Evaluated::Permutation(vec![1, 0]));
    assert_eq!(transpose.inputs.len(), 1);
    assert_eq!(transpose.inputs[0].shape, vec![64, 192]);
    assert_eq!(
        transpose.inputs[0].tensor,
        "transformer.h.0.attn.c_attn.weight"
    );
    assert_eq!(transpose.outputs[0].shape, vec![192, 64]);
    assert!(transpose.uniform(), "both layers bring [64, 192]");
    assert_eq!(split.callee, Callee::Builtin(Builtin::Split));
    assert_eq!(split.evaluated, Evaluated::Axis(0));
    let shapes: Vec<&[u64]> = split.outputs.iter().map(|v| v.shape.as_slice()).collect();
    assert_eq!(shapes, [[64, 64]; 3]);

    // Each binding names its source and its three targets in the plan.
    assert_eq!(rule.groups.len(), 2);
    let plan = &lowered.plan;
    for (i, group) in rule.groups.iter().enumerate() {
        let sources: Vec<&str> = rule
            .sources_of(group)
            .iter()
            .map(|&s| plan.sources[s].name.as_str())
            .collect();
        assert_eq!(sources, [format!("transformer.h.{i}.attn.c_attn.weight")]);
        let targets: Vec<&str> = rule
            .targets_of(group)
            .iter()
            .map(|&t| plan.targets[t].name.as_str())
            .collect();
        assert_eq!(
            targets,
            [format!("q.{i}"), format!("k.{i}"), format!("v.{i}")]
        );
    }
}

#[test]
fn a_user_op_keeps_its_parameters_and_its_body() {
    let lowered = lower(
        r#"wmap 1
op heads_first(h) = reshape(h, shape[0] / h, shape[1]) | permute(1, 0, 2)
"transformer.wpe.weight" | heads_first(4) -> "pos"
fallback "{name:**}" -> "{name}"
"#,
    );
    let rule = lowered
        .rules
        .iter()
        .find(|r| r.steps.len() == 1)
        .expect("the op rule");
    let step = &rule.steps[0];
    assert_eq!(step.callee, Callee::User("heads_first".into()));
    assert_eq!(step.params, vec![("h".to_string(), 4)]);
    assert_eq!(step.body.len(), 2);
    assert_eq!(step.body[0].outputs[0].shape, vec![4, 16, 64]);
    assert_eq!(
        step.body[1].evaluated,
        Evaluated::Permutation(vec![1, 0, 2])
    );
    assert_eq!(step.outputs[0].shape, vec![16, 4, 64]);
}
