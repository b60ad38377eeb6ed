//! Every bundled scenario through every resolver kind, snapshotted in its
//! stable form (ports as 53/low/high, times and counts bucketed), plus one
//! matrix per scenario: a row per query, a column per resolver kind.
//! A resolver that is not installed fails the test with how to install it.

mod common;

use std::collections::BTreeMap;

use harness::probe::Stub;
use harness::report::RunReport;
use harness::scenario;

fn check(name: &str) -> RunReport {
    let out = common::run(&["run", name, "--resolver", &common::all_kinds(), "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "dnslab run {name} failed:\n{stderr}"
    );
    let report: RunReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stderr}"));
    let s = scenario::load(&scenario::locate(
        &common::repo().join("scenarios").join(format!("{name}.yaml")).to_string_lossy(),
    ))
    .unwrap();
    let mut matrix: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for o in &report.runs {
        insta::assert_json_snapshot!(format!("{name}@{}", o.kind), harness::snapshot::stable(&s, o));
        for r in &o.rates {
            let bounds: String = r.expect.iter().map(|b| format!(" {}", b.rate)).collect();
            let cell = format!("{}{bounds}", if r.ok { "ok" } else { "MISSED" });
            matrix
                .entry(format!("{} x{} via {}", r.ask, r.sent, r.resolver))
                .or_default()
                .insert(o.kind.to_string(), cell);
        }
        for q in o.queries.iter().filter(|q| !o.is_counted(q)) {
            matrix
                .entry(format!(
                    "{}{} {} via {}",
                    sender(&q.from),
                    q_of(&q.qname, &q.qtype, &q.stub, &Stub::DIG),
                    q.transport_label(),
                    q.resolver
                ))
                .or_default()
                .insert(o.kind.to_string(), q.verdict.outcome.clone());
        }
        for p in &o.probes {
            let transport = p.transport_label();
            let q = q_of(&p.qname, &p.qtype, &p.stub, &Stub::NORECURSE);
            let row = format!("{}probe {q} @{} {transport} port {}", sender(&p.from), p.server, p.requested_port);
            matrix.entry(row).or_default().insert(o.kind.to_string(), p.verdict.outcome.clone());
        }
    }
    insta::assert_snapshot!(format!("{name}@matrix"), harness::report::matrix(&matrix));
    assert!(
        report.passed,
        "expectations failed:\n{}",
        report.runs.iter().flat_map(|o| o.failures.clone()).collect::<Vec<_>>().join("\n")
    );
    report
}

/// `big.example.com. TXT`, and after it how the question's header and EDNS
/// differ from dig's (`+bufsize=4096`), so that two rows never merge.
fn q_of(qname: &str, qtype: &str, stub: &Stub, base: &Stub) -> String {
    let opts = stub.dig_options(base);
    format!("{qname} {qtype}{}{opts}", if opts.is_empty() { "" } else { " " })
}

/// A report's counted reasons or sizes, without their counts.
fn keys(counts: &BTreeMap<String, u32>) -> Vec<&str> {
    counts.keys().map(String::as_str).collect()
}

/// `laptop: ` before a row whose asker is not the client.
fn sender(from: &str) -> String {
    if from == "client" {
        String::new()
    } else {
        format!("{from}: ")
    }
}

/// Queries each kind sent to lame servers (the seed's requeries), summed.
fn to_lame(report: &RunReport) -> Vec<(String, u32)> {
    report
        .runs
        .iter()
        .map(|o| (o.kind.to_string(), o.resolvers.values().flat_map(|r| r.to_lame.values()).sum()))
        .collect()
}

#[test]
fn msft_lowport() {
    check("msft-lowport");
}

#[test]
fn msft_lowport_mixed() {
    check("msft-lowport-mixed");
}

/// Lame replies (REFUSED, an upward referral, silence) servers gave, per kind.
fn lame_replies(report: &RunReport) -> Vec<(String, usize)> {
    use harness::authority::ReplyKind::{NoReply, Refused, UpwardReferral};
    report
        .runs
        .iter()
        .map(|o| {
            let lame = o.servers.values().flatten().filter(|r| matches!(r.reply, Refused | UpwardReferral | NoReply));
            (o.kind.to_string(), lame.count())
        })
        .collect()
}

