//! Queries and probes: who sends what to whom, with what header and EDNS,
//! and what must come back. One entry per thing sent.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

use super::expect::{self, Keys};
use super::{from_node, refs, strs, Pass};
use crate::probe::{EdnsAsk, Stub};
use crate::scenario::model::{Node, Probe, Query, QuerySpec, RateBound, PROBE_TIMEOUT, QUERY_TIMEOUT};
use crate::scenario::raw::{self, OneOrMany, Tree, S};
use crate::scenario::rules::Rule;
use crate::scenario::values::{self as v, Family, Transport};
use crate::scenario::yaml::Pos;
use crate::scenario::yaml::Spanned;

/// The widest number `{i}` can become: every counted name must parse with it.
const WIDEST_INDEX: &str = "4294967295";

/// What every question shares: the sender, the asks, the transports and
/// families, the header and EDNS, the patience.
struct Common {
    from: String,
    asks: Vec<(String, Name, RecordType)>,
    transports: Vec<Transport>,
    /// `family:` as written; empty: whichever the sender and target share.
    families: Vec<Family>,
    stub: Option<Stub>,
    timeout: Option<Duration>,
}

/// The keys a query and a probe share, as written.
struct AskKeys<'a> {
    pos: Pos,
    from: &'a Option<S>,
    ask: &'a OneOrMany,
    timeout: &'a Option<S>,
    transport: &'a Option<OneOrMany>,
    family: &'a Option<OneOrMany>,
    dnssec: &'a Option<Spanned<bool>>,
    cd: &'a Option<Spanned<bool>>,
    edns: &'a Option<Spanned<Tree>>,
    ignore_tc: &'a Option<Spanned<bool>>,
}

macro_rules! ask_keys {
    ($pos:expr, $q:expr) => {
        AskKeys {
            pos: $pos,
            from: &$q.from,
            ask: &$q.ask,
            timeout: &$q.timeout,
            transport: &$q.transport,
            family: &$q.family,
            dnssec: &$q.dnssec,
            cd: &$q.cd,
            edns: &$q.edns,
            ignore_tc: &$q.ignore_tc,
        }
    };
}

fn common(p: &mut Pass, k: &AskKeys, rd: bool) -> Common {
    let sender = from_node(k.from);
    if refs::node(p, sender).is_none() {
        let at = k.from.as_ref().map_or(k.pos, |f| f.pos);
        let hint = if k.from.is_none() { " (add `from:`)" } else { "" };
        p.report(Rule::UnknownNode, at, format!("`{sender}` sends this query but is not a node{hint}"));
    }
    let mut asks = Vec::new();
    for a in &k.ask.0 {
        if let Some((name, qtype)) = p.take(Rule::BadQuery, a, v::ask(a)) {
            asks.push((a.value.clone(), name, qtype));
        }
    }
    Common {
        from: sender.to_string(),
        asks,
        transports: match k.transport {
            Some(t) => p.each(Rule::BadQuery, t, v::transport),
            None => vec![Transport::Udp],
        },
        families: k.family.as_ref().map(|f| p.each(Rule::BadQuery, f, v::family)).unwrap_or_default(),
        stub: stub(p, rd, k),
        timeout: k.timeout.as_ref().and_then(|t| p.take(Rule::BadQuery, t, v::duration(t))),
    }
}

/// The target's addresses to ask, one per family asked for (`family:`), or
/// its first address of a family the sender has too (the source address's
/// family when one is given). Each family that cannot be used is reported.
fn targets(p: &mut Pass, at: Pos, c: &Common, sender: &[IpAddr], target: (&str, &[IpAddr])) -> Vec<IpAddr> {
    let (name, addrs) = target;
    let has = |a: &[IpAddr], f: Family| a.iter().any(|&x| v::of_family(x, f));
    if c.families.is_empty() {
        let shared = addrs.iter().copied().find(|&a| sender.iter().any(|s| s.is_ipv6() == a.is_ipv6()));
        if shared.is_none() && !sender.is_empty() && !addrs.is_empty() {
            p.report(Rule::BadQuery, at, format!("`{}` and `{name}` have no address family in common", c.from));
        }
        return shared.into_iter().collect();
    }
    let mut out = Vec::new();
    for &f in &c.families {
        let word = if f == Family::Ip6 { "IPv6" } else { "IPv4" };
        match addrs.iter().copied().find(|&a| v::of_family(a, f)) {
            _ if !has(sender, f) => p.report(Rule::BadQuery, at, format!("`{}` has no {word} address to ask from", c.from)),
            None => p.report(Rule::BadQuery, at, format!("`{name}` has no {word} address to ask")),
            Some(a) => out.push(a),
        }
    }
    out
}

