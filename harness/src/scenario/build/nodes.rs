//! Networks and nodes: subnets, interfaces and their addresses, and each
//! node's role (server, resolver, firewall, NAT), read and checked at once.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::Pass;
use crate::resolver::Kind;
use crate::scenario::model::{Nat, Network, Node, Resolver, Server};
use crate::scenario::raw::{self, S};
use crate::scenario::rules::Rule;
use crate::scenario::values as v;

/// Names a network cannot have: its name is the interface's name in each
/// node, and these are taken in every namespace (the loopback interface, and
/// the sysctl directories `conf/all` and `conf/default`).
const RESERVED_IFNAMES: [&str; 3] = ["lo", "all", "default"];

pub(super) fn networks(p: &mut Pass) -> Vec<Network> {
    let mut out = Vec::new();
    for (n, spec) in p.doc.networks.iter().flat_map(|e| e.0.iter()) {
        p.take(Rule::BadName, n, v::ident(n, lab::topology::IFNAME_MAX));
        if RESERVED_IFNAMES.contains(&n.value.as_str()) {
            let detail = format!(
                "`{}` names an interface in every node, and every namespace already has `lo`, and `all` and `default` in /proc/sys/net/*/conf: name the network otherwise",
                n.value
            );
            p.report(Rule::BadName, n.pos, detail);
        }
        let subnets = p.each(Rule::BadAddress, &spec.subnets, v::subnet);
        let mtu = spec.mtu.as_ref().and_then(|m| p.take(Rule::BadValue, m, mtu(m, &subnets)));
        out.push(Network {
            name: n.value.clone(),
            subnets,
            mtu,
        });
    }
    out
}

/// An EDNS UDP payload size: 512 (no smaller is meaningful, RFC 6891) to 65535.
fn edns_size(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n >= 512 => Ok(n),
        _ => Err(format!("edns_size `{s}`: a number of bytes from 512 to 65535 (1232 is DNS Flag Day 2020's)")),
    }
}

/// A link MTU: at least 576 (1280 on a network with IPv6), at most 65535.
fn mtu(s: &str, subnets: &[IpNet]) -> Result<u32, String> {
    // The lab's own rule, said with where it was written.
    let m: u32 = s.parse().map_err(|_| format!("mtu `{s}`: a number of bytes"))?;
    lab::topology::mtu_allowed(m, subnets).map_err(|range| format!("mtu `{s}`: a number from {range} (IPv6 needs 1280)"))?;
    Ok(m)
}

pub(super) fn nodes(p: &mut Pass, networks: &[Network]) -> Vec<Node> {
    let mut used: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (name, n) in p.doc.nodes.iter().flat_map(|e| e.0.iter()) {
        node_name(p, name);
        let interfaces = interfaces(p, name, n, networks, &mut used);
        if n.server.is_some() && n.resolver.is_some() {
            p.report(
                Rule::ConflictingRoles,
                name.pos,
                format!("`{}` is both `server` and `resolver`; use two nodes", name.value),
            );
        }
        let nat = n.nat.as_ref().and_then(|nat| self::nat(p, name, nat, &interfaces));
        out.push(Node {
            name: name.value.clone(),
            server: n.server.as_ref().and_then(|s| server(p, s)),
            resolver: n.resolver.as_ref().map(|r| resolver(p, name, r, networks)),
            firewall: n
                .firewall
                .iter()
                .flat_map(|f| f.0.iter())
                .filter_map(|(rn, r)| super::firewall::rule(p, rn, r, networks, &interfaces))
                .collect(),
            interfaces,
            nat,
        });
    }
    out
}

fn node_name(p: &mut Pass, name: &S) {
    p.take(Rule::BadName, name, v::ident(name, 32));
    if crate::verdict::FIELDS.contains(&name.value.as_str()) {
        let fields = crate::verdict::FIELDS.join(", ");
        p.report(
            Rule::BadName,
            name.pos,
            format!("`{}` is a field of `expect:` maps ({fields}), so it cannot name a node", name.value),
        );
    }
}

