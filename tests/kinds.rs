//! Every registered resolver kind is complete: its capabilities each say
//! how (the knob) or why not, it has a config template unless it runs in
//! our process, and it has a snapshot of every bundled scenario that runs
//! it. Adding a kind to the registry without these fails here.

mod common;

use harness::resolver::{Can, Kind};
use harness::scenario;

#[test]
fn every_capability_says_how_or_why_not() {
    for kind in Kind::ALL {
        for (what, can) in kind.caps().each() {
            let (Can::Yes(text) | Can::No(text)) = can;
            assert!(text.trim().len() > 3, "{kind}: `{what}` must name its knob or say why it cannot: {can:?}");
        }
    }
}

#[test]
fn every_kind_that_runs_a_program_has_a_template_and_a_package() {
    for kind in Kind::ALL {
        let (template, caps) = (kind.adapter().template(), kind.caps());
        match caps.program {
            None => assert!(template.is_none(), "{kind} runs in process: a template would never be used"),
            Some(p) => {
                assert!(
                    template.is_some_and(|t| !t.trim().is_empty()),
                    "{kind} runs {} but has no config template",
                    p.binary
                );
                assert!(!p.package.is_empty() && !p.binary.is_empty(), "{kind}: {p:?}");
            }
        }
    }
    // `make deps` installs what the registry names.
    let packages = harness::resolver::table::packages();
    assert_eq!(packages.len(), Kind::ALL.iter().filter(|k| !k.caps().in_process()).count());
}

#[test]
fn every_kind_has_a_snapshot_of_every_scenario_it_runs() {
    let dir = common::repo().join("tests/snapshots");
    let mut missing = Vec::new();
    for (name, path) in scenario::bundled() {
        let s = scenario::load(&path).unwrap_or_else(|d| panic!("{d}"));
        // The rule `dnslab run` takes its kinds by, not a copy of it.
        for kind in Kind::ALL.into_iter().filter(|&k| harness::resolver::choose::runs(&s, k)) {
            let snap = dir.join(format!("scenarios__{name}@{kind}.snap"));
            if !snap.is_file() {
                missing.push(snap.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "kinds without snapshots (run `make test`, then `cargo insta review`):\n{}",
        missing.join("\n")
    );
}

#[test]
fn dnslab_kinds_lists_every_kind_with_its_capabilities() {
    let out = common::run(&["kinds"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in Kind::ALL {
        assert!(text.lines().any(|l| l.starts_with(&format!("{kind}: "))), "{kind} missing:\n{text}");
    }
    assert!(text.contains("low source ports") && text.contains("negative trust anchors"), "{text}");
    let packages = common::run(&["kinds", "--packages"]);
    let listed: Vec<String> = String::from_utf8_lossy(&packages.stdout).lines().map(String::from).collect();
    assert_eq!(listed, harness::resolver::table::packages());
}
