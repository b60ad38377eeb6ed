//! The running part of a run: the plan's lab, a capture on every node, its
//! servers and resolvers ([`Live::start`]); and at the end each resolver
//! stopped, each capture ended and what everyone saw collected while the
//! lab is still there ([`Live::stop`], which then tears it down).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Clock, Progress, RunError};
use crate::capture::{Capture, Frame};
use crate::nameserver::{self, NameServer, Received};
use crate::outcome::{self, ResolverReport};
use crate::plan::{Plan, ResolverPlan, ResolverStart, Role, ServerPlan, READY_WITHIN};
use crate::resolver::{self, watch};

/// A run between its lab coming up and its teardown.
pub(super) struct Live {
    // Field order is drop order: resolvers, servers, captures, the lab.
    watcher: watch::Watcher,
    servers: Vec<NameServer>,
    captures: BTreeMap<String, Capture>,
    pub(super) lab: lab::Lab,
    dir: WorkDir,
    log: nameserver::Log,
    reports: BTreeMap<String, ResolverReport>,
    /// When the captures began, on the capture clock.
    t0_ns: u64,
}

/// What a run saw, collected before its lab went: what the outcome holds.
pub(super) struct Seen {
    pub reports: BTreeMap<String, ResolverReport>,
    pub by_server: BTreeMap<String, Vec<Received>>,
    pub firewalls: BTreeMap<String, BTreeMap<String, u64>>,
    pub messages: Vec<crate::wire::Message>,
    /// Each limit a log, the query log or a capture reached.
    pub limits: Vec<String>,
}

/// What only the evidence holds, kept until it is written.
pub(super) struct Artifacts {
    frames: Vec<Frame>,
    /// Each firewall's rules as loaded (`nft list ruleset` in its node).
    rulesets: BTreeMap<String, String>,
    /// Configs, logs and what a `--wrap` wrote.
    work: WorkDir,
}

impl Artifacts {
    pub(super) fn kept(&self) -> crate::evidence::Kept<'_> {
        crate::evidence::Kept {
            work: &self.work.path,
            rulesets: &self.rulesets,
            frames: &self.frames,
        }
    }
}

impl Live {
    /// `ip netns add` and the rest of the lab, then captures, servers and
    /// resolvers, each step timed.
    pub(super) fn start(plan: &Plan, progress: &dyn Progress, clock: &mut Clock) -> Result<Live, RunError> {
        clock.start();
        let lab = lab::Lab::up(&plan.topology)?;
        let t_up = Instant::now();
        clock.tick(|t| &mut t.lab_up_ms);
        progress.step("lab up");
        // Every node's DNS packets, from before the first server starts.
        let mut captures = BTreeMap::new();
        for node in &plan.scenario.nodes {
            captures.insert(node.name.clone(), Capture::start(&lab, &node.name)?);
        }
        let (t0, t0_ns) = (Instant::now(), crate::capture::now_ns());
        let log = nameserver::new_log();
        let servers = start_servers(&lab, plan, &log, t0)?;
        clock.tick(|t| &mut t.servers_ready_ms);
        progress.step("servers ready");
        let dir = WorkDir::new(&plan.scenario.name, &plan.build.name)?;
        let (mut running, mut reports) = (BTreeMap::new(), BTreeMap::new());
        for r in &plan.resolvers {
            let (status, version, warnings) = match &r.role {
                Role::NotRun(why) => (why.clone(), String::new(), vec![]),
                Role::Start(start) => {
                    let (started, warnings) = start_resolver(&lab, plan, r, start, &dir);
                    progress.step(&format!("{} ready on {}", plan.build.name, r.node));
                    match started {
                        Ok(x) => {
                            let v = x.version.clone();
                            running.insert(r.node.clone(), x);
                            ("running".to_string(), v, warnings)
                        }
                        Err(e) => (format!("failed to start: {e}"), String::new(), warnings),
                    }
                }
            };
            let source_ports = match r.role {
                Role::Start(_) => r.source_ports.map(|p| p.to_string()),
                Role::NotRun(_) => None,
            };
            let report = ResolverReport {
                kind: plan.build.kind,
                version,
                status,
                exit: None,
                warnings,
                edns_sizes: BTreeMap::new(),
                tcp_fallbacks: BTreeMap::new(),
                source_ports,
                upstream: vec![],
                leaked: BTreeMap::new(),
                to_lame: BTreeMap::new(),
            };
            reports.insert(r.node.clone(), report);
        }
        clock.tick(|t| &mut t.resolvers_ready_ms);
        Ok(Live {
            // From here on, a resolver that ends is reaped at once and one
            // that is stopped is seen as hung.
            watcher: watch::Watcher::start(running, t_up),
            servers,
            captures,
            lab,
            dir,
            log,
            reports,
            t0_ns,
        })
    }

    pub(super) fn board(&self) -> Arc<watch::Board> {
        self.watcher.board()
    }

