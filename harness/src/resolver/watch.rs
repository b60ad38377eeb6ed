//! Watching resolvers while they run. A [`Watcher`] owns every started
//! resolver and looks at each every [`EVERY`]: one that has exited is
//! reaped at once (no zombie waits for the end of the run), and one that is
//! stopped (SIGSTOP; state `T` in `/proc`) is marked hung. Questions to a
//! hung resolver end at once as `RESOLVER-HUNG` ([`ask_unless_hung`])
//! instead of each waiting out its timeout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab::ProcState;

use super::Running;
use crate::answer::{Attempt, Reply, Status};
use crate::bounded::Overflow;
use crate::probe::{self, Ask};

/// How often each resolver is looked at.
pub const EVERY: Duration = Duration::from_millis(50);

/// How a resolver is, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "state")]
pub enum Health {
    Running,
    /// Stopped, first seen so `at_ms` after the lab came up.
    Hung {
        at_ms: u64,
    },
    /// Ended on its own `at_ms` after the lab came up; `how` as the
    /// kernel said it (`exit status: 1`, `signal: 11 (SIGSEGV)`).
    Exited {
        at_ms: u64,
        how: String,
    },
}

/// What the watcher has seen of each resolver node; shared with senders.
#[derive(Debug, Default)]
pub struct Board(Mutex<BTreeMap<String, Health>>);

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Running => f.write_str("running"),
            Health::Hung { at_ms } => write!(f, "hung: stopped (state T) {:.1} s after the lab came up", secs(*at_ms)),
            Health::Exited { at_ms, how } => write!(f, "exited ({how}) {:.1} s after the lab came up", secs(*at_ms)),
        }
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Board {
    pub fn get(&self, node: &str) -> Health {
        self.0.lock().expect("board").get(node).cloned().unwrap_or(Health::Running)
    }

    fn set(&self, node: &str, h: Health) {
        self.0.lock().expect("board").insert(node.to_string(), h);
    }

    /// Every watched node, once the watcher has looked at it.
    pub fn all(&self) -> BTreeMap<String, Health> {
        self.0.lock().expect("board").clone()
    }

    pub fn is_hung(&self, node: &str) -> bool {
        matches!(self.get(node), Health::Hung { .. })
    }
}

/// How a resolver ended its run.
#[derive(Debug)]
pub struct End {
    /// `running`, or `hung: ...` or `exited: ...` with its log's tail.
    pub status: String,
    /// How a wrapped one ended when stopped with SIGTERM.
    pub exit: Option<String>,
    /// The limit its log reached, if it did.
    pub log_full: Option<Overflow>,
}

/// Owns the resolvers and watches them on a thread of its own; dropping it
/// stops the thread and then the resolvers.
#[must_use = "dropping the watcher stops its resolvers"]
pub struct Watcher {
    board: Arc<Board>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<BTreeMap<String, Running>>>,
}

impl Watcher {
    /// Takes over `resolvers`; times are told from `t0`, when the lab came up.
    pub fn start(mut resolvers: BTreeMap<String, Running>, t0: Instant) -> Watcher {
        let board = Arc::new(Board::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (board.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for (node, r) in resolvers.iter_mut() {
                    look(&b, node, r, t0);
                }
                std::thread::sleep(EVERY);
            }
            resolvers
        });
        Watcher {
            board,
            stop,
            thread: Some(thread),
        }
    }

    pub fn board(&self) -> Arc<Board> {
        self.board.clone()
    }

    /// Ends the watch and says how each resolver ended it. The resolvers
    /// are stopped when this returns: wrapped ones with SIGTERM and a
    /// bounded wait, side by side, so that each can write its report.
    pub fn finish(mut self) -> BTreeMap<String, End> {
        let mut resolvers = self.join();
        let exits: BTreeMap<String, Option<String>> = std::thread::scope(|s| {
            let stops: Vec<_> = resolvers.iter_mut().map(|(node, r)| (node.clone(), s.spawn(move || r.stop()))).collect();
            stops.into_iter().map(|(node, h)| (node, h.join().ok().flatten())).collect()
        });
        resolvers
            .iter()
            .map(|(node, r)| {
                let status = match self.board.get(node) {
                    Health::Running => "running".to_string(),
                    other => format!("{other}:\n{}", r.log_tail(15)),
                };
                let end = End {
                    status,
                    exit: exits.get(node).cloned().flatten(),
                    log_full: r.log_overflow(node),
                };
                (node.clone(), end)
            })
            .collect()
    }

    fn join(&mut self) -> BTreeMap<String, Running> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.join());
    }
}

/// One look at one resolver: reaps it if it ended, notes a stop.
fn look(board: &Board, node: &str, r: &mut Running, t0: Instant) {
    let at_ms = t0.elapsed().as_millis() as u64;
    let now = match (r.state(), board.get(node)) {
        // Once ended, it stays as it ended.
        (_, h @ Health::Exited { .. }) => h,
        (ProcState::Exited(s), _) => Health::Exited { at_ms, how: s.to_string() },
        (ProcState::Stopped, h @ Health::Hung { .. }) => h,
        (ProcState::Stopped, _) => Health::Hung { at_ms },
        (ProcState::Alive, _) => Health::Running,
    };
    board.set(node, now);
}

/// Asks `a` of the resolver on `node`, unless it is hung or hangs before
/// the answer comes: then `RESOLVER-HUNG` at once.
pub async fn ask_unless_hung(a: &Ask, board: &Board, node: &str) -> Reply {
    let start = Instant::now();
    let hung = async {
        while !board.is_hung(node) {
            tokio::time::sleep(EVERY / 2).await;
        }
    };
    if board.is_hung(node) {
        return hung_reply(a, start);
    }
    tokio::select! {
        reply = probe::ask(a) => reply,
        () = hung => hung_reply(a, start),
    }
}

fn hung_reply(a: &Ask, start: Instant) -> Reply {
    Reply::none(vec![Attempt {
        transport: a.transport,
        source_port: 0,
        query_bytes: 0,
        response_bytes: 0,
        elapsed_ms: start.elapsed().as_millis() as u64,
        rcode: Status::ResolverHung,
        tc: false,
        error: Some("the resolver is stopped (state T); not waited for".into()),
    }])
}