#[test]
fn lame_delegation() {
    let report = check("lame-delegation");
    // bothlame.com has no good server: every kind asks a lame one, and it is counted.
    let counts = to_lame(&report);
    assert!(counts.iter().all(|(_, n)| *n > 0), "{counts:?}");
    assert!(lame_replies(&report).iter().all(|(_, n)| *n > 0), "{:?}", lame_replies(&report));
}

#[test]
fn lame_delegation_fixed() {
    let report = check("lame-delegation-fixed");
    // The fix holds on the wire: no server gave a single lame reply.
    assert!(lame_replies(&report).iter().all(|(_, n)| *n == 0), "{:?}", lame_replies(&report));
}

#[test]
fn rfc1918_reverse() {
    check("rfc1918-reverse");
}

#[test]
fn rfc1918_reverse_fixed() {
    check("rfc1918-reverse-fixed");
}

#[test]
fn localhost() {
    check("localhost");
}

#[test]
fn localhost_fixed() {
    check("localhost-fixed");
}

#[test]
fn open_resolver() {
    check("open-resolver");
}

#[test]
fn open_resolver_fixed() {
    check("open-resolver-fixed");
}

#[test]
fn soa_rname() {
    check("soa-rname");
}

#[test]
fn soa_rname_fixed() {
    check("soa-rname-fixed");
}

#[test]
fn truncated() {
    let report = check("truncated");
    // Every kind answered the big TXT over UDP with TC=1, and the client
    // asked again over TCP: both attempts are in the outcome.
    for o in &report.runs {
        let big: Vec<_> = o
            .queries
            .iter()
            .filter(|q| q.qname == "big.example.com." && q.from == "client" && q.stub.tcp_after_tc)
            .collect();
        assert_eq!(big.len(), 1, "{}", o.kind);
        let tries: Vec<_> = big[0].reply.attempts.iter().map(|a| (a.transport.to_string(), a.tc)).collect();
        assert_eq!(tries, [("udp".to_string(), true), ("tcp".to_string(), false)], "{}", o.kind);
        assert!(big[0].reply.attempts[1].response_bytes > 1232, "{}: {:?}", o.kind, big[0].reply.attempts);
    }
}

/// What each kind does when the fragments of its 4096-byte answers are
/// dropped: the outcome says it, read off the wire.
#[test]
fn flag_day_2020() {
    let report = check("flag-day-2020");
    for o in &report.runs {
        let r = &o.resolvers["resolver"];
        let want: &[&str] = match o.kind.name() {
            "unbound" | "dnsmasq" => &["after TC=1"],
            "kresd" => &["after UDP timeouts"],
            _ => &[],
        };
        assert_eq!(keys(&r.tcp_fallbacks), want, "{}: {r:?}", o.kind);
        // dnsmasq passes on the client's 1232; every other kind offered 4096
        // (unbound, once it gave up on it, 1472).
        let want: &[&str] = match o.kind.name() {
            "dnsmasq" => &["1232"],
            "unbound" => &["1472", "4096"],
            _ => &["4096"],
        };
        assert_eq!(keys(&r.edns_sizes), want, "{}", o.kind);
        assert!(o.firewalls["dc-edge"]["frag_drop"] > 0 || o.kind.name() == "dnsmasq", "{}", o.kind);
    }
}

#[test]
fn flag_day_2020_fixed() {
    let report = check("flag-day-2020-fixed");
    for o in &report.runs {
        assert_eq!(o.firewalls["dc-edge"]["frag_drop"], 0, "{}: nothing fragments at 1232", o.kind);
        let r = &o.resolvers["resolver"];
        assert_eq!(keys(&r.tcp_fallbacks), ["after TC=1"], "{}", o.kind);
    }
}

