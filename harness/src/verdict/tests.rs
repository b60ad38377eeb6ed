//! The false passes that made this module: each hand-made answer below was
//! once judged "NOERROR, ok".

use super::*;
use crate::answer::{Attempt, Ede, Edns, Rr};

fn rr(name: &str, rtype: &str, data: &str) -> Rr {
    Rr {
        name: name.into(),
        ttl: 300,
        rtype: rtype.into(),
        data: data.into(),
    }
}

fn udp(tc: bool) -> Attempt {
    Attempt {
        transport: Transport::Udp,
        source_port: 40000,
        query_bytes: 40,
        response_bytes: 60,
        elapsed_ms: 3,
        rcode: Status::NOERROR,
        tc,
        error: None,
    }
}

fn reply(flags: Vec<Flag>, answer: Vec<Rr>, authority: Vec<Rr>) -> Reply {
    Reply {
        rcode: Status::NOERROR,
        flags,
        answer,
        authority,
        additional: vec![],
        edns: None,
        attempts: vec![udp(false)],
    }
}

fn noerror() -> Expect {
    Expect::words(vec![Word::Status(Status::NOERROR)])
}

#[test]
fn a_truncated_answer_without_a_tcp_retry_is_not_noerror() {
    let mut r = reply(vec![Flag::Tc, Flag::Rd, Flag::Ra], vec![], vec![]);
    r.attempts = vec![udp(true)];
    assert_eq!(Word::of(&r, "big.example.com.", "TXT"), None);
    let misses = noerror().misses(&r, "big.example.com.", "TXT");
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(misses[0].contains("truncated (TC=1) and not retried over TCP"), "{}", misses[0]);
    assert!(misses[0].contains("no TXT record for big.example.com"), "{}", misses[0]);
    // What really happened can be expected, and then it holds.
    let truth = Expect {
        answer_count: Some(Count { min: 0, max: 0 }),
        flags: vec!["tc".parse().unwrap()],
        transport: Some(Transport::Udp),
        ..Expect::default()
    };
    assert!(truth.misses(&r, "big.example.com.", "TXT").is_empty());
}

#[test]
fn a_partial_cname_chain_is_not_noerror() {
    let chain = vec![rr("a.example.com.", "CNAME", "b.example.net.")];
    let r = reply(vec![Flag::Rd, Flag::Ra], chain, vec![]);
    let misses = noerror().misses(&r, "a.example.com.", "A");
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(misses[0].contains("the chain a.example.com -> b.example.net ends without one"), "{}", misses[0]);
    let truth = Expect {
        answer: Some(vec![record("CNAME b.example.net").unwrap()]),
        ..Expect::default()
    };
    assert!(truth.misses(&r, "a.example.com.", "A").is_empty());
    // The whole chain, to the end, is NOERROR.
    let full = reply(
        vec![Flag::Rd, Flag::Ra],
        vec![
            rr("a.example.com.", "CNAME", "b.example.net."),
            rr("B.example.net.", "CNAME", "c.example.org."),
            rr("c.example.org.", "A", "203.0.113.80"),
        ],
        vec![],
    );
    assert!(noerror().misses(&full, "a.example.com.", "A").is_empty());
}

#[test]
fn nodata_and_referral_are_told_apart() {
    let soa = rr("example.com.", "SOA", "ns1.example.com. hostmaster.example.com. 1 14400 3600 1209600 300");
    let nodata = reply(vec![Flag::Aa], vec![], vec![soa]);
    assert_eq!(Word::of(&nodata, "www.example.com.", "AAAA"), Some(Word::Nodata));
    let referral = reply(vec![], vec![], vec![rr("com.", "NS", "a.gtld-servers.net.")]);
    assert_eq!(Word::of(&referral, "www.example.com.", "A"), Some(Word::Referral));
    // The same NS set with AA is not a referral.
    let aa = reply(vec![Flag::Aa], vec![], vec![rr("com.", "NS", "a.gtld-servers.net.")]);
    assert_eq!(Word::of(&aa, "www.example.com.", "A"), None);
    assert!(!noerror().misses(&referral, "www.example.com.", "A").is_empty());
}

