//! Resolver faults: a resolver that crashes is reaped at once and its
//! status says how it ended; one that is stopped (SIGSTOP, state `T`) is
//! `hung`, and the questions still meant for it end at once as
//! `RESOLVER-HUNG` instead of each waiting out its timeout. Before, a
//! crashed resolver stayed a zombie until `dnslab down` and a stopped one
//! read "running".

mod common;

use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{eventually, pgrep, quiet, settled};

/// These tests compare machine-wide state; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// `ps`'s state letter of a host pid, if it is still there.
fn state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn a_resolver_stopped_mid_run_is_hung_and_the_run_ends_within_30_s() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    let evidence = std::env::temp_dir().join(format!("dnslab-test-hung-{}", std::process::id()));
    let started = Instant::now();
    let child = common::dnslab()
        .args(["run", "msft-lowport", "--resolver", "unbound", "--format", "json"])
        .args(["--evidence", evidence.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut supervisor = String::new();
    assert!(eventually(10, || {
        supervisor = pgrep(&["-P", &child.id().to_string()]);
        !supervisor.is_empty()
    }));
    // Mid-scenario: every unbound is up (three resolver nodes), probes are
    // in flight and no query has been sent yet.
    let mut unbounds = Vec::new();
    assert!(
        eventually(20, || {
            unbounds = pgrep(&["-x", "unbound", "-P", &supervisor]).lines().map(String::from).collect();
            unbounds.len() == 3
        }),
        "three unbound processes never started"
    );
    std::thread::sleep(Duration::from_millis(500));
    let victim = &unbounds[0];
    // SAFETY: a signal to a grandchild of ours, by pid.
    unsafe { libc::kill(victim.parse().unwrap(), libc::SIGSTOP) };
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    settled(&before, ns);
    let _ = std::fs::remove_dir_all(&evidence);
    assert!(took < Duration::from_secs(30), "the run took {took:?} with a stopped resolver");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &v["runs"][0];
    let resolvers = run["resolvers"].as_object().unwrap();
    let hung: Vec<&String> = resolvers
        .iter()
        .filter(|(_, r)| r["status"].as_str().unwrap().starts_with("hung: stopped (state T)"))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(hung.len(), 1, "exactly the stopped resolver is hung: {resolvers:?}");
    let others = resolvers.iter().filter(|(n, _)| !hung.contains(n));
    assert!(others.clone().all(|(_, r)| r["status"] == "running"), "{resolvers:?}");
    // Its queries are RESOLVER-HUNG, each at once; the others' are answered.
    let queries = run["queries"].as_array().unwrap();
    for q in queries {
        let rcode = q["rcode"].as_str().unwrap();
        if &q["resolver"].as_str().unwrap().to_string() == hung[0] {
            assert_eq!(rcode, "RESOLVER-HUNG", "{q}");
            assert!(q["elapsed_ms"].as_u64().unwrap() < 1000, "waited for a hung resolver: {q}");
            assert_eq!(q["ok"], false, "{q}");
        } else {
            assert_ne!(rcode, "RESOLVER-HUNG", "{q}");
        }
    }
}

#[test]
fn a_crashed_resolver_is_reaped_at_once_and_status_says_how() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    struct Down;
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = common::run(&["down", "msft-lowport"]);
        }
    }
    let _down = Down;
    let up = common::run(&["up", "msft-lowport", "--resolver", "unbound", "--format", "json"]);
    assert_eq!(up.status.code(), Some(0), "{}", String::from_utf8_lossy(&up.stderr));
    let v: serde_json::Value = serde_json::from_slice(&up.stdout).unwrap();
    let supervisor = v["supervisor_pid"].as_u64().expect("up says the supervisor's pid").to_string();
    assert_eq!(state(&supervisor), Some('S'), "the pid `up` printed is the supervisor's on the host");
    let unbounds: Vec<String> = pgrep(&["-x", "unbound", "-P", &supervisor]).lines().map(String::from).collect();
    assert_eq!(unbounds.len(), 3, "{unbounds:?}");
    let status = || String::from_utf8_lossy(&common::run(&["status"]).stdout).into_owned();
    assert!(eventually(2, || status().matches(" running").count() == 3), "{}", status());

    // SIGSEGV: gone from the process table (no zombie) within 0.5 s.
    // SAFETY: signals to grandchildren of ours, by pid.
    unsafe { libc::kill(unbounds[0].parse().unwrap(), libc::SIGSEGV) };
    let t = Instant::now();
    assert!(eventually(2, || state(&unbounds[0]).is_none()), "not reaped: state {:?}", state(&unbounds[0]));
    assert!(t.elapsed() < Duration::from_millis(500), "reaped only after {:?}", t.elapsed());
    assert!(status().contains("exited (signal: 11 (SIGSEGV))"), "{}", status());

    // SIGSTOP: hung, not running; SIGCONT: running again.
    unsafe { libc::kill(unbounds[1].parse().unwrap(), libc::SIGSTOP) };
    assert!(eventually(2, || status().contains("hung: stopped (state T)")), "{}", status());
    assert_eq!(state(&unbounds[1]), Some('T'));
    unsafe { libc::kill(unbounds[1].parse().unwrap(), libc::SIGCONT) };
    assert!(eventually(2, || status().matches(" running").count() == 2), "{}", status());

    let down = common::run(&["down"]);
    assert_eq!(down.status.code(), Some(0), "{}", String::from_utf8_lossy(&down.stderr));
    // `down` returns once the lab is gone, not when it has begun to go: a
    // script's next `up` must not meet the last one's processes.
    let left: Vec<&String> = unbounds.iter().filter(|p| state(p).is_some_and(|s| s != 'Z')).collect();
    assert!(left.is_empty(), "down returned while these resolvers still ran: {left:?}");
    // The supervisor itself closes its socket last, then returns from main.
    let gone = || state(&supervisor).is_none_or(|s| s == 'Z');
    assert!(eventually(1, gone), "the supervisor did not end within 1 s of down");
    settled(&before, ns);
}
