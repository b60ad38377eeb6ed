//! Following each DNS message hop by hop, from the frames every node
//! captured ([`crate::capture`]), to where it ended: delivered, or dropped
//! by the node that received it and never sent it on (a firewall).
//!
//! A message is one DNS packet its sender sent. Each node on its way shows
//! it twice: arriving (`PACKET_HOST`) and leaving (`PACKET_OUTGOING`). The
//! 5-tuple is the same on both ends of a link; only a NAT changes it, and
//! that rewrite is kept, because the new source port is often the point.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Message as Dns;
use serde::{Deserialize, Serialize};

use crate::answer::Status;
use crate::capture::{parse_packet, Frame};
use crate::dns::dotless;
use crate::scenario::values::Transport;
use crate::verdict::Word;

/// How long a hop may take; a later copy is a new message (a retry).
const HOP_NS: u64 = 1_000_000_000;

/// One DNS message, from its sender to where it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// When its sender sent it, in microseconds since the run started.
    pub at_us: u64,
    pub from: String,
    /// Source and destination as the sender sent them.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    pub id: u16,
    pub response: bool,
    pub qname: String,
    pub qtype: String,
    /// `live.com A` for a query; `referral`, `NOERROR 1 answer`,
    /// `SERVFAIL`... for a response; `TCP SYN` for a connection attempt.
    pub label: String,
    /// The routers that forwarded it, in order (NATs and firewalls among them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// NATs that rewrote it on the way, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nat: Vec<Rewrite>,
    pub end: End,
}

/// A NAT's rewrite: the addresses the message left the NAT with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rewrite {
    pub node: String,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// Where a message ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// It reached the node that owns its destination address.
    Delivered(String),
    /// This node received it and neither kept nor forwarded it.
    Dropped(String),
    /// No node saw it arrive.
    Lost,
}

impl Message {
    /// The node it was last seen at or meant for.
    pub fn to(&self) -> Option<&str> {
        match &self.end {
            End::Delivered(n) | End::Dropped(n) => Some(n),
            End::Lost => None,
        }
    }
    pub fn dropped(&self) -> bool {
        matches!(self.end, End::Dropped(_))
    }
    /// The source port the last node before its end saw.
    pub fn last_sport(&self) -> u16 {
        self.nat.last().map_or(self.src.port(), |r| r.src.port())
    }
}

type Key = (Transport, u16, bool, String, String);

struct Open {
    msg: Message,
    /// The addresses on the wire now.
    tuple: (SocketAddr, SocketAddr),
    last_ns: u64,
    /// The node it has arrived at and not yet left.
    at: Option<String>,
}

