//! A real iterative walk through the lab's root, TLD and authoritative
//! servers, done by hand from the client with RD=0, checking on the wire
//! that referrals carry NS in authority, glue in additional and no AA.

use std::net::IpAddr;
use std::time::Duration;

use harness::answer::{Flag, Reply};
use harness::probe::{self, Ask};
use harness::scenario;
use hickory_proto::rr::{Name, RecordType};

fn ask(lab: &lab::Lab, server: IpAddr, name: &str, qtype: RecordType) -> Reply {
    let a = Ask {
        timeout: Duration::from_secs(2),
        tries: 3,
        ..Ask::udp(server, Name::from_ascii(name).unwrap(), qtype, false)
    };
    let r = probe::block_in(lab, "client", move || async move { probe::ask(&a).await }).unwrap();
    assert!(r.rcode.rcode().is_some(), "an answer: {r:?}");
    r
}

fn glue_for(m: &Reply, host: &str) -> Option<IpAddr> {
    m.additional.iter().find(|r| r.name == host).and_then(|r| r.data.parse().ok())
}

#[test]
fn iterative_walk_root_tld_leaf() {
    let s = scenario::load(&scenario::locate(&format!("{}/../scenarios/msft-lowport.yaml", env!("CARGO_MANIFEST_DIR")))).unwrap();
    let up = harness::run::servers_only(&s).unwrap();
    let (lab, log) = (&up.lab, &up.log);
    let root = s.root_hints()[0].1;

    // root -> com.: a referral with glue for a.gtld-servers.net
    let r = ask(lab, root, "www.google.com.", RecordType::A);
    assert!(!r.has(Flag::Aa) && r.answer.is_empty(), "referral must not be AA: {r:?}");
    assert!(r.authority.iter().all(|a| a.rtype == "NS" && a.name == "com."));
    let gtld = glue_for(&r, "a.gtld-servers.net.").expect("glue in additional");

    // com. -> google.com.: in-bailiwick NS, so glue
    let r = ask(lab, gtld, "www.google.com.", RecordType::A);
    assert!(!r.has(Flag::Aa));
    let google = glue_for(&r, "ns1.google.com.").expect("glue for ns1.google.com");

    // the leaf answers, authoritatively
    let r = ask(lab, google, "www.google.com.", RecordType::A);
    assert!(r.has(Flag::Aa), "{r:?}");
    assert_eq!((r.answer[0].rtype.as_str(), r.answer[0].data.as_str()), ("A", "203.0.113.90"));

    // live.com is delegated to ns1.msft.net, outside com.: no glue there, so
    // the walk must resolve the name server through net. first.
    let r = ask(lab, gtld, "live.com.", RecordType::MX);
    assert!(r.authority.iter().any(|a| a.data == "ns1.msft.net."));
    assert!(glue_for(&r, "ns1.msft.net.").is_none(), "no glue outside the parent zone: {r:?}");
    let r = ask(lab, gtld, "ns1.msft.net.", RecordType::A);
    let msft = glue_for(&r, "ns1.msft.net.").expect("net. has glue for msft.net's servers");
    let r = ask(lab, msft, "live.com.", RecordType::MX);
    assert!(r.has(Flag::Aa) && r.answer[0].rtype == "MX", "{r:?}");

    // every step reached the server it was meant for
    let seen: Vec<String> = log.lock().unwrap().iter().map(|q| format!("{} {} {}", q.server, q.qname, q.qtype)).collect();
    assert_eq!(seen.len(), 6, "{seen:?}");
}
