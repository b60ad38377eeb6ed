//! The validated scenario: inert, typed data that can only hold what a run
//! can build (the pass in `build/` makes it and reports what it could not).
//! Queries and probes are expanded to one entry per thing sent, with their
//! names, types, stub settings and expectations typed; zones are complete
//! (delegations and glue derived); the network is a [`lab::Topology`] away.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use lab::{Filter, Ports, Snat, Topology};
use serde::Serialize;

use hickory_proto::rr::RecordType;

use super::values::{self as v, PortSpec, TcpUpstream, Transport};
use crate::probe::Stub;
use crate::resolver::Kind;
use crate::verdict::Expect;
use crate::zone::Zone;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub networks: Vec<Network>,
    pub nodes: Vec<Node>,
    pub zones: Vec<Zone>,
    /// Every query sent, expanded (`count` names, `--repeat` rounds).
    pub queries: Vec<Query>,
    /// The queries as written, for re-expansion with [`Scenario::with_repeat`].
    pub query_specs: Vec<QuerySpec>,
    pub probes: Vec<Probe>,
    /// The node `dnslab audit` asks from (inside); default `client`.
    pub audit_from: String,
    /// Nodes that stand for the rest of the Internet (`audit: {outside: [...]}`).
    pub outside: Vec<String>,
    /// Findings the audit is expected to report.
    pub expect_findings: Vec<ExpectedFinding>,
}

/// `expect_findings:` entry: a rule and, optionally, where.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ExpectedFinding {
    pub rule: String,
    pub zone: Option<String>,
    pub server: Option<String>,
    pub resolver: Option<String>,
    /// Only with these resolver kinds; empty: any.
    pub kinds: Vec<Kind>,
}

/// One `queries:` entry for one `ask` and one resolver, before expansion.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub query: Query,
    /// `Some(n)`: the name holds `{i}`; send n distinct names.
    pub count: Option<u32>,
}

/// Whom a `NODE@X:` expectation is for: runs of a resolver kind, or the
/// run of the build named X (`--resolver new=unbound:PATH`: `NODE@new`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Target {
    Kind(Kind),
    Build(String),
}

impl Target {
    /// How closely it fits the run of build `name` of `kind`: 2 when it
    /// names the build, 1 its kind, `None` neither. A build's own
    /// expectation beats its kind's.
    pub fn fit(&self, name: &str, kind: Kind) -> Option<u8> {
        match self {
            Target::Build(n) if n == name => Some(2),
            Target::Kind(k) if *k == kind => Some(1),
            _ => None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Kind(k) => write!(f, "{k}"),
            Target::Build(n) => f.write_str(n),
        }
    }
}

/// A rate's tolerance, e.g. `servfail_rate: {max: 0.05}`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RateBound {
    /// Only for this resolver kind or build (`resolver-mixed@dnsmasq:`), or any.
    pub kind: Option<Target>,
    pub rate: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub subnets: Vec<IpNet>,
    /// The MTU of its links; `None`: 1500.
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// network -> addresses on it
    pub interfaces: Vec<(String, Vec<IpAddr>)>,
    pub server: Option<Server>,
    pub resolver: Option<Resolver>,
    pub firewall: Vec<Filter>,
    pub nat: Option<Nat>,
}

impl Node {
    /// Every address of the node, in the order written.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.interfaces.iter().flat_map(|(_, a)| a.iter().copied())
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    pub hostname: Name,
    pub zones: Vec<Name>,
    /// Zones it is named for but does not serve, and how it answers for them.
    pub lame: Vec<(Name, v::Lame)>,
    /// It gives zone transfers (AXFR, IXFR) over TCP.
    pub axfr: bool,
}

#[derive(Debug, Clone)]
pub struct Resolver {
    /// Ports the resolver itself sends from; `None`: its usual ephemeral range.
    pub source_ports: Option<Ports>,
    /// Kinds this node may run; empty: any.
    pub kinds: Vec<Kind>,
    /// Who may ask it for recursion; empty: anyone (an open resolver).
    pub allow: Vec<IpNet>,
    /// Zones it serves itself (complete: SOA and NS filled in).
    pub local_zones: Vec<Zone>,
    /// The EDNS UDP payload size it offers upstream; `None`: its kind's default.
    pub edns_size: Option<u16>,
    /// TCP to upstream servers always or never; `None`: its kind's way.
    pub tcp_upstream: Option<TcpUpstream>,
}