/// Every address of a node, in the order written.
fn addrs_of(nodes: &[Node], name: &str) -> Vec<IpAddr> {
    nodes.iter().filter(|n| n.name == name).flat_map(|n| n.addresses()).collect()
}

/// The header and EDNS to send: dig's, changed by `dnssec:`, `cd:`, `edns:`
/// and `ignore_tc:`.
fn stub(p: &mut Pass, rd: bool, k: &AskKeys) -> Option<Stub> {
    let mut s = Stub { rd, ..Stub::DIG };
    s.cd = k.cd.as_ref().is_some_and(|c| c.value);
    s.tcp_after_tc = !k.ignore_tc.as_ref().is_some_and(|i| i.value);
    let dnssec = k.dnssec.as_ref().is_some_and(|d| d.value);
    if let Some(tree) = k.edns {
        s.edns = match &tree.value {
            Tree::Scalar(w) if w == "none" => None,
            Tree::Map(fields) => Some(edns_fields(p, fields)?),
            _ => {
                p.report(Rule::BadQuery, tree.pos, "`edns:` is `none` or `{size: N, version: V}`");
                return None;
            }
        };
    }
    match (&mut s.edns, dnssec) {
        (Some(e), true) => e.dnssec_ok = true,
        (None, true) => {
            let at = k.dnssec.as_ref().map_or(Pos::default(), |d| d.pos);
            p.report(
                Rule::BadQuery,
                at,
                "`dnssec: true` sets the DO bit, which lives in EDNS: it cannot go with `edns: none`",
            );
            return None;
        }
        _ => {}
    }
    Some(s)
}

fn edns_fields(p: &mut Pass, fields: &[(S, Spanned<Tree>)]) -> Option<EdnsAsk> {
    let mut e = EdnsAsk::DIG;
    let mut ok = true;
    for (k, val) in fields {
        let n = match &val.value {
            Tree::Scalar(s) => s.parse::<u32>().ok(),
            _ => None,
        };
        match (k.value.as_str(), n) {
            ("size", Some(n)) if n <= 65535 => e.size = n as u16,
            ("version", Some(n)) if n <= 255 => e.version = n as u8,
            ("size" | "version", _) => {
                p.report(Rule::BadQuery, val.pos, format!("EDNS `{}` is a number: size 0-65535, version 0-255", k.value));
                ok = false;
            }
            (other, _) => {
                p.report(Rule::BadQuery, k.pos, format!("`edns:` has no key `{other}`; it has size and version"));
                ok = false;
            }
        }
    }
    ok.then_some(e)
}

