//! The false passes that led to judging the whole answer, on a real lab:
//! each bundled scenario's topology with the naive expectation a user once
//! wrote, which must now fail and name the cause, and with what really
//! happened, which must pass.

mod common;

use std::path::PathBuf;

/// `scenarios/NAME.yaml` with its `queries:` replaced, written where the
/// test can run it; removed when dropped.
struct Variant(PathBuf);

impl Variant {
    fn of(name: &str, queries: &str) -> Variant {
        let text = std::fs::read_to_string(common::repo().join(format!("scenarios/{name}.yaml"))).unwrap();
        let head = &text[..text.find("\nqueries:").expect("the scenario has queries")];
        let path = std::env::temp_dir().join(format!("dnslab-test-{name}-{}-{}.yaml", std::process::id(), queries.len()));
        std::fs::write(&path, format!("{head}\nqueries:\n{queries}")).unwrap();
        Variant(path)
    }

    fn run(&self, kinds: &str) -> (i32, String) {
        let out = common::run(&["run", self.0.to_str().unwrap(), "--resolver", kinds, "--quiet"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // A failed run keeps its evidence; this test has no use for it.
        for l in String::from_utf8_lossy(&out.stderr).lines() {
            if let Some(dir) = l.strip_prefix("dnslab: evidence in ") {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        (out.status.code().unwrap_or(-1), stdout)
    }
}

impl Drop for Variant {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_truncated_answer_without_a_tcp_retry_is_not_noerror() {
    let naive = Variant::of("truncated", "  - ask: big.example.com TXT\n    ignore_tc: true\n    expect: NOERROR\n");
    let (code, out) = naive.run("hickory");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "expected NOERROR, got NOERROR (truncated, no data): no TXT record for big.example.com in the answer; truncated (TC=1) and not retried over TCP"
        ),
        "{out}"
    );
    let truth = Variant::of(
        "truncated",
        "  - ask: big.example.com TXT\n    ignore_tc: true\n    expect: { flags: [tc], answer_count: 0 }\n",
    );
    let (code, out) = truth.run("hickory");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_client_retries_over_tcp_after_tc_and_keeps_both_attempts() {
    let v = Variant::of("truncated", "  - ask: big.example.com TXT\n    expect: { outcome: NOERROR, transport: tcp }\n");
    let out = common::run(&["run", v.0.to_str().unwrap(), "--resolver", "hickory", "--format", "json", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = &report["runs"][0]["queries"][0];
    let attempts = q["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{q:#}");
    assert_eq!(
        (attempts[0]["transport"].as_str(), attempts[0]["tc"].as_bool()),
        (Some("udp"), Some(true)),
        "{q:#}"
    );
    assert_eq!(
        (attempts[1]["transport"].as_str(), attempts[1]["tc"].as_bool()),
        (Some("tcp"), Some(false)),
        "{q:#}"
    );
    assert_eq!(q["rcode"], "NOERROR");
    assert!(q["answer"][0]["data"].as_str().unwrap().len() > 1232, "{q:#}");
    assert_eq!(report["runs"][0]["schema_version"], 3);
}

#[test]
fn a_partial_cname_chain_is_not_noerror() {
    let naive = Variant::of("cname-chain", "  - ask: www.example.com A\n    expect: NOERROR\n");
    let (code, out) = naive.run("dnsmasq");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("expected NOERROR, got NOERROR (no data, no SOA): no A record after following CNAMEs: the chain www.example.com -> www.example.net ends without one"),
        "{out}"
    );
    let truth = Variant::of(
        "cname-chain",
        "  - ask: www.example.com A\n    expect: { answer: [CNAME www.example.net.], answer_count: 1 }\n",
    );
    let (code, out) = truth.run("dnsmasq");
    assert_eq!(code, 0, "{out}");
}

/// A firewall's `reject` is an ICMP error back to the sender: `unreachable`
/// on the wire, told apart from the silence of `drop`.
#[test]
fn a_rejecting_firewall_is_unreachable_not_a_timeout() {
    let text = r#"
name: reject
networks: { lan: 192.0.2.0/26, dc: 198.51.100.0/28 }
nodes:
  client: { interfaces: { lan: 192.0.2.10 } }
  fw:
    interfaces: { lan: 192.0.2.1, dc: 198.51.100.1 }
    firewall:
      udp_reject: { proto: udp, dport: 53, action: reject, family: ip }
  root:
    interfaces: { dc: 198.51.100.2 }
    server: { name: a.root-servers.net, zones: ["."] }
probes:
  - ask: . NS
    server: a.root-servers.net
    transport: [udp, tcp]
    timeout: 2s
    expect: unreachable
"#;
    let path = std::env::temp_dir().join(format!("dnslab-test-reject-{}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let v = Variant(path);
    let (code, out) = v.run("hickory");
    // UDP: the ICMP error, at once. TCP passes the rule, and answers.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("probe . NS @a.root-servers.net tcp port random: expected UNREACHABLE, got NOERROR"),
        "{out}"
    );
    assert!(!out.contains("probe . NS @a.root-servers.net udp port random: expected"), "{out}");
    assert!(out.contains("udp_reject = 1 packets matched (reject)"), "{out}");
}