#[derive(Debug, Clone)]
pub struct Nat {
    pub outside: String,
    /// The node's address on `outside`: what sources are rewritten to.
    pub to: IpAddr,
    pub source_ports: Option<Ports>,
}

/// One question sent from a client through one resolver.
#[derive(Debug, Clone)]
pub struct Query {
    pub from: String,
    /// The resolver node asked, and the address it is asked on.
    pub via: String,
    pub to: IpAddr,
    pub name: Name,
    pub qtype: RecordType,
    pub transport: Transport,
    pub stub: Stub,
    pub timeout: Duration,
    /// What the answer must be, whichever kind runs the resolver.
    pub expect: Expect,
    /// `NODE@KIND:` and `NODE@BUILD:` expectations, replacing
    /// [`Query::expect`] for that kind or build.
    pub expect_kinds: Vec<(Target, Expect)>,
    /// For counted queries: the name as written, with `{i}`.
    pub template: Option<String>,
    /// For counted queries: tolerances on the rates over all their names.
    pub expect_rates: Vec<RateBound>,
}

impl Query {
    /// The expectation for the run of build `name` of `kind`: the build's
    /// own, else its kind's, else the general one.
    pub fn expect_for(&self, name: &str, kind: Kind) -> &Expect {
        self.expect_kinds
            .iter()
            .filter_map(|(t, e)| t.fit(name, kind).map(|f| (f, e)))
            .max_by_key(|(f, _)| *f)
            .map_or(&self.expect, |(_, e)| e)
    }
}

/// One question sent straight to an authoritative server, like `dig -b`.
#[derive(Debug, Clone)]
pub struct Probe {
    pub from: String,
    /// The server's host name, e.g. `ns1.msft.net`.
    pub server: String,
    pub server_node: String,
    pub server_addr: IpAddr,
    pub name: Name,
    pub qtype: RecordType,
    pub transport: Transport,
    pub stub: Stub,
    pub source: Option<IpAddr>,
    pub source_port: PortSpec,
    pub timeout: Duration,
    pub expect: Expect,
}

/// The client's patience: longer than any resolver takes to give up on its
/// own (kresd: 13-18 s), so a SERVFAIL is seen as one.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// One query per name: counted queries get `{i}` numbered through every
/// round and every query that shares the template and the resolver (one
/// per transport), so no name repeats and none is answered from cache.
pub(super) fn expand(specs: &[QuerySpec], repeat: u32) -> Vec<Query> {
    let mut out = Vec::new();
    let mut next: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for _ in 0..repeat.max(1) {
        for spec in specs {
            let (Some(n), Some(template)) = (spec.count, spec.query.template.as_deref()) else {
                out.push(spec.query.clone());
                continue;
            };
            let first = next.entry((template.to_string(), spec.query.via.clone())).or_insert(1);
            let numbers = *first..*first + u64::from(n);
            *first += u64::from(n);
            // The pass checked the template with the widest index a u32 has;
            // a --repeat that goes past it stops numbering rather than repeat a name.
            out.extend(numbers.filter_map(|i| {
                let name = v::name(&template.replace(v::INDEX, &i.to_string())).ok()?;
                Some(Query { name, ..spec.query.clone() })
            }))
        }
    }
    out
}

