//! The built-in resolver: hickory-resolver's recursor, served on port 53 of
//! its node by hickory-server. It runs on a thread inside the node (the
//! recursor opens sockets lazily, so its runtime must live there), and a
//! [`RuntimeProvider`] of ours picks the source address and port of every
//! upstream socket, which is how `source_ports` is honoured. It listens on
//! every address of its node and sends from the first of each family.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_net::runtime::{RuntimeProvider, TokioHandle, TokioRuntimeProvider, TokioTime};
use hickory_proto::op::{Metadata, ResponseCode};
use hickory_proto::rr::{Name, Record};
use hickory_resolver::recursor::{Recursor, RecursorOptions};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use ipnet::IpNet;
use lab::Ports;
use rand::Rng;

use super::caps::{Can, Capabilities, PortKnob};
use super::registry::{Adapter, Declared};
use super::{Guard, Running, Spec};
use crate::nameserver::{info_of, response_edns};
use crate::zone::Zone;

pub(super) const ADAPTER: &dyn Adapter = &Declared {
    caps: CAPS,
    template: None,
    start,
};

/// Ours: what the adapter wires into hickory-resolver's recursor and the
/// hickory-server handler in front of it.
const CAPS: Capabilities = Capabilities {
    program: None,
    low_ports: Can::Yes("PortPicker, our RuntimeProvider, binds every upstream socket"),
    acl: Can::Yes("checked per request by our handler"),
    ports: PortKnob::Own("PortPicker"),
    local_zones: Can::Yes("answered by our handler"),
    ipv6: Can::Yes("PortPicker's source address per family"),
    edns_buffer: Can::Yes("RecursorOptions::edns_payload_len"),
    edns_max: None,
    tcp_first: Can::No("hickory's recursor has no setting that sends every query over TCP"),
    tcp_off: Can::No("hickory's recursor retries a truncated answer over TCP; no setting turns that off"),
    dnssec_validation: Can::Yes("DnssecPolicyConfig with a TrustAnchors of the lab's root"),
    negative_trust_anchors: Can::No("hickory 0.26 has no negative trust anchors"),
    extra_config: Can::No("hickory runs in dnslab's own process: it has no config file to add to"),
    syntax: super::options::Syntax::OPAQUE,
};

/// The recursor's own timeouts are fixed (5 s per server set); a lab query
/// must end sooner, as SERVFAIL.
const RESOLVE_BOUND: Duration = Duration::from_secs(4);

/// Binds every upstream socket to the node's first address of the server's
/// family and a port from the scenario's range (or the kernel's choice).
#[derive(Clone)]
struct PortPicker {
    inner: TokioRuntimeProvider,
    src4: Option<IpAddr>,
    src6: Option<IpAddr>,
    ports: Option<Ports>,
}

impl PortPicker {
    fn port(&self, suggested: u16) -> u16 {
        match self.ports {
            Some(p) => rand::rng().random_range(p.lo..=p.hi),
            None => suggested,
        }
    }
    /// The source address towards `server`; with none of its family the
    /// unspecified one, and the kernel says the network is unreachable.
    fn src(&self, server: SocketAddr) -> IpAddr {
        match server {
            SocketAddr::V4(_) => self.src4.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            SocketAddr::V6(_) => self.src6.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
        }
    }
}

impl RuntimeProvider for PortPicker {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = tokio::net::UdpSocket;
    type Tcp = AsyncIoTokioAsStd<tokio::net::TcpStream>;

    fn create_handle(&self) -> Self::Handle {
        self.inner.create_handle()
    }

    fn connect_tcp(
        &self,
        server: SocketAddr,
        _bind: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        let port = if self.ports.is_some() { self.port(0) } else { 0 };
        self.inner.connect_tcp(server, Some(SocketAddr::new(self.src(server), port)), timeout)
    }

    fn bind_udp(&self, local: SocketAddr, server: SocketAddr) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        self.inner.bind_udp(SocketAddr::new(self.src(server), self.port(local.port())), server)
    }
}

struct Front {
    recursor: Arc<Recursor<PortPicker>>,
    /// Who may ask for recursion; empty: anyone.
    allow: Vec<IpNet>,
    /// Zones answered from here, never recursed.
    local: Vec<Zone>,
}

