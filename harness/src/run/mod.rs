//! Executes a [`Plan`]: `dnslab run` ([`run`]) and `dnslab up` ([`up`]).
//! Start at [`run`]: each step reads the plan.
//!
//! - [`live`]: the lab up (`ip netns add`, `ip link add ... type veth`,
//!   `nft -f`), a capture on every node (`tcpdump -Q out`), the servers,
//!   then the resolvers; and, at the end, each of them stopped and what
//!   they saw collected before the lab goes;
//! - [`send`]: the probes (`dig -b ADDR#PORT NAME @SERVER`) and the client
//!   queries (`dig @RESOLVER NAME`), lane by lane;
//! - [`judge`]: the outcome, every failure in words that name its cause.
//!
//! The evidence is written in one place, [`crate::evidence::write`], once
//! the outcome is known. `Err` only when the lab itself failed: a resolver
//! that does not start, answers SERVFAIL or hangs is an outcome.

mod judge;
mod live;
mod send;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::nameserver::{self, NameServer};
use crate::outcome::{Outcome, Timings};
use crate::plan::Plan;
use crate::resolver;
use crate::scenario::Scenario;

pub use crate::plan::{PARALLEL_NAMES, READY_WITHIN};
pub use live::start_servers;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lab(#[from] lab::Error),
    #[error("{0}")]
    Unavailable(#[from] resolver::Unavailable),
    #[error("{0}")]
    Other(String),
}

/// Steps of a run, reported as they happen (for progress output).
pub trait Progress: Send + Sync {
    fn step(&self, _what: &str) {}
}
impl Progress for () {}

/// Runs `plan`. With `evidence`, the run leaves there each resolver's
/// config and log, each server's query log, each firewall's rules, the
/// pcaps and the ladders.
pub fn run(plan: &Plan, progress: &dyn Progress, evidence: Option<&std::path::Path>) -> Result<Outcome, RunError> {
    let t_start = Instant::now();
    let mut clock = Clock::default();
    let live = live::Live::start(plan, progress, &mut clock)?;
    let probes = send::probes(&live.lab, plan)?;
    clock.tick(|t| &mut t.probes_ms);
    progress.step("probes answered");
    progress.step(&format!("{} queries sent", plan.queries.len()));
    let queries = send::queries(&live.lab, plan, &live.board())?;
    clock.tick(|t| &mut t.queries_ms);
    progress.step("queries answered");
    let (seen, artifacts) = live.stop(plan, &mut clock)?;
    clock.timings.total_ms = t_start.elapsed().as_millis() as u64;
    let outcome = judge::outcome(plan, probes, queries, seen, clock.timings);
    if let Some(out) = evidence {
        crate::evidence::write(out, plan.scenario, &outcome, &artifacts.kept()).map_err(|e| RunError::Other(format!("evidence in {}: {e}", out.display())))?;
    }
    Ok(outcome)
}

/// The phases of a run, each timed from the end of the one before.
#[derive(Default)]
struct Clock {
    timings: Timings,
    lap: Option<Instant>,
}

impl Clock {
    fn tick(&mut self, field: impl FnOnce(&mut Timings) -> &mut u64) {
        let now = Instant::now();
        *field(&mut self.timings) = self.lap.map_or(0, |l| (now - l).as_millis() as u64);
        self.lap = Some(now);
    }

    fn start(&mut self) {
        self.lap = Some(Instant::now());
    }
}

/// A lab kept up for interactive use (`dnslab up`): servers and resolvers
/// running, nothing sent.
pub struct UpLab {
    // Field order is drop order: resolvers, servers, then the lab.
    resolvers: resolver::watch::Watcher,
    _servers: Vec<NameServer>,
    lab: lab::Lab,
    _dir: live::WorkDir,
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

/// A lab with only its authoritative servers running: the tests of our
/// servers on the wire (`tests/authority.rs`, `walk.rs`, ...) ask them
/// straight, with no resolver in the way.
pub struct ServersLab {
    // Field order is drop order: the servers, then the lab.
    pub servers: Vec<NameServer>,
    pub lab: lab::Lab,
    /// Every query the servers received.
    pub log: nameserver::Log,
}

/// Builds `scenario`'s lab as a run plans it and starts its servers only.
pub fn servers_only(scenario: &Scenario) -> Result<ServersLab, RunError> {
    let hickory = resolver::Build::installed(resolver::Kind::Hickory).map_err(RunError::Other)?;
    let plan = Plan::new(scenario, &hickory)?;
    let lab = lab::Lab::up(&plan.topology)?;
    let log = nameserver::new_log();
    let servers = start_servers(&lab, &plan, &log, Instant::now())?;
    Ok(ServersLab { servers, lab, log })
}

/// Builds the plan's lab and starts its servers and resolvers, for
/// `dnslab up` and `dnslab audit`. A resolver that does not start is an
/// error here: there is nothing to look at without it.
pub fn up(plan: &Plan) -> Result<UpLab, RunError> {
    let lab = lab::Lab::up(&plan.topology)?;
    let t_up = Instant::now();
    let log = nameserver::new_log();
    let servers = start_servers(&lab, plan, &log, t_up)?;
    let dir = live::WorkDir::new(&plan.scenario.name, &plan.build.name)?;
    let mut resolvers = BTreeMap::new();
    for (r, start) in plan.started() {
        let (started, _) = live::start_resolver(&lab, plan, r, start, &dir);
        resolvers.insert(r.node.clone(), started.map_err(|e| RunError::Other(format!("{}: {e}", r.node)))?);
    }
    Ok(UpLab {
        resolvers: resolver::watch::Watcher::start(resolvers, t_up),
        _servers: servers,
        lab,
        _dir: dir,
        log,
    })
}