impl Scenario {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn resolvers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.resolver.is_some())
    }

    pub fn servers(&self) -> impl Iterator<Item = (&Node, &Server)> {
        self.nodes.iter().filter_map(|n| n.server.as_ref().map(|s| (n, s)))
    }

    /// The addresses of the servers for the root zone: the resolvers' hints.
    pub fn root_hints(&self) -> Vec<(Name, IpAddr)> {
        self.servers()
            .filter(|(_, s)| s.zones.iter().any(|z| z.is_root()))
            .flat_map(|(n, s)| n.interfaces.iter().flat_map(|(_, a)| a.iter().map(|a| (s.hostname.clone(), *a))))
            .collect()
    }

    /// The same scenario with its queries sent `n` times (`--repeat N`).
    pub fn with_repeat(&self, n: u32) -> Scenario {
        Scenario {
            queries: expand(&self.query_specs, n),
            ..self.clone()
        }
    }

    /// Every `NODE@BUILD` the queries name, as `NODE@BUILD`: a build's name
    /// is only known when a run is asked for.
    pub fn build_targets(&self) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        for q in &self.queries {
            let named = q
                .expect_kinds
                .iter()
                .map(|(t, _)| t)
                .chain(q.expect_rates.iter().filter_map(|b| b.kind.as_ref()));
            for t in named {
                if let Target::Build(n) = t {
                    out.insert((q.via.clone(), n.clone()));
                }
            }
        }
        out
    }

    /// Does resolver node `node` run `kind`? (`kinds:` empty: every kind.)
    pub fn runs_kind(&self, node: &str, kind: Kind) -> bool {
        self.node(node)
            .and_then(|n| n.resolver.as_ref())
            .is_some_and(|r| r.kinds.is_empty() || r.kinds.contains(&kind))
    }

    /// (zone, server address) for every zone but the root: what a forwarder
    /// such as dnsmasq is told (`--server=/live.com/198.51.100.2`).
    pub fn forwards(&self) -> Vec<(String, IpAddr)> {
        let mut out = Vec::new();
        for (node, server) in self.servers() {
            // Lame servers too: a forwarder is told the zone's NS set, as it stands.
            for z in server.zones.iter().chain(server.lame.iter().map(|(z, _)| z)).filter(|z| !z.is_root()) {
                for (_, addrs) in &node.interfaces {
                    out.extend(addrs.iter().map(|a| (z.to_string(), *a)));
                }
            }
        }
        out.sort();
        out
    }

    /// The server host name that owns `addr`, for reports.
    pub fn host_of(&self, addr: IpAddr) -> Option<String> {
        let s = self.node_of(addr)?.server.as_ref()?;
        Some(s.hostname.to_string().trim_end_matches('.').to_string())
    }

    /// The network this scenario describes, for [`lab::Lab::up`]. Resolver
    /// port ranges that need the kernel's help are applied per `kind`.
    pub fn topology(&self, port_sysctl: impl Fn(&Node) -> Option<Ports>) -> Result<Topology, lab::Error> {
        let mut b = Topology::builder();
        for n in &self.networks {
            b.segment(&n.name, &n.subnets);
            if let Some(m) = n.mtu {
                b.mtu(&n.name, m);
            }
        }
        for n in &self.nodes {
            let d = b.node(&n.name);
            for (net, addrs) in &n.interfaces {
                d.iface(net, addrs);
            }
            for f in &n.firewall {
                d.filter(f.clone());
            }
            if let Some(nat) = &n.nat {
                d.snat(Snat {
                    out_iface: nat.outside.clone(),
                    to: nat.to,
                    ports: nat.source_ports,
                });
            }
            if let Some(p) = port_sysctl(n) {
                d.local_ports(p.lo, p.hi);
            }
        }
        b.build()
    }

    /// Is the server `host` (`ns2.example.net`) lame for the zone `qname` is in?
    pub fn is_lame(&self, host: &str, qname: &str) -> bool {
        let (Ok(host), Ok(q)) = (v::name(host), v::name(qname)) else { return false };
        self.servers()
            .filter(|(_, s)| s.hostname == host)
            .any(|(_, s)| crate::authority::lame_mode(&s.zones, &s.lame, &q).is_some())
    }

    /// The node that holds `addr` on one of its interfaces.
    pub fn node_of(&self, addr: IpAddr) -> Option<&Node> {
        self.nodes.iter().find(|n| n.interfaces.iter().any(|(_, a)| a.contains(&addr)))
    }

    /// The node's first address, as written.
    pub fn address(&self, node: &str) -> Option<IpAddr> {
        self.addresses(node).first().copied()
    }

    /// Every address of the node, in the order written.
    pub fn addresses(&self, node: &str) -> Vec<IpAddr> {
        self.node(node).map(|n| n.addresses().collect()).unwrap_or_default()
    }
}
