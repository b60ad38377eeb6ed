//! Nothing is left behind: after a run, a failed run, a SIGKILL of dnslab or
//! of its supervisor mid-scenario, and `up`/`down`. The host's links, routes,
//! ruleset and port sysctls are never touched. Two runs at once both pass.

mod common;

use std::process::Stdio;
use std::sync::Mutex;

use common::{eventually, host_state, pgrep, quiet, settled};

/// These tests compare machine-wide state; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_run_leaves_nothing_and_changes_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    let evidence = std::env::temp_dir().join(format!("dnslab-test-evidence-{}", std::process::id()));
    let out = common::run(&["run", "msft-lowport", "--resolver", "unbound", "--evidence", evidence.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    settled(&before, ns);
    // The evidence a person checks the run with.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(evidence.join("outcome.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    let conf = std::fs::read_to_string(evidence.join("unbound/resolvers/resolver-low/unbound.conf")).unwrap();
    assert!(conf.contains("outgoing-port-permit: 600-1023"), "{conf}");
    assert!(evidence.join("unbound/resolvers/resolver-low/unbound.log").exists());
    let log = std::fs::read_to_string(evidence.join("unbound/servers/ns1.google.com.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"qname\":\"google.com.\"")), "{log}");
    let rules = std::fs::read_to_string(evidence.join("unbound/firewalls/msft-edge.nft")).unwrap();
    assert!(rules.contains("th sport != 53 counter name \"dnslab_lowport_drop\" drop"), "{rules}");
    for f in [
        "report.html",
        "topology.svg",
        "unbound/ladder.txt",
        "unbound/ladder.md",
        "unbound/pcap/msft-edge-msft-dc.pcap",
    ] {
        assert!(evidence.join(f).exists(), "no {f} in the evidence");
    }
    std::fs::remove_dir_all(&evidence).unwrap();
}

#[test]
fn a_failed_run_exits_1_and_leaves_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    let wrong = common::repo().join("tests/fixtures/wrong-expectation.yaml");
    let junit = std::env::temp_dir().join(format!("dnslab-test-junit-{}.xml", std::process::id()));
    let out = common::run(&["run", wrong.to_str().unwrap(), "--resolver", "hickory", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL") && text.contains("expected SERVFAIL, got NOERROR"), "{text}");
    settled(&before, ns);
    // JUnit: one case per expectation, the failure says what differed.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("testcase name=\"wrong-expectation/hickory/resolver google.com A\""), "{xml}");
    assert!(xml.contains("failures=\"1\"") && xml.contains("expected SERVFAIL, got NOERROR"), "{xml}");
    std::fs::remove_file(&junit).unwrap();
    // A failed run keeps its evidence and says where.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kept = stderr
        .lines()
        .find_map(|l| l.strip_prefix("dnslab: evidence in "))
        .expect("the evidence directory is named");
    assert!(std::path::Path::new(kept).join("outcome.json").exists());
    std::fs::remove_dir_all(kept).unwrap();
}

#[test]
fn bad_input_exits_2_and_builds_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    let bad = common::repo().join("tests/lint/unknown-key.yaml");
    let out = common::run(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-key"));
    settled(&before, ns);
}

/// Sends `signal` to `target` (dnslab or its supervisor) mid-run; returns
/// how dnslab ended once the host is back as it was.
fn kill_mid_run(target: &str, signal: i32) -> std::process::ExitStatus {
    let (before, ns) = quiet();
    let mut child = common::dnslab()
        .args(["run", "msft-lowport", "--resolver", "unbound"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Mid-scenario: the supervisor's own unbound processes are up and
    // queries are in flight.
    let mut supervisor = String::new();
    assert!(eventually(10, || {
        supervisor = pgrep(&["-P", &child.id().to_string()]);
        !supervisor.is_empty()
    }));
    assert!(
        eventually(20, || !pgrep(&["-x", "unbound", "-P", &supervisor]).is_empty()),
        "unbound never started"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid: u32 = match target {
        "dnslab" => child.id(),
        _ => supervisor.parse().expect("the supervisor's pid"),
    };
    let sent = std::time::Instant::now();
    // SAFETY: a signal to a child of ours (or to its child), by pid.
    unsafe { libc::kill(pid as i32, signal) };
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert!(
        eventually(2, || host_state() == before),
        "left after signal {signal} to {target}:\n{}",
        host_state()
    );
    settled(&before, ns);
    assert!(
        took < std::time::Duration::from_secs(3),
        "dnslab took {took:?} to end after signal {signal} to {target}"
    );
    status
}

#[test]
fn sigkill_of_dnslab_mid_run_leaves_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    kill_mid_run("dnslab", libc::SIGKILL);
}

/// SIGINT, SIGTERM and SIGHUP sent to the dnslab process alone (not its
/// group) end the run at once with 128 + the signal. SIGINT was ignored
/// before: the run carried on for 20 s and exited 0.
#[test]
fn sigint_sigterm_sighup_to_dnslab_alone_end_the_run() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let status = kill_mid_run("dnslab", sig);
        assert_eq!(status.code(), Some(code), "signal {sig}: {status:?}");
    }
}

#[test]
fn sigkill_of_the_supervisor_mid_run_leaves_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    kill_mid_run("supervisor", libc::SIGKILL);
}

#[test]
fn up_exec_down() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    // Whatever happens below, the lab goes down.
    struct Down;
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = common::run(&["down", "msft-lowport"]);
        }
    }
    let _down = Down;
    let out = common::run(&["up", "msft-lowport", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["name"] == "client" && n["addresses"][0] == "203.0.113.10"), "{v}");
    // The seed's dig from the client: `dig -b 0.0.0.0#PORT live.com @ns1.msft.net`.
    let dig = |port: &str| {
        let bind = format!("0.0.0.0#{port}");
        common::run(&[
            "exec",
            "client",
            "--",
            "dig",
            "+short",
            "+tries=1",
            "+time=1",
            "-b",
            &bind,
            "live.com",
            "@198.51.100.2",
        ])
    };
    // Port 1024 gets an answer...
    let ok = dig("1024");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "203.0.113.80",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // ...and port 1023 times out (dig exits 9: no reply).
    let dropped = dig("1023");
    assert_eq!(dropped.status.code(), Some(9), "{}", String::from_utf8_lossy(&dropped.stdout));
    let rules = common::run(&["exec", "msft-edge", "--", "nft", "list", "ruleset"]);
    assert!(String::from_utf8_lossy(&rules.stdout).contains("lowport_drop"));
    let again = common::run(&["up", "msft-lowport"]);
    assert_eq!(again.status.code(), Some(2), "a second lab of the same name must be refused");
    let down = common::run(&["down"]);
    assert_eq!(down.status.code(), Some(0), "{}", String::from_utf8_lossy(&down.stderr));
    settled(&before, ns);
}

#[test]
fn two_runs_at_once_both_pass() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (before, ns) = quiet();
    let spawn = || {
        common::dnslab()
            .args(["run", "msft-lowport", "--resolver", "unbound", "--format", "json"])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "{}", String::from_utf8_lossy(&b.stderr));
    settled(&before, ns);
}
