//! Named checks over the raw scenario, in the manner of Deckard's rplint.
//! Each lint is a function whose one-line doc is its message; all of them run
//! and every finding is reported together as `file:line:col rule: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use super::raw::{self, Doc, Expect, OneOrMany, S};
use super::values as v;
use super::yaml::Pos;
use crate::resolver::Kind;

/// A finding: where, which rule, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub pos: Pos,
    pub rule: String,
    pub message: String,
}

pub struct Ctx<'a> {
    pub doc: &'a Doc,
    pub dir: &'a Path,
}

type Out = Vec<(Pos, String)>;

pub struct Lint {
    pub rule: &'static str,
    pub message: &'static str,
    check: fn(&Ctx, &mut Out),
}

macro_rules! lints {
    ($( #[doc = $doc:literal] fn $name:ident($cx:ident, $out:ident) $body:block )*) => {
        $( #[doc = $doc] fn $name($cx: &Ctx, $out: &mut Out) $body )*
        /// Every lint, in the order they run.
        pub const ALL: &[Lint] = &[ $( Lint { rule: stringify!($name), message: $doc.trim_ascii(), check: $name } ),* ];
    };
}

/// Runs every lint; findings sorted by position.
pub fn run(cx: &Ctx) -> Vec<Finding> {
    let mut all = Vec::new();
    for lint in ALL {
        let mut out = Vec::new();
        (lint.check)(cx, &mut out);
        let rule = lint.rule.replace('_', "-");
        all.extend(out.into_iter().map(|(pos, detail)| Finding {
            pos,
            rule: rule.clone(),
            message: format!("{}: {detail}", lint.message),
        }));
    }
    all.sort();
    all
}

impl<'a> Ctx<'a> {
    fn nodes(&self) -> &'a [(S, raw::Node)] {
        self.doc.nodes.as_ref().map_or(&[], |e| &e.0)
    }
    fn networks(&self) -> &'a [(S, OneOrMany)] {
        self.doc.networks.as_ref().map_or(&[], |e| &e.0)
    }
    fn node(&self, name: &str) -> Option<&'a raw::Node> {
        self.nodes().iter().find(|(n, _)| n.value == name).map(|(_, n)| n)
    }
    fn interfaces(&self) -> impl Iterator<Item = (&'a S, &'a S, &'a OneOrMany)> {
        self.nodes()
            .iter()
            .flat_map(|(n, node)| node.interfaces.iter().flat_map(move |i| i.0.iter().map(move |(net, a)| (n, net, a))))
    }
    fn servers(&self) -> impl Iterator<Item = (&'a S, &'a raw::Server)> {
        self.nodes().iter().filter_map(|(n, node)| node.server.as_ref().map(|s| (n, &s.value)))
    }
    fn resolvers(&self) -> impl Iterator<Item = (&'a S, &'a raw::Resolver)> {
        self.nodes().iter().filter_map(|(n, node)| node.resolver.as_ref().map(|r| (n, &r.value)))
    }
    fn queries(&self) -> impl Iterator<Item = &'a raw::Query> {
        self.doc.queries.iter().flatten().map(|q| &q.value)
    }
    fn probes(&self) -> impl Iterator<Item = &'a raw::Probe> {
        self.doc.probes.iter().flatten().map(|p| &p.value)
    }
    /// Every zone a server serves or is lame for, or a resolver holds locally.
    fn zone_users(&self) -> impl Iterator<Item = &'a S> {
        let served = self
            .servers()
            .flat_map(|(_, s)| s.zones.iter().chain(s.lame.iter().flat_map(|l| l.0.iter().map(|(z, _)| z))));
        served.chain(self.resolvers().flat_map(|(_, r)| r.local_zones.iter().flatten()))
    }
    /// The node a query or probe is sent from: `from`, or the node `client`.
    pub fn from_node(from: &Option<S>) -> &str {
        from.as_ref().map_or("client", |f| f.value.as_str())
    }
}

