//! Dig-like queries from inside a node: a chosen source address and port
//! (exact, a range, or random), UDP or TCP, dig's header and EDNS or the
//! scenario's, a retry over TCP after TC=1, a timeout. Built on hickory-proto
//! for the message and plain tokio sockets for the wire, so the source port
//! is exactly what was asked (`dig -b 0.0.0.0#1023`). What comes back is
//! the whole [`Reply`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::answer::{Attempt, Reply, Status};
use crate::scenario::values::{PortSpec, Transport};

/// The header and EDNS a query goes with, and what the client does with a
/// truncated answer. [`Stub::DIG`] is what `dig` does by default: RD=1,
/// AD=1 (so a validator reports AD, RFC 6840), EDNS version 0 with a
/// 1232-byte buffer, and a retry over TCP after TC=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stub {
    pub rd: bool,
    pub ad: bool,
    pub cd: bool,
    /// `None`: no OPT record at all (`dig +noedns`).
    pub edns: Option<EdnsAsk>,
    /// Retry over TCP when a UDP answer has TC=1; `false` is `dig +ignore`.
    pub tcp_after_tc: bool,
}

/// The OPT record a query carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdnsAsk {
    pub size: u16,
    pub version: u8,
    /// The DO bit (`dig +dnssec`).
    pub dnssec_ok: bool,
}

impl EdnsAsk {
    /// dig's: version 0, a 1232-byte buffer (DNS Flag Day 2020), no DO.
    pub const DIG: EdnsAsk = EdnsAsk {
        size: 1232,
        version: 0,
        dnssec_ok: false,
    };
}

impl Stub {
    pub const DIG: Stub = Stub {
        rd: true,
        ad: true,
        cd: false,
        edns: Some(EdnsAsk::DIG),
        tcp_after_tc: true,
    };

    /// A probe's: `dig +norecurse`.
    pub const NORECURSE: Stub = Stub { rd: false, ..Stub::DIG };

    /// The probes' default, for outcome files written before probes kept theirs.
    pub fn norecurse() -> Stub {
        Stub::NORECURSE
    }

    /// How it differs from `base`, as dig's options (`+bufsize=4096
    /// +ignore`); empty when it does not. Reports put it after the question,
    /// so two probes of one name that differ only here stay apart.
    pub fn dig_options(&self, base: &Stub) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut flag = |on: bool, was: bool, name: &str| {
            if on != was {
                out.push(format!("+{}{name}", if on { "" } else { "no" }));
            }
        };
        flag(self.rd, base.rd, "recurse");
        flag(self.ad, base.ad, "adflag");
        flag(self.cd, base.cd, "cdflag");
        match (self.edns, base.edns) {
            (None, Some(_)) => out.push("+noedns".into()),
            (Some(e), b) => {
                let b = b.unwrap_or(EdnsAsk::DIG);
                if e.size != b.size {
                    out.push(format!("+bufsize={}", e.size));
                }
                if e.version != b.version {
                    out.push(format!("+edns={}", e.version));
                }
                if e.dnssec_ok != b.dnssec_ok {
                    out.push(format!("+{}dnssec", if e.dnssec_ok { "" } else { "no" }));
                }
            }
            (None, None) => {}
        }
        if !self.tcp_after_tc && base.tcp_after_tc {
            out.push("+ignore".into());
        }
        out.join(" ")
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct Ask {
    pub server: IpAddr,
    pub name: Name,
    pub qtype: RecordType,
    pub stub: Stub,
    pub transport: Transport,
    pub source: Option<IpAddr>,
    pub port: PortSpec,
    /// For each attempt: the UDP one, and the TCP one after TC=1 (as dig's
    /// `+timeout` is per try).
    pub timeout: Duration,
    /// Copies of a UDP query sent within the timeout, from the same socket
    /// (dig's `+tries`). Probes use 3, so one lost packet on a fresh link is
    /// not a timeout; queries to resolvers use 1, so a resolver's own time
    /// to give up is measured without a stub's retransmits.
    pub tries: u32,
}

impl Ask {
    /// `dig [+norecurse] NAME TYPE @server` over UDP from a random port,
    /// 1.5 s and two tries.
    pub fn udp(server: IpAddr, name: Name, qtype: RecordType, rd: bool) -> Ask {
        Ask {
            server,
            name,
            qtype,
            stub: Stub { rd, ..Stub::DIG },
            transport: Transport::Udp,
            source: None,
            port: PortSpec::Random,
            timeout: Duration::from_millis(1500),
            tries: 2,
        }
    }