pub(super) fn queries(p: &mut Pass, nodes: &[Node]) -> Vec<QuerySpec> {
    let resolvers: Vec<String> = nodes.iter().filter(|n| n.resolver.is_some()).map(|n| n.name.clone()).collect();
    let mut out = Vec::new();
    for q in p.doc.queries.iter().flatten() {
        let (pos, q) = (q.pos, &q.value);
        let c = common(p, &ask_keys!(pos, q), true);
        let via = via(p, q, &resolvers);
        let sender = addrs_of(nodes, &c.from);
        let at = q.family.as_ref().and_then(|f| f.0.first()).map_or(pos, |f| f.pos);
        let to: Vec<(String, Vec<IpAddr>)> = via.iter().map(|r| (r.clone(), targets(p, at, &c, &sender, (r, &addrs_of(nodes, r))))).collect();
        let count = counted(p, q);
        let rates = rates(p, q, &via);
        let expect = q.expect.as_ref().map(|e| expect::parse(p, e, &Keys::Resolvers(&via)));
        for (written, name, qtype) in &c.asks {
            let template = count.map(|_| {
                let n = written.split_whitespace().next().unwrap_or_default();
                if n.ends_with('.') {
                    n.to_string()
                } else {
                    format!("{n}.")
                }
            });
            for (r, addr) in to.iter().flat_map(|(r, addrs)| addrs.iter().map(move |a| (r, *a))) {
                for &transport in &c.transports {
                    let (general, by_kind) = expect.as_ref().map(|e| e.for_key(r)).unwrap_or_default();
                    out.push(QuerySpec {
                        count,
                        query: Query {
                            from: c.from.clone(),
                            via: r.clone(),
                            to: addr,
                            name: name.clone(),
                            qtype: *qtype,
                            transport,
                            stub: c.stub.unwrap_or(Stub::DIG),
                            timeout: c.timeout.unwrap_or(QUERY_TIMEOUT),
                            expect: general,
                            expect_kinds: by_kind,
                            template: template.clone(),
                            expect_rates: rates.iter().filter(|(n, _)| n == r).map(|(_, b)| b.clone()).collect(),
                        },
                    });
                }
            }
        }
    }
    out
}

/// The resolvers a query goes through: `via`, or every resolver.
fn via(p: &mut Pass, q: &raw::Query, resolvers: &[String]) -> Vec<String> {
    let Some(list) = &q.via else { return resolvers.to_vec() };
    for r in &list.0 {
        match refs::node(p, r) {
            None => p.report(Rule::UnknownNode, r.pos, format!("no node `{}`", r.value)),
            Some(n) if n.resolver.is_none() => p.report(Rule::UnknownNode, r.pos, format!("`{}` is not a resolver", r.value)),
            Some(_) => {}
        }
    }
    strs(list).map(String::from).collect()
}

/// `count:`, checked with `{i}` in every name.
fn counted(p: &mut Pass, q: &raw::Query) -> Option<u32> {
    let Some(c) = &q.count else {
        for a in q.ask.0.iter().filter(|a| a.value.contains(v::INDEX)) {
            p.report(Rule::BadCount, a.pos, format!("`{}` has `{{i}}` but the query has no `count`", a.value));
        }
        if let Some((k, _)) = q.expect_rates.iter().flat_map(|e| e.0.iter()).next() {
            p.report(Rule::BadCount, k.pos, "`expect_rates` needs `count`: a rate is over many names");
        }
        return None;
    };
    if !(1..=10000).contains(&c.value) {
        p.report(Rule::BadCount, c.pos, format!("count {} is not within 1-10000", c.value));
    }
    for a in &q.ask.0 {
        if !a.value.contains(v::INDEX) {
            p.report(
                Rule::BadCount,
                a.pos,
                format!("`{}` has no `{{i}}`: every name would be the same, and cached", a.value),
            );
        } else if let Some(n) = a
            .value
            .split_whitespace()
            .next()
            .filter(|n| v::name(&n.replace(v::INDEX, WIDEST_INDEX)).is_err())
        {
            p.report(Rule::BadCount, a.pos, format!("`{n}` is too long once `{{i}}` is numbered"));
        }
    }
    Some(c.value)
}

/// `expect_rates:` as (resolver node, bound).
fn rates(p: &mut Pass, q: &raw::Query, via: &[String]) -> Vec<(String, RateBound)> {
    let mut out = Vec::new();
    for (key, rates) in q.expect_rates.iter().flat_map(|e| e.0.iter()) {
        let key = expect::node_key(p, Rule::BadCount, key, via);
        for (rate, b) in &rates.0 {
            if !v::RATES.contains(&rate.value.as_str()) {
                p.report(
                    Rule::BadCount,
                    rate.pos,
                    format!("`{}` is not a rate; expected one of {}", rate.value, v::RATES.join(", ")),
                );
            }
            for x in [&b.min, &b.max].into_iter().flatten().filter(|x| !(0.0..=1.0).contains(&x.value)) {
                p.report(Rule::BadCount, x.pos, format!("{} is not a rate between 0 and 1", x.value));
            }
            if let (Some(lo), Some(hi)) = (&b.min, &b.max) {
                if lo.value > hi.value {
                    let detail = format!("`{}`: min {} is above max {}, so no run could pass", rate.value, lo.value, hi.value);
                    p.report(Rule::BadCount, lo.pos, detail);
                }
            }
            let Some((node, kind)) = &key else { continue };
            let bound = RateBound {
                kind: kind.clone(),
                rate: rate.value.clone(),
                min: b.min.as_ref().map(|m| m.value),
                max: b.max.as_ref().map(|m| m.value),
            };
            out.push((node.clone(), bound));
        }
    }
    out
}