fn check<T>(out: &mut Out, s: &S, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| out.push((s.pos, e))).ok()
}

fn expect_keys(e: &Expect) -> &[(S, OneOrMany)] {
    match e {
        Expect::All(_) => &[],
        Expect::Each(v) => v,
    }
}

fn expect_values(e: &Expect) -> Vec<&S> {
    match e {
        Expect::All(o) => o.0.iter().collect(),
        Expect::Each(v) => v.iter().flat_map(|(_, o)| o.0.iter()).collect(),
    }
}

lints! {
    /// a name is defined twice
    fn duplicate_name(cx, out) {
        let doc = cx.doc;
        let lists: [(&str, Vec<&S>); 3] = [
            ("network", cx.networks().iter().map(|e| &e.0).collect()),
            ("node", cx.nodes().iter().map(|e| &e.0).collect()),
            ("zone", doc.zones.iter().flat_map(|z| z.0.iter().map(|e| &e.0)).collect()),
        ];
        for (what, names) in lists {
            let mut seen = BTreeSet::new();
            for n in names {
                let key = if what == "zone" { v::name(n).map(|x| x.to_string()).unwrap_or(n.value.clone()) } else { n.value.clone() };
                if !seen.insert(key) {
                    out.push((n.pos, format!("{what} `{}`", n.value)));
                }
            }
        }
        let mut hosts = BTreeSet::new();
        for (_, s) in cx.servers() {
            if let Ok(h) = v::name(&s.name) {
                if !hosts.insert(h.to_string()) {
                    out.push((s.name.pos, format!("server host name `{}`", s.name.value)));
                }
            }
        }
    }

    /// a node or network name is not a plain name (a-z, 0-9, `-`; networks at most 15 characters, as interface names)
    fn bad_name(cx, out) {
        for (n, _) in cx.networks() {
            check(out, n, v::ident(n, lab::topology::IFNAME_MAX));
        }
        for (n, _) in cx.nodes() {
            check(out, n, v::ident(n, 32));
        }
    }

    /// an address or subnet is malformed or outside the lab's address space
    fn bad_address(cx, out) {
        for (_, subnets) in cx.networks() {
            for s in &subnets.0 {
                check(out, s, v::subnet(s));
            }
        }
        for (_, _, addrs) in cx.interfaces() {
            for a in &addrs.0 {
                check(out, a, v::addr(a));
            }
        }
        for p in cx.probes() {
            if let Some(s) = &p.source {
                check(out, s, v::addr(s));
            }
        }
    }

    /// an address is not a host address inside the subnet of its network
    fn address_outside_network(cx, out) {
        for (_, net, addrs) in cx.interfaces() {
            let Some((_, subnets)) = cx.networks().iter().find(|(n, _)| n.value == net.value) else { continue };
            let subnets: Vec<ipnet::IpNet> = subnets.0.iter().filter_map(|s| v::subnet(s).ok()).collect();
            for a in &addrs.0 {
                let Ok(ip) = v::addr(a) else { continue };
                match subnets.iter().find(|s| s.contains(&ip)) {
                    Some(s) if ip != s.network() || s.prefix_len() >= 31 => {}
                    Some(s) => out.push((a.pos, format!("{ip} is the network address of {s}"))),
                    None => out.push((a.pos, format!("{ip} is not in network `{}` ({})", net.value, subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")))),
                }
            }
        }
    }

    /// an address is given to two interfaces
    fn duplicate_address(cx, out) {
        let mut seen: BTreeMap<IpAddr, &str> = BTreeMap::new();
        for (node, _, addrs) in cx.interfaces() {
            for a in &addrs.0 {
                let Ok(ip) = v::addr(a) else { continue };
                if let Some(other) = seen.insert(ip, &node.value) {
                    out.push((a.pos, format!("{ip} is already used by `{other}`")));
                }
            }
        }
    }

    /// a node refers to a network that is not defined under `networks:`
    fn unknown_network(cx, out) {
        let known: BTreeSet<&str> = cx.networks().iter().map(|(n, _)| n.value.as_str()).collect();
        for (_, net, _) in cx.interfaces() {
            if !known.contains(net.value.as_str()) {
                out.push((net.pos, format!("`{}`; defined: {}", net.value, known.iter().copied().collect::<Vec<_>>().join(", "))));
            }
        }
        for (n, node) in cx.nodes() {
            if let Some(nat) = &node.nat {
                let on: Vec<&str> = node.interfaces.iter().flat_map(|i| i.0.iter().map(|(k, _)| k.value.as_str())).collect();
                if !on.contains(&nat.outside.value.as_str()) {
                    out.push((nat.outside.pos, format!("NAT of `{}` leaves through `{}`, which is not one of its interfaces", n.value, nat.outside.value)));
                }
            }
        }
    }

    /// a node has no interfaces, so nothing can reach it
    fn node_unconnected(cx, out) {
        for (n, node) in cx.nodes() {
            if node.interfaces.as_ref().is_none_or(|i| i.0.is_empty()) {
                out.push((n.pos, format!("`{}` needs `interfaces: {{NETWORK: ADDRESS}}`", n.value)));
            }
        }
    }

    /// a node has two roles that both answer DNS on port 53
    fn conflicting_roles(cx, out) {
        for (n, node) in cx.nodes() {
            if node.server.is_some() && node.resolver.is_some() {
                out.push((n.pos, format!("`{}` is both `server` and `resolver`; use two nodes", n.value)));
            }
        }
    }

    /// a domain name is malformed
    fn bad_domain_name(cx, out) {
        for (_, s) in cx.servers() {
            check(out, &s.name, v::name(&s.name));
            for z in &s.zones {
                check(out, z, v::name(z));
            }
        }
        for (z, _) in cx.doc.zones.iter().flat_map(|z| z.0.iter()) {
            check(out, z, v::name(z));
        }
    }

    /// a zone is written under `zones:` but no server serves it, no server is lame for it and no resolver holds it locally
    fn zone_unserved(cx, out) {
        let served: BTreeSet<String> = cx.zone_users().filter_map(|z| v::name(z).ok().map(|n| n.to_string())).collect();
        for (z, _) in cx.doc.zones.iter().flat_map(|z| z.0.iter()) {
            if let Ok(n) = v::name(z) {
                if !served.contains(&n.to_string()) {
                    out.push((z.pos, format!("`{}`: add it to some node's `server: {{zones: [...]}}` or a resolver's `local_zones`", z.value)));
                }
            }
        }
    }

    /// a server's `lame` entry is not `ZONE: refused|no-aa|silent` for a zone it does not itself serve
    fn bad_lame(cx, out) {
        for (_, s) in cx.servers() {
            let serves: Vec<String> = s.zones.iter().filter_map(|z| v::name(z).ok()).map(|z| z.to_string()).collect();
            for (z, mode) in s.lame.iter().flat_map(|l| l.0.iter()) {
                if let Some(n) = check(out, z, v::name(z)) {
                    if serves.contains(&n.to_string()) {
                        out.push((z.pos, format!("`{}` serves `{}`, so it cannot also be lame for it", s.name.value, z.value)));
                    }
                }
                check(out, mode, v::lame(mode));
            }
        }
    }

    /// a resolver's `allow` entry is neither a network's name nor a subnet of the lab
    fn bad_allow(cx, out) {
        for (_, r) in cx.resolvers() {
            for a in r.allow.iter().flat_map(|a| a.0.iter()) {
                if cx.networks().iter().any(|(n, _)| n.value == a.value) {
                    continue;
                }
                if v::subnet(a).is_err() {
                    let nets: Vec<&str> = cx.networks().iter().map(|(n, _)| n.value.as_str()).collect();
                    out.push((a.pos, format!("`{}`; networks: {}", a.value, nets.join(", "))));
                }
            }
        }
    }

    /// a resolver's `local_zones` names a zone that is not under `zones:`
    fn unknown_zone(cx, out) {
        let written: Vec<String> = cx.doc.zones.iter().flat_map(|z| z.0.iter()).filter_map(|(z, _)| v::name(z).ok()).map(|z| z.to_string()).collect();
        for (_, r) in cx.resolvers() {
            for z in r.local_zones.iter().flatten() {
                if let Some(n) = check(out, z, v::name(z)) {
                    if !written.contains(&n.to_string()) {
                        out.push((z.pos, format!("`{}`: write it under `zones:` (its text, a file, or nothing for an empty zone)", z.value)));
                    }
                }
            }
        }
    }

    /// a zone file does not parse
    fn zone_syntax(cx, out) {
        for (z, src) in cx.doc.zones.iter().flat_map(|z| z.0.iter()) {
            let (Ok(origin), Some(src)) = (v::name(z), src) else { continue };
            match super::zone_text(src, cx.dir) {
                Err((pos, e)) => out.push((pos, e)),
                Ok((text, pos, file)) => {
                    if let Err(errs) = crate::zone::parse(&origin, &text) {
                        for e in errs {
                            let at = match &file {
                                // Inline text starts on the line after `zone: |`.
                                None => Pos { line: pos.line + e.line, col: pos.col },
                                Some(_) => pos,
                            };
                            let place = file.as_ref().map(|f| format!("{f}:{}: ", e.line)).unwrap_or_default();
                            out.push((at, format!("zone {origin}: {place}{}", e.message)));
                        }
                    }
                }
            }
        }
    }

    /// a port or port range is not within 1-65535
    fn bad_port_range(cx, out) {
        for (_, r) in cx.resolvers() {
            if let Some(p) = &r.source_ports {
                check(out, p, v::ports(p));
            }
        }
        for (_, node) in cx.nodes() {
            if let Some(p) = node.nat.as_ref().and_then(|n| n.source_ports.as_ref()) {
                check(out, p, v::ports(p));
            }
            for (_, rule) in node.firewall.iter().flat_map(|f| f.0.iter()) {
                for p in [&rule.dport, &rule.sport].into_iter().flatten() {
                    check(out, p, v::ports(p));
                }
                for p in rule.except_sport.iter().flat_map(|e| e.0.iter()) {
                    check(out, p, v::ports(p));
                }
            }
        }
        for p in cx.probes() {
            for s in p.source_ports.iter().flat_map(|s| s.0.iter()) {
                check(out, s, v::port_spec(s));
            }
        }
    }

    /// a resolver kind is unknown, or cannot do what the scenario asks of it
    fn resolver_cannot(cx, out) {
        for (n, r) in cx.resolvers() {
            let low = r.source_ports.as_ref().and_then(|p| v::ports(p).ok()).is_some_and(|p| p.lo < 1024);
            for k in r.kinds.iter().flatten() {
                match Kind::parse(k) {
                    None => out.push((k.pos, format!("`{}`; known: {}", k.value, Kind::names()))),
                    Some(kind) if low => {
                        if let Some(why) = kind.low_ports_refusal() {
                            out.push((k.pos, format!("`{}` asks for source ports {}: {why}", n.value, r.source_ports.as_ref().map_or("", |p| &p.value))));
                        }
                    }
                    Some(_) => {}
                }
            }
            if let Some(allow) = r.allow.as_ref().and_then(|a| a.0.first()) {
                let kinds: Vec<Kind> = match &r.kinds {
                    Some(k) => k.iter().filter_map(|k| Kind::parse(k)).collect(),
                    None => Kind::ALL.to_vec(),
                };
                for kind in kinds {
                    if let Some(why) = kind.acl_refusal() {
                        out.push((allow.pos, format!("`{}` limits who may ask it (`allow`), but {why}", n.value)));
                    }
                }
            }
        }
    }

    /// a firewall rule is malformed
    fn bad_firewall_rule(cx, out) {
        for (_, node) in cx.nodes() {
            for (name, rule) in node.firewall.iter().flat_map(|f| f.0.iter()) {
                if !lab::firewall::valid_name(name) {
                    out.push((name.pos, format!("rule name `{}` names its nft counter: use a-z, 0-9 and `_`", name.value)));
                }
                for p in rule.proto.iter().flat_map(|p| p.0.iter()) {
                    check(out, p, v::transport(p));
                }
                if !["drop", "reject", "accept"].contains(&rule.action.value.as_str()) {
                    out.push((rule.action.pos, format!("action `{}`; expected drop, reject or accept", rule.action.value)));
                }
            }
        }
    }

    /// a query or probe does not say `NAME TYPE`, or has a bad timeout or transport
    fn bad_query(cx, out) {
        for q in cx.queries() {
            for a in &q.ask.0 {
                check(out, a, v::ask(a));
            }
            if let Some(t) = &q.timeout {
                check(out, t, v::duration(t));
            }
        }
        for p in cx.probes() {
            for a in &p.ask.0 {
                check(out, a, v::ask(a));
            }
            if let Some(t) = &p.timeout {
                check(out, t, v::duration(t));
            }
            for t in p.transport.iter().flat_map(|t| t.0.iter()) {
                check(out, t, v::transport(t));
            }
        }
    }

    /// a counted query or its rate expectations are malformed
    fn bad_count(cx, out) {
        for q in cx.queries() {
            let has_index = q.ask.0.iter().map(|a| a.value.contains(v::INDEX));
            match &q.count {
                Some(c) => {
                    if !(1..=10000).contains(&c.value) {
                        out.push((c.pos, format!("count {} is not within 1-10000", c.value)));
                    }
                    for (a, has) in q.ask.0.iter().zip(has_index) {
                        if !has {
                            out.push((a.pos, format!("`{}` has no `{{i}}`: every name would be the same, and cached", a.value)));
                        }
                    }
                }
                None => {
                    for (a, has) in q.ask.0.iter().zip(has_index) {
                        if has {
                            out.push((a.pos, format!("`{}` has `{{i}}` but the query has no `count`", a.value)));
                        }
                    }
                    if let Some((k, _)) = q.expect_rates.iter().flat_map(|e| e.0.iter()).next() {
                        out.push((k.pos, "`expect_rates` needs `count`: a rate is over many names".into()));
                    }
                }
            }
            let via: Vec<String> = match &q.via {
                Some(v) => v.0.iter().map(|s| s.value.clone()).collect(),
                None => cx.resolvers().map(|(n, _)| n.value.clone()).collect(),
            };
            for (key, rates) in q.expect_rates.iter().flat_map(|e| e.0.iter()) {
                let (node, kind) = super::rate_key(&key.value);
                if !via.iter().any(|v| v == node) {
                    out.push((key.pos, format!("`{node}` is not one of the resolvers this query goes through ({})", via.join(", "))));
                }
                if key.value.contains('@') && kind.is_none() {
                    out.push((key.pos, format!("`{}`: after `@` comes a resolver kind: {}", key.value, Kind::names())));
                }
                for (rate, b) in &rates.0 {
                    if !v::RATES.contains(&rate.value.as_str()) {
                        out.push((rate.pos, format!("`{}` is not a rate; expected one of {}", rate.value, v::RATES.join(", "))));
                    }
                    for x in [&b.min, &b.max].into_iter().flatten() {
                        if !(0.0..=1.0).contains(&x.value) {
                            out.push((x.pos, format!("{} is not a rate between 0 and 1", x.value)));
                        }
                    }
                }
            }
        }
    }

    /// a query or probe refers to a node that is not defined, or is not of the right kind
    fn unknown_node(cx, out) {
        let froms = cx.doc.queries.iter().flatten().map(|q| (&q.value.from, q.pos)).chain(cx.doc.probes.iter().flatten().map(|p| (&p.value.from, p.pos)));
        for (from, pos) in froms {
            let name = Ctx::from_node(from);
            if cx.node(name).is_none() {
                let at = from.as_ref().map_or(pos, |f| f.pos);
                out.push((at, format!("`{name}` sends this query but is not a node{}", if from.is_none() { " (add `from:`)" } else { "" })));
            }
        }
        for q in cx.queries() {
            for r in q.via.iter().flat_map(|v| v.0.iter()) {
                match cx.node(r) {
                    None => out.push((r.pos, format!("no node `{}`", r.value))),
                    Some(n) if n.resolver.is_none() => out.push((r.pos, format!("`{}` is not a resolver", r.value))),
                    Some(_) => {}
                }
            }
        }
        if let Some(a) = &cx.doc.audit {
            for n in a.value.from.iter().chain(a.value.outside.iter().flat_map(|o| o.0.iter())) {
                if cx.node(n).is_none() {
                    out.push((n.pos, format!("no node `{}`", n.value)));
                }
            }
        }
        for f in cx.doc.expect_findings.iter().flatten().map(|f| &f.value) {
            if let Some(r) = &f.resolver {
                if cx.node(r).is_none_or(|n| n.resolver.is_none()) {
                    out.push((r.pos, format!("`{}` is not a resolver node", r.value)));
                }
            }
            if let Some(s) = &f.server {
                if !cx.servers().any(|(_, sv)| v::name(&sv.name).ok() == v::name(s).ok()) {
                    out.push((s.pos, format!("`{}` is not a server's host name", s.value)));
                }
            }
        }
        for p in cx.probes() {
            let by_host = cx.servers().any(|(_, s)| v::name(&s.name).ok() == v::name(&p.server).ok());
            let by_node = cx.node(&p.server).is_some_and(|n| n.server.is_some());
            if !by_host && !by_node {
                let names: Vec<&str> = cx.servers().map(|(_, s)| s.name.value.as_str()).collect();
                out.push((p.server.pos, format!("`{}` is not a server; servers: {}", p.server.value, names.join(", "))));
            }
        }
    }

    /// an expectation is not an outcome or a finding, or names a resolver or port the query does not use
    fn bad_expect(cx, out) {
        for f in cx.doc.expect_findings.iter().flatten().map(|f| &f.value) {
            if !v::FINDINGS.contains(&f.rule.value.as_str()) {
                out.push((f.rule.pos, format!("`{}` is not a finding of `dnslab audit`; expected one of {}", f.rule.value, v::FINDINGS.join(", "))));
            }
            if let Some(z) = &f.zone {
                check(out, z, v::name(z));
            }
            for k in f.kinds.iter().flat_map(|k| k.0.iter()) {
                if Kind::parse(k).is_none() {
                    out.push((k.pos, format!("`{}` is not a resolver kind; expected one of {}", k.value, Kind::names())));
                }
            }
        }
        for q in cx.queries() {
            let Some(e) = &q.expect else { continue };
            for o in expect_values(e) {
                check(out, o, v::outcome(o));
            }
            let via: Vec<String> = match &q.via {
                Some(v) => v.0.iter().map(|s| s.value.clone()).collect(),
                None => cx.resolvers().map(|(n, _)| n.value.clone()).collect(),
            };
            for (k, _) in expect_keys(e) {
                if !via.contains(&k.value) {
                    out.push((k.pos, format!("`{}` is not one of the resolvers this query goes through ({})", k.value, via.join(", "))));
                }
            }
        }
        for p in cx.probes() {
            let Some(e) = &p.expect else { continue };
            for o in expect_values(e) {
                check(out, o, v::outcome(o));
            }
            let ports: Vec<&str> = p.source_ports.iter().flat_map(|s| s.0.iter().map(|x| x.value.as_str())).collect();
            for (k, _) in expect_keys(e) {
                if !ports.contains(&k.value.as_str()) {
                    out.push((k.pos, format!("`{}` is not one of this probe's source_ports ({})", k.value, ports.join(", "))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_lint_has_a_message() {
        for l in super::ALL {
            assert!(!l.message.is_empty() && !l.message.ends_with('.'), "{}", l.rule);
        }
    }
}
