//! Watching the wire: an AF_PACKET socket inside a node records every DNS
//! query the node sends (UDP datagrams, TCP SYNs and TCP queries), as the
//! sender saw it, before any firewall or NAT. Matched against what servers
//! received, this tells which queries were lost on the way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hickory_proto::op::Message;
use serde::{Deserialize, Serialize};

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
}

/// A running capture; [`Capture::finish`] stops it and returns what it saw.
pub struct Capture {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Sent>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<std::io::Result<()>>>>,
}

impl Capture {
    /// Starts capturing in `node` (`tcpdump -i any -Q out dst port 53`).
    pub fn start(lab: &lab::Lab, node: &str, t0: Instant) -> lab::Result<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), seen.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = lab.thread(node, move || sniff(&s, &out, t0, ready_tx))?;
        let ready = ready_rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("capture thread ended early")));
        ready.map_err(|e| lab::Error::Io {
            what: format!("capture in {node}"),
            source: e,
        })?;
        Ok(Capture {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    pub fn finish(mut self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.seen.lock().expect("capture lock"))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn sniff(stop: &AtomicBool, out: &Mutex<Vec<Sent>>, t0: Instant, ready: std::sync::mpsc::Sender<std::io::Result<()>>) -> std::io::Result<()> {
    // SAFETY: plain socket syscalls on an fd we own and close below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (libc::ETH_P_ALL as u16).to_be() as i32) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let _ = ready.send(Err(std::io::Error::new(e.kind(), e.to_string())));
        return Err(e);
    }
    let tv = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of_val(&tv) as u32,
        )
    };
    let _ = ready.send(Ok(()));
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut sll as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n <= 0 || sll.sll_pkttype != libc::PACKET_OUTGOING || sll.sll_ifindex == 1 {
            continue; // timeout, an incoming packet, or loopback
        }
        if let Some(mut s) = parse_frame(&buf[..n as usize]) {
            s.at_ms = t0.elapsed().as_millis() as u64;
            out.lock().expect("capture lock").push(s);
        }
    }
    unsafe { libc::close(fd) };
    Ok(())
}

/// Ethernet -> IPv4/IPv6 -> UDP/TCP to port 53 -> DNS question.
pub fn parse_frame(f: &[u8]) -> Option<Sent> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let ip = f.get(14..)?;
    let (dst, proto, l4): (IpAddr, u8, &[u8]) = match ethertype {
        0x0800 => {
            let ihl = ((ip.first()? & 0x0f) as usize) * 4;
            let dst = Ipv4Addr::new(*ip.get(16)?, *ip.get(17)?, *ip.get(18)?, *ip.get(19)?);
            (dst.into(), *ip.get(9)?, ip.get(ihl..)?)
        }
        0x86dd => {
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (Ipv6Addr::from(d).into(), *ip.get(6)?, ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    if dport != 53 {
        return None;
    }
    let (transport, syn, dns) = match proto {
        17 => (Transport::Udp, false, l4.get(8..)?),
        6 => {
            let off = ((l4.get(12)? >> 4) as usize) * 4;
            let flags = *l4.get(13)?;
            let payload = l4.get(off..)?;
            if flags & 0x02 != 0 && flags & 0x10 == 0 {
                (Transport::Tcp, true, &[][..])
            } else if payload.len() > 2 {
                (Transport::Tcp, false, &payload[2..])
            } else {
                return None;
            }
        }
        _ => return None,
    };
    let mut s = Sent {
        at_ms: 0,
        dst,
        sport,
        transport,
        syn,
        id: None,
        qname: None,
        qtype: None,
    };
    if !syn {
        let m = Message::from_vec(dns).ok()?;
        let q = m.queries.first()?;
        s.id = Some(m.metadata.id);
        s.qname = Some(q.name().to_string());
        s.qtype = Some(q.query_type().to_string());
    }
    Some(s)
}
