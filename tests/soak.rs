//! `make soak`: every bundled scenario with every resolver kind installed,
//! for `SOAK_ROUNDS` rounds (default 5), `SOAK_JOBS` labs at a time
//! (default 8), through the real `dnslab run`. Then the host must be as it
//! was: links, routes, rules, sysctls, namespaces, processes, files.
//!
//! Three things are told apart, because expectations judged on timing may
//! miss when eight labs share two cores, and a leak or a crash never may:
//! - **leaks**: the host changed. The soak fails.
//! - **crashes**: a panic, a signal, a lab error (exit 2) or a run that did
//!   not end within `SOAK_TIMEOUT` seconds (default 600). The soak fails.
//! - **missed expectations** (exit 1): counted per scenario and kind, and
//!   printed with the first miss of each. They do not fail the soak.
//!
//! `SOAK_KINDS=hickory,unbound` limits the kinds. Ignored by `make test`.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::resolver::{self, Kind};

/// One run of the soak: a scenario with one kind, in one round.
#[derive(Clone)]
struct Unit {
    scenario: String,
    kind: Kind,
    round: u32,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Passed,
    /// Exit 1: an expectation missed; the first miss.
    Missed(String),
    /// Exit 2, 101, another code, a signal, "panicked", or no end in time.
    Crashed(String),
}

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn kinds() -> Vec<Kind> {
    let wanted: Option<Vec<Kind>> = std::env::var("SOAK_KINDS").ok().map(|v| v.split(',').filter_map(Kind::parse).collect());
    Kind::ALL
        .into_iter()
        .filter(|k| wanted.as_ref().is_none_or(|w| w.contains(k)))
        .filter(|k| match resolver::available(*k) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("soak: leaving out {k}: {e}");
                false
            }
        })
        .collect()
}

/// The last lines of `text`, for a crash's report.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs one unit to its end, or kills it at `limit`.
fn run(u: &Unit, evidence: &Path, limit: Duration) -> (End, Duration) {
    let t = Instant::now();
    let log = evidence.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnslab"))
        .env("DNSLAB_SCENARIOS", common::repo().join("scenarios"))
        .args(["run", &u.scenario, "--resolver", u.kind.name(), "--evidence"])
        .arg(evidence)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start dnslab");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let end = match status.map(|s| s.code()) {
        None => End::Crashed(format!("did not end within {} s\n{}", limit.as_secs(), tail(&text, 10))),
        _ if text.contains("panicked") => End::Crashed(format!("panicked:\n{}", tail(&text, 20))),
        Some(Some(0)) => End::Passed,
        Some(Some(1)) => End::Missed(text.lines().find(|l| l.trim_start().starts_with("- ")).unwrap_or("").trim().to_string()),
        Some(code) => End::Crashed(format!("exit {code:?}\n{}", tail(&text, 10))),
    };
    (end, t.elapsed())
}

#[test]
#[ignore = "long: make soak"]
fn soak() {
    let (rounds, jobs, limit) = (env("SOAK_ROUNDS", 5u32), env("SOAK_JOBS", 8usize), env("SOAK_TIMEOUT", 600u64));
    let kinds = kinds();
    let scenarios: Vec<String> = harness::scenario::bundled().into_iter().map(|(n, _)| n).collect();
    let mut queue = VecDeque::new();
    for round in 1..=rounds {
        for s in &scenarios {
            for k in &kinds {
                queue.push_back(Unit {
                    scenario: s.clone(),
                    kind: *k,
                    round,
                });
            }
        }
    }
    let total = queue.len();
    eprintln!(
        "soak: {} scenarios x {} kinds x {rounds} rounds = {total} runs, {jobs} at a time",
        scenarios.len(),
        kinds.len()
    );
    let (before, ns_before) = common::quiet();
    let dir = std::env::temp_dir().join(format!("dnslab-test-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let queue = Mutex::new(queue);
    let results: Mutex<Vec<(Unit, End, Duration)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(u) = queue.lock().unwrap().pop_front() else { break };
                let ev = dir.join(format!("{}-{}-{}", u.scenario, u.kind.name(), u.round));
                let (end, took) = run(&u, &ev, Duration::from_secs(limit));
                let mut r = results.lock().unwrap();
                r.push((u, end, took));
                if r.len().is_multiple_of(20) {
                    eprintln!("soak: {}/{total} runs, {:.0} s", r.len(), t0.elapsed().as_secs_f64());
                }
            });
        }
    });
    let wall = t0.elapsed();
    let results = results.into_inner().unwrap();
    let leaks = leaks(&before, ns_before);
    let _ = std::fs::remove_dir_all(&dir);
    let crashes = summary(&results, wall);
    eprintln!("soak: leaks: {}", if leaks.is_empty() { "none (host unchanged)".into() } else { leaks.clone() });
    assert!(leaks.is_empty() && crashes == 0, "soak: {crashes} crashes; leaks: {leaks}");
}

/// What the host gained or lost over the soak: empty when nothing.
fn leaks(before: &str, ns_before: usize) -> String {
    common::eventually(10, || common::netns_count() <= ns_before && common::host_state() == before);
    let after = common::host_state();
    let mut out = String::new();
    if common::netns_count() > ns_before {
        out += &format!("namespaces: {} before, {} after\n", ns_before, common::netns_count());
    }
    if after != before {
        let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        for l in a.iter().filter(|l| !b.contains(l)) {
            out += &format!("+ {l}\n");
        }
        for l in b.iter().filter(|l| !a.contains(l)) {
            out += &format!("- {l}\n");
        }
    }
    out
}

/// One scenario and kind over all rounds.
#[derive(Default)]
struct Tally {
    passed: u32,
    missed: u32,
    crashed: u32,
    longest: Duration,
    first_miss: Option<String>,
}

/// Prints the soak's table and its crashes; returns how many crashed.
fn summary(results: &[(Unit, End, Duration)], wall: Duration) -> usize {
    let mut by: BTreeMap<(String, &str), Tally> = BTreeMap::new();
    let mut crashes = Vec::new();
    for (u, end, took) in results {
        let e = by.entry((u.scenario.clone(), u.kind.name())).or_default();
        e.longest = e.longest.max(*took);
        match end {
            End::Passed => e.passed += 1,
            End::Missed(first) => {
                e.missed += 1;
                e.first_miss.get_or_insert_with(|| first.clone());
            }
            End::Crashed(why) => {
                e.crashed += 1;
                crashes.push(format!("{} {} round {}: {why}", u.scenario, u.kind.name(), u.round));
            }
        }
    }
    eprintln!(
        "{:<22} {:<8} {:>6} {:>6} {:>7} {:>7}  first miss",
        "SCENARIO", "KIND", "PASSED", "MISSED", "CRASHED", "LONGEST"
    );
    for ((s, k), t) in &by {
        let first = t.first_miss.as_deref().map(harness::text::escape).unwrap_or_default();
        let (p, m, c) = (t.passed, t.missed, t.crashed);
        eprintln!("{s:<22} {k:<8} {p:>6} {m:>6} {c:>7} {:>6.1}s  {first}", t.longest.as_secs_f64());
    }
    let (passed, missed) = (
        results.iter().filter(|r| r.1 == End::Passed).count(),
        results.iter().filter(|r| matches!(r.1, End::Missed(_))).count(),
    );
    eprintln!(
        "soak: {} runs in {:.0} s: {passed} passed, {missed} missed an expectation, {} crashed",
        results.len(),
        wall.as_secs_f64(),
        crashes.len()
    );
    for c in &crashes {
        eprintln!("CRASH {}", harness::text::escape_lines(c));
    }
    crashes.len()
}
