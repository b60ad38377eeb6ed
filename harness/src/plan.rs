//! The plan of one run: what each server, resolver, probe and query will be
//! for one build, made from a validated [`Scenario`] before anything
//! touches the kernel (mininet's `Topo` before `Mininet`). [`crate::run`]
//! executes a plan: `dnslab run` all of it, `dnslab up` and `dnslab audit`
//! its lab, servers and resolvers. Nothing here starts, binds or writes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use lab::Ports;

use crate::nameserver::Policy;
use crate::probe::Ask;
use crate::resolver::{self, Build, Kind};
use crate::run::RunError;
use crate::scenario::values::{PortSpec, TcpUpstream};
use crate::scenario::{Probe, Scenario};
use crate::zone::Zone;

/// How many names of a counted query are in flight at once, per resolver.
pub const PARALLEL_NAMES: usize = 5;

/// Everything one run of `scenario` with `build` does, in order.
pub struct Plan<'a> {
    pub scenario: &'a Scenario,
    pub build: &'a Build,
    /// What the scenario's `kinds:` lists and `NODE@KIND` see of the build.
    pub kind: Kind,
    /// The lab: nodes, links, addresses, routes, NATs, firewalls, and the
    /// port sysctl of each resolver node whose kind has no knob of its own.
    pub topology: lab::Topology,
    pub servers: Vec<ServerPlan>,
    /// Every resolver node, in the scenario's order.
    pub resolvers: Vec<ResolverPlan>,
    /// Root server names and addresses, for every resolver's hints.
    pub hints: Vec<(Name, IpAddr)>,
    /// (zone, server address) for every zone of the lab, for forwarders.
    pub forwards: Vec<(String, IpAddr)>,
    /// The probes, each `Send::index` an index into `scenario.probes`.
    pub probes: Vec<Send>,
    /// The client queries this build answers, each `Send::index` an index
    /// into `scenario.queries`.
    pub queries: Vec<Send>,
}

/// One authoritative server.
pub struct ServerPlan {
    pub node: String,
    pub hostname: Name,
    pub addrs: Vec<IpAddr>,
    pub zones: Vec<Zone>,
    pub policy: Policy,
}

/// One resolver node: started with the build, or why not.
pub struct ResolverPlan {
    pub node: String,
    /// The ports the scenario says it sends from.
    pub source_ports: Option<Ports>,
    /// The EDNS size the scenario says it offers upstream.
    pub edns_size: Option<u16>,
    /// TCP upstream always or never, as the scenario says.
    pub tcp_upstream: Option<TcpUpstream>,
    pub role: Role,
}

pub enum Role {
    Start(ResolverStart),
    /// Not run with this build: the reason, as its report says it.
    NotRun(String),
}

/// What a resolver is started with, besides the build and the lab.
pub struct ResolverStart {
    /// The address it is first asked on (readiness checks use it).
    pub addr: IpAddr,
    pub addrs: Vec<IpAddr>,
    /// Who may ask it; empty: anyone. Its own node's addresses are in it
    /// when it is not empty: the readiness checks ask from there.
    pub allow: Vec<IpNet>,
    pub local_zones: Vec<Zone>,
}

/// One question to send. Questions of one lane go one after another, in
/// plan order; lanes go side by side.
#[derive(Clone)]
pub struct Send {
    pub index: usize,
    pub lane: String,
    pub from: String,
    pub ask: Ask,
    /// The resolver node it asks (watched for hanging), for queries.
    pub via: Option<String>,
}

impl<'a> Plan<'a> {
    /// Plans a run of `scenario` with `build` on every resolver node.
    pub fn new(scenario: &'a Scenario, build: &'a Build) -> Result<Plan<'a>, RunError> {
        let kind = build.acts_as();
        let topology = scenario.topology(|n| n.resolver.as_ref().and_then(|r| resolver::ports_by_sysctl(build, r.source_ports)))?;
        let resolvers = scenario.resolvers().map(|n| resolver_plan(scenario, &n.name, kind)).collect::<Result<_, _>>()?;
        Ok(Plan {
            scenario,
            build,
            kind,
            topology,
            servers: servers(scenario),
            resolvers,
            hints: scenario.root_hints(),
            forwards: scenario.forwards(),
            probes: probes(&scenario.probes),
            queries: queries(scenario, kind, build.factor()),
        })
    }

    /// The resolver nodes this build starts on.
    pub fn started(&self) -> impl Iterator<Item = (&ResolverPlan, &ResolverStart)> {
        self.resolvers.iter().filter_map(|r| match &r.role {
            Role::Start(s) => Some((r, s)),
            Role::NotRun(_) => None,
        })
    }
}