    /// How each resolver ended, what it sent, what arrived, what firewalls
    /// counted; then the lab goes (`ip netns del`: the kernel does the rest).
    pub(super) fn stop(self, plan: &Plan, clock: &mut Clock) -> Result<(Seen, Artifacts), RunError> {
        let Live {
            watcher,
            servers,
            captures,
            lab,
            dir,
            log,
            mut reports,
            t0_ns,
        } = self;
        let scenario = plan.scenario;
        let mut limits = Vec::new();
        for (node, end) in watcher.finish() {
            if let Some(report) = reports.get_mut(&node) {
                report.status = end.status;
                report.exit = end.exit;
            }
            limits.extend(end.log_full);
        }
        // Captures end first, then the log is read once what was sent last
        // has landed: read the other way round, a query a resolver sent as
        // it was stopped would count as lost.
        let (frames, full) = Capture::finish_all(captures.into_values());
        limits.extend(full);
        let received = settled(&log);
        let datagrams = crate::capture::fragments::reassemble(&frames);
        limits.extend(log.lock().expect("log").overflow("the servers' query log", "queries"));
        for (r, _) in plan.started() {
            let sent = crate::capture::sent(&datagrams, &r.node, t0_ns);
            let to_servers: Vec<&Received> = received.iter().collect();
            let host_of = |a: IpAddr| scenario.host_of(a).unwrap_or_else(|| a.to_string());
            if let Some(report) = reports.get_mut(&r.node) {
                for s in sent.iter().filter(|s| s.transport == crate::scenario::values::Transport::Udp && !s.syn) {
                    let size = s.edns.map_or("none".to_string(), |n| n.to_string());
                    *report.edns_sizes.entry(size).or_default() += 1;
                }
                report.upstream = outcome::upstream(&sent, &to_servers, host_of);
                report.count_waste(|server, qname| scenario.is_lame(server, qname));
            }
        }
        let owner = |a: IpAddr| scenario.node_of(a).map(|n| n.name.clone());
        let messages = crate::wire::messages(&datagrams, owner, t0_ns);
        drop(datagrams);
        for (node, report) in reports.iter_mut() {
            report.tcp_fallbacks = outcome::tcp_fallbacks(&messages, node);
        }
        let (mut firewalls, mut rulesets) = (BTreeMap::new(), BTreeMap::new());
        for n in &scenario.nodes {
            if !n.firewall.is_empty() {
                firewalls.insert(n.name.clone(), lab.counters(&n.name)?);
            }
            if let Some(rules) = lab.ruleset(&n.name) {
                rulesets.insert(n.name.clone(), rules);
            }
        }
        let mut by_server: BTreeMap<String, Vec<Received>> = BTreeMap::new();
        for r in received {
            by_server.entry(r.server.clone()).or_default().push(r);
        }
        clock.start();
        drop(servers);
        drop(lab);
        clock.tick(|t| &mut t.teardown_ms);
        let seen = Seen {
            reports,
            by_server,
            firewalls,
            messages,
            limits: limits.iter().map(|o| o.to_string()).collect(),
        };
        Ok((seen, Artifacts { frames, rulesets, work: dir }))
    }
}

/// Starts every authoritative server of the plan in its node, each with its
/// zones, lameness and transfer policy; `log` gets every query.
pub fn start_servers(lab: &lab::Lab, plan: &Plan, log: &nameserver::Log, t0: Instant) -> Result<Vec<NameServer>, RunError> {
    let mut out = Vec::new();
    for ServerPlan {
        node,
        hostname,
        addrs,
        zones,
        policy,
    } in &plan.servers
    {
        out.push(nameserver::start(
            lab,
            node,
            hostname,
            addrs.clone(),
            zones.clone(),
            policy.clone(),
            log.clone(),
            t0,
        )?);
    }
    Ok(out)
}

/// Starts the plan's build on a resolver node, in its own directory under
/// `dir`. Returns it, or why it did not start, and the lint of its config.
pub(super) fn start_resolver(
    lab: &lab::Lab,
    plan: &Plan,
    r: &ResolverPlan,
    start: &ResolverStart,
    dir: &WorkDir,
) -> (Result<resolver::Running, String>, Vec<String>) {
    let ndir = dir.path.join(&r.node);
    if let Err(e) = std::fs::create_dir_all(&ndir) {
        return (Err(format!("{}: {e}", ndir.display())), vec![]);
    }
    let spec = resolver::Spec {
        build: plan.build,
        warnings: Default::default(),
        allow: &start.allow,
        local_zones: &start.local_zones,
        lab,
        node: &r.node,
        addr: start.addr,
        addrs: &start.addrs,
        hints: &plan.hints,
        source_ports: r.source_ports,
        edns_size: r.edns_size,
        tcp_upstream: r.tcp_upstream,
        forwards: &plan.forwards,
        dir: &ndir,
    };
    let started = resolver::start(&spec, READY_WITHIN);
    (started, spec.warnings.into_inner())
}

/// The servers' log once no query has arrived for a moment (at most 0.5 s).
fn settled(log: &nameserver::Log) -> Vec<Received> {
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

/// The run's private directory for resolver configs, state and logs.
/// Removed when the run ends, unless `DNSLAB_KEEP` is set.
pub(super) struct WorkDir {
    pub(super) path: PathBuf,
}

impl WorkDir {
    pub(super) fn new(scenario: &str, build: &str) -> Result<WorkDir, RunError> {
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