#[test]
fn fields_are_judged_one_by_one() {
    let mut r = reply(vec![Flag::Aa, Flag::Rd], vec![rr("www.example.com.", "A", "203.0.113.80")], vec![]);
    r.edns = Some(Edns {
        version: 0,
        udp_size: 1232,
        dnssec_ok: false,
        options: vec![],
        ede: vec![Ede {
            code: 22,
            name: "no-reachable-authority".into(),
            text: String::new(),
        }],
    });
    let e = Expect {
        answer: Some(vec![record("a 203.0.113.80").unwrap()]),
        answer_count: Some(Count { min: 1, max: 1 }),
        flags: vec!["aa".parse().unwrap(), "-tc".parse().unwrap()],
        ede: Some(ede("no-reachable-authority").unwrap()),
        transport: Some(Transport::Udp),
        ..Expect::default()
    };
    assert!(e.misses(&r, "www.example.com.", "A").is_empty(), "{:?}", e.misses(&r, "www.example.com.", "A"));
    let wrong = Expect {
        answer: Some(vec![record("A 203.0.113.81").unwrap()]),
        answer_count: Some(Count { min: 2, max: 3 }),
        flags: vec!["-aa".parse().unwrap()],
        ede: Some(6),
        transport: Some(Transport::Tcp),
        ..Expect::default()
    };
    let misses = wrong.misses(&r, "www.example.com.", "A");
    assert_eq!(misses.len(), 5, "{misses:?}");
    assert!(misses
        .iter()
        .any(|m| m.contains("expected EDE 6 (dnssec-bogus), got 22 no-reachable-authority")));
}

#[test]
fn words_parse_in_any_case_and_list_in_one() {
    assert_eq!("nodata".parse::<Word>().unwrap(), Word::Nodata);
    assert_eq!("tcp-refused".parse::<Word>().unwrap(), Word::Status(Status::TcpRefused));
    assert_eq!("Timeout".parse::<Word>().unwrap(), Word::Status(Status::Timeout));
    let err = "nope".parse::<Word>().unwrap_err();
    assert!(err.contains("NOERROR, FORMERR, SERVFAIL, NXDOMAIN"), "{err}");
    assert!(err.contains("NODATA, REFERRAL, timeout, tcp-refused, tcp-reset, unreachable"), "{err}");
    // A fault of the lab is never something to expect.
    assert!("error".parse::<Word>().is_err() && "resolver-hung".parse::<Word>().is_err());
    assert!(record("A 999.1.1.1").is_err() && record("A").is_err() && record("BOGUS x").is_err());
    assert!("-xx".parse::<FlagWant>().is_err());
}

#[test]
fn fields_never_hold_without_an_answer() {
    let mut r = reply(vec![], vec![], vec![]);
    r.rcode = Status::Timeout;
    r.attempts = vec![Attempt {
        rcode: Status::Timeout,
        ..udp(false)
    }];
    let e = Expect {
        flags: vec!["-tc".parse().unwrap()],
        answer_count: Some(Count { min: 0, max: 0 }),
        ..Expect::default()
    };
    let misses = e.misses(&r, "www.example.com.", "A");
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(misses[0].starts_with("no DNS answer came (TIMEOUT)"), "{}", misses[0]);
    // Words alone judge a timeout as they always did.
    assert!(Expect::words(vec![Word::Status(Status::Timeout)])
        .misses(&r, "www.example.com.", "A")
        .is_empty());
}

#[test]
fn nodata_needs_the_soa_of_a_zone_above_the_name() {
    let soa = |zone: &str| rr(zone, "SOA", "ns1. hostmaster. 1 14400 3600 1209600 300");
    let chain = vec![rr("www.example.com.", "CNAME", "www.example.org.")];
    // The SOA of the zone the chain ends in: NODATA.
    let good = reply(vec![], chain.clone(), vec![soa("example.org.")]);
    assert_eq!(Word::of(&good, "www.example.com.", "AAAA"), Some(Word::Nodata));
    // Another zone's SOA says nothing about this name.
    let other = reply(vec![], chain, vec![soa("example.net.")]);
    assert_eq!(Word::of(&other, "www.example.com.", "AAAA"), None);
    // An NS set for an unrelated zone is no referral for this name.
    let stray = reply(vec![], vec![], vec![rr("net.", "NS", "a.gtld-servers.net.")]);
    assert_eq!(Word::of(&stray, "www.example.com.", "A"), None);
}

#[test]
fn a_truncated_answer_fits_no_word_even_with_data_or_an_soa() {
    let soa = rr("example.com.", "SOA", "ns1. hostmaster. 1 14400 3600 1209600 300");
    let with_soa = reply(vec![Flag::Tc], vec![], vec![soa]);
    assert_eq!(Word::of(&with_soa, "www.example.com.", "TXT"), None);
    let partial = reply(vec![Flag::Tc], vec![rr("www.example.com.", "A", "192.0.2.1")], vec![]);
    assert_eq!(Word::of(&partial, "www.example.com.", "A"), None);
    assert_eq!(Word::describe(&partial, "www.example.com.", "A"), "NOERROR (truncated)");
}

#[test]
fn an_answer_listed_twice_is_one_record() {
    let r = reply(vec![], vec![rr("www.example.com.", "A", "192.0.2.1")], vec![]);
    let twice = Expect {
        answer: Some(vec![record("A 192.0.2.1").unwrap(), record("a  192.0.2.1").unwrap()]),
        ..Expect::default()
    };
    assert!(twice.misses(&r, "www.example.com.", "A").is_empty());
}
