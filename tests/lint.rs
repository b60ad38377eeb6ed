//! One bad scenario per lint rule, each snapshotted with its messages and
//! positions. The fixture's file name is the rule it must trigger.

use std::path::Path;

use harness::scenario;

#[test]
fn every_rule_has_a_fixture_that_triggers_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut rules_seen = Vec::new();
    for f in &files {
        let rule = f.file_stem().unwrap().to_string_lossy().into_owned();
        let err = scenario::load(f).expect_err(&format!("{rule}.yaml must not pass"));
        let text = err.to_string().replace(&format!("{}/", dir.display()), "lint/");
        assert!(err.findings.iter().any(|d| d.rule.name() == rule), "{rule}.yaml does not trigger `{rule}`:\n{text}");
        for d in &err.findings {
            assert!(d.pos.line > 0 && d.pos.col > 0, "{text}");
        }
        rules_seen.push(rule.clone());
        insta::assert_snapshot!(rule, text);
    }
    // A file that cannot be read has no fixture of its own: tests/cli.rs names a missing one.
    for rule in scenario::Rule::ALL.iter().filter(|r| **r != scenario::Rule::Unreadable) {
        assert!(rules_seen.iter().any(|s| s == rule.name()), "no fixture for rule `{rule}`");
    }
}

#[test]
fn bundled_scenarios_are_valid() {
    for (name, path) in scenario::bundled() {
        if let Err(d) = scenario::load(&path) {
            panic!("{name}:\n{d}");
        }
    }
}
