//! Watching the wire: an AF_PACKET socket inside every node records each DNS
//! packet (UDP or TCP, port 53 on either side) the node sends or receives,
//! and every fragment of a DNS datagram, with the kernel's timestamp
//! (`tcpdump -i any 'port 53 or ip[6:2] & 0x3fff != 0 or ip6[6] = 44'`).
//! [`packet`] reads a frame's layers, [`fragments`] puts fragments together.
//!
//! - What a node *sent* is what its sender saw, before any firewall or NAT
//!   further on: [`sent`] turns it into the queries a resolver sent, and the
//!   pcap files in the evidence hold exactly these packets.
//! - What it *received* as well lets [`crate::wire`] follow each message hop
//!   by hop and find where a firewall dropped it.

pub mod fragments;
pub mod packet;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::Message;
use serde::{Deserialize, Serialize};

pub use self::fragments::Frag;
pub use self::packet::{parse_packet, Packet};
use crate::bounded::{Bounded, Overflow, CAPTURE_MAX};
use crate::scenario::values::Transport;

/// One DNS packet a node sent towards port 53.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub at_ms: u64,
    pub dst: IpAddr,
    pub sport: u16,
    pub transport: Transport,
    /// A TCP connection attempt (SYN); it carries no query yet.
    pub syn: bool,
    pub id: Option<u16>,
    pub qname: Option<String>,
    pub qtype: Option<String>,
    /// The EDNS UDP payload size the query offered; `None`: no OPT record.
    pub edns: Option<u16>,
}

/// One Ethernet frame as a node's interface saw it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub node: String,
    pub iface: String,
    /// The kernel's timestamp, nanoseconds since the Unix epoch: fine
    /// enough that two hops of one packet never share it.
    pub ns: u64,
    /// Sent by this node (its own or forwarded), not received.
    pub out: bool,
    pub data: Vec<u8>,
    /// Made by [`fragments::reassemble`] of these fragments; `None`: as the
    /// socket read it.
    pub frag: Option<Frag>,
}

/// Nanoseconds since the Unix epoch, the clock of [`Frame::ns`].
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A running capture; [`Capture::finish`] stops it and returns what it saw.
pub struct Capture {
    node: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Bounded<Frame>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<std::io::Result<()>>>>,
}

