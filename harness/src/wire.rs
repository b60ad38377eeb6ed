//! Following each DNS message hop by hop, from the frames every node
//! captured ([`crate::capture`]), to where it ended: delivered, or dropped
//! by the node that received it and never sent it on (a firewall).
//!
//! A message is one DNS packet its sender sent. Each node on its way shows
//! it twice: arriving (`PACKET_HOST`) and leaving (`PACKET_OUTGOING`). The
//! 5-tuple is the same on both ends of a link; only a NAT changes it, and
//! that rewrite is kept, because the new source port is often the point.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message as Dns, ResponseCode};
use hickory_proto::rr::RecordType;
use serde::{Deserialize, Serialize};

use crate::capture::{parse_packet, Frame};
use crate::scenario::values::Transport;

/// How long a hop may take; a later copy is a new message (a retry).
const HOP_US: u64 = 1_000_000;

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
    /// `SERVFAIL`... for a response.
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
    key: Key,
    /// The addresses on the wire now.
    tuple: (SocketAddr, SocketAddr),
    last_us: u64,
    /// The node it has arrived at and not yet left.
    at: Option<String>,
}

/// Every DNS message in `frames` (sorted by time), with `owner` telling
/// which node holds an address and times counted from `t0_us`.
pub fn messages(frames: &[Frame], owner: impl Fn(IpAddr) -> Option<String>, t0_us: u64) -> Vec<Message> {
    let mut order: Vec<&Frame> = frames.iter().collect();
    // Same timestamp: the sender's copy before the receiver's.
    order.sort_by_key(|f| (f.us, !f.out));
    let mut open: Vec<Open> = Vec::new();
    for f in order {
        let Some(p) = parse_packet(&f.data) else { continue };
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
        let tuple = (SocketAddr::new(p.src, p.sport), SocketAddr::new(p.dst, p.dport));
        let recent = |o: &Open| f.us.saturating_sub(o.last_us) < HOP_US && o.key == key;
        if !f.out {
            if let Some(o) = open.iter_mut().rev().find(|o| recent(o) && o.at.is_none() && o.tuple == tuple) {
                o.at = Some(f.node.clone());
                o.last_us = f.us;
            }
            continue;
        }
        if let Some(o) = open.iter_mut().rev().find(|o| recent(o) && o.at.as_deref() == Some(&f.node)) {
            // Forwarded by a router; a NAT also rewrote it.
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
            o.last_us = f.us;
            continue;
        }
        open.push(Open {
            msg: Message {
                at_us: f.us.saturating_sub(t0_us),
                from: f.node.clone(),
                src: tuple.0,
                dst: tuple.1,
                transport: p.transport,
                id: dns.metadata.id,
                response,
                qname: key.3.clone(),
                qtype: key.4.clone(),
                label: label(&dns, response),
                path: vec![],
                nat: vec![],
                end: End::Lost,
            },
            key,
            tuple,
            last_us: f.us,
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

/// What an arrow in a ladder says about a message.
fn label(m: &Dns, response: bool) -> String {
    let q = m.queries.first().expect("checked by the caller");
    if !response {
        return format!("{} {}", show_name(&q.name().to_ascii()), q.query_type());
    }
    let rcode = m.metadata.response_code;
    let answers = m.answers.len();
    if rcode != ResponseCode::NoError {
        return crate::dns::rcode_name(rcode);
    }
    if answers > 0 {
        return format!("NOERROR {answers} answer{}", if answers == 1 { "" } else { "s" });
    }
    let ns = m.authorities.iter().any(|r| r.record_type() == RecordType::NS);
    if ns && !m.metadata.authoritative {
        "referral".to_string()
    } else {
        "NODATA".to_string()
    }
}

/// `live.com.` -> `live.com`; the root stays `.`.
pub fn show_name(n: &str) -> String {
    match n.trim_end_matches('.') {
        "" => ".".to_string(),
        s => s.to_string(),
    }
}
