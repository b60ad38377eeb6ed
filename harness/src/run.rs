//! One run of a scenario with one resolver kind: lab up, servers, captures,
//! resolvers, probes, queries, evidence, teardown. Returns an [`Outcome`];
//! `Err` only when the lab itself failed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;

use crate::answer::Reply;
use crate::capture::Capture;
use crate::nameserver::{self, NameServer};
use crate::outcome::{self, Judged, Outcome, ProbeResult, QueryResult, ResolverReport, Timings};
use crate::probe::{self, Ask};
use crate::resolver::{self, Build};
use crate::scenario::values::PortSpec;
use crate::scenario::{Probe, Query, Scenario};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lab(#[from] lab::Error),
    #[error("{0}")]
    Unavailable(#[from] resolver::Unavailable),
    #[error("{0}")]
    Other(String),
}

/// How many names of a counted query are in flight at once, per resolver.
pub const PARALLEL_NAMES: usize = 5;

/// How long a resolver may take to start answering.
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// Steps of a run, reported as they happen (for progress output).
pub trait Progress: Send + Sync {
    fn step(&self, _what: &str) {}
}
impl Progress for () {}

/// Starts every authoritative server of the scenario in its node, each
/// with its zones, lameness and transfer policy; `log` gets every query.
pub fn start_servers(lab: &lab::Lab, scenario: &Scenario, log: &nameserver::Log, t0: Instant) -> Result<Vec<NameServer>, RunError> {
    let mut servers = Vec::new();
    // The root servers a lame server's upward referral names.
    let roots: std::collections::BTreeSet<Name> = scenario.root_hints().into_iter().map(|(n, _)| n).collect();
    for (node, server) in scenario.servers() {
        let zones = scenario.zones.iter().filter(|z| server.zones.contains(&z.origin)).cloned().collect();
        let addrs = node.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        let policy = nameserver::Policy {
            lame: server.lame.clone(),
            roots: roots.iter().cloned().collect(),
            axfr: server.axfr,
        };
        servers.push(nameserver::start(lab, &node.name, &server.hostname, addrs, zones, policy, log.clone(), t0)?);
    }
    Ok(servers)
}

/// A lab kept up for interactive use (`dnslab up`): servers and resolvers
/// running, nothing sent.
pub struct UpLab {
    // Field order is drop order: resolvers, servers, then the lab.
    resolvers: resolver::watch::Watcher,
    _servers: Vec<NameServer>,
    lab: lab::Lab,
    _dir: WorkDir,
    /// Every query the servers received since the lab came up.
    pub log: nameserver::Log,
}

impl UpLab {
    pub fn lab(&self) -> &lab::Lab {
        &self.lab
    }

    /// How each resolver is now: running, hung (stopped) or exited (reaped).
    pub fn health(&self) -> BTreeMap<String, resolver::watch::Health> {
        self.resolvers.board().all()
    }

    pub fn info(&self, scenario: &Scenario) -> crate::supervise::LabInfo {
        let nodes = scenario
            .nodes
            .iter()
            .map(|n| crate::supervise::NodeInfo {
                name: n.name.clone(),
                addresses: n.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).collect(),
                netns_fd: self.lab.netns(&n.name).expect("every node is in the lab").raw(),
            })
            .collect();
        crate::supervise::LabInfo {
            lab: scenario.name.clone(),
            pid: crate::supervise::host_pid(),
            nodes,
        }
    }
}

/// Starts `build` on a resolver node, in its own directory under `dir`.
/// Returns it, or why it did not start, and the lint of its config.
fn start_resolver(lab: &lab::Lab, scenario: &Scenario, node: &str, build: &Build, dir: &WorkDir) -> (Result<resolver::Running, String>, Vec<String>) {
    let ndir = dir.path.join(node);
    if let Err(e) = std::fs::create_dir_all(&ndir) {
        return (Err(format!("{}: {e}", ndir.display())), vec![]);
    }
    let Some(r) = scenario.node(node).and_then(|n| n.resolver.as_ref()) else {
        return (Err(format!("{node} is no resolver node")), vec![]);
    };
    let addrs = scenario.addresses(node);
    let Some(&addr) = addrs.first() else {
        return (Err("the node has no address".into()), vec![]);
    };
    // A resolver that limits who may ask still serves its own node: the
    // readiness checks ask from there.
    let allow: Vec<ipnet::IpNet> = match r.allow.is_empty() {
        true => vec![],
        false => r.allow.iter().copied().chain(addrs.iter().map(|&a| ipnet::IpNet::from(a))).collect(),
    };
    let spec = resolver::Spec {
        build,
        warnings: Default::default(),
        allow: &allow,
        local_zones: &r.local_zones,
        lab,
        node,
        addr,
        addrs: &addrs,
        hints: &scenario.root_hints(),
        source_ports: scenario.node(node).and_then(|n| n.resolver.as_ref()).and_then(|r| r.source_ports),
        forwards: &scenario.forwards(),
        dir: &ndir,
    };
    let started = resolver::start(&spec, READY_WITHIN);
    (started, spec.warnings.into_inner())
}