    fn message(&self) -> Message {
        let mut msg = Message::new(rand::rng().random(), MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = self.stub.rd;
        msg.metadata.authentic_data = self.stub.ad;
        msg.metadata.checking_disabled = self.stub.cd;
        msg.add_query(Query::query(self.name.clone(), self.qtype));
        if let Some(e) = self.stub.edns {
            let mut opt = hickory_proto::op::Edns::new();
            opt.set_max_payload(e.size);
            opt.set_version(e.version);
            opt.set_dnssec_ok(e.dnssec_ok);
            msg.edns = Some(opt);
        }
        msg
    }
}

fn pick_port(p: PortSpec) -> u16 {
    match p {
        PortSpec::Exact(p) => p,
        PortSpec::Range(r) => rand::rng().random_range(r.lo..=r.hi),
        PortSpec::Random => 0,
    }
}

fn unspecified(server: IpAddr) -> IpAddr {
    if server.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    }
}

/// Sends one question as a stub does, and returns the whole answer: over
/// the asked transport, and when a UDP answer comes back with TC=1, once
/// more over TCP (as dig and the glibc stub do). Never an `Err`: a timeout,
/// a refused or reset connection, an ICMP error are outcomes. Must run on a
/// runtime inside the node.
pub async fn ask(a: &Ask) -> Reply {
    let (first, mut msg) = attempt(a, a.transport).await;
    // TC=1 as the header said it, even where the rest did not decode.
    let truncated = first.tc;
    let mut attempts = vec![first];
    if a.stub.tcp_after_tc && a.transport == Transport::Udp && truncated {
        let (retry, m) = attempt(a, Transport::Tcp).await;
        attempts.push(retry);
        msg = m;
    }
    match msg {
        Some(m) => Reply::of(&m, attempts),
        None => Reply::none(attempts),
    }
}

/// One exchange on one transport.
async fn attempt(a: &Ask, transport: Transport) -> (Attempt, Option<Message>) {
    let msg = a.message();
    let id = msg.metadata.id;
    let wire = msg.to_vec().expect("a query always encodes");
    let local = SocketAddr::new(a.source.unwrap_or(unspecified(a.server)), pick_port(a.port));
    let start = Instant::now();
    let mut port = local.port();
    let mut connected = false;
    // The TC bit of a reply that is ours but does not decode.
    let mut raw_tc = false;
    let exchange = async {
        match transport {
            Transport::Udp => {
                let sock = udp_socket(local)?;
                port = sock.local_addr()?.port();
                sock.connect((a.server, 53)).await?;
                // Resend from the same socket: a firewall that drops every
                // copy is still a timeout.
                let mut buf = vec![0u8; 65535];
                let interval = a.timeout / a.tries.max(1);
                loop {
                    sock.send(&wire).await?;
                    let wait = async {
                        loop {
                            let n = sock.recv(&mut buf).await?;
                            // Ours: our ID, and QR set. Anything else is not, and is
                            // ignored as dig ignores it.
                            let ours = n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id && buf[2] & 0x80 != 0;
                            if !ours {
                                continue;
                            }
                            return match Message::from_vec(&buf[..n]) {
                                Ok(m) => Ok::<_, std::io::Error>((m, n)),
                                Err(e) => {
                                    raw_tc = buf[2] & 0x02 != 0;
                                    Err(std::io::Error::new(
                                        std::io::ErrorKind::InvalidData,
                                        format!("malformed answer ({n} bytes): {e}"),
                                    ))
                                }
                            };
                        }
                    };
                    if let Ok(r) = tokio::time::timeout(interval, wait).await {
                        return r;
                    }
                }
            }
            Transport::Tcp => {
                let sock = if a.server.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                // Only for a port asked for (see `udp_socket`).
                sock.set_reuseaddr(local.port() != 0)?;
                sock.bind(local)?;
                port = sock.local_addr()?.port();
                let mut s = sock.connect((a.server, 53).into()).await?;
                connected = true;
                // RST on close: no TIME_WAIT, so the next probe can reuse the
                // port. Linger 0 never blocks, which is what the deprecation warns of.
                #[allow(deprecated)]
                s.set_linger(Some(Duration::ZERO))?;
                s.write_all(&(wire.len() as u16).to_be_bytes()).await?;
                s.write_all(&wire).await?;
                let len = s.read_u16().await? as usize;
                let mut buf = vec![0u8; len];
                s.read_exact(&mut buf).await?;
                Message::from_vec(&buf)
                    .map(|m| (m, len))
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("malformed answer ({len} bytes): {e}")))
            }
        }
    };
    let result = tokio::time::timeout(a.timeout, exchange).await;
    let elapsed_ms = start.elapsed().as_millis() as u64;
    let (message, rcode, error, response_bytes) = match result {
        Ok(Ok((m, n))) => {
            let rc = Status::Rcode(m.metadata.response_code.into());
            (Some(m), rc, None, n as u32)
        }
        Ok(Err(e)) => (None, Status::of_error(&e, transport, connected), Some(e.to_string()), 0),
        Err(_) => (None, Status::Timeout, None, 0),
    };
    let attempt = Attempt {
        transport,
        source_port: port,
        query_bytes: wire.len() as u32,
        response_bytes,
        elapsed_ms,
        rcode,
        tc: message.as_ref().map_or(raw_tc, |m| m.metadata.truncation),
        error,
    };
    (attempt, message)
}

