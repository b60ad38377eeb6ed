//! The lifecycle that cannot leak. A command that builds a lab re-executes
//! dnslab as PID 1 of a new PID namespace (the *supervisor*). Every process
//! of the lab is its descendant, and every namespace is held by its fds, so:
//!
//! - if the supervisor dies, even by SIGKILL, the kernel kills every process
//!   in its PID namespace and frees every network namespace with its veths
//!   and nft tables;
//! - if the dnslab that started it dies, `PR_SET_PDEATHSIG` kills the
//!   supervisor (except for `dnslab up`, whose supervisor is meant to stay).
//!
//! `dnslab up` leaves the supervisor running and reachable on the abstract
//! unix socket `@dnslab/<lab>` (it vanishes with the process; nothing on
//! disk). `dnslab exec` asks it for a node's namespace and enters it;
//! `dnslab down` asks it to exit.

use std::io::{BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// Set in the supervisor's environment; its value is the mode.
pub const ENV: &str = "DNSLAB_SUPERVISOR";

/// Are we the supervisor (PID 1 of the lab's PID namespace)?
pub fn is_supervisor() -> bool {
    std::env::var_os(ENV).is_some()
}

extern "C" fn exit_now(sig: libc::c_int) {
    // PID 1 ignores signals it has no handler for; this one ends the run at
    // once and lets the kernel tear the lab down.
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

/// In the supervisor: make Ctrl-C and SIGTERM end it (PID 1 would ignore them).
pub fn install_exit_handlers() {
    // SAFETY: installing a handler that only calls _exit.
    unsafe {
        libc::signal(libc::SIGINT, exit_now as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, exit_now as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, exit_now as *const () as libc::sighandler_t);
    }
}

/// Runs this same command line again as the supervisor and returns its exit
/// code. `detach`: for `up`; the supervisor outlives us, and we return once
/// it has written its first line (which we print).
pub fn reexec(detach: bool) -> i32 {
    // SAFETY: unshare before any other thread exists; only our next child
    // enters the new PID namespace, as its PID 1.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        eprintln!("dnslab: cannot create a PID namespace ({}); dnslab needs root", std::io::Error::last_os_error());
        return 2;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("dnslab: cannot find my own executable: {e}");
            return 2;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(ENV, if detach { "up" } else { "run" });
    if detach {
        cmd.stdout(Stdio::piped()).stdin(Stdio::null());
        // SAFETY: setsid is async-signal-safe; detaches from our terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    } else {
        // SAFETY: prctl is async-signal-safe. (getppid() is 0 for PID 1 of
        // a new namespace, so the usual "did the parent already die" check
        // cannot be made here; the window is the fork-to-prctl instant.)
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // The terminal's Ctrl-C reaches the supervisor too; we wait for it.
        // SAFETY: ignoring a signal in this process only.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dnslab: cannot start the lab supervisor: {e}");
            return 2;
        }
    };
    if detach {
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        if line.is_empty() {
            // It failed before it was up; its exit code says why (stderr is shared).
            return child.wait().ok().and_then(|s| s.code()).unwrap_or(2);
        }
        print!("{line}");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        print!("{rest}");
        return 0;
    }
    match child.wait() {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            eprintln!("dnslab: the lab supervisor was killed by signal {}; the kernel has released the lab", s.signal().unwrap_or(0));
            2
        }),
        Err(e) => {
            eprintln!("dnslab: lost the lab supervisor: {e}");
            2
        }
    }
}

/// What `dnslab exec` needs to know about a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInfo {
    pub lab: String,
    pub pid: u32,
    pub nodes: Vec<NodeInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub addresses: Vec<std::net::IpAddr>,
    /// The supervisor's fd that holds the node's network namespace.
    pub netns_fd: i32,
}

fn socket_name(lab: &str) -> String {
    format!("dnslab/{lab}")
}

/// In the supervisor of `dnslab up`: claim the lab's name. Fails if a lab of
/// that name is already up.
pub fn claim(lab: &str) -> std::io::Result<UnixListener> {
    let addr = SocketAddr::from_abstract_name(socket_name(lab).as_bytes())?;
    UnixListener::bind_addr(&addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(e.kind(), format!("a lab named `{lab}` is already up; `dnslab down {lab}` first"))
        } else {
            e
        }
    })
}

/// Serves `info` and `down` until asked to go down.
pub fn serve(listener: UnixListener, info: &LabInfo) {
    for conn in listener.incoming().flatten() {
        let mut line = String::new();
        let mut reader = BufReader::new(&conn);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let mut w = &conn;
        match line.trim() {
            "info" => {
                let _ = writeln!(w, "{}", serde_json::to_string(info).expect("serializable"));
            }
            "down" => {
                let _ = writeln!(w, "ok");
                return;
            }
            _ => {}
        }
    }
}

/// Names of the labs that are up (from the kernel's list of unix sockets).
pub fn labs_up() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let mut labs: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(7))
        .filter_map(|p| p.strip_prefix("@dnslab/"))
        .map(String::from)
        .collect();
    labs.sort();
    labs.dedup();
    labs
}

/// Sends one request to a running lab and returns its one-line answer.
pub fn ask(lab: &str, request: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from_abstract_name(socket_name(lab).as_bytes())?;
    let mut s = UnixStream::connect_addr(&addr).map_err(|e| std::io::Error::new(e.kind(), format!("no lab `{lab}` is up ({e})")))?;
    writeln!(s, "{request}")?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    Ok(line)
}

/// Picks the lab to talk to: the named one, or the only one that is up.
pub fn pick(lab: Option<&str>) -> Result<String, String> {
    if let Some(l) = lab {
        return Ok(l.to_string());
    }
    match labs_up().as_slice() {
        [] => Err("no lab is up; start one with `dnslab up NAME`".into()),
        [one] => Ok(one.clone()),
        many => Err(format!("several labs are up ({}); say which with --lab", many.join(", "))),
    }
}

/// `dnslab exec`: enter a node of a running lab (its network namespace, and
/// the lab's PID namespace so `down` ends the command too) and run `cmd`.
pub fn exec_in(lab: &str, node: &str, cmd: &[String]) -> Result<i32, String> {
    let info: LabInfo = serde_json::from_str(&ask(lab, "info").map_err(|e| e.to_string())?).map_err(|e| format!("bad answer from lab `{lab}`: {e}"))?;
    let n = info.nodes.iter().find(|n| n.name == node).ok_or_else(|| {
        format!("no node `{node}` in lab `{lab}`; nodes: {}", info.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", "))
    })?;
    let net = std::fs::File::open(format!("/proc/{}/fd/{}", info.pid, n.netns_fd)).map_err(|e| format!("cannot reach node `{node}`: {e}"))?;
    let pid = std::fs::File::open(format!("/proc/{}/ns/pid", info.pid)).map_err(|e| format!("cannot reach lab `{lab}`: {e}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscalls; this process is single-threaded here.
    unsafe {
        if libc::setns(pid.as_raw_fd(), libc::CLONE_NEWPID) != 0 {
            return Err(format!("cannot join the lab's PID namespace: {}", std::io::Error::last_os_error()));
        }
        if libc::setns(net.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return Err(format!("cannot enter node `{node}`: {}", std::io::Error::last_os_error()));
        }
    }
    let (prog, args) = cmd.split_first().ok_or("give a command after `--`")?;
    let status = Command::new(prog).args(args).status().map_err(|e| format!("cannot run `{prog}`: {e}"))?;
    Ok(status.code().unwrap_or(1))
}