/// Builds the lab and starts servers and resolvers, for `dnslab up`.
pub fn up(scenario: &Scenario, build: &Build) -> Result<UpLab, RunError> {
    let kind = build.acts_as();
    let topo = scenario.topology(|n| n.resolver.as_ref().and_then(|r| resolver::ports_by_sysctl(build, r.source_ports)))?;
    let lab = lab::Lab::up(&topo)?;
    let t_up = Instant::now();
    let log = nameserver::new_log();
    let servers = start_servers(&lab, scenario, &log, t_up)?;
    let dir = WorkDir::new(&scenario.name, &build.name)?;
    let mut resolvers = BTreeMap::new();
    for node in scenario.resolvers().filter(|n| scenario.runs_kind(&n.name, kind)) {
        let r = start_resolver(&lab, scenario, &node.name, build, &dir)
            .0
            .map_err(|e| RunError::Other(format!("{}: {e}", node.name)))?;
        resolvers.insert(node.name.clone(), r);
    }
    Ok(UpLab {
        resolvers: resolver::watch::Watcher::start(resolvers, t_up),
        _servers: servers,
        lab,
        _dir: dir,
        log,
    })
}

/// Runs `scenario` with `build` on every resolver node. With `evidence`,
/// the run leaves there each resolver's config and log, each server's query
/// log and each firewall's rules.
pub fn run(scenario: &Scenario, build: &Build, progress: &dyn Progress, evidence: Option<&std::path::Path>) -> Result<Outcome, RunError> {
    // `kind` is what the scenario's `kinds:` and `NODE@KIND` see.
    let kind = build.acts_as();
    let t_start = Instant::now();
    let topo = scenario.topology(|n| n.resolver.as_ref().and_then(|r| resolver::ports_by_sysctl(build, r.source_ports)))?;
    let mut timings = Timings::default();
    let mut lap = Instant::now();
    let mut tick = |field: &mut u64| {
        *field = lap.elapsed().as_millis() as u64;
        lap = Instant::now();
    };
    let lab = lab::Lab::up(&topo)?;
    let t_up = Instant::now();
    tick(&mut timings.lab_up_ms);
    progress.step("lab up");

    // Every node's DNS packets, from before the first server starts.
    let mut captures = BTreeMap::new();
    for node in &scenario.nodes {
        captures.insert(node.name.clone(), Capture::start(&lab, &node.name)?);
    }
    let t0 = Instant::now();
    let t0_ns = crate::capture::now_ns();
    let log = nameserver::new_log();
    let servers = start_servers(&lab, scenario, &log, t0)?;
    tick(&mut timings.servers_ready_ms);
    progress.step("servers ready");

    let dir = WorkDir::new(&scenario.name, &build.name)?;
    let mut running = BTreeMap::new();
    let mut reports = BTreeMap::new();
    for node in scenario.resolvers() {
        let r = node.resolver.as_ref().expect("a resolver node");
        if !scenario.runs_kind(&node.name, kind) {
            let status = format!(
                "not run: this node runs only {}",
                r.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            );
            reports.insert(
                node.name.clone(),
                ResolverReport {
                    kind: build.kind,
                    version: String::new(),
                    status,
                    exit: None,
                    warnings: vec![],
                    source_ports: None,
                    upstream: vec![],
                    leaked: BTreeMap::new(),
                    to_lame: BTreeMap::new(),
                },
            );
            continue;
        }
        let (started, warnings) = start_resolver(&lab, scenario, &node.name, build, &dir);
        let (version, status) = match started {
            Ok(r) => {
                let v = r.version.clone();
                running.insert(node.name.clone(), r);
                (v, "running".to_string())
            }
            Err(e) => (String::new(), format!("failed to start: {e}")),
        };
        progress.step(&format!("{} ready on {}", build.name, node.name));
        reports.insert(
            node.name.clone(),
            ResolverReport {
                kind: build.kind,
                version,
                status,
                exit: None,
                warnings,
                source_ports: r.source_ports.map(|p| p.to_string()),
                upstream: vec![],
                leaked: BTreeMap::new(),
                to_lame: BTreeMap::new(),
            },
        );
    }
    tick(&mut timings.resolvers_ready_ms);

    // From here on, a resolver that ends is reaped at once and one that is
    // stopped is seen as hung.
    let watcher = resolver::watch::Watcher::start(running, t_up);
    let probes = run_probes(&lab, &scenario.probes)?;
    tick(&mut timings.probes_ms);
    progress.step("probes answered");
    progress.step(&format!("{} queries sent", scenario.queries.len()));
    let queries = run_queries(&lab, scenario, build, &watcher.board())?;
    tick(&mut timings.queries_ms);
    progress.step("queries answered");

    // Evidence: how each resolver ended, what it sent, what arrived, what
    // firewalls counted.
    let mut limits = Vec::new();
    for (node, end) in watcher.finish() {
        if let Some(report) = reports.get_mut(&node) {
            report.status = end.status;
            report.exit = end.exit;
        }
        limits.extend(end.log_full);
    }
    // Captures end first, then the log is read once what was sent last has
    // landed: read the other way round, a query a resolver sent as it was
    // stopped would count as lost.
    let (frames, full) = Capture::finish_all(captures.into_values());
    limits.extend(full);
    let received = settled(&log);
    limits.extend(log.lock().expect("log").overflow("the servers' query log", "queries"));
    let ran: Vec<String> = reports.keys().filter(|n| scenario.runs_kind(n, kind)).cloned().collect();
    for node in ran {
        let sent = crate::capture::sent(&frames, &node, t0_ns);
        let to_servers: Vec<&nameserver::Received> = received.iter().collect();
        let host_of = |a: IpAddr| scenario.host_of(a).unwrap_or_else(|| a.to_string());
        let report = reports.get_mut(&node).expect("report");
        report.upstream = outcome::upstream(&sent, &to_servers, host_of);
        report.count_waste(|server, qname| scenario.is_lame(server, qname));
    }
    let owner = |a: IpAddr| scenario.node_of(a).map(|n| n.name.clone());
    let messages = crate::wire::messages(&frames, owner, t0_ns);
    let mut firewalls = BTreeMap::new();
    for n in scenario.nodes.iter().filter(|n| !n.firewall.is_empty()) {
        firewalls.insert(n.name.clone(), lab.counters(&n.name)?);
    }
    let mut by_server: BTreeMap<String, Vec<nameserver::Received>> = BTreeMap::new();
    for r in received {
        by_server.entry(r.server.clone()).or_default().push(r);
    }

    if let Some(out) = evidence {
        crate::evidence::keep(out, scenario, &lab, &dir.path, &by_server, &frames)
            .map_err(|e| RunError::Other(format!("evidence in {}: {e}", out.display())))?;
    }
    let t = Instant::now();
    drop(servers);
    drop(lab);
    timings.teardown_ms = t.elapsed().as_millis() as u64;
    timings.total_ms = t_start.elapsed().as_millis() as u64;
    drop(dir);

    let rates = outcome::rates(&queries, &scenario.query_specs, kind);
    let limits: Vec<String> = limits.iter().map(|o| o.to_string()).collect();
    let mut failures = failures(&probes, &queries, &rates, &build.name);
    failures.extend(limits.iter().map(|l| format!("limit: {l}")));
    failures.extend(wrapped_failures(build, &reports));
    let outcome = Outcome {
        schema_version: outcome::SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        kind: build.kind,
        build: outcome::BuildReport::of(build),
        probes,
        queries,
        resolvers: reports,
        servers: by_server,
        rule_actions: scenario
            .nodes
            .iter()
            .filter(|n| !n.firewall.is_empty())
            .map(|n| {
                (
                    n.name.clone(),
                    n.firewall.iter().map(|f| (f.name.clone(), f.action.name().to_string())).collect(),
                )
            })
            .collect(),
        firewalls,
        rates,
        timings,
        failures,
        limits,
        messages,
    };
    if let Some(out) = evidence {
        crate::evidence::ladders(out, &outcome).map_err(|e| RunError::Other(format!("evidence in {}: {e}", out.display())))?;
    }
    Ok(outcome)
}

