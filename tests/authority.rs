//! Our authoritative servers on the wire, as the RFCs say they answer:
//! each test sends a query to a server in a real lab and reads the reply.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use harness::answer::{Rcode, Reply, Status};
use harness::probe::{self, Ask, EdnsAsk};
use harness::scenario::values::Transport;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

const SCENARIO: &str = r#"
name: authority-wire
networks: { net: 203.0.113.0/24 }
nodes:
  client: { interfaces: { net: 203.0.113.10 } }
  root:
    interfaces: { net: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
  ns1:
    # The parent and the child on one server: DS is the parent's to answer.
    interfaces: { net: 203.0.113.2 }
    server: { name: ns1.example.com, zones: [com, example.com], axfr: allow }
zones:
  example.com: |
    $ORIGIN example.com.
    $TTL 3600
    @    IN SOA ns1.example.com. hostmaster.example.com. ( 1 14400 3600 1209600 300 )
    www  IN A 203.0.113.80
"#;

/// A lab with its servers up, and the address of ns1.
struct Up {
    _servers: Vec<harness::nameserver::NameServer>,
    lab: lab::Lab,
    ns1: IpAddr,
    root: IpAddr,
}

fn up() -> Up {
    let s = harness::scenario::parse(std::path::Path::new("authority-wire.yaml"), SCENARIO).unwrap_or_else(|d| panic!("{d}"));
    let harness::run::ServersLab { servers, lab, .. } = harness::run::servers_only(&s).unwrap();
    let (ns1, root) = (s.address("ns1").unwrap(), s.address("root").unwrap());
    Up {
        _servers: servers,
        lab,
        ns1,
        root,
    }
}

fn ask(up: &Up, name: &str, qtype: RecordType, edns: Option<EdnsAsk>) -> Reply {
    ask_at(up, up.ns1, name, qtype, edns, Transport::Udp)
}

fn ask_at(up: &Up, server: IpAddr, name: &str, qtype: RecordType, edns: Option<EdnsAsk>, transport: Transport) -> Reply {
    let mut a = Ask::udp(server, Name::from_ascii(name).unwrap(), qtype, false);
    a.transport = transport;
    a.stub.edns = edns;
    a.timeout = Duration::from_secs(2);
    let r = probe::block_in(&up.lab, "client", move || async move { probe::ask(&a).await }).unwrap();
    assert!(r.rcode.rcode().is_some(), "no answer: {r:?}");
    r
}

/// Sends a message with `op` as its opcode and returns the reply's rcode.
fn with_opcode(up: &Up, op: OpCode) -> hickory_proto::op::ResponseCode {
    let mut m = Message::new(0x4242, MessageType::Query, op);
    m.add_query(Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::SOA));
    let wire = m.to_vec().unwrap();
    let server = up.ns1;
    let reply = probe::block_in(&up.lab, "client", move || async move {
        let sock = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
        sock.send_to(&wire, (server, 53)).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    })
    .unwrap();
    assert_eq!(reply.metadata.op_code, op);
    reply.metadata.response_code
}

#[test]
fn answers_as_the_rfcs_say() {
    let up = up();

    // RFC 6891 6.1.3: an EDNS version we do not speak gets BADVERS, in an OPT of version 0.
    let r = ask(&up, "www.example.com.", RecordType::A, Some(EdnsAsk { version: 1, ..EdnsAsk::DIG }));
    assert_eq!(r.rcode, Status::Rcode(Rcode::BadVers), "{r:?}");
    assert_eq!(r.edns.as_ref().map(|e| e.version), Some(0), "{r:?}");
    assert!(r.answer.is_empty());

    // RFC 3225 3: the DO bit comes back as it went.
    let r = ask(
        &up,
        "www.example.com.",
        RecordType::A,
        Some(EdnsAsk {
            dnssec_ok: true,
            ..EdnsAsk::DIG
        }),
    );
    assert_eq!((r.rcode, r.edns.as_ref().map(|e| e.dnssec_ok)), (Status::NOERROR, Some(true)), "{r:?}");
    let r = ask(&up, "www.example.com.", RecordType::A, Some(EdnsAsk::DIG));
    assert_eq!(r.edns.as_ref().map(|e| e.dnssec_ok), Some(false), "{r:?}");

    // RFC 2308 3: a denial's SOA carries min(SOA TTL, MINIMUM): 300, not 3600.
    for (name, qtype, rcode) in [
        ("nope.example.com.", RecordType::A, Rcode::NxDomain),
        ("www.example.com.", RecordType::AAAA, Rcode::NoError),
    ] {
        let r = ask(&up, name, qtype, Some(EdnsAsk::DIG));
        assert_eq!(r.rcode, Status::Rcode(rcode), "{r:?}");
        let soa: Vec<_> = r.authority.iter().filter(|x| x.rtype == "SOA").collect();
        assert_eq!(soa.len(), 1, "{r:?}");
        assert_eq!((soa[0].name.as_str(), soa[0].ttl), ("example.com.", 300), "{r:?}");
    }

    // RFC 4035 3.1.4.1: DS for example.com is answered from com's side of the
    // cut: no DS there, so NODATA with com's SOA (not example.com's).
    let r = ask(&up, "example.com.", RecordType::DS, Some(EdnsAsk::DIG));
    assert_eq!(r.rcode, Status::NOERROR, "{r:?}");
    assert!(r.answer.is_empty(), "{r:?}");
    assert_eq!(r.authority.iter().find(|x| x.rtype == "SOA").map(|x| x.name.as_str()), Some("com."), "{r:?}");
    // Everything else at the apex is still the child's.
    let r = ask(&up, "example.com.", RecordType::SOA, Some(EdnsAsk::DIG));
    assert_eq!(r.answer.first().map(|x| x.name.as_str()), Some("example.com."), "{r:?}");

    // RFC 1035 4.1.1: only QUERY is served; UPDATE, NOTIFY and STATUS get NOTIMP.
    for op in [OpCode::Update, OpCode::Notify, OpCode::Status] {
        assert_eq!(with_opcode(&up, op), hickory_proto::op::ResponseCode::NotImp, "{op:?}");
    }

    // RFC 5936: a transfer is REFUSED at once by default (the root here)...
    let t = Instant::now();
    let r = ask_at(&up, up.root, ".", RecordType::AXFR, Some(EdnsAsk::DIG), Transport::Tcp);
    assert_eq!(r.rcode, Status::Rcode(Rcode::Refused), "{r:?}");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "REFUSED at once, not after holding the connection: {:?}",
        t.elapsed()
    );
    // ... and served in full where `axfr: allow` says so: SOA, every record, SOA.
    let r = ask_at(&up, up.ns1, "example.com.", RecordType::AXFR, Some(EdnsAsk::DIG), Transport::Tcp);
    assert_eq!(r.rcode, Status::NOERROR, "{r:?}");
    let types: Vec<&str> = r.answer.iter().map(|x| x.rtype.as_str()).collect();
    assert_eq!((types.first(), types.last()), (Some(&"SOA"), Some(&"SOA")), "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "SOA").count(), 2, "{types:?}");
    assert!(r.answer.iter().any(|x| x.name == "www.example.com." && x.data == "203.0.113.80"), "{r:?}");
    assert!(r.answer.iter().any(|x| x.rtype == "NS"), "the apex NS is part of the zone: {r:?}");
    // Over UDP a transfer is not defined (RFC 5936 4.2).
    let r = ask_at(&up, up.ns1, "example.com.", RecordType::AXFR, Some(EdnsAsk::DIG), Transport::Udp);
    assert_eq!(r.rcode, Status::Rcode(Rcode::NotImp), "{r:?}");
}
