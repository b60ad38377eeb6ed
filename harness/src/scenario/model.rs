//! The validated scenario: inert data that the lints have vouched for.
//! Queries and probes are expanded to one entry per thing sent, zones are
//! complete (delegations and glue derived), and the network is a
//! [`lab::Topology`] away.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use lab::{Action, Filter, Ports, Snat, Topology, L4};
use serde::Serialize;

use super::lint::Ctx;
use super::raw::{Doc, Expect, OneOrMany};
use super::values::{self as v, PortSpec, Transport};
use crate::resolver::Kind;
use crate::zone::{self, ServerInfo, Zone};

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

/// A rate's tolerance, e.g. `servfail_rate: {max: 0.05}`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RateBound {
    /// Only for this resolver kind (`resolver-mixed@dnsmasq:`), or any.
    pub kind: Option<Kind>,
    pub rate: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub subnets: Vec<IpNet>,
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

#[derive(Debug, Clone)]
pub struct Server {
    pub hostname: Name,
    pub zones: Vec<Name>,
    /// Zones it is named for but does not serve, and how it answers for them.
    pub lame: Vec<(Name, v::Lame)>,
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
}

#[derive(Debug, Clone)]
pub struct Nat {
    pub outside: String,
    pub source_ports: Option<Ports>,
}

/// One question sent from a client through one resolver.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    pub from: String,
    pub via: String,
    pub name: String,
    pub qtype: String,
    #[serde(skip)]
    pub timeout: Duration,
    /// Acceptable outcomes (`NOERROR`, `SERVFAIL`, `TIMEOUT`, ...); empty: none stated.
    pub expect: Vec<String>,
    /// For counted queries: the name as written, with `{i}`.
    pub template: Option<String>,
    /// For counted queries: tolerances on the rates over all their names.
    pub expect_rates: Vec<RateBound>,
}

/// One question sent straight to an authoritative server, like `dig -b`.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub from: String,
    /// The server's host name, e.g. `ns1.msft.net`.
    pub server: String,
    pub server_node: String,
    pub server_addr: IpAddr,
    pub name: String,
    pub qtype: String,
    pub transport: Transport,
    pub source: Option<IpAddr>,
    pub source_port: PortSpec,
    #[serde(skip)]
    pub timeout: Duration,
    pub expect: Vec<String>,
}

/// The client's patience: longer than any resolver takes to give up on its
/// own (kresd: 13-18 s), so a SERVFAIL is seen as one.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

fn strs(o: &OneOrMany) -> impl Iterator<Item = &str> {
    o.0.iter().map(|s| s.value.as_str())
}

fn expected(e: &Option<Expect>, key: &str) -> Vec<String> {
    let list = match e {
        None => return vec![],
        Some(Expect::All(o)) => Some(o),
        Some(Expect::Each(m)) => m.iter().find(|(k, _)| k.value == key).map(|(_, o)| o),
    };
    list.map(|o| strs(o).filter_map(|s| v::outcome(s).ok()).collect()).unwrap_or_default()
}

