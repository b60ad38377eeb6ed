//! `dnslab audit`: the seed's five mistakes, found. Zone checks read the
//! scenario's zones ([`zone_checks`]); live checks build the lab and ask
//! its servers and resolvers over the network ([`live_checks`]). Each
//! check is a named function whose one-line doc is its rule's meaning, as
//! the lints are; every finding names the zone, server or resolver.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};

use crate::answer::{Flag, Reply, Status};
use crate::authority::{lookup, ReplyKind};
use crate::dns::{leak_class, LOCALHOST, RFC1918_REVERSE};
use crate::probe::{self, Ask};
use crate::resolver::Kind;
use crate::run::{self, RunError, UpLab};
use crate::scenario::{ExpectedFinding, Scenario};
use crate::verdict::Word;
use crate::zone::Zone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: String,
    pub zone: Option<String>,
    pub server: Option<String>,
    pub resolver: Option<String>,
    /// The resolver kind a resolver finding was seen with.
    pub kind: Option<Kind>,
    pub message: String,
    /// Listed under the scenario's `expect_findings:`.
    pub expected: bool,
}

fn finding(severity: Severity, rule: &str, message: String) -> Finding {
    Finding {
        severity,
        rule: rule.into(),
        zone: None,
        server: None,
        resolver: None,
        kind: None,
        message,
        expected: false,
    }
}

fn dotless(n: &Name) -> String {
    crate::dns::dotless(&n.to_string()).to_string()
}

/// Every zone of the scenario: served ones and resolvers' local ones.
fn all_zones(s: &Scenario) -> Vec<&Zone> {
    let mut v: Vec<&Zone> = s.zones.iter().collect();
    for r in s.resolvers().filter_map(|n| n.resolver.as_ref()) {
        v.extend(r.local_zones.iter().filter(|z| !s.zones.iter().any(|x| x.origin == z.origin)));
    }
    v
}

/// Does `name` exist anywhere in the lab's DNS (any record at or below it)?
/// `None`: no zone of the lab holds it, so the lab cannot tell.
fn exists(zones: &[&Zone], name: &Name) -> Option<bool> {
    zones
        .iter()
        .any(|z| z.origin.zone_of(name))
        .then(|| lookup(zones, name, RecordType::ANY).kind != ReplyKind::Nxdomain)
}

/// A name's last label, lower case: its top-level domain.
fn tld(n: &Name) -> Option<String> {
    n.iter().next_back().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
}

/// Top-level domains a right-hand name ending in a zone's origin betrays.
fn looks_absolute(rel: &Name, tlds: &BTreeSet<String>) -> bool {
    rel.num_labels() >= 2 && tld(rel).is_some_and(|t| tlds.contains(&t))
}

/// The seed's SOA and zone-file checks, on the zones as the lab serves them.
pub fn zone_checks(s: &Scenario) -> Vec<Finding> {
    let zones = all_zones(s);
    let mut out = Vec::new();
    bad_soa_rname(&zones, &mut out);
    relative_name(&zones, &mut out);
    glue_mismatch(s, &zones, &mut out);
    out
}

/// the SOA RNAME is not a mailbox that mail can reach (`hostmaster.example.com.` is hostmaster@example.com)
fn bad_soa_rname(zones: &[&Zone], out: &mut Vec<Finding>) {
    // Locally served zones (localhost, RFC 6303) name no real mailbox on purpose.
    for z in zones.iter().filter(|z| leak_class(&z.origin.to_string()).is_none()) {
        for r in z.records.iter().filter(|r| r.name == z.origin) {
            let RData::SOA(soa) = &r.data else { continue };
            let rname = &soa.rname;
            let local = rname.iter().next().map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default();
            let problem = if local.contains('@') {
                Some(format!(
                    "RNAME {rname} is an e-mail address, not a mailbox in DNS form: the first dot stands for @ (write {}.)",
                    local.replace('@', ".")
                ))
            } else if rname.num_labels() == 2 && rname.base_name().to_string().eq_ignore_ascii_case("localhost.") {
                Some(format!("RNAME {rname} means {local}@localhost: mail to it stays on the sender's own machine"))
            } else if rname.num_labels() < 2 {
                Some(format!("RNAME {rname} has no mail domain: write hostmaster.{}", z.origin))
            } else {
                let domain = rname.base_name();
                match exists(zones, &domain) {
                    Some(false) => Some(format!("RNAME {rname} means {local}@{}, but {domain} does not exist", dotless(&domain))),
                    _ => None,
                }
            };
            if let Some(message) = problem {
                let mut f = finding(Severity::Warning, "bad-soa-rname", message);
                f.zone = Some(z.origin.to_string());
                out.push(f);
            }
        }
    }
}

