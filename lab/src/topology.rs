//! Inert, validated description of a network: nodes, segments, addresses,
//! firewall and NAT rules. Nothing here touches the kernel; [`crate::Lab::up`]
//! builds it. Routes are derived from the graph, never written by hand.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::firewall::{Filter, Snat};
use crate::{Error, TopologyError};

/// The only address space a lab may use: the three IPv4 documentation
/// networks, shared address space for inside NATs, and IPv6 documentation.
pub const ALLOWED: [&str; 5] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10", "2001:db8::/32"];

/// Is `addr` inside the closed world ([`ALLOWED`])?
pub fn allowed(addr: IpAddr) -> bool {
    ALLOWED.iter().any(|n| n.parse::<IpNet>().expect("constant").contains(&addr))
}

/// Why `addr`, inside `subnet`, is no host's address, if it is not: the
/// network address, or the IPv4 broadcast address. A /31 or /32 (/127,
/// /128) has neither; IPv6 has no broadcast, so its last address is a host's.
pub fn not_a_host(subnet: &IpNet, addr: IpAddr) -> Option<&'static str> {
    if subnet.prefix_len() >= subnet.max_prefix_len() - 1 {
        None
    } else if addr == subnet.network() {
        Some("network")
    } else if addr.is_ipv4() && addr == subnet.broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub(crate) nodes: Vec<Node>,
    pub(crate) segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub ifaces: Vec<Iface>,
    /// Forward packets between interfaces (a router, firewall or NAT).
    pub forward: bool,
    /// `net.*` sysctls written inside the node's namespace, in order.
    pub sysctls: Vec<(String, String)>,
    pub filters: Vec<Filter>,
    pub snat: Vec<Snat>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Interface name inside the node: the segment's name.
    pub name: String,
    pub segment: usize,
    /// Addresses with the segment's prefix length.
    pub addrs: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub subnets: Vec<IpNet>,
    /// The MTU of every link of the segment (`ip link set DEV mtu N` on
    /// both ends of each veth); `None`: the kernel's 1500.
    pub mtu: Option<u32>,
    /// (node index, interface index)
    pub members: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dest: IpNet,
    pub via: IpAddr,
    pub dev: String,
}

impl Topology {
    pub fn builder() -> Builder {
        Builder::default()
    }
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    /// The node that owns `addr`, if any.
    pub fn owner(&self, addr: IpAddr) -> Option<&Node> {
        self.nodes.iter().find(|n| n.addrs().any(|a| a == addr))
    }
    /// A segment is a plain veth pair when it joins exactly two nodes, and a
    /// bridge in a namespace of its own otherwise.
    pub fn is_bridged(&self, segment: usize) -> bool {
        self.segments[segment].members.len() != 2
    }
}

impl Node {
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ifaces.iter().flat_map(|i| i.addrs.iter().map(|a| a.addr()))
    }
    /// The node's first address of a family on a segment, if it has one.
    fn addr_on(&self, segment: usize, v6: bool) -> Option<IpAddr> {
        let iface = self.ifaces.iter().find(|i| i.segment == segment)?;
        iface.addrs.iter().map(|a| a.addr()).find(|a| a.is_ipv6() == v6)
    }
}

/// Collects nodes and segments, then [`Builder::build`] validates them all at
/// once and derives the routes.
#[derive(Default, Debug)]
pub struct Builder {
    segments: Vec<(String, Vec<IpNet>)>,
    mtus: BTreeMap<String, u32>,
    nodes: Vec<NodeDraft>,
}

/// The smallest MTU of a link: IPv4's minimum datagram every host must take
/// (RFC 791), and IPv6's minimum link MTU (RFC 8200) on a segment with IPv6.
pub const MTU_MIN_V4: u32 = 576;
pub const MTU_MIN_V6: u32 = 1280;
/// The largest a veth takes.
pub const MTU_MAX: u32 = 65535;

/// Can a segment with `subnets` take `mtu`? `Err` is the range it can take.
pub fn mtu_allowed(mtu: u32, subnets: &[IpNet]) -> std::result::Result<(), String> {
    let min = if subnets.iter().any(|s| matches!(s, IpNet::V6(_))) {
        MTU_MIN_V6
    } else {
        MTU_MIN_V4
    };
    match (min..=MTU_MAX).contains(&mtu) {
        true => Ok(()),
        false => Err(format!("{min}-{MTU_MAX}")),
    }
}