/// TCP/53 blocked at the server's edge: every kind asks again over TCP
/// after TC=1 and fails, each in its own way; only dnsmasq hands the
/// client the truncated answer (and then resets its TCP retry).
#[test]
fn tcp_blocked() {
    let report = check("tcp-blocked");
    for o in &report.runs {
        let r = &o.resolvers["resolver"];
        assert_eq!(keys(&r.tcp_fallbacks), ["after TC=1"], "{}: {r:?}", o.kind);
        assert!(o.firewalls["dc-edge"]["tcp53_drop"] > 0, "{}", o.kind);
        let big: Vec<_> = o.queries.iter().filter(|q| q.qname == "big.example.com.").collect();
        assert_eq!(big.len(), 1, "{}", o.kind);
        let tries: Vec<_> = big[0].reply.attempts.iter().map(|a| (a.transport.to_string(), a.tc)).collect();
        let want: &[(&str, bool)] = match o.kind.name() {
            "dnsmasq" => &[("udp", true), ("tcp", false)],
            _ => &[("udp", false)],
        };
        let want: Vec<_> = want.iter().map(|(t, tc)| (t.to_string(), *tc)).collect();
        assert_eq!(tries, want, "{}: which kinds hand the client a truncated answer", o.kind);
    }
}

#[test]
fn tcp_blocked_fixed() {
    let report = check("tcp-blocked-fixed");
    for o in &report.runs {
        let r = &o.resolvers["resolver"];
        assert_eq!(keys(&r.tcp_fallbacks), ["after TC=1"], "{}", o.kind);
        assert!(o.firewalls["dc-edge"]["tcp53_ok"] > 0, "{}", o.kind);
    }
}

/// The big answer over IPv6 at MTU 1280 through a path that drops IPv6
/// fragments: the kinds that recover do it over TCP, and the same answer
/// at 4096 reaches the client over IPv4 whole.
#[test]
fn ipv6_fragments() {
    let report = check("ipv6-fragments");
    for o in &report.runs {
        let r = &o.resolvers["resolver"];
        let want: &[&str] = match o.kind.name() {
            "unbound" | "named" | "dnsmasq" => &["after TC=1"],
            "kresd" => &["after UDP timeouts"],
            _ => &[],
        };
        assert_eq!(keys(&r.tcp_fallbacks), want, "{}: {r:?}", o.kind);
        // unbound falls back to 1232 over IPv6 (1472 over IPv4), named to 512.
        let want: &[&str] = match o.kind.name() {
            "dnsmasq" => &["1232"],
            "unbound" => &["1232", "4096"],
            "named" => &["4096", "512"],
            _ => &["4096"],
        };
        assert_eq!(keys(&r.edns_sizes), want, "{}", o.kind);
        // Every resolver query and answer went over IPv6.
        assert!(r.upstream.iter().all(|u| u.ipv6), "{}: {:?}", o.kind, r.upstream);
        let dropped = o.firewalls["dc-edge"]["frag6_drop"];
        assert!(dropped > 12 || o.kind.name() == "dnsmasq", "{}: {dropped} beyond the probe's 12", o.kind);
    }
}

/// At 1232 nothing a resolver asks for fragments over the 1280-byte path:
/// the only fragments dropped are the 4096 probe's (three tries, four each).
#[test]
fn ipv6_fragments_fixed() {
    let report = check("ipv6-fragments-fixed");
    for o in &report.runs {
        let r = &o.resolvers["resolver"];
        assert_eq!(keys(&r.tcp_fallbacks), ["after TC=1"], "{}", o.kind);
        assert_eq!(keys(&r.edns_sizes), ["1232"], "{}", o.kind);
        assert_eq!(o.firewalls["dc-edge"]["frag6_drop"], 12, "{}", o.kind);
    }
}

#[test]
fn cname_chain() {
    check("cname-chain");
}

/// The IPv6-only name server behind a path that drops DNS over IPv6: every
/// kind fails, each after its own patience, and every kind still resolves
/// a name over an IPv6 path that works.
#[test]
fn ipv6_only_ns() {
    let report = check("ipv6-only-ns");
    for o in &report.runs {
        let lost: u32 = o
            .resolvers
            .values()
            .flat_map(|r| &r.upstream)
            .filter(|u| u.server == "ns1.only6.com")
            .map(|u| u.lost)
            .sum();
        assert!(lost > 0, "{}: no question to ns1.only6.com was dropped", o.kind);
        let v6: Vec<_> = o.queries.iter().filter(|q| q.resolver_addr.is_ipv6()).collect();
        assert_eq!(v6.len(), 1, "{}: one query asks the resolver over IPv6", o.kind);
    }
}

#[test]
fn ipv6_only_ns_fixed() {
    check("ipv6-only-ns-fixed");
}