fn interfaces(p: &mut Pass, name: &S, n: &raw::Node, networks: &[Network], used: &mut BTreeMap<IpAddr, String>) -> Vec<(String, Vec<IpAddr>)> {
    let mut out = Vec::new();
    for (net, addrs) in n.interfaces.iter().flat_map(|i| i.0.iter()) {
        let subnets = networks.iter().find(|x| x.name == net.value).map(|x| &x.subnets);
        if subnets.is_none() {
            let known: Vec<&str> = networks.iter().map(|x| x.name.as_str()).collect();
            p.report(Rule::UnknownNetwork, net.pos, format!("`{}`; defined: {}", net.value, known.join(", ")));
        }
        let mut ok = Vec::new();
        let connected_elsewhere = n.interfaces.iter().flat_map(|i| i.0.iter()).any(|(_, a)| !a.0.is_empty());
        if addrs.0.is_empty() && connected_elsewhere {
            let detail = format!(
                "`{}` lists no address on `{}`: give it one, or leave `{}` out",
                name.value, net.value, net.value
            );
            p.report(Rule::NodeUnconnected, net.pos, detail);
        }
        for a in &addrs.0 {
            let Some(ip) = p.take(Rule::BadAddress, a, v::addr(a)) else { continue };
            if let Some(subnets) = subnets {
                match subnets.iter().find(|s| s.contains(&ip)) {
                    Some(s) => {
                        if let Some(what) = lab::topology::not_a_host(s, ip) {
                            p.report(Rule::AddressOutsideNetwork, a.pos, format!("{ip} is the {what} address of {s}"));
                        }
                    }
                    None => {
                        let nets: Vec<String> = subnets.iter().map(|s| s.to_string()).collect();
                        p.report(
                            Rule::AddressOutsideNetwork,
                            a.pos,
                            format!("{ip} is not in network `{}` ({})", net.value, nets.join(", ")),
                        );
                    }
                }
            }
            if let Some(other) = used.insert(ip, name.value.clone()) {
                p.report(Rule::DuplicateAddress, a.pos, format!("{ip} is already used by `{other}`"));
            }
            ok.push(ip);
        }
        out.push((net.value.clone(), ok));
    }
    if out.is_empty() {
        p.report(
            Rule::NodeUnconnected,
            name.pos,
            format!("`{}` needs `interfaces: {{NETWORK: ADDRESS}}`", name.value),
        );
    } else if n.interfaces.iter().flat_map(|i| i.0.iter()).all(|(_, a)| a.0.is_empty()) {
        p.report(
            Rule::NodeUnconnected,
            name.pos,
            format!("`{}` has no address on any of its interfaces", name.value),
        );
    }
    out
}

fn server(p: &mut Pass, s: &raw::Server) -> Option<Server> {
    let hostname = p.take(Rule::BadDomainName, &s.name, v::name(&s.name));
    let zones: Vec<_> = s.zones.iter().filter_map(|z| p.take(Rule::BadDomainName, z, v::name(z))).collect();
    let mut lame = Vec::new();
    for (z, mode) in s.lame.iter().flat_map(|l| l.0.iter()) {
        let zone = p.take(Rule::BadLame, z, v::name(z));
        if zone.as_ref().is_some_and(|z| zones.contains(z)) {
            p.report(
                Rule::BadLame,
                z.pos,
                format!("`{}` serves `{}`, so it cannot also be lame for it", s.name.value, z.value),
            );
        }
        let mode = p.take(Rule::BadLame, mode, v::lame(mode));
        lame.extend(zone.zip(mode));
    }
    let axfr = match s.axfr.as_ref().map(|a| a.value.as_str()) {
        None | Some("deny") => false,
        Some("allow") => true,
        Some(other) => {
            let at = s.axfr.as_ref().map_or(s.name.pos, |a| a.pos);
            p.report(Rule::BadValue, at, format!("`axfr: {other}`: zone transfers are `allow` or `deny`"));
            false
        }
    };
    Some(Server {
        hostname: hostname?,
        zones,
        lame,
        axfr,
    })
}

