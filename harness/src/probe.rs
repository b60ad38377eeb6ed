//! Dig-like queries from inside a node: a chosen source address and port
//! (exact, a range, or random), UDP or TCP, a timeout. Built on hickory-proto
//! for the message and plain tokio sockets for the wire, so the source port
//! is exactly what was asked (`dig -b 0.0.0.0#1023`).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dns::{rcode_name, TIMEOUT};
use crate::scenario::values::{PortSpec, Transport};

/// What to send.
#[derive(Debug, Clone)]
pub struct Ask {
    pub server: IpAddr,
    pub name: Name,
    pub qtype: RecordType,
    pub recursion_desired: bool,
    pub transport: Transport,
    pub source: Option<IpAddr>,
    pub port: PortSpec,
    pub timeout: Duration,
    /// Copies of a UDP query sent within the timeout, from the same socket
    /// (dig's `+tries`). Probes use 3, so one lost packet on a fresh link is
    /// not a timeout; queries to resolvers use 1, so a resolver's own time
    /// to give up is measured without a stub's retransmits.
    pub tries: u32,
    /// EDNS with this UDP payload size (dig sends 1232), or none.
    pub edns: Option<u16>,
}

/// What came back: an rcode or `TIMEOUT`, and the answer records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub rcode: String,
    pub aa: bool,
    pub answers: Vec<String>,
    pub source_port: u16,
    pub elapsed_ms: u64,
    /// Why there was no DNS answer, if there was none (timeout, connection refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Size of the query and of the response on the wire (DNS message only).
    pub query_bytes: u32,
    pub response_bytes: u32,
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

/// Sends one query and waits for the answer. Never an `Err`: a timeout or a
/// refused connection is an outcome. Must run on a runtime inside the node.
pub async fn ask(a: &Ask) -> Answer {
    exchange(a).await.0
}

/// Like [`ask`], also returning the whole response message, if one came.
pub async fn exchange(a: &Ask) -> (Answer, Option<Message>) {
    let id: u16 = rand::rng().random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = a.recursion_desired;
    msg.add_query(Query::query(a.name.clone(), a.qtype));
    if let Some(size) = a.edns {
        let mut e = hickory_proto::op::Edns::new();
        e.set_max_payload(size);
        msg.edns = Some(e);
    }
    let wire = msg.to_vec().expect("a query always encodes");
    let local = SocketAddr::new(a.source.unwrap_or(unspecified(a.server)), pick_port(a.port));
    let start = Instant::now();
    let mut port = local.port();
    let exchange = async {
        match a.transport {
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
                            match Message::from_vec(&buf[..n]) {
                                Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => return Ok::<_, std::io::Error>((m, n)),
                                _ => continue, // not ours: keep waiting, as dig does
                            }
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
                sock.set_reuseaddr(true)?;
                sock.bind(local)?;
                port = sock.local_addr()?.port();
                let mut s = sock.connect((a.server, 53).into()).await?;
                // RST on close: no TIME_WAIT, so the next probe can reuse the
                // port. Linger 0 never blocks, which is what the deprecation warns of.
                #[allow(deprecated)]
                s.set_linger(Some(Duration::ZERO))?;
                s.write_all(&(wire.len() as u16).to_be_bytes()).await?;
                s.write_all(&wire).await?;
                let len = s.read_u16().await? as usize;
                let mut buf = vec![0u8; len];
                s.read_exact(&mut buf).await?;
                Message::from_vec(&buf).map(|m| (m, len)).map_err(std::io::Error::other)
            }
        }
    };
    let result = tokio::time::timeout(a.timeout, exchange).await;
    let elapsed_ms = start.elapsed().as_millis() as u64;
    // No DNS answer is an outcome: a timeout, or what the socket said
    // (connection refused, ...), never an `Err`.
    let (message, error, response_bytes) = match result {
        Ok(Ok((m, n))) => (Some(m), None, n as u32),
        Ok(Err(e)) => (None, Some(e.to_string()), 0),
        Err(_) => (None, None, 0),
    };
    let answer = Answer {
        rcode: message.as_ref().map_or_else(|| TIMEOUT.into(), |m| rcode_name(m.metadata.response_code)),
        aa: message.as_ref().is_some_and(|m| m.metadata.authoritative),
        answers: message.as_ref().map(|m| m.answers.iter().map(|r| r.to_string()).collect()).unwrap_or_default(),
        source_port: port,
        elapsed_ms,
        error,
        query_bytes: wire.len() as u32,
        response_bytes,
    };
    (answer, message)
}

/// A UDP socket bound to `local` with SO_REUSEADDR. The previous probe from
/// the same port may still be bound for a moment after we closed it: a fork
/// elsewhere in the process (starting a resolver, running nft) holds a copy
/// of every fd until it execs. Connected sockets still get only their own
/// replies: the kernel prefers the exact 4-tuple.
fn udp_socket(local: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(local), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    s.set_reuse_address(true)?;
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