/// The servers' log once no query has arrived for a moment (at most 0.5 s).
fn settled(log: &nameserver::Log) -> Vec<nameserver::Received> {
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut len = log.lock().expect("log").len();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = log.lock().expect("log").len();
        if now == len || Instant::now() > deadline {
            return log.lock().expect("log").to_vec();
        }
        len = now;
    }
}

/// Every expectation that did not hold, in words that name the cause.
fn failures(probes: &[ProbeResult], queries: &[QueryResult], rates: &[outcome::RateResult], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in probes.iter().filter(|p| !p.verdict.ok) {
        let transport = p.transport_label();
        let what = format!("probe {} {} @{} {transport} port {}", p.qname, p.qtype, p.server, p.requested_port);
        out.push(format!("{what}: {}", p.verdict.against()));
    }
    for r in rates.iter().filter(|r| !r.ok) {
        let seen: Vec<String> = r.outcomes.iter().map(|(w, n)| format!("{w} x{n}")).collect();
        let examples = if r.examples.is_empty() {
            String::new()
        } else {
            format!(": {}", r.examples.join(", "))
        };
        out.push(format!(
            "rates of {} via {} ({name}): {} (outcomes: {}{examples})",
            r.ask,
            r.resolver,
            r.misses().join("; "),
            seen.join(", ")
        ));
    }
    for q in queries.iter().filter(|q| !q.verdict.ok) {
        let transport = q.transport_label();
        let what = format!("query {} {} via {} ({name}, {transport})", q.qname, q.qtype, q.resolver);
        out.push(format!("{what}: {}", q.verdict.against()));
    }
    out
}