#[derive(Default, Debug)]
pub struct NodeDraft {
    name: String,
    ifaces: Vec<(String, Vec<IpAddr>)>,
    forward: bool,
    sysctls: Vec<(String, String)>,
    filters: Vec<Filter>,
    snat: Vec<Snat>,
}

impl NodeDraft {
    /// Joins `segment` with these addresses (`ip addr add ADDR/PREFIX dev SEGMENT`).
    pub fn iface(&mut self, segment: &str, addrs: &[IpAddr]) -> &mut Self {
        self.ifaces.push((segment.to_string(), addrs.to_vec()));
        self
    }
    /// `sysctl -w net.ipv4.ip_forward=1` (and IPv6) inside the node.
    pub fn forward(&mut self, on: bool) -> &mut Self {
        self.forward = on;
        self
    }
    /// `sysctl -w KEY=VALUE` inside the node; only per-namespace `net.*` keys.
    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        self.sysctls.push((key.to_string(), value.to_string()));
        self
    }
    /// Source ports for the node's own sockets (`net.ipv4.ip_local_port_range`).
    /// A range below 1024 first lowers `ip_unprivileged_port_start`, or the
    /// kernel refuses it.
    pub fn local_ports(&mut self, lo: u16, hi: u16) -> &mut Self {
        if lo < 1024 {
            self.sysctl("net.ipv4.ip_unprivileged_port_start", &lo.to_string());
        }
        self.sysctl("net.ipv4.ip_local_port_range", &format!("{lo} {hi}"))
    }
    pub fn filter(&mut self, f: Filter) -> &mut Self {
        self.forward = true;
        self.filters.push(f);
        self
    }
    pub fn snat(&mut self, s: Snat) -> &mut Self {
        self.forward = true;
        self.snat.push(s);
        self
    }
}

impl Builder {
    pub fn segment(&mut self, name: &str, subnets: &[IpNet]) -> &mut Self {
        self.segments.push((name.to_string(), subnets.to_vec()));
        self
    }

    /// The MTU of every link of segment `name`.
    pub fn mtu(&mut self, name: &str, mtu: u32) -> &mut Self {
        self.mtus.insert(name.to_string(), mtu);
        self
    }

    pub fn node(&mut self, name: &str) -> &mut NodeDraft {
        self.nodes.push(NodeDraft {
            name: name.to_string(),
            ..Default::default()
        });
        self.nodes.last_mut().expect("just pushed")
    }

