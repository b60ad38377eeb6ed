//! Reports made from outcomes: a readable text table, and the JSON document.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::dns::dotless;
use crate::outcome::{Judged, Outcome};
use crate::probe::Stub;
use crate::scenario::values::{transport_on, Transport};

/// Everything one `dnslab run` produced: the JSON output's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub scenario: String,
    pub description: String,
    /// Every expectation held in every run.
    pub passed: bool,
    /// Resolver kinds not run, and why (not installed: how to install).
    pub skipped: Vec<String>,
    pub runs: Vec<Outcome>,
}

pub fn ms(v: u64) -> String {
    if v >= 1000 {
        format!("{:.1}s", v as f64 / 1000.0)
    } else {
        format!("{v}ms")
    }
}

/// `-` when nothing was expected, `ok`, or what was expected against what came.
fn verdict(v: &Judged) -> String {
    match (v.expect.is_empty(), v.ok) {
        (true, _) => "-".into(),
        (false, true) => "ok".into(),
        (false, false) => format!("FAIL: {}", v.against()),
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().enumerate().map(|(i, s)| format!("{s:<w$}", w = widths[i])).collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

/// The human-readable report of one run.
pub fn text(o: &Outcome) -> String {
    let mut s = String::new();
    // The build's own version line, or what each resolver said (hickory).
    let versions: Vec<String> = o
        .build
        .binary
        .iter()
        .map(|b| b.version.clone())
        .chain(o.resolvers.values().map(|r| r.version.clone()))
        .filter(|v| !v.is_empty())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let _ = writeln!(s, "== {} with {} ({})", o.scenario, o.name(), versions.join(", "));
    // An outcome from before schema 3 does not say which build ran.
    if !o.build.name.is_empty() {
        let _ = writeln!(s, "{}", o.build.line(o.kind));
    }
    s.push('\n');
    if !o.probes.is_empty() {
        let _ = writeln!(s, "Probes: queries sent straight to a server, like `dig -b 0.0.0.0#PORT NAME @SERVER`");
        let mut rows = vec![["FROM", "SERVER", "QUERY", "VIA", "SOURCE PORT", "RESULT", "TIME", "EXPECTED"]
            .map(String::from)
            .to_vec()];
        for p in &o.probes {
            let port = if p.requested_port == p.source_port.to_string() {
                p.requested_port.clone()
            } else {
                format!("{} ({})", p.requested_port, p.source_port)
            };
            rows.push(vec![
                p.from.clone(),
                p.server.clone(),
                question(&p.qname, &p.qtype, &p.stub, &Stub::NORECURSE),
                p.transport_label(),
                port,
                p.verdict.outcome.clone(),
                ms(p.elapsed_ms),
                verdict(&p.verdict),
            ]);
        }
        s += &table(&rows);
        s += "\n";
    }
    if o.queries.iter().any(|q| !o.is_counted(q)) {
        let _ = writeln!(
            s,
            "Queries through the resolvers (FLAGS of the answer; VIA: udp, or udp>tcp after TC=1; BYTES: query -> response, and the amplification)"
        );
        let mut rows = vec![
            ["FROM", "RESOLVER", "ITS PORTS", "QUERY", "RESULT", "FLAGS", "VIA", "TIME", "BYTES", "EXPECTED"]
                .map(String::from)
                .to_vec(),
        ];
        for q in o.queries.iter().filter(|q| !o.is_counted(q)) {
            let ports = o
                .resolvers
                .get(&q.resolver)
                .and_then(|r| r.source_ports.clone())
                .unwrap_or_else(|| "default".into());
            rows.push(vec![
                q.from.clone(),
                if q.resolver_addr.is_ipv6() {
                    format!("{} (IPv6)", q.resolver)
                } else {
                    q.resolver.clone()
                },
                ports,
                question(&q.qname, &q.qtype, &q.stub, &Stub::DIG),
                q.verdict.outcome.clone() + &ede(&q.reply),
                q.reply.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(" "),
                q.reply.via(),
                ms(q.elapsed_ms),
                match q.amplification() {
                    Some(x) => format!("{} -> {} (x{x:.0})", q.query_bytes, q.response_bytes),
                    None => "-".into(),
                },
                verdict(&q.verdict),
            ]);
        }
        s += &table(&rows);
        s += "\n";
    }
    if !o.rates.is_empty() {
        let _ = writeln!(s, "Rates over many names (intermittent failures are judged as rates)");
        let mut rows = vec![[
            "RESOLVER", "ASK", "SENT", "NOERROR", "NODATA", "SERVFAIL", "TIMEOUT", "P50", "P90", "MAX", "EXPECTED",
        ]
        .map(String::from)
        .to_vec()];
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        for r in &o.rates {
            let verdict = if r.expect.is_empty() {
                "-".to_string()
            } else if r.ok {
                "ok".into()
            } else {
                format!("FAIL ({})", r.misses().join("; "))
            };
            rows.push(vec![
                r.resolver.clone(),
                r.ask.clone(),
                r.sent.to_string(),
                pct(r.noerror_rate),
                pct(r.nodata_rate),
                pct(r.servfail_rate),
                pct(r.timeout_rate),
                ms(r.p50_ms),
                ms(r.p90_ms),
                ms(r.max_ms),
                verdict,
            ]);
        }
        s += &table(&rows);
        s += "\n";
    }
    let _ = writeln!(s, "What each resolver sent upstream (port class as sent -> as the server saw it)");
    for (node, r) in &o.resolvers {
        let _ = writeln!(
            s,
            "  {node} [{}]: {}",
            r.source_ports.as_deref().unwrap_or("default ports"),
            r.status.lines().next().unwrap_or("")
        );
        let mut rows = Vec::new();
        for u in &r.upstream {
            rows.push(vec![
                format!("  {}", u.server),
                format!("{} {}", dotless(&u.qname), u.qtype),
                transport_on(u.transport, u.ipv6),
                format!("{} -> {}", u.port_class, u.seen_as.map_or("-".to_string(), |c| c.to_string())),
                format!("sent {}", u.sent),
                if u.lost > 0 { format!("LOST {}", u.lost) } else { "lost 0".into() },
                // One port for several copies: retries from the same port (dnsmasq).
                if u.sent > 1 {
                    format!("from {} port{}", u.ports_used, if u.ports_used == 1 { "" } else { "s" })
                } else {
                    String::new()
                },
                if u.tcp_connects > 0 {
                    format!("tcp connects {}", u.tcp_connects)
                } else {
                    String::new()
                },
            ]);
        }
        s += &table(&rows);
        for extra in r.status.lines().skip(1) {
            let _ = writeln!(s, "    | {extra}");
        }
        if !r.edns_sizes.is_empty() {
            let sizes: Vec<String> = r.edns_sizes.iter().map(|(n, c)| format!("{n} x{c}")).collect();
            let _ = writeln!(s, "    EDNS size offered upstream over UDP: {}", sizes.join(", "));
        }
        if !r.tcp_fallbacks.is_empty() {
            let why: Vec<String> = r.tcp_fallbacks.iter().map(|(w, c)| format!("{w} x{c}")).collect();
            let _ = writeln!(s, "    TCP upstream: {}", why.join(", "));
        }
        if let Some(exit) = &r.exit {
            let _ = writeln!(s, "    stopped with SIGTERM: {exit}");
        }
        for w in &r.warnings {
            let _ = writeln!(s, "    warning: {w}");
        }
    }
    let waste: Vec<String> = o
        .resolvers
        .iter()
        .flat_map(|(node, r)| {
            let lame = r
                .to_lame
                .iter()
                .map(move |(server, n)| format!("  {node}: {n} queries to {server}, which is lame for the zone asked"));
            let leaked = r
                .leaked
                .iter()
                .flat_map(move |(class, to)| to.iter().map(move |(server, n)| format!("  {node}: {n} {class} queries leaked to {server}")));
            lame.chain(leaked).collect::<Vec<_>>()
        })
        .collect();
    if !waste.is_empty() {
        let _ = writeln!(s, "\nWasted queries (requeries of lame servers; names that should never leave a resolver)");
        for w in waste {
            let _ = writeln!(s, "{w}");
        }
    }
    if !o.firewalls.is_empty() {
        let _ = writeln!(s, "\nFirewalls (nft counters)");
        for (node, counters) in &o.firewalls {
            for (name, n) in counters {
                let action = o.rule_actions.get(node).and_then(|r| r.get(name)).map_or("matched", |a| a.as_str());
                let _ = writeln!(s, "  {node}: {name} = {n} packets matched ({action})");
            }
        }
    }
    let t = &o.timings;
    let _ = writeln!(
        s,
        "\nTimings: lab up {}, servers {}, resolvers {}, probes {}, queries {}, teardown {}; total {}",
        ms(t.lab_up_ms),
        ms(t.servers_ready_ms),
        ms(t.resolvers_ready_ms),
        ms(t.probes_ms),
        ms(t.queries_ms),
        ms(t.teardown_ms),
        ms(t.total_ms)
    );
    let total = o.probes.iter().filter(|p| !p.verdict.expect.is_empty()).count()
        + o.queries.iter().filter(|q| !q.verdict.expect.is_empty()).count()
        + o.rates.iter().filter(|r| !r.expect.is_empty()).count();
    if o.failures.is_empty() {
        let _ = writeln!(s, "PASS: all {total} expectations held");
    } else {
        let _ = writeln!(s, "FAIL: {} of {total} expectations did not hold:", o.failures.len());
        for f in &o.failures {
            let _ = writeln!(s, "  - {f}");
        }
    }
    s
}

/// A table with a row per case and a column per resolver kind, each cell the
/// outcome: the whole picture at once.
pub fn matrix(cells: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>) -> String {
    let kinds: std::collections::BTreeSet<&String> = cells.values().flat_map(|r| r.keys()).collect();
    let mut rows = vec![std::iter::once("CASE".to_string())
        .chain(kinds.iter().map(|k| k.to_string()))
        .collect::<Vec<_>>()];
    for (case, row) in cells {
        rows.push(
            std::iter::once(case.clone())
                .chain(kinds.iter().map(|k| row.get(*k).cloned().unwrap_or_else(|| "-".into())))
                .collect(),
        );
    }
    table(&rows)
}

/// JUnit XML for CI: one test case per expectation, named
/// `scenario/kind/resolver query` (or `.../probe ...`), failures showing
/// what was expected against what happened.
/// A few lines a CI log reader can scan: per kind, pass or fail, what held,
/// what the firewalls' rules matched, and the first failures.
pub fn summary(rep: &RunReport) -> String {
    let mut s = format!("SUMMARY {}: {}\n", rep.scenario, if rep.passed { "PASS" } else { "FAIL" });
    for o in &rep.runs {
        let held = |ok: &mut dyn Iterator<Item = bool>| {
            let v: Vec<bool> = ok.collect();
            format!("{}/{}", v.iter().filter(|b| **b).count(), v.len())
        };
        // Every rule has a counter, accepting ones too: these are matches.
        let dropped: u64 = o.firewalls.values().flat_map(|c| c.values()).sum();
        let _ = writeln!(
            s,
            "  {:<8} {}  queries {}  probes {}  rates {}  firewall rule matches {}  {}",
            o.name(),
            if o.passed() { "PASS" } else { "FAIL" },
            held(&mut o.queries.iter().map(|q| q.verdict.ok)),
            held(&mut o.probes.iter().map(|p| p.verdict.ok)),
            held(&mut o.rates.iter().map(|r| r.ok)),
            dropped,
            ms(o.timings.total_ms)
        );
        for f in o.failures.iter().take(3) {
            let _ = writeln!(s, "           - {f}");
        }
        if o.failures.len() > 3 {
            let _ = writeln!(s, "           - and {} more", o.failures.len() - 3);
        }
    }
    for k in &rep.skipped {
        let _ = writeln!(s, "  skipped: {k}");
    }
    s
}

/// The EDE codes of an answer, as ` (EDE 22)`.
/// `big.example.com TXT +bufsize=4096`: the question, and how its header
/// and EDNS differ from dig's (`base`: plain dig, or `dig +norecurse`).
pub fn question(qname: &str, qtype: &str, stub: &Stub, base: &Stub) -> String {
    let opts = stub.dig_options(base);
    let q = format!("{} {qtype}", dotless(qname));
    if opts.is_empty() {
        q
    } else {
        format!("{q} {opts}")
    }
}

fn ede(r: &crate::answer::Reply) -> String {
    let codes: Vec<String> = r.edns.iter().flat_map(|e| &e.ede).map(|e| e.code.to_string()).collect();
    if codes.is_empty() {
        String::new()
    } else {
        format!(" (EDE {})", codes.join(","))
    }
}

pub fn junit(rep: &RunReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("dnslab");
    for o in &rep.runs {
        let mut suite = TestSuite::new(crate::text::escape(&format!("{}/{}", rep.scenario, o.name())));
        // Which binary ran: a CI reader sees it next to the verdicts.
        for (k, v) in o.build.properties(o.kind) {
            suite.add_property(quick_junit::Property::new(k, crate::text::escape(&v)));
        }
        let mut case = |name: String, ok: bool, message: String, ms: u64| {
            let status = if ok {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                // XML 1.0 cannot hold most control characters: escaped, as everywhere.
                s.set_message(crate::text::escape(&message));
                s
            };
            let mut c = TestCase::new(crate::text::escape(&format!("{}/{}/{name}", rep.scenario, o.name())), status);
            c.set_time(std::time::Duration::from_millis(ms));
            suite.add_test_case(c);
        };
        for p in o.probes.iter().filter(|p| !p.verdict.expect.is_empty()) {
            let name = format!(
                "probe {} {} @{} {} port {}",
                dotless(&p.qname),
                p.qtype,
                p.server,
                p.transport_label(),
                p.requested_port
            );
            case(name, p.verdict.ok, p.verdict.against(), p.elapsed_ms);
        }
        for q in o.queries.iter().filter(|q| !q.verdict.expect.is_empty()) {
            // Named as before for UDP, the default, so CI history lines up.
            let tcp = if q.transport == Transport::Tcp { " tcp" } else { "" };
            let ipv6 = if q.resolver_addr.is_ipv6() { " ipv6" } else { "" };
            let name = format!("{} {} {}{tcp}{ipv6}", q.resolver, dotless(&q.qname), q.qtype);
            case(name, q.verdict.ok, q.verdict.against(), q.elapsed_ms);
        }
        for r in o.rates.iter().filter(|r| !r.expect.is_empty()) {
            case(format!("{} {} x{}", r.resolver, r.ask, r.sent), r.ok, r.misses().join("; "), r.max_ms);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
