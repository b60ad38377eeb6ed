//! `resolver: {edns_size: N}` reaches each kind's own knob: what every
//! registered kind offers upstream, read off the wire (the OPT record of
//! each UDP query it sent), is N on the node that sets it and the kind's
//! default on the one that does not (for dnsmasq, which forwards the
//! client's own size: capped at its default, 1232). And why each went to
//! TCP upstream, as its report says it.

mod common;

const SCENARIO: &str = r#"
name: edns-size
description: Each kind offers upstream the EDNS size the scenario sets.
networks:
  internet: 203.0.113.0/24
nodes:
  client:
    interfaces: { internet: 203.0.113.10 }
  root:
    interfaces: { internet: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
  gtld:
    interfaces: { internet: 203.0.113.2 }
    server: { name: a.gtld-servers.net, zones: [com] }
  ns:
    interfaces: { internet: 203.0.113.61 }
    server: { name: ns1.example.com, zones: [example.com] }
  default-size:
    interfaces: { internet: 203.0.113.53 }
    resolver: {}
  big-size:
    interfaces: { internet: 203.0.113.54 }
    resolver: { edns_size: 4096 }
zones:
  example.com: |
    $ORIGIN example.com.
    $TTL 1h
    @    IN SOA ns1.example.com. hostmaster.example.com. ( 1 4h 1h 2w 5m )
    www  IN A 203.0.113.80
queries:
  # The client offers 4096 itself: dnsmasq, a forwarder, passes the
  # client's size on, capped at its edns-packet-max.
  - { ask: www.example.com A, edns: { size: 4096 }, expect: NOERROR }
"#;

#[test]
fn every_kind_offers_upstream_the_edns_size_the_scenario_sets() {
    let t = common::Temp::new("edns");
    let file = t.file("edns-size.yaml", SCENARIO);
    let out = common::run(&["run", file.to_str().unwrap(), "--resolver", &common::all_kinds(), "--format", "json", "--quiet"]);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}",
        rep["runs"].as_array().unwrap().iter().map(|o| &o["failures"]).collect::<Vec<_>>()
    );
    for o in rep["runs"].as_array().unwrap() {
        let kind = o["kind"].as_str().unwrap();
        let sizes = |node: &str| -> Vec<String> {
            o["resolvers"][node]["edns_sizes"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(sizes("big-size"), vec!["4096"], "{kind}: {:#}", o["resolvers"]["big-size"]);
        let default = sizes("default-size");
        assert!(!default.is_empty() && !default.contains(&"4096".to_string()), "{kind}: {default:?}");
    }
}

/// Why each kind asked over TCP, read off the wire: in `truncated` the 2 KB
/// answer comes back with TC=1 at the default 1232, and every kind then
/// asks the server again over TCP, once.
#[test]
fn every_kind_says_it_went_to_tcp_after_tc() {
    let out = common::run(&["run", "truncated", "--resolver", &common::all_kinds(), "--format", "json", "--quiet"]);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0));
    for o in rep["runs"].as_array().unwrap() {
        let r = &o["resolvers"]["resolver"];
        assert_eq!(r["tcp_fallbacks"], serde_json::json!({ "after TC=1": 1 }), "{}: {r:#}", o["kind"]);
    }
}

const TCP_SCENARIO: &str = r#"
name: tcp-upstream
description: tcp_upstream on and off reach each kind that has the knob.
networks:
  internet: 203.0.113.0/24
nodes:
  client:
    interfaces: { internet: 203.0.113.10 }
  root:
    interfaces: { internet: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
  gtld:
    interfaces: { internet: 203.0.113.2 }
    server: { name: a.gtld-servers.net, zones: [com] }
  ns:
    interfaces: { internet: 203.0.113.61 }
    server: { name: ns1.example.com, zones: [example.com] }
  tcp-always:
    interfaces: { internet: 203.0.113.53 }
    resolver: { tcp_upstream: on, kinds: [unbound, named, kresd] }
  tcp-never:
    interfaces: { internet: 203.0.113.54 }
    resolver: { tcp_upstream: off, kinds: [unbound] }
zones:
  example.com: |
    $ORIGIN example.com.
    $TTL 1h
    @    IN SOA ns1.example.com. hostmaster.example.com. ( 1 4h 1h 2w 5m )
    www  IN A 203.0.113.80
    big  IN TXT ( "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes"
                  "a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes, it comes truncated over UDP and whole only over TCP, a big answer: over 1232 bytes" )
queries:
  - { ask: www.example.com A, via: tcp-always, expect: NOERROR }
  - { ask: big.example.com TXT, via: tcp-always, expect: { outcome: NOERROR, transport: tcp } }
  - { ask: www.example.com A, via: tcp-never, expect: NOERROR }
  - { ask: big.example.com TXT, via: tcp-never, timeout: 5s }
"#;

/// `tcp_upstream: on` sends every upstream question over TCP and none over
/// UDP (unbound, named, kresd); `off` opens no TCP connection upstream at
/// all, even for an answer that came truncated (unbound, the one kind
/// that can). Kinds without the knob leave the node out.
#[test]
fn tcp_upstream_on_and_off_reach_each_kind_that_has_the_knob() {
    let t = common::Temp::new("tcp-upstream");
    let file = t.file("tcp-upstream.yaml", TCP_SCENARIO);
    let out = common::run(&["run", file.to_str().unwrap(), "--resolver", &common::all_kinds(), "--format", "json", "--quiet"]);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let failures: Vec<_> = rep["runs"].as_array().unwrap().iter().map(|o| &o["failures"]).collect();
    assert_eq!(out.status.code(), Some(0), "{failures:?}");
    let mut seen = Vec::new();
    for o in rep["runs"].as_array().unwrap() {
        let kind = o["kind"].as_str().unwrap();
        let upstream = |node: &str| o["resolvers"][node]["upstream"].as_array().cloned().unwrap_or_default();
        let always = upstream("tcp-always");
        if !always.is_empty() {
            seen.push(format!("{kind} on"));
            assert!(always.iter().all(|u| u["transport"] == "tcp"), "{kind}: {always:#?}");
            let why = &o["resolvers"]["tcp-always"]["tcp_fallbacks"];
            assert_eq!(why.as_object().unwrap().keys().collect::<Vec<_>>(), ["TCP first"], "{kind}: {why}");
        }
        let never = upstream("tcp-never");
        if !never.is_empty() {
            seen.push(format!("{kind} off"));
            assert!(never.iter().all(|u| u["transport"] == "udp" && u["tcp_connects"] == 0), "{kind}: {never:#?}");
        }
    }
    seen.sort();
    assert_eq!(seen, ["kresd on", "named on", "unbound off", "unbound on"]);
}