/// a right-hand name lost its trailing dot, so the zone's origin was appended to it
fn relative_name(zones: &[&Zone], out: &mut Vec<Finding>) {
    let mut tlds: BTreeSet<String> = ["com", "net", "org", "edu", "gov", "mil", "int", "arpa", "localhost"].map(String::from).into();
    for z in zones {
        tlds.extend(tld(&z.origin));
    }
    for z in zones.iter().filter(|z| !z.origin.is_root()) {
        for r in &z.records {
            let targets: Vec<(&str, &Name)> = match &r.data {
                RData::NS(n) => vec![("NS", &n.0)],
                RData::PTR(n) => vec![("PTR", &n.0)],
                RData::CNAME(n) => vec![("CNAME", &n.0)],
                RData::MX(mx) => vec![("MX", &mx.exchange)],
                RData::SRV(srv) => vec![("SRV", &srv.target)],
                RData::SOA(soa) => vec![("SOA MNAME", &soa.mname), ("SOA RNAME", &soa.rname)],
                _ => continue,
            };
            for (what, t) in targets {
                if !z.origin.zone_of(t) || t.num_labels() <= z.origin.num_labels() {
                    continue;
                }
                let keep = (t.num_labels() - z.origin.num_labels()) as usize;
                let mut rel = Name::from_labels(t.iter().take(keep)).unwrap_or_default();
                rel.set_fqdn(true);
                if looks_absolute(&rel, &tlds) {
                    let mut f = finding(
                        Severity::Warning,
                        "relative-name",
                        format!("{} {what} {t} looks like {rel} written without its trailing dot", r.name),
                    );
                    f.zone = Some(z.origin.to_string());
                    out.push(f);
                }
            }
        }
    }
}