fn ask_of_probe(p: &Probe) -> Ask {
    Ask {
        server: p.server_addr,
        name: p.name.clone(),
        qtype: p.qtype,
        stub: p.stub,
        transport: p.transport,
        source: p.source,
        port: p.source_port,
        timeout: p.timeout,
        tries: 3,
    }
}

/// A wrapped build that ended badly when stopped (valgrind's
/// `--error-exitcode`, a crash on SIGTERM) fails the run: its report is in
/// the evidence, next to its log.
fn wrapped_failures(build: &Build, reports: &BTreeMap<String, ResolverReport>) -> Vec<String> {
    let Some(w) = &build.wrap else { return vec![] };
    reports
        .iter()
        .filter_map(|(node, r)| r.exit.as_ref().filter(|e| e.as_str() != "exit status: 0").map(|e| (node, e)))
        .map(|(node, e)| {
            format!(
                "{} on {node} under `{}` ended with {e} when stopped (see resolvers/{node}/ in the evidence)",
                build.name, w.text
            )
        })
        .collect()
}

/// Asks sent one after another, each from inside its own node, each with
/// the resolver node it asks when that one is watched for hanging.
type Lane = Vec<(usize, String, Ask, Option<Watched>)>;

/// The watcher's board and the resolver node a question goes to.
type Watched = (Arc<resolver::watch::Board>, String);

/// Sends every lane's asks, lanes side by side, each lane's asks one after
/// another even when they come from different nodes (a resolver's queries
/// stay in file order, whoever sends them). Returns (index, answer) pairs.
fn send_lanes(lab: &lab::Lab, lanes: Vec<Lane>) -> Result<Vec<(usize, Reply)>, RunError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes.into_iter().map(|lane| scope.spawn(move || run_lane(lab, lane))).collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(h.join().map_err(|_| RunError::Other("sender thread panicked".into()))??);
        }
        Ok(out)
    })
}

/// One lane: each run of asks from the same node on one thread inside it.
fn run_lane(lab: &lab::Lab, lane: Lane) -> Result<Vec<(usize, Reply)>, RunError> {
    let mut out = Vec::new();
    let mut rest = lane.into_iter().peekable();
    while let Some((i, node, ask, w)) = rest.next() {
        let mut run = vec![(i, ask, w)];
        while let Some((i, _, ask, w)) = rest.next_if(|(_, n, _, _)| *n == node) {
            run.push((i, ask, w));
        }
        out.extend(probe::block_in(lab, &node, move || async move {
            let mut answers = Vec::new();
            for (i, a, w) in run {
                let reply = match w {
                    Some((board, resolver)) => resolver::watch::ask_unless_hung(&a, &board, &resolver).await,
                    None => probe::ask(&a).await,
                };
                answers.push((i, reply));
            }
            answers
        })?);
    }
    Ok(out)
}