/// Builds the model from a linted document. `dir` resolves zone `file:`s.
pub(super) fn build(doc: &Doc, path: &Path) -> Scenario {
    let dir = path.parent().unwrap_or(Path::new("."));
    let networks: Vec<Network> = doc
        .networks
        .iter()
        .flat_map(|e| e.0.iter())
        .map(|(n, s)| Network {
            name: n.value.clone(),
            subnets: strs(s).filter_map(|s| v::subnet(s).ok()).collect(),
        })
        .collect();
    let mut nodes = Vec::new();
    for (name, n) in doc.nodes.iter().flat_map(|e| e.0.iter()) {
        let interfaces = n
            .interfaces
            .iter()
            .flat_map(|i| i.0.iter())
            .map(|(net, a)| (net.value.clone(), strs(a).filter_map(|a| v::addr(a).ok()).collect()))
            .collect();
        let firewall = n
            .firewall
            .iter()
            .flat_map(|f| f.0.iter())
            .map(|(rn, r)| {
                let protos = match &r.proto {
                    Some(p) => strs(p)
                        .filter_map(|p| v::transport(p).ok())
                        .map(|t| if t == Transport::Udp { L4::Udp } else { L4::Tcp })
                        .collect(),
                    None => vec![L4::Udp, L4::Tcp],
                };
                Filter {
                    name: rn.value.clone(),
                    protos,
                    dport: r.dport.as_ref().and_then(|p| v::ports(p).ok()),
                    sport: r.sport.as_ref().and_then(|p| v::ports(p).ok()),
                    except_sport: r.except_sport.iter().flat_map(strs).filter_map(|p| v::ports(p).ok()).map(|p| p.lo).collect(),
                    action: match r.action.value.as_str() {
                        "drop" => Action::Drop,
                        "reject" => Action::Reject,
                        _ => Action::Accept,
                    },
                }
            })
            .collect();
        nodes.push(Node {
            name: name.value.clone(),
            interfaces,
            server: n.server.as_ref().map(|s| Server {
                hostname: v::name(&s.name).expect("linted"),
                zones: s.zones.iter().filter_map(|z| v::name(z).ok()).collect(),
                lame: s
                    .lame
                    .iter()
                    .flat_map(|l| l.0.iter())
                    .filter_map(|(z, mode)| Some((v::name(z).ok()?, v::lame(mode).ok()?)))
                    .collect(),
            }),
            resolver: n.resolver.as_ref().map(|r| Resolver {
                source_ports: r.source_ports.as_ref().and_then(|p| v::ports(p).ok()),
                kinds: r.kinds.iter().flatten().filter_map(|k| Kind::parse(k)).collect(),
                allow: r.allow.iter().flat_map(strs).flat_map(|a| allowed(a, &networks)).collect(),
                local_zones: vec![],
            }),
            firewall,
            nat: n.nat.as_ref().map(|nat| Nat {
                outside: nat.outside.value.clone(),
                source_ports: nat.source_ports.as_ref().and_then(|p| v::ports(p).ok()),
            }),
        });
    }

    // Zones: what the user wrote, plus an empty zone for anything served but not written.
    let mut texts: BTreeMap<Name, Vec<hickory_proto::rr::Record>> = BTreeMap::new();
    for (z, src) in doc.zones.iter().flat_map(|e| e.0.iter()) {
        let origin = v::name(z).expect("linted");
        let records = match src {
            Some(src) => {
                let (text, _, _) = super::zone_text(src, dir).expect("linted");
                zone::parse(&origin, &text).expect("linted")
            }
            None => vec![],
        };
        texts.insert(origin, records);
    }
    let servers: Vec<ServerInfo> = nodes
        .iter()
        .filter_map(|n| {
            n.server.as_ref().map(|s| ServerInfo {
                hostname: s.hostname.clone(),
                addrs: n.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).collect(),
                zones: s.zones.clone(),
                lame: s.lame.iter().map(|(z, _)| z.clone()).collect(),
            })
        })
        .collect();
    let named: std::collections::BTreeSet<Name> = servers.iter().flat_map(|s| s.zones.iter().chain(&s.lame).cloned()).collect();
    for z in &named {
        texts.entry(z.clone()).or_default();
    }
    // A resolver's local zones that no server serves stay out of the lab's
    // tree: nothing delegates to them.
    let (local_only, texts): (BTreeMap<_, _>, BTreeMap<_, _>) = texts.into_iter().partition(|(z, _)| !named.contains(z));
    let zones = zone::derive(texts, &servers);
    let local: Vec<Zone> = local_only.into_iter().map(|(o, r)| zone::complete_local(o, r)).collect();
    for (node, raw) in nodes.iter_mut().zip(doc.nodes.iter().flat_map(|e| e.0.iter())) {
        let (Some(r), Some(rr)) = (node.resolver.as_mut(), raw.1.resolver.as_ref()) else {
            continue;
        };
        for z in rr.value.local_zones.iter().flatten().filter_map(|z| v::name(z).ok()) {
            let found = local.iter().chain(&zones).find(|x| x.origin == z);
            r.local_zones.extend(found.cloned());
        }
    }

    let resolvers: Vec<String> = nodes.iter().filter(|n| n.resolver.is_some()).map(|n| n.name.clone()).collect();
    let mut query_specs = Vec::new();
    for q in doc.queries.iter().flatten().map(|q| &q.value) {
        let via: Vec<String> = q.via.as_ref().map_or(resolvers.clone(), |v| strs(v).map(String::from).collect());
        for ask in strs(&q.ask) {
            let (_, qtype) = v::ask(ask).expect("linted");
            let written = ask.split_whitespace().next().expect("linted");
            let name = if written.ends_with('.') { written.to_string() } else { format!("{written}.") };
            let count = q.count.as_ref().map(|c| c.value);
            for r in &via {
                let expect_rates = q
                    .expect_rates
                    .iter()
                    .flat_map(|e| e.0.iter())
                    .filter_map(|(key, rates)| {
                        let (node, kind) = rate_key(&key.value);
                        (node == r).then_some((kind, rates))
                    })
                    .flat_map(|(kind, rates)| rates.0.iter().map(move |(rate, b)| (kind, rate, b)))
                    .map(|(kind, rate, b)| RateBound {
                        kind,
                        rate: rate.value.clone(),
                        min: b.min.as_ref().map(|m| m.value),
                        max: b.max.as_ref().map(|m| m.value),
                    })
                    .collect();
                query_specs.push(QuerySpec {
                    count,
                    query: Query {
                        from: Ctx::from_node(&q.from).to_string(),
                        via: r.clone(),
                        name: name.clone(),
                        qtype: qtype.to_string(),
                        timeout: q.timeout.as_ref().and_then(|t| v::duration(t).ok()).unwrap_or(QUERY_TIMEOUT),
                        template: count.map(|_| name.clone()),
                        expect_rates,
                        expect: expected(&q.expect, r),
                    },
                });
            }
        }
    }
    let queries = expand(&query_specs, 1);

    let mut probes = Vec::new();
    for p in doc.probes.iter().flatten().map(|p| &p.value) {
        let target = v::name(&p.server).ok();
        let server = nodes
            .iter()
            .find(|n| n.server.as_ref().is_some_and(|s| Some(&s.hostname) == target.as_ref()) || (n.name == p.server.value && n.server.is_some()))
            .expect("linted");
        let transports: Vec<Transport> = p
            .transport
            .as_ref()
            .map_or(vec![Transport::Udp], |t| strs(t).filter_map(|t| v::transport(t).ok()).collect());
        let ports: Vec<&str> = p.source_ports.as_ref().map_or(vec!["random"], |s| strs(s).collect());
        for ask in strs(&p.ask) {
            let (name, qtype) = v::ask(ask).expect("linted");
            for &t in &transports {
                for port in &ports {
                    let source = p.source.as_ref().and_then(|s| v::addr(s).ok());
                    let hostname = server.server.as_ref().expect("a server").hostname.to_string();
                    probes.push(Probe {
                        from: Ctx::from_node(&p.from).to_string(),
                        server: hostname.trim_end_matches('.').to_string(),
                        server_node: server.name.clone(),
                        server_addr: server.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).next().expect("linted: connected"),
                        name: name.to_string(),
                        qtype: qtype.to_string(),
                        transport: t,
                        source,
                        source_port: v::port_spec(port).expect("linted"),
                        timeout: p.timeout.as_ref().and_then(|t| v::duration(t).ok()).unwrap_or(PROBE_TIMEOUT),
                        expect: expected(&p.expect, port),
                    });
                }
            }
        }
    }

    Scenario {
        name: doc.name.value.clone(),
        description: doc.description.clone().unwrap_or_default().trim_end().to_string(),
        path: path.to_path_buf(),
        networks,
        nodes,
        zones,
        queries,
        query_specs,
        probes,
        audit_from: doc
            .audit
            .as_ref()
            .and_then(|a| a.value.from.as_ref())
            .map_or("client".to_string(), |f| f.value.clone()),
        outside: doc
            .audit
            .as_ref()
            .and_then(|a| a.value.outside.as_ref())
            .map(|o| strs(o).map(String::from).collect())
            .unwrap_or_default(),
        expect_findings: doc
            .expect_findings
            .iter()
            .flatten()
            .map(|f| &f.value)
            .map(|f| ExpectedFinding {
                rule: f.rule.value.clone(),
                zone: f.zone.as_ref().and_then(|z| v::name(z).ok()).map(|z| z.to_string()),
                server: f.server.as_ref().map(|s| s.value.trim_end_matches('.').to_string()),
                resolver: f.resolver.as_ref().map(|r| r.value.clone()),
                kinds: f.kinds.iter().flat_map(strs).filter_map(Kind::parse).collect(),
            })
            .collect(),
    }
}

