use std::net::Ipv4Addr;

use hickory_proto::op::{Message as Dns, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;

/// An Ethernet/IPv4/UDP frame carrying `dns`.
fn frame(node: &str, ns: u64, out: bool, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), dns: &Dns) -> Frame {
    let payload = dns.to_vec().unwrap();
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend([0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend(src.0.octets());
    f.extend(dst.0.octets());
    let ulen = (8 + payload.len()) as u16;
    f.extend(src.1.to_be_bytes());
    f.extend(dst.1.to_be_bytes());
    f.extend(ulen.to_be_bytes());
    f.extend([0, 0]);
    f.extend(payload);
    Frame {
        node: node.into(),
        iface: "eth0".into(),
        ns,
        out,
        data: f,
        frag: None,
    }
}

fn query(id: u16) -> Dns {
    let mut m = Dns::query();
    m.metadata.id = id;
    m.add_query(Query::query(Name::from_ascii("live.com.").unwrap(), RecordType::A));
    m
}

const RES: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 53);
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 30);
const NS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn owner(a: IpAddr) -> Option<String> {
    match a {
        IpAddr::V4(a) if a == RES => Some("resolver".into()),
        IpAddr::V4(a) if a == NAT => Some("nat".into()),
        IpAddr::V4(a) if a == NS => Some("ns1".into()),
        _ => None,
    }
}

#[test]
fn a_query_rewritten_by_a_nat_and_dropped_by_a_firewall() {
    let q = query(7);
    // A first try dropped at the firewall, a retry from another port that
    // gets through, and the answer back through the NAT.
    let mut r = q.clone();
    r.metadata.message_type = MessageType::Response;
    r.metadata.authoritative = true;
    let frames = vec![
        frame("resolver", 1_000, true, (RES, 40000), (NS, 53), &q),
        frame("nat", 1_010, false, (RES, 40000), (NS, 53), &q),
        frame("nat", 1_020, true, (NAT, 900), (NS, 53), &q),
        frame("fw", 1_030, false, (NAT, 900), (NS, 53), &q),
        frame("resolver", 2_000, true, (RES, 40001), (NS, 53), &q),
        frame("nat", 2_010, false, (RES, 40001), (NS, 53), &q),
        frame("nat", 2_020, true, (NAT, 2000), (NS, 53), &q),
        frame("fw", 2_030, false, (NAT, 2000), (NS, 53), &q),
        frame("fw", 2_040, true, (NAT, 2000), (NS, 53), &q),
        frame("ns1", 2_050, false, (NAT, 2000), (NS, 53), &q),
        frame("ns1", 2_060, true, (NS, 53), (NAT, 2000), &r),
        frame("fw", 2_070, false, (NS, 53), (NAT, 2000), &r),
        frame("fw", 2_080, true, (NS, 53), (NAT, 2000), &r),
        frame("nat", 2_090, false, (NS, 53), (NAT, 2000), &r),
        frame("nat", 2_100, true, (NS, 53), (RES, 40001), &r),
        frame("resolver", 2_110, false, (NS, 53), (RES, 40001), &r),
    ];
    let m = messages(&frames, owner, 0);
    assert_eq!(m.len(), 3, "{m:#?}");
    // As the captures hand them over: node by node, each in its own order.
    let mut by_node = frames.clone();
    by_node.sort_by(|a, b| a.node.cmp(&b.node));
    assert_eq!(messages(&by_node, owner, 0), m);
    assert_eq!(
        (m[0].from.as_str(), &m[0].end, m[0].last_sport()),
        ("resolver", &End::Dropped("fw".into()), 900)
    );
    assert_eq!(m[0].path, ["nat"]);
    assert_eq!(
        (&m[1].end, m[1].path.clone(), m[1].last_sport()),
        (&End::Delivered("ns1".into()), vec!["nat".to_string(), "fw".into()], 2000)
    );
    assert_eq!(
        (m[2].from.as_str(), &m[2].end, m[2].label.as_str()),
        // AA, no answer and no SOA: not NODATA, which needs the SOA.
        ("ns1", &End::Delivered("resolver".into()), "NOERROR, empty")
    );
    assert_eq!(
        m[2].nat,
        [Rewrite {
            node: "nat".into(),
            src: "198.51.100.2:53".parse().unwrap(),
            dst: "100.64.1.53:40001".parse().unwrap()
        }]
    );

    let refs: Vec<&Message> = m.iter().collect();
    let l = crate::ladder::Ladder::of("t".into(), &refs);
    assert_eq!(l.columns, ["resolver", "nat", "fw", "ns1"]);
    let text = l.text();
    assert!(text.contains("live.com A from :900, dropped"), "{text}");
    assert!(text.contains("live.com A from :2000\n"), "{text}");
    assert!(l.mermaid().contains("n1-xn2: live.com A from :900, dropped"), "{}", l.mermaid());
}

