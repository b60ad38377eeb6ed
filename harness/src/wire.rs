//! Following each DNS message hop by hop, from the frames every node
//! captured ([`crate::capture`]), to where it ended: delivered, or dropped
//! by the node that received it and never sent it on (a firewall).
//!
//! A message is one DNS packet its sender sent. Each node on its way shows
//! it twice: arriving (`PACKET_HOST`) and leaving (`PACKET_OUTGOING`). The
//! 5-tuple is the same on both ends of a link; only a NAT changes it, and
//! that rewrite is kept, because the new source port is often the point.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Message as Dns;
use serde::{Deserialize, Serialize};

use crate::answer::Status;
use crate::capture::fragments::Fragment;
use crate::capture::Frame;
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
    /// The IP fragments it went as, where it was fragmented; those lost at
    /// the node it ended at are `dropped`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fragments: Vec<Piece>,
    pub end: End,
}

/// One IP fragment of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Bytes into the datagram's payload (tshark's `ip.frag_offset` × 8).
    pub offset: u32,
    /// Bytes of payload it carried.
    pub bytes: u32,
    /// It reached the node the message ended at and was not sent on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
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
    /// This node received all its fragments and sent on only some, or none.
    #[serde(rename = "fragment_dropped")]
    FragmentDropped(String),
    /// No node saw it arrive.
    Lost,
}

impl Message {
    /// The node it was last seen at or meant for.
    pub fn to(&self) -> Option<&str> {
        match &self.end {
            End::Delivered(n) | End::Dropped(n) | End::FragmentDropped(n) => Some(n),
            End::Lost => None,
        }
    }
    pub fn dropped(&self) -> bool {
        matches!(self.end, End::Dropped(_) | End::FragmentDropped(_))
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
    /// The IP ID its fragments carry now, if it is fragmented.
    frag_id: Option<u32>,
    /// The fragments it arrived at `at` in.
    arrived: Vec<Fragment>,
    /// The fragments of it that left `at`, when not all did.
    left: Vec<Fragment>,
}

impl Open {
    /// Where it ended, and which of its fragments were lost there.
    fn end(mut self, owner: &impl Fn(IpAddr) -> Option<String>) -> Message {
        let mut m = self.msg;
        m.end = match self.at.take() {
            Some(n) if owner(self.tuple.1.ip()).as_deref() == Some(n.as_str()) => End::Delivered(n),
            Some(n) if !self.arrived.is_empty() => {
                for p in &mut m.fragments {
                    let at = |f: &Fragment| f.offset == p.offset;
                    p.dropped = self.arrived.iter().any(at) && !self.left.iter().any(at);
                }
                End::FragmentDropped(n)
            }
            Some(n) => End::Dropped(n),
            None => End::Lost,
        };
        m
    }

    /// It is at `node` now, seen in `frame` (fragmented or not).
    fn arrive(&mut self, node: &str, frame: &Frame) {
        self.at = Some(node.to_string());
        self.last_ns = frame.ns;
        self.arrived.clear();
        self.left.clear();
        if let Some(frag) = &frame.frag {
            self.frag_id = Some(frag.key.id);
            self.arrived = frag.pieces.clone();
            self.pieces(&frag.pieces);
        }
    }

    /// The fragments it went as, from the first place it was fragmented.
    fn pieces(&mut self, pieces: &[Fragment]) {
        if self.msg.fragments.is_empty() {
            let mut sorted = pieces.to_vec();
            sorted.sort();
            self.msg.fragments = sorted
                .into_iter()
                .map(|f| Piece {
                    offset: f.offset,
                    bytes: f.bytes,
                    dropped: false,
                })
                .collect();
        }
    }
}

/// Every DNS message in `frames` (reassembled:
/// [`crate::capture::fragments::reassemble`]), in time order, with `owner`
/// telling which node holds an address and times counted from `t0_ns`.
pub fn messages<F: Borrow<Frame>>(frames: &[F], owner: impl Fn(IpAddr) -> Option<String>, t0_ns: u64) -> Vec<Message> {
    let mut open: Vec<Open> = Vec::new();
    // Indices into `open` by key: each frame looks at a handful, not all.
    let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
    // And by the IP ID of their fragments, for a datagram only partly sent on.
    let mut by_frag: HashMap<u32, Vec<usize>> = HashMap::new();
    for f in in_order(frames) {
        if let Some(frag) = f.frag.as_ref().filter(|x| !x.complete) {
            // Some fragments left a node that had them all: that node
            // dropped the rest. Which message is told by the IP ID.
            let fits = |o: &Open| {
                o.at.as_deref() == Some(&f.node)
                    && o.frag_id == Some(frag.key.id)
                    && (o.tuple.0.ip() == frag.key.src || o.tuple.1.ip() == frag.key.dst)
                    && f.ns.saturating_sub(o.last_ns) < HOP_NS
            };
            if f.out {
                if let Some(i) = by_frag.get(&frag.key.id).and_then(|c| c.iter().rev().copied().find(|&i| fits(&open[i]))) {
                    open[i].left = frag.pieces.clone();
                }
            }
            continue;
        }
        let Some(p) = f.whole() else { continue };
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
                open[i].arrive(&f.node, f);
                if let Some(frag) = &f.frag {
                    by_frag.entry(frag.key.id).or_default().push(i);
                }
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
        let mut new = Open {
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
                fragments: vec![],
                end: End::Lost,
            },
            tuple,
            last_ns: f.ns,
            at: None,
            frag_id: None,
            arrived: vec![],
            left: vec![],
        };
        if let Some(frag) = &f.frag {
            new.pieces(&frag.pieces);
        }
        open.push(new);
    }
    open.into_iter().map(|o| o.end(&owner)).collect()
}

/// All frames in time order, each node's in the order its socket read them
/// (so a router's arrival always comes before its forward); at the same
/// timestamp on two nodes, the sender's copy before the receiver's.
fn in_order<F: Borrow<Frame>>(frames: &[F]) -> Vec<&Frame> {
    let mut queues: Vec<std::collections::VecDeque<&Frame>> = Vec::new();
    for f in frames.iter().map(Borrow::borrow) {
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
#[path = "wire_tests.rs"]
mod tests;