impl Capture {
    /// Starts capturing in `node` (`tcpdump -i any port 53`).
    pub fn start(lab: &lab::Lab, node: &str) -> lab::Result<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Bounded::new(CAPTURE_MAX)));
        let (s, out, name) = (stop.clone(), seen.clone(), node.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = lab.thread(node, move || sniff(&name, &s, &out, ready_tx))?;
        let ready = ready_rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("capture thread ended early")));
        ready.map_err(|e| lab::Error::Io {
            what: format!("capture in {node}"),
            source: e,
        })?;
        Ok(Capture {
            node: node.to_string(),
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// Stops every capture and returns all their frames, node by node, each
    /// node's in the order its socket read them (fragments only of DNS
    /// datagrams), and the captures that reached their limit ([`CAPTURE_MAX`]
    /// bytes each).
    /// All are told first: each takes up to its 50 ms receive timeout to
    /// notice, and one after another that added up to most of a second.
    pub fn finish_all(captures: impl IntoIterator<Item = Capture>) -> (Vec<Frame>, Vec<Overflow>) {
        let captures: Vec<Capture> = captures.into_iter().collect();
        for c in &captures {
            c.stop.store(true, Ordering::Relaxed);
        }
        let (mut frames, mut full) = (Vec::new(), Vec::new());
        for c in captures {
            let (f, o) = c.finish();
            frames.extend(f);
            full.extend(o);
        }
        (fragments::dns_only(frames), full)
    }

    /// Stops the capture once it has read every packet already queued.
    pub fn finish(mut self) -> (Vec<Frame>, Option<Overflow>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut seen = self.seen.lock().expect("capture lock");
        let full = seen.overflow(format!("the capture in {}", self.node), "packets");
        (seen.take(), full)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The largest frame kept, and the pcaps' snapshot length.
pub const SNAPLEN: usize = 262_144;

/// `ioctl(SIOCGSTAMPNS)`: the kernel timestamp of the last packet read.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

fn sniff(node: &str, stop: &AtomicBool, out: &Mutex<Bounded<Frame>>, ready: std::sync::mpsc::Sender<std::io::Result<()>>) -> std::io::Result<()> {
    // SAFETY: plain socket syscalls on an fd we own and close below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (libc::ETH_P_ALL as u16).to_be() as i32) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let _ = ready.send(Err(std::io::Error::new(e.kind(), e.to_string())));
        return Err(e);
    }
    let tv = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
    let rcvbuf: libc::c_int = 8 << 20;
    // Without the timeout the thread would never see `stop`: fail instead.
    if unsafe { setopt(fd, libc::SO_RCVTIMEO, &tv) } != 0 {
        let e = std::io::Error::last_os_error();
        unsafe { libc::close(fd) };
        let _ = ready.send(Err(std::io::Error::new(e.kind(), e.to_string())));
        return Err(e);
    }
    unsafe {
        // A burst of queries must not overflow the queue before we read it.
        setopt(fd, libc::SO_RCVBUFFORCE, &rcvbuf);
        // The first SIOCGSTAMPNS turns timestamping on for later packets.
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::ioctl(fd, SIOCGSTAMPNS, &mut ts);
    }
    let _ = ready.send(Ok(()));
    let mut names: HashMap<i32, String> = HashMap::new();
    // Offloads hand over frames larger than 64 KiB; the pcaps' snaplen matches.
    let mut buf = vec![0u8; SNAPLEN];
    loop {
        // Once told to stop, read what is queued without waiting, then end:
        // a packet sent just before the stop is still in the queue.
        let draining = stop.load(Ordering::Relaxed);
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        let flags = if draining { libc::MSG_DONTWAIT } else { 0 };
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                flags,
                &mut sll as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n <= 0 {
            if draining {
                break;
            }
            continue; // the receive timeout: look at `stop` again
        }
        let out_dir = match sll.sll_pkttype {
            libc::PACKET_OUTGOING => true,
            libc::PACKET_HOST => false,
            _ => continue, // broadcast, multicast, another host's
        };
        if sll.sll_ifindex == 1 || !kept(&buf[..n as usize]) {
            continue; // loopback, or not DNS
        }
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        let ns = match unsafe { libc::ioctl(fd, SIOCGSTAMPNS, &mut ts) } {
            0 if ts.tv_sec > 0 => ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
            _ => now_ns(),
        };
        let iface = names.entry(sll.sll_ifindex).or_insert_with(|| if_name(sll.sll_ifindex)).clone();
        let frame = Frame {
            node: node.to_string(),
            iface,
            ns,
            out: out_dir,
            data: buf[..n as usize].to_vec(),
            frag: None,
        };
        out.lock().expect("capture lock").push(frame, n as usize);
    }
    unsafe { libc::close(fd) };
    Ok(())
}

unsafe fn setopt<T>(fd: i32, opt: i32, v: &T) -> i32 {
    unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, opt, v as *const T as *const libc::c_void, std::mem::size_of::<T>() as u32) }
}

/// The interface's name in this thread's namespace (`ip link`).
fn if_name(index: i32) -> String {
    let mut b = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer is IF_NAMESIZE long, as if_indextoname needs.
    let p = unsafe { libc::if_indextoname(index as u32, b.as_mut_ptr()) };
    if p.is_null() {
        return format!("if{index}");
    }
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A DNS packet, or any IP fragment: a fragment after the first has no
/// ports, so which are DNS is told once all are in ([`fragments::dns_only`]).
fn kept(f: &[u8]) -> bool {
    packet::piece(f).is_some() || parse_packet(f).is_some_and(|p| p.sport == 53 || p.dport == 53)
}

/// The queries among `frames` (reassembled: [`fragments::reassemble`]) that
/// `node` sent, `at_ms` counted from `t0_ns`.
pub fn sent<F: std::borrow::Borrow<Frame>>(frames: &[F], node: &str, t0_ns: u64) -> Vec<Sent> {
    frames
        .iter()
        .map(|f| f.borrow())
        .filter(|f| f.out && f.node == node)
        .filter_map(|f| {
            let mut s = parse(f.whole()?)?;
            s.at_ms = f.ns.saturating_sub(t0_ns) / 1_000_000;
            Some(s)
        })
        .collect()
}

/// A query towards port 53: its destination, ports and question.
pub fn parse_frame(f: &[u8]) -> Option<Sent> {
    parse(parse_packet(f)?)
}

fn parse(p: Packet<'_>) -> Option<Sent> {
    if p.dport != 53 {
        return None;
    }
    let mut s = Sent {
        at_ms: 0,
        dst: p.dst,
        sport: p.sport,
        transport: p.transport,
        syn: p.syn,
        id: None,
        qname: None,
        qtype: None,
        edns: None,
    };
    if !p.syn {
        let m = Message::from_vec(p.dns).ok()?;
        let q = m.queries.first()?;
        s.id = Some(m.metadata.id);
        s.qname = Some(q.name().to_string());
        s.qtype = Some(q.query_type().to_string());
        s.edns = m.edns.as_ref().map(|e| e.max_payload());
    }
    Some(s)
}