#[test]
fn a_truncated_reply_is_drawn_as_truncated_never_as_nodata() {
    let mut r = query(9);
    r.metadata.message_type = MessageType::Response;
    r.metadata.truncation = true;
    assert_eq!(label(&r, true), "truncated (TC), 0 answers");
    r.metadata.truncation = false;
    let soa = hickory_proto::rr::Record::from_rdata(
        Name::from_ascii("live.com.").unwrap(),
        300,
        hickory_proto::rr::RData::SOA(hickory_proto::rr::rdata::SOA::new(
            Name::from_ascii("ns1.live.com.").unwrap(),
            Name::from_ascii("hostmaster.live.com.").unwrap(),
            1,
            14400,
            3600,
            1209600,
            300,
        )),
    );
    r.authorities.push(soa);
    assert_eq!(label(&r, true), "NODATA");
}

/// `f` as the IPv4 fragments a sender sends it in, `step` payload bytes each.
fn fragments(f: &Frame, id: u16, step: usize) -> Vec<Frame> {
    let (head, payload) = f.data.split_at(14 + 20);
    payload
        .chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let mut d = head.to_vec();
            let total = (20 + chunk.len()) as u16;
            d[16..18].copy_from_slice(&total.to_be_bytes());
            d[18..20].copy_from_slice(&id.to_be_bytes());
            let more = if (i + 1) * step < payload.len() { 0x2000 } else { 0 };
            d[20..22].copy_from_slice(&(((i * step / 8) as u16) | more).to_be_bytes());
            d.extend_from_slice(chunk);
            Frame {
                ns: f.ns + i as u64,
                data: d,
                ..f.clone()
            }
        })
        .collect()
}

#[test]
fn a_fragmented_answer_whose_later_fragments_a_firewall_drops() {
    let mut r = Dns::query();
    r.metadata.id = 11;
    r.add_query(Query::query(Name::from_ascii("live.com.").unwrap(), RecordType::TXT));
    r.metadata.message_type = MessageType::Response;
    r.metadata.authoritative = true;
    let txt = hickory_proto::rr::rdata::TXT::new(vec!["x".repeat(250); 12]);
    let name = Name::from_ascii("live.com.").unwrap();
    r.add_answer(hickory_proto::rr::Record::from_rdata(name, 60, hickory_proto::rr::RData::TXT(txt)));
    let whole = |node: &str, ns: u64, out: bool| frame(node, ns, out, (NS, 53), (RES, 40000), &r);
    let sent = fragments(&whole("ns1", 1_000, true), 77, 1480);
    assert_eq!(sent.len(), 3);
    let mut frames = sent.clone();
    // A plain router forwards fragment by fragment; only the first leaves.
    for (i, f) in sent.iter().enumerate() {
        frames.push(Frame {
            node: "fw".into(),
            out: false,
            ns: 2_000 + 10 * i as u64,
            ..f.clone()
        });
        if i == 0 {
            frames.push(Frame {
                node: "fw".into(),
                out: true,
                ns: 2_005,
                ..f.clone()
            });
            frames.push(Frame {
                node: "resolver".into(),
                out: false,
                ns: 2_008,
                ..f.clone()
            });
        }
    }
    let datagrams = crate::capture::fragments::reassemble(&frames);
    let m = messages(&datagrams, owner, 0);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].end, End::FragmentDropped("fw".into()));
    assert_eq!(
        m[0].fragments.iter().map(|p| (p.offset, p.dropped)).collect::<Vec<_>>(),
        [(0, false), (1480, true), (2960, true)]
    );
    let l = crate::ladder::Ladder::of("t".into(), &m.iter().collect::<Vec<_>>());
    let text = l.text();
    assert!(text.contains("NOERROR 1 answer in 3 fragments, dropped"), "{text}");
    assert!(text.contains("X| fragment @1480, 1480 B, dropped"), "{text}");
    assert!(text.contains(&format!("X| fragment @2960, {} B, dropped", m[0].fragments[2].bytes)), "{text}");

    // All of them forwarded: delivered, and none dropped.
    let mut frames = sent.clone();
    for f in &sent {
        frames.push(Frame {
            node: "fw".into(),
            out: false,
            ..f.clone()
        });
        frames.push(Frame {
            node: "fw".into(),
            out: true,
            ..f.clone()
        });
        frames.push(Frame {
            node: "resolver".into(),
            out: false,
            ..f.clone()
        });
    }
    let m = messages(&crate::capture::fragments::reassemble(&frames), owner, 0);
    assert_eq!((m.len(), &m[0].end), (1, &End::Delivered("resolver".into())));
    assert!(m[0].fragments.iter().all(|p| !p.dropped) && m[0].path == ["fw"]);
}
