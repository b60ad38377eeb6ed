//! Processes and threads inside a node. A [`Process`] is killed when its
//! guard drops, and keeps its node's namespace alive while it runs.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::netns::{setns, Netns};

/// How a child process is, as `ps` would show it (`R`/`S`, `T`, gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Running or sleeping: it can make progress.
    Alive,
    /// Stopped by a signal (SIGSTOP, SIGTSTP; state `T` in `/proc`).
    Stopped,
    /// It has ended and has been reaped.
    Exited(ExitStatus),
}

/// A running process in a node; SIGKILLed and reaped on drop.
#[must_use = "dropping the guard kills the process"]
#[derive(Debug)]
pub struct Process {
    child: Child,
    node: String,
    _ns: Arc<Netns>,
}

/// Makes `cmd` start inside `ns` (`ip netns exec`, without the bind mount).
pub fn enter_on_exec(cmd: &mut Command, ns: &Netns) {
    let fd = ns.raw();
    // SAFETY: setns is async-signal-safe; the fd stays open until exec.
    unsafe {
        cmd.pre_exec(move || setns(fd));
    }
}

impl Process {
    pub(crate) fn spawn(node: &str, ns: Arc<Netns>, cmd: &mut Command) -> io::Result<Process> {
        enter_on_exec(cmd, &ns);
        let child = cmd.spawn()?;
        Ok(Process {
            child,
            node: node.to_string(),
            _ns: ns,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Has it exited on its own? (`None` while it runs)
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Reaps it if it has ended, else says whether it is stopped. Uses
    /// `waitid(WSTOPPED | WNOWAIT)`, not `/proc/PID/stat`: inside the lab's
    /// PID namespace our pids are not the host `/proc`'s.
    pub fn state(&mut self) -> io::Result<ProcState> {
        if let Some(s) = self.child.try_wait()? {
            return Ok(ProcState::Exited(s));
        }
        // SAFETY: waitid on our own unreaped child into a zeroed siginfo;
        // WNOWAIT leaves its state for the next wait.
        let stopped = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_PID, self.child.id(), &mut info, flags) != 0 {
                return Err(io::Error::last_os_error());
            }
            info.si_pid() != 0 && info.si_code == libc::CLD_STOPPED
        };
        Ok(if stopped { ProcState::Stopped } else { ProcState::Alive })
    }

    /// SIGTERM (and SIGCONT, for a stopped one), then SIGKILL after
    /// `grace`; returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(s) = self.child.try_wait()? {
            return Ok(s);
        }
        // SAFETY: signalling our own child, not yet reaped. A stopped one
        // (state T) gets SIGTERM only once it is continued.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
            libc::kill(self.child.id() as i32, libc::SIGCONT);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        self.child.wait()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a new OS thread inside `ns`. The thread holds the namespace
/// until it ends; sockets it opens stay in the namespace for their lifetime.
pub fn spawn_thread<T: Send + 'static>(
    name: String,
    ns: Arc<Netns>,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<std::thread::JoinHandle<io::Result<T>>> {
    std::thread::Builder::new().name(name).spawn(move || {
        ns.enter()?;
        let out = f();
        drop(ns);
        Ok(out)
    })
}