#[async_trait::async_trait]
impl RequestHandler for Front {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let edns = response_edns(request);
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.recursion_available = true;
        let Ok(ri) = request.request_info() else {
            meta.response_code = ResponseCode::FormErr;
            return response.send_response(builder.build_no_records(meta)).await.unwrap_or_else(|_| info_of(meta));
        };
        let query = ri.query.original().clone();
        // Local zones first, as the other resolvers' own local zones do.
        let qname: Name = ri.query.name().into();
        let local: Vec<&Zone> = self.local.iter().collect();
        if local.iter().any(|z| z.origin.zone_of(&qname)) {
            let reply = crate::authority::lookup(&local, &qname, ri.query.query_type());
            meta.authoritative = reply.aa;
            meta.response_code = reply.rcode;
            let msg = builder.build(meta, reply.answers.iter(), reply.authority.iter(), [], reply.additional.iter());
            return response.send_response(msg).await.unwrap_or_else(|_| info_of(meta));
        }
        let allowed = self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&request.src().ip()));
        // Readiness checks and cache peeks (RD=0) are not recursed, nor is
        // anyone the scenario's `allow:` leaves out.
        if !request.metadata.recursion_desired || !allowed {
            meta.response_code = ResponseCode::Refused;
            return response.send_response(builder.build_no_records(meta)).await.unwrap_or_else(|_| info_of(meta));
        }
        let result = tokio::time::timeout(RESOLVE_BOUND, self.recursor.resolve(query, Instant::now(), false)).await;
        let (answers, authority): (Vec<Record>, Vec<Record>) = match result {
            Ok(Ok(msg)) => {
                meta.response_code = msg.metadata.response_code;
                (msg.answers.clone(), vec![])
            }
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => {
                meta.response_code = if e.is_nx_domain() { ResponseCode::NXDomain } else { ResponseCode::NoError };
                let soa = e.into_soa().map(|s| (*s).into_record_of_rdata());
                (vec![], soa.into_iter().collect())
            }
            Ok(Err(_)) | Err(_) => {
                meta.response_code = ResponseCode::ServFail;
                (vec![], vec![])
            }
        };
        let msg = builder.build(meta, answers.iter(), authority.iter(), [], []);
        response.send_response(msg).await.unwrap_or_else(|_| info_of(meta))
    }
}

fn start(spec: &Spec) -> Result<Running, String> {
    let roots: Vec<IpAddr> = spec.hints.iter().map(|(_, a)| *a).collect();
    if roots.is_empty() {
        return Err("the scenario has no server for the root zone `.`".into());
    }
    let (addrs, src4, src6, ports) = (spec.addrs.to_vec(), spec.v4(), spec.v6(), spec.source_ports);
    let (allow, local, edns_size) = (spec.allow.to_vec(), spec.local_zones.to_vec(), spec.edns_size);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = spec
        .lab
        .thread(spec.node, move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let provider = PortPicker {
                    inner: TokioRuntimeProvider::new(),
                    src4,
                    src6,
                    ports,
                };
                // The default deny list holds every documentation range the lab uses.
                let mut options = RecursorOptions {
                    deny_server: vec![],
                    ..RecursorOptions::default()
                };
                if let Some(n) = edns_size {
                    options.edns_payload_len = n;
                }
                let recursor = match Recursor::with_options(&roots, options, provider) {
                    Ok(r) => Arc::new(r),
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                let mut server = hickory_server::Server::new(Front { recursor, allow, local });
                let mut bound = Ok(());
                for &addr in &addrs {
                    let listen = async {
                        server.register_socket(tokio::net::UdpSocket::bind((addr, 53)).await?);
                        server.register_listener(tokio::net::TcpListener::bind((addr, 53)).await?, Duration::from_secs(5), 32);
                        Ok::<_, io::Error>(())
                    };
                    if let Err(e) = listen.await {
                        bound = Err(format!("cannot listen on {}: {e}", SocketAddr::new(addr, 53)));
                        break;
                    }
                }
                let ok = bound.is_ok();
                let _ = ready_tx.send(bound);
                if ok {
                    let _ = stopped.await;
                }
                let _ = server.shutdown_gracefully().await;
            })
        })
        .map_err(|e| e.to_string())?;
    ready_rx.recv().unwrap_or_else(|_| Err("hickory resolver thread ended early".into()))?;
    let guard = InProcess {
        stop: Some(stop),
        thread: Some(thread),
    };
    Ok(Running {
        name: spec.build.name.clone(),
        version: format!("hickory-resolver {}", hickory_version()),
        wrapped: false,
        log: None,
        log_dropped: None,
        config: None,
        guard: Guard::InProcess(Box::new(guard)),
    })
}

fn hickory_version() -> &'static str {
    "0.26"
}

struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