/// Probes from one node run at once, except those sharing an exact source
/// port, which go one after another (two sockets cannot share a port).
fn run_probes(lab: &lab::Lab, probes: &[Probe]) -> Result<Vec<ProbeResult>, RunError> {
    let mut lanes: BTreeMap<(String, String), Lane> = BTreeMap::new();
    for (i, p) in probes.iter().enumerate() {
        let lane = match p.source_port {
            PortSpec::Exact(port) => format!("{port}"),
            _ => format!("free{i}"),
        };
        lanes
            .entry((p.from.clone(), lane))
            .or_default()
            .push((i, p.from.clone(), ask_of_probe(p), None));
    }
    let mut results: Vec<Option<ProbeResult>> = vec![None; probes.len()];
    for (i, reply) in send_lanes(lab, lanes.into_values().collect())? {
        let p = &probes[i];
        let (qname, qtype) = (p.name.to_string(), p.qtype.to_string());
        results[i] = Some(ProbeResult {
            from: p.from.clone(),
            server: p.server.clone(),
            server_addr: p.server_addr,
            transport: p.transport,
            requested_port: p.source_port.to_string(),
            source_port: reply.source_port(),
            elapsed_ms: reply.elapsed_ms(),
            verdict: Judged::of(&p.expect, &reply, &qname, &qtype),
            reply,
            qname,
            qtype,
        });
    }
    // Every probe was sent (each lane returns all of its asks).
    Ok(results.into_iter().flatten().collect())
}

/// Queries through each resolver go one after another, in scenario order, so
/// each resolver's behaviour is reproducible; resolvers run side by side.
fn run_queries(lab: &lab::Lab, scenario: &Scenario, build: &Build, board: &Arc<resolver::watch::Board>) -> Result<Vec<QueryResult>, RunError> {
    let kind = build.acts_as();
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    for (i, q) in scenario.queries.iter().enumerate().filter(|(_, q)| scenario.runs_kind(&q.via, kind)) {
        let server = q.to;
        let ask = Ask {
            stub: q.stub,
            transport: q.transport,
            // A wrapped resolver is slower by its factor: the client waits as much longer.
            timeout: q.timeout * build.factor(),
            tries: 1,
            ..Ask::udp(server, q.name.clone(), q.qtype, true)
        };
        // Counted queries (distinct names) go a few at a time, like a busy
        // client; the rest one after another.
        let lane = match &q.template {
            Some(_) => format!("{}#{}", q.via, i % PARALLEL_NAMES),
            None => q.via.clone(),
        };
        let watched = (board.clone(), q.via.clone());
        lanes.entry(lane).or_default().push((i, q.from.clone(), ask, Some(watched)));
    }
    let mut results: Vec<Option<QueryResult>> = vec![None; scenario.queries.len()];
    for (i, reply) in send_lanes(lab, lanes.into_values().collect())? {
        let q: &Query = &scenario.queries[i];
        let (qname, qtype) = (q.name.to_string(), q.qtype.to_string());
        let (query_bytes, response_bytes) = reply.bytes();
        results[i] = Some(QueryResult {
            from: q.from.clone(),
            resolver: q.via.clone(),
            resolver_addr: q.to,
            kind: build.kind,
            transport: q.transport,
            stub: q.stub,
            elapsed_ms: reply.elapsed_ms(),
            query_bytes,
            response_bytes,
            verdict: Judged::of(q.expect_for(kind), &reply, &qname, &qtype),
            reply,
            qname,
            qtype,
        });
    }
    // Queries through a node that does not run this kind are not sent.
    Ok(results.into_iter().flatten().collect())
}

/// The run's private directory for resolver configs, state and logs.
/// Removed when the run ends, unless `DNSLAB_KEEP` is set.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new(scenario: &str, build: &str) -> Result<WorkDir, RunError> {
        // Our pid is 1 in the lab's PID namespace: a random tag keeps runs apart.
        let tag: u64 = rand::random();
        let path = crate::supervise::scratch_dir().join(format!("dnslab-{scenario}-{build}-{tag:016x}"));
        std::fs::create_dir_all(&path).map_err(|e| RunError::Other(format!("{}: {e}", path.display())))?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("DNSLAB_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