    pub fn build(self) -> Result<Topology, Error> {
        let mut errors = Vec::new();
        let mut err = |e: String| errors.push(TopologyError(e));
        let mut seen = BTreeSet::new();
        for (name, subnets) in &self.segments {
            if !seen.insert(name.clone()) {
                err(format!("segment `{name}` defined twice"));
            }
            if name.is_empty() || name.len() > IFNAME_MAX || name.contains(['/', ' ']) {
                err(format!(
                    "segment name `{name}` must be 1-{IFNAME_MAX} characters without `/` or spaces: it names interfaces"
                ));
            }
            for s in subnets {
                if !allowed(s.network()) || !allowed(s.broadcast()) {
                    err(format!("segment `{name}`: {s} is outside the lab's address space ({})", ALLOWED.join(", ")));
                }
            }
            if let Some(&m) = self.mtus.get(name) {
                if let Err(range) = mtu_allowed(m, subnets) {
                    err(format!("segment `{name}`: MTU {m} is outside {range}"));
                }
            }
        }
        for name in self.mtus.keys().filter(|n| !self.segments.iter().any(|(s, _)| s == *n)) {
            err(format!("MTU for `{name}`, which is no segment"));
        }
        let seg_index: BTreeMap<&str, usize> = self.segments.iter().enumerate().map(|(i, s)| (s.0.as_str(), i)).collect();
        let mut segments: Vec<Segment> = self
            .segments
            .iter()
            .map(|(name, subnets)| Segment {
                name: name.clone(),
                subnets: subnets.clone(),
                mtu: self.mtus.get(name).copied(),
                members: vec![],
            })
            .collect();
        let mut nodes = Vec::new();
        let mut owners: BTreeMap<IpAddr, &str> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (ni, d) in self.nodes.iter().enumerate() {
            if !names.insert(d.name.as_str()) {
                err(format!("node `{}` defined twice", d.name));
            }
            let mut ifaces = Vec::new();
            for (seg, addrs) in &d.ifaces {
                let Some(&si) = seg_index.get(seg.as_str()) else {
                    err(format!("node `{}`: no segment `{seg}`", d.name));
                    continue;
                };
                if segments[si].members.iter().any(|&(n, _)| n == ni) {
                    err(format!("node `{}` joins segment `{seg}` twice", d.name));
                    continue;
                }
                let mut nets = Vec::new();
                for &a in addrs {
                    if let Some(o) = owners.insert(a, &d.name) {
                        err(format!("address {a} is used by both `{o}` and `{}`", d.name));
                    }
                    match segments[si].subnets.iter().find(|s| s.contains(&a)) {
                        Some(s) if not_a_host(s, a).is_none() => nets.push(IpNet::new(a, s.prefix_len()).expect("prefix from a valid net")),
                        _ => err(format!("node `{}`: {a} is not a host address of segment `{seg}`", d.name)),
                    }
                }
                segments[si].members.push((ni, ifaces.len()));
                ifaces.push(Iface {
                    name: seg.clone(),
                    segment: si,
                    addrs: nets,
                });
            }
            for (k, _) in &d.sysctls {
                if !k.starts_with("net.") || k.contains("..") || k.contains('/') {
                    err(format!("node `{}`: sysctl `{k}` is not a per-namespace net.* key", d.name));
                }
            }
            for s in &d.snat {
                if !d.ifaces.iter().any(|(seg, _)| seg == &s.out_iface) {
                    err(format!("node `{}`: NAT leaves through `{}`, which the node is not on", d.name, s.out_iface));
                }
            }
            nodes.push(Node {
                name: d.name.clone(),
                ifaces,
                forward: d.forward,
                sysctls: d.sysctls.clone(),
                filters: d.filters.clone(),
                snat: d.snat.clone(),
                routes: vec![],
            });
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let routes: Vec<Vec<Route>> = (0..nodes.len()).map(|n| derive_routes(&nodes, &segments, n)).collect();
        for (node, r) in nodes.iter_mut().zip(routes) {
            node.routes = r;
        }
        Ok(Topology { nodes, segments })
    }
}

/// Breadth-first search over segments, once per address family, passing only
/// through forwarding nodes that have an address of that family on both the
/// segment they are reached on and the one they lead to: every subnet of that
/// family the node is not on gets a route via the first router on the
/// shortest path (`ip route add DEST via ROUTER dev IFACE`). A node starts
/// only from segments where it has an address of the family itself, so an
/// IPv4-only node on a dual-stack segment gets no IPv6 routes it could not use.
fn derive_routes(nodes: &[Node], segments: &[Segment], start: usize) -> Vec<Route> {
    let mut routes = Vec::new();
    for v6 in [false, true] {
        // segment -> (first-hop router address, device) on the way there
        let mut reached: BTreeMap<usize, Option<(IpAddr, String)>> = BTreeMap::new();
        let mut queue = VecDeque::new();
        for i in nodes[start].ifaces.iter().filter(|i| i.has_family(v6)) {
            reached.insert(i.segment, None);
            queue.push_back(i.segment);
        }
        while let Some(seg) = queue.pop_front() {
            for &(n, _) in &segments[seg].members {
                if n == start || !nodes[n].forward {
                    continue;
                }
                let Some(ingress) = nodes[n].addr_on(seg, v6) else { continue };
                let hop = match &reached[&seg] {
                    Some(h) => h.clone(),
                    None => (ingress, segments[seg].name.clone()),
                };
                for i in nodes[n].ifaces.iter().filter(|i| i.has_family(v6)) {
                    if let std::collections::btree_map::Entry::Vacant(e) = reached.entry(i.segment) {
                        e.insert(Some(hop.clone()));
                        queue.push_back(i.segment);
                    }
                }
            }
        }
        for (seg, hop) in reached {
            let Some((via, dev)) = hop else { continue };
            for &dest in segments[seg].subnets.iter().filter(|s| s.addr().is_ipv6() == v6) {
                routes.push(Route {
                    dest: dest.trunc(),
                    via,
                    dev: dev.clone(),
                });
            }
        }
    }
    routes.sort();
    routes
}

impl Iface {
    /// Does the interface hold an address of this family (IPv6 when `v6`)?
    fn has_family(&self, v6: bool) -> bool {
        self.addrs.iter().any(|a| a.addr().is_ipv6() == v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_go_through_routers_only() {
        let mut b = Topology::builder();
        b.segment("wan", &["203.0.113.0/24".parse().unwrap()]);
        b.segment("lan", &["198.51.100.0/28".parse().unwrap()]);
        b.node("client").iface("wan", &[ip("203.0.113.10")]);
        b.node("fw")
            .iface("wan", &[ip("203.0.113.1")])
            .iface("lan", &[ip("198.51.100.1")])
            .forward(true);
        b.node("srv").iface("lan", &[ip("198.51.100.2")]);
        let t = b.build().unwrap();
        let r = &t.node("client").unwrap().routes;
        assert_eq!(
            r,
            &[Route {
                dest: "198.51.100.0/28".parse().unwrap(),
                via: ip("203.0.113.1"),
                dev: "wan".into()
            }]
        );
        assert_eq!(t.node("srv").unwrap().routes[0].via, ip("198.51.100.1"));
        assert!(t.node("fw").unwrap().routes.is_empty());
    }

    /// The incident behind this: an IPv4-only client on a segment that also
    /// has an IPv6 subnet got `2001:db8:2::/64 via 2001:db8:1::1`, which the
    /// kernel refused (`No route to host`: no IPv6 address on that link).
    #[test]
    fn routes_per_family_only_where_the_family_is() {
        let mut b = Topology::builder();
        b.segment("lan", &["192.0.2.0/24".parse().unwrap(), "2001:db8:1::/64".parse().unwrap()]);
        b.segment("mid", &["198.51.100.0/24".parse().unwrap(), "2001:db8:2::/64".parse().unwrap()]);
        b.segment("far", &["203.0.113.0/24".parse().unwrap(), "2001:db8:3::/64".parse().unwrap()]);
        b.node("v4only").iface("lan", &[ip("192.0.2.10")]);
        b.node("dual").iface("lan", &[ip("192.0.2.11"), ip("2001:db8:1::11")]);
        b.node("r1")
            .iface("lan", &[ip("192.0.2.1"), ip("2001:db8:1::1")])
            .iface("mid", &[ip("198.51.100.1")])
            .forward(true);
        b.node("r2")
            .iface("mid", &[ip("198.51.100.2"), ip("2001:db8:2::2")])
            .iface("far", &[ip("203.0.113.2"), ip("2001:db8:3::2")])
            .forward(true);
        b.node("srv").iface("far", &[ip("203.0.113.10"), ip("2001:db8:3::10")]);
        let t = b.build().unwrap();
        let dests = |n: &str| t.node(n).unwrap().routes.iter().map(|r| r.dest.to_string()).collect::<Vec<_>>();
        // r1 has no IPv6 on mid: IPv6 stops at r1, IPv4 goes through to far.
        assert_eq!(dests("v4only"), ["198.51.100.0/24", "203.0.113.0/24"]);
        assert_eq!(dests("dual"), ["198.51.100.0/24", "203.0.113.0/24"]);
        // srv reaches lan over IPv4 only: r2 leads to mid, but r1 has no IPv6 there.
        assert_eq!(dests("srv"), ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:2::/64"]);
        let via6: Vec<_> = t.node("srv").unwrap().routes.iter().filter(|r| r.via.is_ipv6()).map(|r| r.via).collect();
        assert_eq!(via6, [ip("2001:db8:3::2")]);
    }

    #[test]
    fn every_problem_at_once_and_closed_world() {
        let mut b = Topology::builder();
        b.segment("wan", &["10.0.0.0/24".parse().unwrap()]);
        b.node("a").iface("nowhere", &[ip("203.0.113.1")]);
        b.node("a");
        let Err(Error::Invalid(errs)) = b.build() else { panic!("must fail") };
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
