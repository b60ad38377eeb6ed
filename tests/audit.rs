//! `dnslab audit` on the five mistakes: each broken variant's findings are
//! exactly the ones it expects (snapshotted per resolver kind), each fixed
//! variant has none, and a scenario with unexpected findings exits 1.

mod common;

const KINDS: &str = "hickory,unbound,named,pdns,kresd,dnsmasq";

fn audit(name: &str) -> (i32, serde_json::Value) {
    let out = common::run(&["audit", name, "--resolver", KINDS, "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON from audit {name} ({e}):\n{stderr}"));
    (out.status.code().unwrap_or(-1), json)
}

/// Where and what, without the wording: `error lame-delegation zone=... server=...`.
fn summary(json: &serde_json::Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut line = format!("{} {}", f["severity"].as_str().unwrap(), f["rule"].as_str().unwrap());
            for key in ["zone", "server", "resolver", "kind"] {
                if let Some(v) = f[key].as_str() {
                    line += &format!(" {key}={v}");
                }
            }
            if !f["expected"].as_bool().unwrap() {
                line += "  << UNEXPECTED";
            }
            line
        })
        .collect()
}

fn broken_and_fixed(name: &str) {
    let (code, json) = audit(name);
    assert!(json["expected_but_not_found"].as_array().unwrap().is_empty(), "{name}: {json:#}");
    assert_eq!(code, 0, "{name}: unexpected findings:\n{json:#}");
    let found = summary(&json);
    assert!(!found.is_empty(), "{name}: the audit found nothing");
    insta::assert_json_snapshot!(format!("audit-{name}"), found);

    let fixed = format!("{name}-fixed");
    let (code, json) = audit(&fixed);
    assert_eq!((code, summary(&json)), (0, vec![]), "{fixed}: {json:#}");
}

#[test]
fn lame_delegation() {
    broken_and_fixed("lame-delegation");
}

#[test]
fn rfc1918_reverse() {
    broken_and_fixed("rfc1918-reverse");
}

#[test]
fn localhost() {
    broken_and_fixed("localhost");
}

#[test]
fn open_resolver() {
    broken_and_fixed("open-resolver");
}

#[test]
fn soa_rname() {
    broken_and_fixed("soa-rname");
}

#[test]
fn unexpected_findings_exit_1() {
    // msft-lowport expects no findings, and its zones name mailboxes at
    // domains the lab does not have.
    let out = common::run(&["audit", "msft-lowport", "--resolver", "unbound"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad-soa-rname") && text.contains("microsoft.com. does not exist"), "{text}");
}