/// the glue in a parent zone disagrees with the child zone's address records, or with where the server is
fn glue_mismatch(s: &Scenario, zones: &[&Zone], out: &mut Vec<Finding>) {
    for parent in zones {
        for d in parent.records.iter().filter(|r| r.name != parent.origin) {
            let RData::NS(ns) = &d.data else { continue };
            let host = &ns.0;
            let addrs = |z: &Zone| -> BTreeSet<IpAddr> {
                z.records
                    .iter()
                    .filter(|r| &r.name == host)
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
                    .collect()
            };
            let glue = addrs(parent);
            if glue.is_empty() {
                continue;
            }
            let show = |set: &BTreeSet<IpAddr>| set.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
            // The child zone that holds the host's own records.
            let child = zones
                .iter()
                .filter(|z| z.origin != parent.origin && z.origin.zone_of(host) && parent.origin.zone_of(&z.origin))
                .max_by_key(|z| z.origin.num_labels());
            let mut problem = None;
            if let Some(c) = child {
                let own = addrs(c);
                if !own.is_empty() && own != glue {
                    problem = Some(format!(
                        "glue for {host} in {} says {}, but {} says {}",
                        parent.origin,
                        show(&glue),
                        c.origin,
                        show(&own)
                    ));
                }
            }
            let at: BTreeSet<IpAddr> = s
                .servers()
                .filter(|(_, sv)| &sv.hostname == host)
                .flat_map(|(n, _)| n.interfaces.iter().flat_map(|(_, a)| a.iter().copied()))
                .collect();
            if problem.is_none() && !at.is_empty() && glue.is_disjoint(&at) {
                problem = Some(format!(
                    "glue for {host} in {} says {}, but the server is at {}",
                    parent.origin,
                    show(&glue),
                    show(&at)
                ));
            }
            if let Some(message) = problem {
                let mut f = finding(Severity::Error, "glue-mismatch", message);
                f.zone = Some(d.name.to_string());
                f.server = Some(dotless(host));
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
}

fn ask(server: IpAddr, name: &str, qtype: RecordType, rd: bool) -> Ask {
    // Every name asked is a zone's origin or one of the fixed names below.
    Ask::udp(server, Name::from_ascii(name).unwrap_or_else(|_| Name::root()), qtype, rd)
}

fn send(up: &UpLab, node: &str, a: Ask) -> Result<Reply, RunError> {
    Ok(probe::block_in(up.lab(), node, move || async move { probe::ask(&a).await })?)
}

/// Every delegated name server, asked for its zone's SOA without recursion.
/// `from` is the node asking.
fn lame_delegation(s: &Scenario, up: &UpLab, from: &str, out: &mut Vec<Finding>) -> Result<(), RunError> {
    for z in s.zones.iter().filter(|z| !z.origin.is_root()) {
        // The NS set as the zone states it and as its parent delegates it.
        let parent = s
            .zones
            .iter()
            .filter(|p| p.origin != z.origin && p.origin.zone_of(&z.origin))
            .max_by_key(|p| p.origin.num_labels());
        let mut hosts: BTreeSet<Name> = BTreeSet::new();
        for r in z
            .records
            .iter()
            .filter(|r| r.name == z.origin)
            .chain(parent.iter().flat_map(|p| p.records.iter().filter(|r| r.name == z.origin)))
        {
            if let RData::NS(ns) = &r.data {
                hosts.insert(ns.0.clone());
            }
        }
        for host in hosts {
            let Some((node, _)) = s.servers().find(|(_, sv)| sv.hostname == host) else {
                continue;
            };
            let Some(addr) = s.address(&node.name) else {
                continue;
            };
            let a = send(up, from, ask(addr, &z.origin.to_string(), RecordType::SOA, false))?;
            let why = match (a.rcode, a.has(Flag::Aa)) {
                (Status::NOERROR, true) => continue,
                (Status::NOERROR, false) => "answers without the AA bit".to_string(),
                (Status::Timeout, _) => "does not answer".to_string(),
                (rc, _) => format!("answers {rc}"),
            };
            let mut f = finding(
                Severity::Error,
                "lame-delegation",
                format!(
                    "{} is named as a server for {} but {why} (dig +norecurse @{} {} SOA)",
                    dotless(&host),
                    z.origin,
                    dotless(&host),
                    z.origin
                ),
            );
            f.zone = Some(z.origin.to_string());
            f.server = Some(dotless(&host));
            out.push(f);
        }
    }
    Ok(())
}

/// Per resolver: recursion for the outside world, and names that must not leave it.
fn resolver_checks(s: &Scenario, kind: Kind, up: &UpLab, out: &mut Vec<Finding>) -> Result<(), RunError> {
    // A name the lab can resolve: the first zone below the root.
    let probe_name = s.zones.iter().find(|z| !z.origin.is_root()).map(|z| z.origin.to_string());
    for node in s.resolvers().filter(|n| s.runs_kind(&n.name, kind)) {
        let Some(addr) = s.address(&node.name) else { continue };
        let mut found = |rule: &str, severity: Severity, message: String| {
            let mut f = finding(severity, rule, message);
            f.resolver = Some(node.name.clone());
            f.kind = Some(kind);
            out.push(f);
        };
        if let Some(name) = &probe_name {
            for outside in &s.outside {
                let a = send(up, outside, ask(addr, name, RecordType::SOA, true))?;
                if Word::of(&a, name, "SOA") == Some(Word::Status(Status::NOERROR)) {
                    found(
                        "open-resolver",
                        Severity::Error,
                        format!(
                            "{} ({kind}) resolves {name} SOA for {outside}, a host outside: it is an open resolver",
                            node.name
                        ),
                    );
                }
            }
        }
        let leaks = |asks: &[(&str, RecordType)], class: &str| -> Result<Vec<String>, RunError> {
            let mark = up.log.lock().expect("log").len();
            for (name, t) in asks {
                send(up, &s.audit_from, ask(addr, name, *t, true))?;
            }
            let log = up.log.lock().expect("log");
            let servers: BTreeSet<String> = log[mark..]
                .iter()
                .filter(|r| leak_class(&r.qname) == Some(class))
                .map(|r| r.server.clone())
                .collect();
            Ok(servers.into_iter().collect())
        };
        let to = leaks(&[("localhost.", RecordType::A), ("1.0.0.127.in-addr.arpa.", RecordType::PTR)], LOCALHOST)?;
        if !to.is_empty() {
            found(
                "no-localhost-zone",
                Severity::Warning,
                format!("{} ({kind}) has no localhost zone: it asked {} about localhost", node.name, to.join(", ")),
            );
        }
        let asks = [
            ("1.0.168.192.in-addr.arpa.", RecordType::PTR),
            ("1.0.0.10.in-addr.arpa.", RecordType::PTR),
            ("1.0.16.172.in-addr.arpa.", RecordType::PTR),
        ];
        let to = leaks(&asks, RFC1918_REVERSE)?;
        if !to.is_empty() {
            found(
                "no-rfc1918-zones",
                Severity::Warning,
                format!(
                    "{} ({kind}) has no RFC 1918 reverse zones: it asked {} about private addresses",
                    node.name,
                    to.join(", ")
                ),
            );
        }
    }
    Ok(())
}

/// Builds the lab with `build` on every resolver and runs the live checks;
/// `servers` adds the checks of the authoritative servers (kind-independent).
pub fn live_checks(s: &Scenario, build: &crate::resolver::Build, servers: bool) -> Result<Vec<Finding>, RunError> {
    let kind = build.acts_as();
    let up = run::up(&crate::plan::Plan::new(s, build)?)?;
    let mut out = Vec::new();
    if servers {
        lame_delegation(s, &up, &s.audit_from, &mut out)?;
    }
    resolver_checks(s, kind, &up, &mut out)?;
    Ok(out)
}

/// Marks the findings the scenario expects; returns the expectations no
/// finding met (with the kinds that were audited).
pub fn judge(findings: &mut [Finding], expected: &[ExpectedFinding], kinds: &[Kind]) -> Vec<ExpectedFinding> {
    let meets = |f: &Finding, e: &ExpectedFinding| {
        f.rule == e.rule
            && e.zone.as_ref().is_none_or(|z| f.zone.as_ref() == Some(z))
            && e.server.as_ref().is_none_or(|x| f.server.as_ref() == Some(x))
            && e.resolver.as_ref().is_none_or(|r| f.resolver.as_ref() == Some(r))
            && (e.kinds.is_empty() || f.kind.is_some_and(|k| e.kinds.contains(&k)))
    };
    for f in findings.iter_mut() {
        f.expected = expected.iter().any(|e| meets(f, e));
    }
    expected
        .iter()
        .filter(|e| e.kinds.is_empty() || e.kinds.iter().any(|k| kinds.contains(k)))
        .filter(|e| !findings.iter().any(|f| meets(f, e)))
        .cloned()
        .collect()
}

/// Human-readable: one line per finding, expected ones marked.
pub fn text(findings: &[Finding], unmet: &[ExpectedFinding]) -> String {
    let mut s = String::new();
    for f in findings {
        let at: Vec<String> = [
            f.zone.as_ref().map(|z| format!("zone {z}")),
            f.server.as_ref().map(|x| format!("server {x}")),
            f.resolver.as_ref().map(|r| format!("resolver {r}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        s += &format!(
            "{sev:<7} {:<17} {}: {}{}\n",
            f.rule,
            at.join(", "),
            f.message,
            if f.expected { "  (expected)" } else { "" }
        );
    }
    for e in unmet {
        s += &format!(
            "note    expected {} {} was not found\n",
            e.rule,
            [&e.zone, &e.server, &e.resolver].into_iter().flatten().cloned().collect::<Vec<_>>().join(" ")
        );
    }
    let unexpected = findings.iter().filter(|f| !f.expected).count();
    s += &format!(
        "{} finding{}, {} expected, {unexpected} not\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        findings.len() - unexpected
    );
    s
}
