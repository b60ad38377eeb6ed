//! `make bench`: how fast labs come up and go down, and where a full
//! msft-lowport run spends its time. Prints a Markdown table for the README.
//!
//! "Down" is the time to drop the lab: processes killed, fds closed. The
//! kernel then frees the namespaces on its own workqueue, asynchronously.

mod baseline;

use std::time::{Duration, Instant};

use harness::resolver::Kind;
use harness::scenario;
use lab::{Lab, Topology};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A router on `n / 50` bridged segments of 50 hosts each, IPv6 documentation space.
fn generated(n: usize) -> Topology {
    let mut b = Topology::builder();
    let segments = n.div_ceil(50);
    let mut router_ifaces = Vec::new();
    for s in 0..segments {
        let name = format!("s{s}");
        b.segment(&name, &[format!("2001:db8:{s:x}::/64").parse().unwrap()]);
        router_ifaces.push((name, format!("2001:db8:{s:x}::1").parse().unwrap()));
    }
    {
        let r = b.node("router");
        for (seg, a) in &router_ifaces {
            r.iface(seg, &[*a]);
        }
        r.forward(true);
    }
    for i in 0..n.saturating_sub(1) {
        let s = i / 50;
        b.node(&format!("h{i}"))
            .iface(&format!("s{s}"), &[format!("2001:db8:{s:x}::{:x}", i % 50 + 2).parse().unwrap()]);
    }
    b.build().expect("generated topology is valid")
}

fn up_down(name: &str, topo: &Topology, rounds: usize) -> (Duration, Duration) {
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut phases = String::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let lab = Lab::up(topo).expect("lab up");
        ups.push(t.elapsed());
        phases = lab.timings.iter().map(|(p, d)| format!("{p} {}", ms(*d))).collect::<Vec<_>>().join(", ");
        let t = Instant::now();
        drop(lab);
        downs.push(t.elapsed());
        // Let the kernel's cleanup finish before the next round.
        std::thread::sleep(Duration::from_millis(200));
    }
    let (u, d) = (median(ups), median(downs));
    println!(
        "| {name} ({} nodes, {} segments) | {} | {} | {phases} |",
        topo.nodes().len(),
        topo.segments().len(),
        ms(u),
        ms(d)
    );
    (u, d)
}

fn main() {
    let path = scenario::locate("msft-lowport");
    let s = scenario::load(&path).unwrap_or_else(|d| panic!("{d}"));
    println!("Machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), kernel());
    println!();
    println!("| topology | up (median) | down (median) | phases of the last up |");
    println!("|---|---|---|---|");
    let lowport = s.topology(|_| None).unwrap();
    let (small, large) = (generated(100), generated(1000));
    up_down("msft-lowport", &lowport, 9);
    up_down("generated", &small, 5);
    up_down("generated", &large, 3);
    // What a user would otherwise write: the same labs as ip -batch scripts.
    for (name, topo, rounds) in [("msft-lowport", &lowport, 9), ("generated", &small, 5)] {
        match baseline::up(topo, rounds) {
            Ok(t) => println!("| {name} as `ip -batch` ({} nodes), the baseline | {} | | |", topo.nodes().len(), ms(t)),
            Err(e) => println!("| {name} as `ip -batch`: {e} | | | |"),
        }
    }
    // Let the kernel finish freeing the 1000 namespaces before timing runs.
    std::thread::sleep(Duration::from_secs(5));
    println!();
    println!("| msft-lowport run | lab up | servers | resolvers ready | probes | queries | teardown | total | harness overhead |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for kind in Kind::ALL {
        if harness::resolver::available(kind).is_err() {
            println!("| {kind} | not installed | | | | | | | |");
            continue;
        }
        let build = harness::resolver::Build::installed(kind).expect("installed");
        let t = Instant::now();
        let plan = harness::plan::Plan::new(&s, &build).expect("plan");
        let o = harness::run::run(&plan, &(), None).expect("run");
        row(&kind.to_string(), &o, t.elapsed());
    }
    // Every installed kind at once, each in its own lab: the slowest sets the pace.
    let builds: Vec<_> = Kind::ALL.into_iter().filter_map(|k| harness::resolver::Build::installed(k).ok()).collect();
    let t = Instant::now();
    std::thread::scope(|scope| {
        for b in &builds {
            let s = &s;
            scope.spawn(move || harness::run::run(&harness::plan::Plan::new(s, b).expect("plan"), &(), None).expect("run"));
        }
    });
    println!("| all {} kinds in parallel | | | | | | | {} ms | |", builds.len(), t.elapsed().as_millis());
    big_answers(&builds);
}

/// The big-answer scenarios' wall time per kind, one run after another:
/// how long each kind takes to recover, or to give up, is most of it.
fn big_answers(builds: &[harness::resolver::Build]) {
    println!();
    let kinds: Vec<String> = builds.iter().map(|b| b.kind.to_string()).collect();
    println!("| big answers, wall time of a run | {} |", kinds.join(" | "));
    println!("|---|{}", "---|".repeat(kinds.len()));
    for name in [
        "flag-day-2020",
        "flag-day-2020-fixed",
        "tcp-blocked",
        "tcp-blocked-fixed",
        "ipv6-fragments",
        "ipv6-fragments-fixed",
    ] {
        let s = scenario::load(&scenario::locate(name)).unwrap_or_else(|d| panic!("{d}"));
        let cells: Vec<String> = builds
            .iter()
            .map(|b| {
                let t = Instant::now();
                let o = harness::run::run(&harness::plan::Plan::new(&s, b).expect("plan"), &(), None).expect("run");
                let secs = format!("{:.2} s", t.elapsed().as_secs_f64());
                if o.passed() {
                    secs
                } else {
                    format!("{secs} (failed)")
                }
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

/// One table row: the run's phases and its harness overhead, i.e. the wall
/// time minus the slowest resolver's own time (its queries, one after
/// another) and the probes' time.
fn row(name: &str, o: &harness::outcome::Outcome, wall: Duration) {
    let tm = &o.timings;
    let per_resolver: std::collections::BTreeMap<&str, u64> = o.queries.iter().fold(Default::default(), |mut m, q| {
        *m.entry(q.resolver.as_str()).or_default() += q.elapsed_ms;
        m
    });
    let resolver_time = per_resolver.values().copied().max().unwrap_or(0);
    let overhead = (wall.as_millis() as u64).saturating_sub(resolver_time + tm.probes_ms);
    println!(
        "| {name} | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms |",
        tm.lab_up_ms,
        tm.servers_ready_ms,
        tm.resolvers_ready_ms,
        tm.probes_ms,
        tm.queries_ms,
        tm.teardown_ms,
        wall.as_millis(),
        overhead
    );
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_default()
}