/// An `allow:` entry: a network's subnets, or a subnet.
pub(super) fn allowed(entry: &str, networks: &[Network]) -> Vec<IpNet> {
    match networks.iter().find(|n| n.name == entry) {
        Some(n) => n.subnets.clone(),
        None => v::subnet(entry).ok().into_iter().collect(),
    }
}

/// `NODE` or `NODE@KIND` (a tolerance for one resolver kind only).
pub fn rate_key(key: &str) -> (&str, Option<Kind>) {
    match key.split_once('@') {
        Some((node, kind)) => (node, Kind::parse(kind)),
        None => (key, None),
    }
}

/// One query per name: counted queries get `{i}` numbered through every
/// round, so no name repeats and none is answered from cache.
fn expand(specs: &[QuerySpec], repeat: u32) -> Vec<Query> {
    let mut out = Vec::new();
    for round in 0..repeat.max(1) {
        for spec in specs {
            match spec.count {
                None => out.push(spec.query.clone()),
                Some(n) => out.extend((1..=n).map(|i| Query {
                    name: spec.query.name.replace(v::INDEX, &(round * n + i).to_string()),
                    ..spec.query.clone()
                })),
            }
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
                let to = n
                    .interfaces
                    .iter()
                    .find(|(net, _)| net == &nat.outside)
                    .and_then(|(_, a)| a.first().copied())
                    .expect("linted");
                d.snat(Snat {
                    out_iface: nat.outside.clone(),
                    to,
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

    pub fn address(&self, node: &str) -> Option<IpAddr> {
        self.node(node)?.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).next()
    }
}
