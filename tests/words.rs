//! `words` lists: matching by name, translation in targets, and the errors
//! that keep a translation from silently writing the wrong word.

use crate::common::CheckedExt;
use wmap::check::check;
use wmap::checkpoint::{Checkpoint, Config};
use wmap::loader::load_text;

fn check_gpt2(text: &str) -> Result<Vec<(String, Vec<u64>)>, Vec<&'static str>> {
    let ckpt = Checkpoint::open(std::path::Path::new("tests/fixtures/models/gpt2")).unwrap();
    let config = Config::load(std::path::Path::new(
        "tests/fixtures/models/gpt2/config.json",
    ))
    .unwrap();
    let loaded = load_text("m.wmap", text);
    let checked = check(&loaded, &ckpt.tensors, &config);
    match checked.plan() {
        Some(plan) => Ok(plan
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.node.shape.clone()))
            .collect()),
        None => Err(checked.diagnostics().iter().map(|d| d.code()).collect()),
    }
}

#[test]
fn a_list_translates_word_for_word_and_keeps_every_other_name() {
    let targets = check_gpt2(
        "words pt = weight | bias\nwords burn = gamma | beta\n\
         \"transformer.h.{i}.ln_{n:1|2}.{p:pt}\" -> \"blocks.{i}.ln_{n}.{p:burn}\"\n\
         fallback \"{name:**}\" -> \"{name}\"\n",
    )
    .unwrap();
    let names: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "blocks.0.ln_1.gamma",
        "blocks.0.ln_1.beta",
        "blocks.1.ln_2.gamma",
        "blocks.1.ln_2.beta",
    ] {
        assert!(names.contains(&want), "{want}: {names:?}");
    }
    assert!(!names
        .iter()
        .any(|n| n.starts_with("blocks.") && n.ends_with(".weight")));
    // 28 source tensors, each written once.
    assert_eq!(targets.len(), 28);
}

#[test]
fn a_target_list_needs_a_source_list_of_the_same_length() {
    let fallback = "fallback \"{name:**}\" -> \"{name}\"\n";
    assert_eq!(
        check_gpt2(&format!(
            "\"transformer.ln_f.{{p:*}}\" -> \"ln_f.{{p:gamma|beta}}\"\n{fallback}"
        )),
        Err(vec!["bad_capture"])
    );
    assert_eq!(
        check_gpt2(&format!(
            "words three = a | b | c\n\"transformer.ln_f.{{p:weight|bias}}\" -> \"ln_f.{{p:three}}\"\n{fallback}"
        )),
        Err(vec!["bad_capture"])
    );
}

#[test]
fn a_list_is_defined_once_and_an_unknown_name_is_a_plain_word() {
    assert_eq!(
        check_gpt2("words a = x | y\nwords a = z\nfallback \"{name:**}\" -> \"{name}\"\n"),
        Err(vec!["duplicate_definition"])
    );
    // `{p:weight}` with no list called `weight` matches the word itself.
    let targets = check_gpt2(
        "\"transformer.ln_f.{p:weight}\" -> \"final.{p}\"\nfallback \"{name:**}\" -> \"{name}\"\n",
    )
    .unwrap();
    assert!(targets.iter().any(|(n, _)| n == "final.weight"));
}