/// Every authoritative server with its zones, lameness and transfer policy.
fn servers(scenario: &Scenario) -> Vec<ServerPlan> {
    // The root servers a lame server's upward referral names.
    let roots: std::collections::BTreeSet<Name> = scenario.root_hints().into_iter().map(|(n, _)| n).collect();
    scenario
        .servers()
        .map(|(node, server)| ServerPlan {
            node: node.name.clone(),
            hostname: server.hostname.clone(),
            addrs: node.addresses().collect(),
            zones: scenario.zones.iter().filter(|z| server.zones.contains(&z.origin)).cloned().collect(),
            policy: Policy {
                lame: server.lame.clone(),
                roots: roots.iter().cloned().collect(),
                axfr: server.axfr,
            },
        })
        .collect()
}

fn resolver_plan(scenario: &Scenario, node: &str, kind: Kind) -> Result<ResolverPlan, RunError> {
    let r = scenario.node(node).and_then(|n| n.resolver.as_ref());
    let Some(r) = r else {
        return Err(RunError::Other(format!("{node} is no resolver node")));
    };
    let role = match scenario.runs_kind(node, kind) {
        false => Role::NotRun(format!(
            "not run: this node runs only {}",
            r.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        )),
        true => {
            let addrs = scenario.addresses(node);
            let addr = *addrs.first().ok_or_else(|| RunError::Other(format!("resolver {node} has no address")))?;
            let allow = match r.allow.is_empty() {
                true => vec![],
                false => r.allow.iter().copied().chain(addrs.iter().map(|&a| IpNet::from(a))).collect(),
            };
            Role::Start(ResolverStart {
                addr,
                addrs,
                allow,
                local_zones: r.local_zones.clone(),
            })
        }
    };
    Ok(ResolverPlan {
        node: node.to_string(),
        source_ports: r.source_ports,
        edns_size: r.edns_size,
        tcp_upstream: r.tcp_upstream,
        role,
    })
}

/// Probes from one node go at once, except those sharing an exact source
/// port, which go one after another (two sockets cannot share a port).
fn probes(probes: &[Probe]) -> Vec<Send> {
    probes
        .iter()
        .enumerate()
        .map(|(i, p)| Send {
            index: i,
            lane: match p.source_port {
                PortSpec::Exact(port) => format!("{} {port}", p.from),
                _ => format!("{} free{i}", p.from),
            },
            from: p.from.clone(),
            ask: Ask {
                server: p.server_addr,
                name: p.name.clone(),
                qtype: p.qtype,
                stub: p.stub,
                transport: p.transport,
                source: p.source,
                port: p.source_port,
                timeout: p.timeout,
                tries: 3,
            },
            via: None,
        })
        .collect()
}

/// Queries through each resolver go one after another, in scenario order,
/// so each resolver's behaviour is reproducible; counted ones (distinct
/// names) a few at a time, like a busy client. A wrapped build is slower by
/// `factor`: the client waits as much longer.
fn queries(scenario: &Scenario, kind: Kind, factor: u32) -> Vec<Send> {
    scenario
        .queries
        .iter()
        .enumerate()
        .filter(|(_, q)| scenario.runs_kind(&q.via, kind))
        .map(|(i, q)| Send {
            index: i,
            lane: match &q.template {
                Some(_) => format!("{}#{}", q.via, i % PARALLEL_NAMES),
                None => q.via.clone(),
            },
            from: q.from.clone(),
            ask: Ask {
                stub: q.stub,
                transport: q.transport,
                timeout: q.timeout * factor,
                tries: 1,
                ..Ask::udp(q.to, q.name.clone(), q.qtype, true)
            },
            via: Some(q.via.clone()),
        })
        .collect()
}

/// Sends grouped by lane, each lane in plan order.
pub fn lanes(sends: &[Send]) -> Vec<Vec<Send>> {
    let mut by: BTreeMap<&str, Vec<Send>> = BTreeMap::new();
    for s in sends {
        by.entry(&s.lane).or_default().push(s.clone());
    }
    by.into_values().collect()
}

/// How long a resolver may take to start answering, before `--wrap-factor`.
pub const READY_WITHIN: Duration = Duration::from_secs(10);
