//! Helpers shared by the integration tests: run the real `dnslab` binary,
//! and look at the machine the way the before-stop hook does.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn dnslab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dnslab"));
    c.env("DNSLAB_SCENARIOS", repo().join("scenarios"));
    c
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repo root")
}

pub fn run(args: &[&str]) -> Output {
    dnslab().args(args).output().expect("run dnslab")
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every process of a lab's PID namespace (one a dnslab supervisor lives
/// in, other than ours), as `pid:[INODE] COMM`: the lab's processes,
/// zombies among them, whatever their program (a custom binary, a
/// wrapper's shell, valgrind). Other PID namespaces on the host
/// (containers, sandboxes) are not a lab's and are left out.
const LAB_PROCESSES: &str = "ours=$(readlink /proc/$$/ns/pid); labs=$(for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = dnslab ] && readlink $p/ns/pid; done 2>/dev/null | sort -u | grep -vxF \"$ours\"); for p in /proc/[0-9]*; do ns=$(readlink $p/ns/pid 2>/dev/null) && [ -n \"$labs\" ] && echo \"$labs\" | grep -qxF \"$ns\" && echo \"$ns $(cat $p/comm 2>/dev/null)\"; done | sort";

/// [`LAB_PROCESSES`], one a line.
pub fn lab_processes() -> String {
    sh(LAB_PROCESSES)
}

/// Everything of the host that a lab must never change, plus what a lab
/// could leave behind: named namespaces, links, lab processes.
pub fn host_state() -> String {
    [
        "ip -o link show | sed 's/ state .*//'",
        "ip route show table all",
        "ip -6 route show table all",
        "nft list ruleset 2>/dev/null",
        "cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ip_forward",
        "ip netns list",
        // A lab's processes by PID namespace, not by program name: a custom
        // binary, a wrapper's shell or valgrind is caught as well as unbound.
        LAB_PROCESSES,
        "pgrep -f 'target/.*/dnslab ' | grep -v $$ || true",
        // A run's private files live on the supervisor's own tmpfs.
        // (Evidence kept on purpose, and the tests' own files, are not leftovers.)
        "ls -d /tmp/dnslab-* /var/tmp/dnslab-* 2>/dev/null | grep -v -e evidence -e dnslab-test- || true",
    ]
    .iter()
    .map(|c| format!("$ {c}\n{}", sh(c)))
    .collect()
}

/// Network namespaces alive on the machine, by inode: those some thread is
/// in, and those only held by an open fd (how dnslab holds them).
pub fn netns_count() -> usize {
    sh("ls -l /proc/[0-9]*/task/*/ns/net /proc/[0-9]*/fd/ 2>/dev/null | grep -o 'net:\\[[0-9]*\\]' | sort -u | wc -l")
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Waits up to `secs` for `cond`.
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

/// The host's state before a test, once no dnslab of an earlier step is
/// still on its way out (a process ending is no leftover; one that stays
/// 10 s is, and fails the test with what it is).
pub fn quiet() -> (String, usize) {
    // A supervisor on its way out is a zombie for a moment: `pgrep -f`
    // no longer sees it (no command line), its PID namespace still does.
    let alive = || {
        (sh("pgrep -af 'target/.*/dnslab ' | grep -v pgrep || true") + &sh(LAB_PROCESSES))
            .trim()
            .to_string()
    };
    assert!(
        eventually(10, || alive().is_empty()),
        "a dnslab from an earlier test is still alive:\n{}",
        alive()
    );
    (host_state(), netns_count())
}

/// The host as it was `before`, within 5 s: a supervisor that has just
/// ended is a zombie until its parent (the host's init, after `up`) reaps
/// it; one that is still there after 5 s is a leftover.
pub fn settled(before: &str, ns_before: usize) {
    assert!(eventually(3, || netns_count() <= ns_before), "namespaces left: {} > {ns_before}", netns_count());
    eventually(5, || host_state() == before);
    let after = host_state();
    assert_eq!(before, after, "the host changed or something was left behind");
}

/// `pgrep ARGS`: the pids it prints, one a line.
pub fn pgrep(args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new("pgrep").args(args).output().expect("pgrep").stdout)
        .trim()
        .to_string()
}

/// Every registered kind, comma-separated for `--resolver`: a kind added to
/// the registry is covered without touching the tests.
pub fn all_kinds() -> String {
    harness::resolver::Kind::ALL.map(|k| k.name()).join(",")
}

/// A directory of a test's own (`dnslab-test-WHAT-PID` in the temp
/// directory, which the leak checks leave out), removed when dropped, also
/// when the test fails.
pub struct Temp(pub PathBuf);

impl Temp {
    pub fn new(what: &str) -> Temp {
        let p = std::env::temp_dir().join(format!("dnslab-test-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Temp(p)
    }

    /// A file `name` holding `text`.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// An executable script `name` holding `body`.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.file(name, body);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