fn resolver(p: &mut Pass, name: &S, r: &raw::Resolver, networks: &[Network]) -> Resolver {
    let source_ports = r.source_ports.as_ref().and_then(|s| p.take(Rule::BadPortRange, s, v::ports(s)));
    let mut kinds = Vec::new();
    for k in r.kinds.iter().flatten() {
        match Kind::parse(k) {
            None => p.report(Rule::ResolverCannot, k.pos, format!("`{}`; known: {}", k.value, Kind::names())),
            Some(kind) => {
                let why = source_ports.filter(|s| s.lo < 1024).and(kind.caps().low_ports.refusal());
                if let (Some(why), Some(ports)) = (why, &r.source_ports) {
                    p.report(
                        Rule::ResolverCannot,
                        k.pos,
                        format!("`{}` asks for source ports {}: {why}", name.value, ports.value),
                    );
                }
                kinds.push(kind);
            }
        }
    }
    let mut allow: Vec<IpNet> = Vec::new();
    for a in r.allow.iter().flat_map(|a| a.0.iter()) {
        match networks.iter().find(|n| n.name == a.value) {
            Some(n) => allow.extend(&n.subnets),
            None => match v::subnet(a) {
                Ok(s) => allow.push(s),
                Err(_) => {
                    let nets: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
                    p.report(Rule::BadAllow, a.pos, format!("`{}`; networks: {}", a.value, nets.join(", ")));
                }
            },
        }
    }
    let runs = if r.kinds.is_some() { kinds.clone() } else { Kind::ALL.to_vec() };
    if let Some(first) = r.allow.as_ref().and_then(|a| a.0.first()) {
        for why in runs.iter().filter_map(|k| k.caps().acl.refusal()) {
            p.report(
                Rule::ResolverCannot,
                first.pos,
                format!("`{}` limits who may ask it (`allow`), but {why}", name.value),
            );
        }
    }
    let edns_size = r.edns_size.as_ref().and_then(|s| p.take(Rule::BadValue, s, edns_size(s)));
    if let Some(s) = &r.edns_size {
        for why in runs.iter().filter_map(|k| k.caps().edns_buffer.refusal()) {
            p.report(Rule::ResolverCannot, s.pos, format!("`{}` sets `edns_size`, but {why}", name.value));
        }
        for k in runs.iter().filter(|k| edns_size.zip(k.caps().edns_max).is_some_and(|(n, max)| n > max)) {
            let max = k.caps().edns_max.unwrap_or_default();
            let detail = format!(
                "`{}` sets `edns_size: {}`, but {k} takes at most {max} (it would offer {max}): leave {k} out of `kinds:`",
                name.value, s.value
            );
            p.report(Rule::ResolverCannot, s.pos, detail);
        }
    }
    let tcp_upstream = r.tcp_upstream.as_ref().and_then(|s| p.take(Rule::BadValue, s, v::tcp_upstream(s)));
    if let (Some(s), Some(mode)) = (&r.tcp_upstream, tcp_upstream) {
        for why in runs.iter().filter_map(|k| k.caps().tcp(mode).refusal()) {
            p.report(
                Rule::ResolverCannot,
                s.pos,
                format!("`{}` sets `tcp_upstream: {}`, but {why}", name.value, s.value),
            );
        }
    }
    Resolver {
        source_ports,
        kinds,
        allow,
        local_zones: vec![],
        edns_size,
        tcp_upstream,
    }
}

fn nat(p: &mut Pass, name: &S, nat: &raw::Nat, interfaces: &[(String, Vec<IpAddr>)]) -> Option<Nat> {
    let source_ports = nat.source_ports.as_ref().and_then(|s| p.take(Rule::BadPortRange, s, v::ports(s)));
    let Some((_, addrs)) = interfaces.iter().find(|(net, _)| *net == nat.outside.value) else {
        let detail = format!(
            "NAT of `{}` leaves through `{}`, which is not one of its interfaces",
            name.value, nat.outside.value
        );
        p.report(Rule::UnknownNetwork, nat.outside.pos, detail);
        return None;
    };
    let Some(to) = addrs.first().copied() else {
        let detail = format!(
            "NAT of `{}` leaves through `{}`, where it has no address to rewrite sources to",
            name.value, nat.outside.value
        );
        p.report(Rule::UnknownNetwork, nat.outside.pos, detail);
        return None;
    };
    Some(Nat {
        outside: nat.outside.value.clone(),
        to,
        source_ports,
    })
}
