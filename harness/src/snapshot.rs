//! The snapshot form of an outcome, with the scenario's knowledge of who
//! owns which address and which servers are interchangeable.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::outcome::Outcome;
use crate::scenario::Scenario;

/// [`Outcome::stable`] with node names for addresses, servers that serve
/// the same zones grouped (a resolver's choice among them is random), the
/// family left out of traffic to dual-stack servers (also its choice), and
/// the resolver's own housekeeping left out: the priming of the root (its
/// timing is the resolver's own), and lookups of a name server's address of
/// a family the server has none of (an IPv6-only one's A: whether a
/// resolver looks, and when, is its own choice; kresd sometimes does).
pub fn stable(s: &Scenario, o: &Outcome) -> serde_json::Value {
    let owner = |a: IpAddr| {
        s.nodes
            .iter()
            .find(|n| n.interfaces.iter().any(|(_, addrs)| addrs.contains(&a)))
            .map_or_else(|| a.to_string(), |n| n.name.clone())
    };
    let group = |host: &str| {
        let zones = s
            .servers()
            .find(|(_, sv)| sv.hostname.to_string().trim_end_matches('.') == host)
            .map(|(_, sv)| &sv.zones);
        let Some(zones) = zones else { return host.to_string() };
        let mut peers: Vec<String> = s
            .servers()
            .filter(|(_, sv)| &sv.zones == zones)
            .map(|(_, sv)| sv.hostname.to_string().trim_end_matches('.').to_string())
            .collect();
        peers.sort();
        peers.join("|")
    };
    // The root and its servers' names up to the root: `.`, `net.`,
    // `root-servers.net.`, `a.root-servers.net.`.
    let roots: Vec<Name> = s.root_hints().into_iter().map(|(n, _)| n).collect();
    let priming = |qname: &str| Name::from_ascii(qname).is_ok_and(|q| roots.iter().any(|r| q.zone_of(r)));
    // A server with an address of each family: which one a resolver picks is its own choice.
    let either_family = |host: &str| {
        let addrs: Vec<IpAddr> = s
            .servers()
            .filter(|(_, sv)| sv.hostname.to_string().trim_end_matches('.') == host)
            .flat_map(|(n, _)| n.addresses())
            .collect();
        addrs.iter().any(IpAddr::is_ipv4) && addrs.iter().any(IpAddr::is_ipv6)
    };
    // A name server's address of a family it has no address of: NODATA,
    // asked or not as the resolver pleases.
    let missing_family = |qname: &str, qtype: &str| {
        let v6 = match qtype {
            "A" => false,
            "AAAA" => true,
            _ => return false,
        };
        let Ok(q) = Name::from_ascii(qname) else { return false };
        let mut addrs = s.servers().filter(|(_, sv)| sv.hostname == q).flat_map(|(n, _)| n.addresses()).peekable();
        addrs.peek().is_some() && addrs.all(|a| a.is_ipv6() != v6)
    };
    o.stable(owner, group, |q: &str, t: &str| priming(q) || missing_family(q, t), either_family)
}
