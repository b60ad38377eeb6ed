//! A node's `firewall:` rules, each read once into a [`Filter`]: protocols,
//! ports, action and family, and what middleboxes match besides (addresses,
//! interfaces, IP fragments, the DNS message size). `scenarios/README.md`
//! gives the nft each key becomes.

use std::net::IpAddr;

use ipnet::IpNet;
use lab::{Action, Filter, Fragments, Size, SizeOp, L4};

use super::Pass;
use crate::scenario::model::Network;
use crate::scenario::raw::{self, OneOrMany, S};
use crate::scenario::rules::Rule;
use crate::scenario::values::{self as v, Transport};

/// The largest DNS message one UDP datagram holds (65,535 - 8 - 20).
const UDP_MAX: u16 = 65507;

pub(super) fn rule(p: &mut Pass, name: &S, r: &raw::FirewallRule, networks: &[Network], interfaces: &[(String, Vec<IpAddr>)]) -> Option<Filter> {
    if !lab::firewall::valid_name(name) {
        p.report(
            Rule::BadFirewallRule,
            name.pos,
            format!("rule name `{}` names its nft counter: use a-z, 0-9 and `_`", name.value),
        );
    }
    let size = r.size.as_ref().and_then(|s| p.take(Rule::BadFirewallRule, s, self::size(s)));
    let protos = protos(p, name, r, size.is_some());
    let action = match r.action.value.as_str() {
        "drop" => Some(Action::Drop),
        "reject" => Some(Action::Reject),
        "accept" => Some(Action::Accept),
        other => {
            p.report(
                Rule::BadFirewallRule,
                r.action.pos,
                format!("action `{other}`; expected drop, reject or accept"),
            );
            None
        }
    };
    let dport = r.dport.as_ref().and_then(|s| p.take(Rule::BadPortRange, s, v::ports(s)));
    let sport = r.sport.as_ref().and_then(|s| p.take(Rule::BadPortRange, s, v::ports(s)));
    let except_sport = r
        .except_sport
        .iter()
        .flat_map(|e| p.each(Rule::BadPortRange, e, v::ports))
        .map(|x| x.lo)
        .collect();
    let family = r.family.as_ref().and_then(|f| p.take(Rule::BadFirewallRule, f, v::family(&f.value)));
    let fragments = r.fragments.as_ref().and_then(|f| {
        p.take(
            Rule::BadFirewallRule,
            f,
            match f.value.as_str() {
                "all" => Ok(Fragments::All),
                "non-first" => Ok(Fragments::NonFirst),
                other => Err(format!("fragments `{other}`; expected all or non-first")),
            },
        )
    });
    let filter = Filter {
        name: name.value.clone(),
        protos,
        dport,
        sport,
        except_sport,
        action: action?,
        family,
        saddr: r.saddr.as_ref().map(|a| addresses(p, a, networks)).unwrap_or_default(),
        daddr: r.daddr.as_ref().map(|a| addresses(p, a, networks)).unwrap_or_default(),
        iif: r.from_net.as_ref().and_then(|n| interface(p, name, n, interfaces)),
        oif: r.to_net.as_ref().and_then(|n| interface(p, name, n, interfaces)),
        fragments,
        size,
    };
    consistent(p, name, r, &filter);
    Some(filter)
}

/// `proto:`, udp and tcp when not given; udp only for a rule on `size`
/// (a DNS message's size is a UDP datagram's length).
fn protos(p: &mut Pass, name: &S, r: &raw::FirewallRule, sized: bool) -> Vec<L4> {
    let protos = match &r.proto {
        Some(list) if list.0.is_empty() => {
            let detail = format!(
                "rule `{}` has `proto: []`, which matches nothing: list udp, tcp or both, or leave it out",
                name.value
            );
            p.report(Rule::BadFirewallRule, name.pos, detail);
            vec![]
        }
        Some(list) => p.each(Rule::BadFirewallRule, list, v::transport),
        None if sized => vec![Transport::Udp],
        None => vec![Transport::Udp, Transport::Tcp],
    };
    if sized && protos.contains(&Transport::Tcp) {
        let detail = format!(
            "rule `{}` matches `size`, the length of a UDP datagram: over TCP a message has no such size; write `proto: udp`",
            name.value
        );
        p.report(Rule::BadFirewallRule, name.pos, detail);
    }
    protos.into_iter().map(|t| if t == Transport::Udp { L4::Udp } else { L4::Tcp }).collect()
}