/// A UDP socket bound to `local`, with SO_REUSEADDR when `local` names a
/// port: the previous probe from the same port may still be bound for a
/// moment after we closed it (a fork elsewhere in the process, starting a
/// resolver or running nft, holds a copy of every fd until it execs).
/// Never for port 0: with SO_REUSEADDR the kernel may hand two sockets the
/// same ephemeral port, and two questions in flight to the same resolver
/// then share a 4-tuple, so one of them gets the other's answer and times
/// out (seen once in lame-delegation-fixed: the answer reached the client
/// node, the stub waited 20 s).
fn udp_socket(local: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(local), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    s.set_reuse_address(local.port() != 0)?;
    s.set_nonblocking(true)?;
    s.bind(&local.into())?;
    tokio::net::UdpSocket::from_std(s.into())
}

/// Runs an async job on a new thread with its own runtime inside `node`,
/// and waits for it. Sockets it opens belong to the node.
pub fn block_in<T, F, Fut>(lab: &lab::Lab, node: &str, job: F) -> lab::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let handle = lab.thread(node, move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(job())
    })?;
    handle
        .join()
        .map_err(|_| lab::Error::Io {
            what: format!("job in {node}"),
            source: std::io::Error::other("panicked"),
        })?
        .map_err(|e| lab::Error::Io {
            what: format!("enter {node}"),
            source: e,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dig_options_name_only_what_differs() {
        assert_eq!(Stub::NORECURSE.dig_options(&Stub::NORECURSE), "");
        assert_eq!(Stub::DIG.dig_options(&Stub::NORECURSE), "+recurse");
        let big = Stub {
            edns: Some(EdnsAsk { size: 4096, ..EdnsAsk::DIG }),
            tcp_after_tc: false,
            ..Stub::NORECURSE
        };
        assert_eq!(big.dig_options(&Stub::NORECURSE), "+bufsize=4096 +ignore");
        let odd = Stub {
            cd: true,
            edns: Some(EdnsAsk {
                version: 1,
                dnssec_ok: true,
                ..EdnsAsk::DIG
            }),
            ..Stub::DIG
        };
        assert_eq!(odd.dig_options(&Stub::DIG), "+cdflag +edns=1 +dnssec");
        assert_eq!(Stub { edns: None, ..Stub::DIG }.dig_options(&Stub::DIG), "+noedns");
    }
}