pub(super) fn probes(p: &mut Pass, nodes: &[Node]) -> Vec<Probe> {
    let mut out = Vec::new();
    for pr in p.doc.probes.iter().flatten() {
        let (pos, pr) = (pr.pos, &pr.value);
        let c = common(p, &ask_keys!(pos, pr), false);
        let source = pr.source.as_ref().and_then(|s| p.take(Rule::BadAddress, s, v::addr(s)));
        let random = [S { pos, value: "random".into() }];
        let written = pr.source_ports.as_ref().map_or(&random[..], |s| &s.0[..]);
        let ports: Vec<(String, v::PortSpec)> = written
            .iter()
            .filter_map(|s| Some((s.value.clone(), p.take(Rule::BadPortRange, s, v::port_spec(s))?)))
            .collect();
        let keys: Vec<String> = written.iter().map(|s| s.value.clone()).collect();
        let expect = pr.expect.as_ref().map(|e| expect::parse(p, e, &Keys::Ports(&keys)));
        // The server, by host name or node name, as written: one whose own
        // name is bad was reported with it and has no place in the model.
        let target = v::name(&pr.server).ok();
        let written_server = refs::servers(p).any(|(n, s)| v::name(&s.name).ok() == target || n.value == pr.server.value);
        if !written_server {
            let names: Vec<&str> = refs::servers(p).map(|(_, s)| s.name.value.as_str()).collect();
            p.report(
                Rule::UnknownNode,
                pr.server.pos,
                format!("`{}` is not a server; servers: {}", pr.server.value, names.join(", ")),
            );
        }
        let server = nodes.iter().find(|n| match &n.server {
            Some(s) => Some(&s.hostname) == target.as_ref() || n.name == pr.server.value,
            None => false,
        });
        let Some((server, hostname)) = server.and_then(|n| Some((n, n.server.as_ref()?.hostname.to_string()))) else {
            continue;
        };
        // A source address asks from its own family only, and must be the sender's.
        let own = addrs_of(nodes, &c.from);
        if let (Some(a), Some(s)) = (source, &pr.source) {
            if !own.is_empty() && !own.contains(&a) {
                p.report(
                    Rule::BadAddress,
                    s.pos,
                    format!("source {a} is not an address of `{}`, which sends the probe", c.from),
                );
            }
        }
        let sender = match source {
            Some(a) => vec![a],
            None => own,
        };
        let at = pr.family.as_ref().and_then(|f| f.0.first()).map_or(pr.server.pos, |f| f.pos);
        let addrs = targets(p, at, &c, &sender, (&server.name, &addrs_of(nodes, &server.name)));
        for (_, name, qtype) in &c.asks {
            for (&transport, &addr) in c.transports.iter().flat_map(|t| addrs.iter().map(move |a| (t, a))) {
                for (key, port) in &ports {
                    out.push(Probe {
                        from: c.from.clone(),
                        server: hostname.trim_end_matches('.').to_string(),
                        server_node: server.name.clone(),
                        server_addr: addr,
                        name: name.clone(),
                        qtype: *qtype,
                        transport,
                        stub: c.stub.unwrap_or(Stub::NORECURSE),
                        source,
                        source_port: *port,
                        timeout: c.timeout.unwrap_or(PROBE_TIMEOUT),
                        expect: expect.as_ref().map(|e| e.for_key(key).0).unwrap_or_default(),
                    });
                }
            }
        }
    }
    out
}
