//! Network namespaces held only by file descriptor. There is no bind mount
//! under /run/netns (`ip netns add` makes one), so when the last holder
//! closes its fd, or dies, the kernel frees the namespace and every veth,
//! address, route and nft table in it. That is what makes a lab leak-proof
//! even under SIGKILL.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// An anonymous network namespace (`unshare --net`, kept open by fd).
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
}

impl Netns {
    /// The namespace the calling thread is in now (`/proc/thread-self/ns/net`).
    pub fn current() -> io::Result<Netns> {
        Ok(Netns {
            fd: File::open("/proc/thread-self/ns/net")?.into(),
        })
    }

    /// Creates `n` new namespaces. Runs on a throwaway thread, because
    /// `unshare(CLONE_NEWNET)` moves the calling thread into each one.
    pub fn create(n: usize) -> io::Result<Vec<Netns>> {
        std::thread::spawn(move || {
            (0..n)
                .map(|_| {
                    // SAFETY: plain syscall; affects only this thread.
                    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Netns::current()
                })
                .collect()
        })
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
    }

    /// Moves the calling thread into this namespace (`nsenter --net`).
    /// Never call it on a thread shared with other work, such as a tokio worker.
    pub fn enter(&self) -> io::Result<()> {
        setns(self.fd.as_raw_fd())
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `setns(fd, CLONE_NEWNET)`; async-signal-safe, so usable in `pre_exec`.
pub fn setns(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall on a caller-owned fd.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `net.*` sysctls for the namespace the calling thread is in:
/// /proc/sys/net resolves to the opener's namespace.
pub fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}
