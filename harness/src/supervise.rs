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

/// Where the supervisor keeps resolver configs, state and logs while a lab
/// runs: a fresh tmpfs on /var/tmp in a private mount namespace. It lives as
/// long as the lab's processes do, so even a SIGKILL leaves no files behind.
pub const SCRATCH: &str = "/var/tmp";

/// In the supervisor, before any thread exists: a private mount namespace
/// (nothing propagates to the host) with a tmpfs on [`SCRATCH`]. Sets
/// `DNSLAB_SCRATCH` for [`scratch_dir`].
pub fn private_scratch() -> std::io::Result<()> {
    use std::ffi::CString;
    let (root, target, fstype) = (CString::new("/")?, CString::new(SCRATCH)?, CString::new("tmpfs")?);
    let opts = CString::new("mode=0700,size=256m")?;
    // SAFETY: plain syscalls with valid C strings; single-threaded here.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        if libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr() as *const libc::c_void,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        std::env::set_var("DNSLAB_SCRATCH", SCRATCH);
    }
    Ok(())
}

/// Where a run's private files go: the supervisor's tmpfs, or the system's
/// temporary directory when a library caller runs a lab itself.
pub fn scratch_dir() -> std::path::PathBuf {
    std::env::var_os("DNSLAB_SCRATCH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// The supervisor's pid, for [`forward`]; 0 until it is started.
static SUPERVISOR: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// In dnslab: pass an ending signal on to the supervisor, whose handler
/// ends the run with 128 + signal; with no supervisor yet, end now.
extern "C" fn forward(sig: libc::c_int) {
    let pid = SUPERVISOR.load(std::sync::atomic::Ordering::SeqCst);
    // SAFETY: kill and _exit are async-signal-safe.
    unsafe {
        if pid > 0 {
            libc::kill(pid, sig);
        } else {
            libc::_exit(128 + sig);
        }
    }
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
        // SIGINT, SIGTERM and SIGHUP, to us alone or to our whole group,
        // end the supervisor, and we return its 128 + signal.
        // SAFETY: installing handlers that only call kill and _exit.
        unsafe {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, forward as *const () as libc::sighandler_t);
            }
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dnslab: cannot start the lab supervisor: {e}");
            return 2;
        }
    };
    SUPERVISOR.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    if detach {
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        if line.is_empty() {
            // It failed before it was up; its exit code says why (stderr is shared).
            return child.wait().ok().and_then(|s| s.code()).unwrap_or(2);
        }
        crate::text::say(format_args!("{line}"));
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        crate::text::say(format_args!("{rest}"));
        return 0;
    }
    match child.wait() {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            eprintln!(
                "dnslab: the lab supervisor was killed by signal {}; the kernel has released the lab",
                s.signal().unwrap_or(0)
            );
            2
        }),
        Err(e) => {
            eprintln!("dnslab: lost the lab supervisor: {e}");
            2
        }
    }
}

/// The supervisor's pid as the host sees it (`kill PID` works on it). Our
/// own pid is 1 in the lab's PID namespace, but `/proc` is still the host's,
/// and its `self` names us in the host's numbering.
pub fn host_pid() -> u32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(std::process::id)
}

/// What `dnslab exec` needs to know about a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInfo {
    pub lab: String,
    /// The supervisor's pid on the host.
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

/// Serves `info`, `status`, `enter NODE` and `down` until asked to go
/// down; `status` answers with what `status()` says, on one line.
/// `enter` answers with the node's network namespace fd and the lab's PID
/// namespace fd over SCM_RIGHTS: no /proc/PID/fd access (which ptrace
/// restrictions may forbid) is needed to join them.
pub fn serve(listener: &UnixListener, info: &LabInfo, status: &dyn Fn() -> String) {
    let pidns = std::fs::File::open("/proc/self/ns/pid").ok();
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
            "status" => {
                let _ = writeln!(w, "{}", status());
            }
            "down" => {
                let _ = writeln!(w, "ok");
                return;
            }
            req if req.starts_with("enter ") => {
                let node = &req["enter ".len()..];
                match (info.nodes.iter().find(|n| n.name == node), &pidns) {
                    (Some(n), Some(p)) => {
                        use std::os::fd::AsRawFd;
                        let _ = send_fds(&conn, &[n.netns_fd, p.as_raw_fd()]);
                    }
                    _ => {
                        let names: Vec<&str> = info.nodes.iter().map(|n| n.name.as_str()).collect();
                        let _ = writeln!(w, "no node `{node}` in lab `{}`; nodes: {}", info.lab, names.join(", "));
                    }
                }
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
    let addr = SocketAddr::from_abstract_name(socket_name(lab).as_bytes()).map_err(|e| e.to_string())?;
    let mut s = UnixStream::connect_addr(&addr).map_err(|e| format!("no lab `{lab}` is up ({e})"))?;
    writeln!(s, "enter {node}").map_err(|e| e.to_string())?;
    let (fds, text) = recv_fds(&s).map_err(|e| format!("lab `{lab}` did not answer: {e}"))?;
    let [net, pid] = fds[..] else {
        return Err(text.trim().to_string());
    };
    // SAFETY: plain syscalls on fds we just received; single-threaded here.
    unsafe {
        if libc::setns(pid, libc::CLONE_NEWPID) != 0 {
            return Err(format!("cannot join the lab's PID namespace: {}", std::io::Error::last_os_error()));
        }
        if libc::setns(net, libc::CLONE_NEWNET) != 0 {
            return Err(format!("cannot enter node `{node}`: {}", std::io::Error::last_os_error()));
        }
        libc::close(net);
        libc::close(pid);
    }
    let (prog, args) = cmd.split_first().ok_or("give a command after `--`")?;
    let status = Command::new(prog).args(args).status().map_err(|e| format!("cannot run `{prog}`: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

const FD_SPACE: usize = 64;

/// sendmsg(2) with SCM_RIGHTS: one byte of data, the fds as ancillary data.
fn send_fds(s: &UnixStream, fds: &[i32]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut byte = [b'F'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut space = [0u8; FD_SPACE];
    // SAFETY: the control buffer is large enough for a few fds (CMSG_SPACE checked below).
    unsafe {
        let len = std::mem::size_of_val(fds) as u32;
        assert!((libc::CMSG_SPACE(len) as usize) <= FD_SPACE);
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = libc::CMSG_SPACE(len) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(len) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c) as *mut i32, fds.len());
        if libc::sendmsg(s.as_raw_fd(), &msg, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The fds sent with [`send_fds`], or the text of an error answer.
fn recv_fds(s: &UnixStream) -> std::io::Result<(Vec<i32>, String)> {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut space = [0u8; FD_SPACE];
    // SAFETY: recvmsg into our own buffers; the cmsg walk stays within msg_controllen.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = FD_SPACE;
        let n = libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<i32>();
                let data = libc::CMSG_DATA(c) as *const i32;
                fds.extend((0..count).map(|i| *data.add(i)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok((fds, String::from_utf8_lossy(&buf[..n as usize]).into_owned()))
    }
}
