//! One bad scenario per lint rule, each snapshotted with its messages and
//! positions. The fixture's file name is the rule it must trigger.

use std::path::Path;

use harness::scenario;

#[test]
fn every_rule_has_a_fixture_that_triggers_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint");
    // Scenarios only: `zones/` holds the zone files they name.
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut rules_seen = Vec::new();
    for f in &files {
        let rule = f.file_stem().unwrap().to_string_lossy().into_owned();
        let err = scenario::load(f).expect_err(&format!("{rule}.yaml must not pass"));
        let text = err.to_string().replace(&format!("{}/", dir.display()), "lint/");
        assert!(
            err.findings.iter().any(|d| d.rule.name() == rule),
            "{rule}.yaml does not trigger `{rule}`:\n{text}"
        );
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

/// Every form of the expectation grammar, read into typed expectations.
#[test]
fn the_grammar_reads_into_typed_expectations() {
    use harness::resolver::Kind;
    use harness::verdict::{Count, Expect, Word};
    let text = r#"
name: grammar
networks: { net: 203.0.113.0/24 }
nodes:
  client: { interfaces: { net: 203.0.113.10 } }
  root:
    interfaces: { net: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
  r1: { interfaces: { net: 203.0.113.53 }, resolver: {} }
  r2: { interfaces: { net: 203.0.113.54 }, resolver: {} }
queries:
  - ask: a.example A
    via: r1
    expect: nodata
  - ask: a.example A
    via: r1
    expect: [SERVFAIL, timeout, tcp-refused]
  - ask: a.example A
    via: r1
    transport: [udp, tcp]
    dnssec: true
    cd: true
    edns: { size: 4096 }
    expect: { outcome: NOERROR, answer: [A 192.0.2.1, "TXT \"x y\""], flags: [aa, -tc], ede: no-reachable-authority, transport: tcp }
  - ask: a.example A
    expect: { r1: REFERRAL, r2@dnsmasq: { answer_count: { min: 1 } }, r2@new: SERVFAIL, r2: { answer_count: 2 } }
probes:
  - ask: . NS
    server: a.root-servers.net
    edns: none
    expect: { random: NOERROR }
"#;
    let s = harness::scenario::parse(std::path::Path::new("grammar.yaml"), text).unwrap_or_else(|d| panic!("{d}"));
    let q = &s.queries;
    assert_eq!(q[0].expect, Expect::words(vec![Word::Nodata]));
    assert_eq!(q[1].expect.outcome.len(), 3);
    // A list of transports is a query each.
    assert_eq!((q[2].transport.to_string(), q[3].transport.to_string()), ("udp".into(), "tcp".into()));
    let e = &q[2].expect;
    // As hickory prints TXT data, which is how answers are compared.
    assert_eq!(e.answer.as_deref(), Some(&["a 192.0.2.1".to_string(), "txt x y".to_string()][..]));
    assert_eq!((e.ede, e.flags.len(), e.transport.map(|t| t.to_string())), (Some(22), 2, Some("tcp".into())));
    let stub = q[2].stub;
    assert!(stub.cd && stub.rd && stub.ad && stub.tcp_after_tc);
    assert_eq!(stub.edns.map(|e| (e.size, e.dnssec_ok)), Some((4096, true)));
    // One expectation per resolver, and one for a kind only.
    let (r1, r2) = (&q[4], &q[5]);
    assert_eq!((r1.via.as_str(), r1.expect.outcome.clone()), ("r1", vec![Word::Referral]));
    assert_eq!(r2.expect.answer_count, Some(Count { min: 2, max: 2 }));
    assert_eq!(r2.expect_for("dnsmasq", Kind::Dnsmasq).answer_count, Some(Count { min: 1, max: u32::MAX }));
    assert_eq!(r2.expect_for("unbound", Kind::Unbound), &r2.expect);
    // `@new` is a build's name: its run takes that one, whatever its kind,
    // over its kind's (a dnsmasq build named `new`) and the general one.
    assert_eq!(
        r2.expect_for("new", Kind::Unbound),
        &Expect::words(vec![Word::Status(harness::answer::Status::Rcode(harness::answer::Rcode::ServFail))])
    );
    assert_eq!(r2.expect_for("new", Kind::Dnsmasq), r2.expect_for("new", Kind::Unbound));
    assert_eq!(s.build_targets().into_iter().collect::<Vec<_>>(), vec![("r2".to_string(), "new".to_string())]);
    // A kind's name mistyped is no build's name.
    let typo = harness::scenario::parse(std::path::Path::new("grammar.yaml"), &text.replace("r2@new:", "r2@unboud:"))
        .unwrap_err()
        .to_string();
    assert!(typo.contains("too like `unbound`"), "{typo}");
    // `random` is the default source port, so it can be a key without being written.
    assert_eq!(s.probes[0].expect.outcome.len(), 1);
    assert!(s.probes[0].stub.edns.is_none() && !s.probes[0].stub.rd);
}