/// Every DNS message in `frames`, in time order, with `owner` telling
/// which node holds an address and times counted from `t0_ns`.
pub fn messages(frames: &[Frame], owner: impl Fn(IpAddr) -> Option<String>, t0_ns: u64) -> Vec<Message> {
    let mut open: Vec<Open> = Vec::new();
    // Indices into `open` by key: each frame looks at a handful, not all.
    let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
    for f in in_order(frames) {
        let Some(p) = parse_packet(&f.data) else { continue };
        let (key, id, response, label) = if p.syn {
            // A TCP connection attempt: no question yet, and a firewall that
            // drops it is as much the story as a dropped UDP query.
            // Its sequence number tells it from another SYN, through a NAT too.
            ((Transport::Tcp, 0, false, String::new(), format!("SYN {}", p.seq)), 0, false, SYN.to_string())
        } else {
            let Ok(dns) = Dns::from_vec(p.dns) else { continue };
            let Some(q) = dns.queries.first() else { continue };
            let response = dns.metadata.message_type == hickory_proto::op::MessageType::Response;
            let key: Key = (
                p.transport,
                dns.metadata.id,
                response,
                q.name().to_ascii().to_lowercase(),
                q.query_type().to_string(),
            );
            (key, dns.metadata.id, response, label(&dns, response))
        };
        let tuple = (SocketAddr::new(p.src, p.sport), SocketAddr::new(p.dst, p.dport));
        // Only a message with the same key, last seen within a hop's time, can be this one.
        let candidates = by_key.get(&key).map_or(&[][..], Vec::as_slice);
        let find = |fits: &dyn Fn(&Open) -> bool| {
            candidates
                .iter()
                .rev()
                .copied()
                .find(|&i| f.ns.saturating_sub(open[i].last_ns) < HOP_NS && fits(&open[i]))
        };
        if !f.out {
            if let Some(i) = find(&|o| o.at.is_none() && o.tuple == tuple) {
                open[i].at = Some(f.node.clone());
                open[i].last_ns = f.ns;
            }
            continue;
        }
        // Forwarded as it came, or by a NAT that rewrote one end of it.
        if let Some(i) = find(&|o| o.at.as_deref() == Some(&f.node) && (o.tuple.0 == tuple.0 || o.tuple.1 == tuple.1)) {
            let o = &mut open[i];
            o.msg.path.push(f.node.clone());
            if o.tuple != tuple {
                o.msg.nat.push(Rewrite {
                    node: f.node.clone(),
                    src: tuple.0,
                    dst: tuple.1,
                });
            }
            o.tuple = tuple;
            o.at = None;
            o.last_ns = f.ns;
            continue;
        }
        by_key.entry(key.clone()).or_default().push(open.len());
        open.push(Open {
            msg: Message {
                at_us: f.ns.saturating_sub(t0_ns) / 1000,
                from: f.node.clone(),
                src: tuple.0,
                dst: tuple.1,
                transport: p.transport,
                id,
                response,
                qname: key.3.clone(),
                qtype: if p.syn { "SYN".to_string() } else { key.4.clone() },
                label,
                path: vec![],
                nat: vec![],
                end: End::Lost,
            },
            tuple,
            last_ns: f.ns,
            at: None,
        });
    }
    open.into_iter()
        .map(|o| {
            let mut m = o.msg;
            m.end = match o.at {
                Some(n) if owner(o.tuple.1.ip()).as_deref() == Some(n.as_str()) => End::Delivered(n),
                Some(n) => End::Dropped(n),
                None => End::Lost,
            };
            m
        })
        .collect()
}

/// All frames in time order, each node's in the order its socket read them
/// (so a router's arrival always comes before its forward); at the same
/// timestamp on two nodes, the sender's copy before the receiver's.
fn in_order(frames: &[Frame]) -> Vec<&Frame> {
    let mut queues: Vec<std::collections::VecDeque<&Frame>> = Vec::new();
    for f in frames {
        match queues.iter_mut().find(|q| q.front().is_some_and(|x| x.node == f.node)) {
            Some(q) => q.push_back(f),
            None => queues.push(std::collections::VecDeque::from([f])),
        }
    }
    let mut out = Vec::with_capacity(frames.len());
    while let Some(q) = queues.iter_mut().filter(|q| !q.is_empty()).min_by_key(|q| q.front().map(|f| (f.ns, !f.out))) {
        out.push(q.pop_front().expect("not empty"));
    }
    out
}

/// The label of a TCP connection attempt: a message without DNS in it.
pub const SYN: &str = "TCP SYN";

/// What an arrow in a ladder says about a message.
fn label(m: &Dns, response: bool) -> String {
    let q = m.queries.first().expect("checked by the caller");
    if !response {
        return format!("{} {}", dotless(&q.name().to_ascii()), q.query_type());
    }
    // The verdict's own words, so a ladder never calls an answer what the
    // verdict would not.
    let reply = crate::answer::Reply::of(m, vec![]);
    let (qname, qtype) = (q.name().to_ascii(), q.query_type().to_string());
    let answers = m.answers.len();
    let count = format!("{answers} answer{}", if answers == 1 { "" } else { "s" });
    match Word::of(&reply, &qname, &qtype) {
        Some(Word::Status(Status::NOERROR)) => format!("NOERROR {count}"),
        Some(Word::Nodata) => "NODATA".into(),
        Some(Word::Referral) => "referral".into(),
        Some(w) => w.to_string(),
        // What a client must follow over TCP: never "no data".
        None if m.metadata.truncation => format!("truncated (TC), {count}"),
        None if answers > 0 => format!("NOERROR {count}, none of the type asked"),
        None => "NOERROR, empty".into(),
    }
}

#[cfg(test)]
mod tests {
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
}
