//! Our authoritative servers: hickory-server in the server's node, answering
//! from [`crate::authority::lookup`] and logging every query it receives,
//! with source address and port, transport, name, type, rcode and AA.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use serde::{Deserialize, Serialize};

use crate::authority::{lame_reply, lookup, Reply, ReplyKind};
use crate::dns::rcode_name;
use crate::scenario::values::{Lame, Transport};
use crate::zone::Zone;

/// One query as a server received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The server's host name, e.g. `ns1.msft.net`.
    pub server: String,
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub src: SocketAddr,
    pub transport: Transport,
    pub id: u16,
    pub qname: String,
    pub qtype: String,
    pub rcode: String,
    pub aa: bool,
    pub reply: ReplyKind,
}

/// Every query the servers received, up to [`crate::bounded::QUERY_LOG_MAX`].
pub type Log = Arc<Mutex<crate::bounded::Bounded<Received>>>;

/// An empty query log.
pub fn new_log() -> Log {
    Arc::new(Mutex::new(crate::bounded::Bounded::new(crate::bounded::QUERY_LOG_MAX)))
}

struct Handler {
    hostname: String,
    zones: Vec<Zone>,
    policy: Policy,
    log: Log,
    t0: Instant,
}

/// How a server departs from plainly serving its zones: the zones it is
/// named for without serving them, how it answers for them, and the root
/// servers an upward referral names; and whether it gives zone transfers.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub lame: Vec<(Name, Lame)>,
    pub roots: Vec<Name>,
    /// AXFR and IXFR over TCP (`server: {axfr: allow}`); REFUSED otherwise.
    pub axfr: bool,
}

/// What the server reports for a response it could not send.
pub(crate) fn info_of(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

fn failed(req: &Request) -> ResponseInfo {
    let mut m = Metadata::response_from_request(&req.metadata);
    m.response_code = ResponseCode::ServFail;
    info_of(m)
}

/// The EDNS of a response: mirrors the query's, so a UDP answer may exceed
/// 512 bytes when the client said it can take it (hickory caps it otherwise).
/// It is always version 0, ours, and echoes the DO bit (RFC 3225 3).
pub(crate) fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|q| {
        let mut e = Edns::new();
        e.set_max_payload(q.max_payload().max(512));
        e.set_dnssec_ok(q.flags().dnssec_ok);
        e
    })
}

/// A zone transfer (RFC 5936): the zone's SOA, every record, the SOA again,
/// in one message over TCP; IXFR is answered the same way (RFC 1995 4).
/// REFUSED at once unless the server allows it, NOTIMP over UDP, NOTAUTH
/// for a zone it does not serve.
fn transfer(zones: &[&Zone], qname: &Name, allowed: bool, protocol: Protocol) -> Reply {
    if !allowed {
        return Reply::error(ResponseCode::Refused);
    }
    if protocol != Protocol::Tcp {
        return Reply::error(ResponseCode::NotImp);
    }
    let Some(z) = zones.iter().find(|z| &z.origin == qname) else {
        return Reply::error(ResponseCode::NotAuth);
    };
    let soa: Vec<&Record> = z.records.iter().filter(|r| r.name == z.origin && r.record_type() == RecordType::SOA).collect();
    let rest = z.records.iter().filter(|r| r.record_type() != RecordType::SOA);
    let mut r = Reply::answer(soa.iter().copied().chain(rest).chain(soa.iter().copied()).cloned().collect());
    r.aa = true;
    r
}

/// What a server says before it looks anything up: BADVERS to an EDNS
/// version it does not speak (RFC 6891 6.1.3), NOTIMP to an opcode other
/// than QUERY (UPDATE, NOTIFY, STATUS: RFC 1035 4.1.1).
fn refuse_early(request: &Request) -> Option<ResponseCode> {
    if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return Some(ResponseCode::BADVERS);
    }
    (request.metadata.op_code != OpCode::Query).then_some(ResponseCode::NotImp)
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let edns = response_edns(request);
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let Ok(info) = request.request_info() else {
            let msg = builder.error_msg(&request.metadata, ResponseCode::FormErr);
            return response.send_response(msg).await.unwrap_or_else(|_| failed(request));
        };
        let qname: Name = info.query.name().into();
        let qtype = info.query.query_type();
        let zones: Vec<&Zone> = self.zones.iter().collect();
        let reply = match refuse_early(request) {
            Some(rcode) => Reply::error(rcode),
            None if matches!(qtype, RecordType::AXFR | RecordType::IXFR) => transfer(&zones, &qname, self.policy.axfr, request.protocol()),
            None => lame_reply(&zones, &self.policy.lame, &self.policy.roots, &qname).unwrap_or_else(|| lookup(&zones, &qname, qtype)),
        };
        let received = Received {
            server: self.hostname.clone(),
            at_ms: self.t0.elapsed().as_millis() as u64,
            src: request.src(),
            transport: if request.protocol() == Protocol::Tcp {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            id: request.metadata.id,
            qname: qname.to_string(),
            qtype: qtype.to_string(),
            rcode: rcode_name(reply.rcode),
            aa: reply.aa,
            reply: reply.kind,
        };
        // Its size as kept: the fixed fields and the name.
        let size = std::mem::size_of::<Received>() + received.qname.len();
        self.log.lock().expect("log lock").push(received, size);
        if reply.kind == ReplyKind::NoReply {
            let mut m = Metadata::response_from_request(&request.metadata);
            m.response_code = ResponseCode::NoError;
            return info_of(m);
        }
        if matches!(reply.kind, ReplyKind::Refused | ReplyKind::Error) {
            let msg = builder.error_msg(&request.metadata, reply.rcode);
            return response.send_response(msg).await.unwrap_or_else(|_| failed(request));
        }
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.authoritative = reply.aa;
        meta.response_code = reply.rcode;
        let msg = builder.build(meta, reply.answers.iter(), reply.authority.iter(), [], reply.additional.iter());
        response.send_response(msg).await.unwrap_or_else(|_| failed(request))
    }
}

/// A running server; stops when dropped.
#[must_use = "dropping the guard stops the server"]
pub struct NameServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<std::io::Result<()>>>>,
}

/// Starts serving `zones` on port 53 of every address, UDP and TCP, inside
/// `node`. Returns once the sockets are bound.
#[allow(clippy::too_many_arguments)]
pub fn start(
    lab: &lab::Lab,
    node: &str,
    hostname: &Name,
    addrs: Vec<IpAddr>,
    zones: Vec<Zone>,
    policy: Policy,
    log: Log,
    t0: Instant,
) -> lab::Result<NameServer> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = Handler {
        hostname: hostname.to_string().trim_end_matches('.').to_string(),
        zones,
        policy,
        log,
        t0,
    };
    let thread = lab.thread(node, move || -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let mut server = hickory_server::Server::new(handler);
            let bound: std::io::Result<()> = async {
                for a in &addrs {
                    // Bound to the address itself: resolvers ignore replies from another source.
                    server.register_socket(tokio::net::UdpSocket::bind((*a, 53)).await?);
                    server.register_listener(tokio::net::TcpListener::bind((*a, 53)).await?, Duration::from_secs(5), 32);
                }
                Ok(())
            }
            .await;
            let failed = bound.is_err();
            let _ = ready_tx.send(bound);
            if !failed {
                let _ = stopped.await;
            }
            let _ = server.shutdown_gracefully().await;
        });
        Ok(())
    })?;
    let bound = ready_rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("server thread ended early")));
    bound.map_err(|e| lab::Error::Io {
        what: format!("serve DNS in {node}"),
        source: e,
    })?;
    Ok(NameServer {
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for NameServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