/// `">1232"`, `">=513"`, `"<512"`, `"<=512"`, `"1232"`: the DNS message's bytes.
fn size(s: &str) -> Result<Size, String> {
    let t = s.trim();
    let (op, n) = [
        (">=", SizeOp::Ge),
        ("<=", SizeOp::Le),
        (">", SizeOp::Gt),
        ("<", SizeOp::Lt),
        ("==", SizeOp::Eq),
        ("=", SizeOp::Eq),
    ]
    .into_iter()
    .find_map(|(p, op)| t.strip_prefix(p).map(|rest| (op, rest)))
    .unwrap_or((SizeOp::Eq, t));
    let bytes: u16 = n
        .trim()
        .parse()
        .map_err(|_| format!("size `{s}`: write a comparison and a number of bytes, e.g. \">1232\""))?;
    if bytes > UDP_MAX {
        return Err(format!("size `{s}`: no DNS message over UDP is larger than {UDP_MAX} bytes"));
    }
    Ok(Size { op, bytes })
}

/// Addresses, subnets, or networks' names for all of their subnets.
fn addresses(p: &mut Pass, list: &OneOrMany, networks: &[Network]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for a in &list.0 {
        match networks.iter().find(|n| n.name == a.value) {
            Some(n) => out.extend(&n.subnets),
            // A bare address is the one host: /32 or /128.
            None => match v::subnet(a).ok().or_else(|| a.value.parse::<IpAddr>().ok().map(IpNet::from)) {
                Some(s) => out.push(s),
                None => {
                    let nets: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
                    let detail = format!("`{}` is neither an address, a subnet nor a network; networks: {}", a.value, nets.join(", "));
                    p.report(Rule::BadFirewallRule, a.pos, detail);
                }
            },
        }
    }
    out
}

/// `in:` / `out:`: one of the node's networks, which names its interface.
fn interface(p: &mut Pass, name: &S, net: &S, interfaces: &[(String, Vec<IpAddr>)]) -> Option<String> {
    if interfaces.iter().any(|(n, _)| *n == net.value) {
        return Some(net.value.clone());
    }
    let known: Vec<&str> = interfaces.iter().map(|(n, _)| n.as_str()).collect();
    let detail = format!(
        "rule `{}`: the node has no interface on `{}`; it is on {}",
        name.value,
        net.value,
        known.join(", ")
    );
    p.report(Rule::BadFirewallRule, net.pos, detail);
    None
}

/// What a rule asks that no packet can be, or that nft cannot see where
/// the rule is judged.
fn consistent(p: &mut Pass, name: &S, r: &raw::FirewallRule, f: &Filter) {
    let at = name.pos;
    let mut say = |detail: String| p.report(Rule::BadFirewallRule, at, detail);
    if f.fragments.is_some() && (f.dport.is_some() || f.sport.is_some() || !f.except_sport.is_empty()) {
        say(format!(
            "rule `{}` matches ports on fragments: those after the first carry no transport header and so no ports; leave the ports out (`in:` and addresses say where fragments come from)",
            name.value
        ));
    }
    if f.fragments.is_some() && f.action == Action::Reject {
        say(format!(
            "rule `{}` rejects fragments: the kernel sends no ICMP error for a fragment after the first, so a reject would be a silent drop; write `action: drop`",
            name.value
        ));
    }
    if f.fragments.is_some() && r.to_net.is_some() {
        say(format!("rule `{}` matches fragments with `out:`: a rule on fragments is judged in prerouting, before the kernel reassembles them and before the way out is known; use `in:`", name.value));
    }
    if f.fragments.is_some() && f.size.is_some() {
        say(format!(
            "rule `{}` matches fragments and `size`: only a first fragment has the UDP length; match one of them",
            name.value
        ));
    }
    if f.matches_nothing() {
        say(format!("rule `{}` matches no packet: its addresses and family share no IP version", name.value));
    }
}
