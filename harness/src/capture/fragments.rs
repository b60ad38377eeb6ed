//! Putting IP fragments back together, node by node and direction by
//! direction, as the node's own kernel would (`tshark`'s "Reassembled IPv4
//! in frame N").
//!
//! A big UDP answer leaves its server in fragments and only the first one
//! carries the ports. The captures keep every fragment ([`dns_only`] then
//! keeps those of DNS datagrams, matched by [`FragKey`]); [`reassemble`]
//! turns each node's fragments of one datagram into one [`Frame`] that says
//! which pieces it was made of and whether any was missing, so that
//! [`crate::wire`] can follow the whole message and tell where a piece of it
//! was dropped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::packet::{first_ports, parse_packet, piece, FragKey};
use super::Frame;

/// How far apart the pieces of one datagram may arrive; a piece later than
/// that with the same key starts another datagram.
const WINDOW_NS: u64 = 1_000_000_000;

/// The fragments a rebuilt frame was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frag {
    pub key: FragKey,
    /// Each piece seen, in the order it came.
    pub pieces: Vec<Fragment>,
    /// Every byte from the first piece to the last one's end was there.
    pub complete: bool,
}

/// One fragment: where its payload goes and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fragment {
    /// Bytes into the datagram's payload (tshark's `ip.frag_offset` × 8).
    pub offset: u32,
    /// Bytes of payload it carries.
    pub bytes: u32,
}

/// The keys of every fragmented DNS datagram any node saw: those whose
/// first fragment is UDP to or from port 53.
fn dns_keys(frames: &[Frame]) -> HashSet<FragKey> {
    frames
        .iter()
        .filter_map(|f| piece(&f.data))
        .filter(|p| first_ports(p).is_some_and(|(s, d)| s == 53 || d == 53))
        .map(|p| p.key)
        .collect()
}

/// `frames` without the fragments of datagrams that are not DNS (the
/// capture keeps every fragment: a later one has no ports to tell).
pub fn dns_only(mut frames: Vec<Frame>) -> Vec<Frame> {
    let keys = dns_keys(&frames);
    frames.retain(|f| piece(&f.data).is_none_or(|p| keys.contains(&p.key)));
    frames
}

/// One datagram's pieces as one node saw them in one direction.
struct Group {
    node: String,
    out: bool,
    key: FragKey,
    first_ns: u64,
    iface: String,
    /// Ethernet and IP header for the rebuilt datagram: the first piece's
    /// (offset 0), or until it comes, the earliest one's.
    header: Vec<u8>,
    pieces: Vec<(Fragment, bool, Vec<u8>)>,
}

/// Every frame of `frames` with each datagram's fragments replaced by one
/// frame at the place of its first piece: the whole datagram if every piece
/// came, else as much of it as came from its start (maybe none).
pub fn reassemble(frames: &[Frame]) -> Vec<Cow<'_, Frame>> {
    enum Slot<'a> {
        Whole(&'a Frame),
        Group(usize),
    }
    let mut slots = Vec::with_capacity(frames.len());
    let mut groups: Vec<Group> = Vec::new();
    let mut open: HashMap<(&str, bool, FragKey), usize> = HashMap::new();
    for f in frames {
        let Some(p) = piece(&f.data) else {
            slots.push(Slot::Whole(f));
            continue;
        };
        let at = Fragment {
            offset: p.offset as u32,
            bytes: p.payload.len() as u32,
        };
        let key = (f.node.as_str(), f.out, p.key);
        let current = open.get(&key).copied().filter(|&g| {
            let g = &groups[g];
            f.ns.saturating_sub(g.first_ns) < WINDOW_NS && !g.pieces.iter().any(|(x, _, _)| x.offset == at.offset)
        });
        let g = match current {
            Some(g) => g,
            None => {
                groups.push(Group {
                    node: f.node.clone(),
                    out: f.out,
                    key: p.key,
                    first_ns: f.ns,
                    iface: f.iface.clone(),
                    header: Vec::new(),
                    pieces: Vec::new(),
                });
                open.insert(key, groups.len() - 1);
                slots.push(Slot::Group(groups.len() - 1));
                groups.len() - 1
            }
        };
        let group = &mut groups[g];
        if p.offset == 0 || group.header.is_empty() {
            group.header = p.header.to_vec();
        }
        group.pieces.push((at, p.more, p.payload.to_vec()));
    }
    let mut built: Vec<Option<Frame>> = groups.into_iter().map(|g| Some(rebuild(g))).collect();
    slots
        .into_iter()
        .filter_map(|s| match s {
            Slot::Whole(f) => Some(Cow::Borrowed(f)),
            Slot::Group(g) => built[g].take().map(Cow::Owned),
        })
        .collect()
}

/// One frame of a group: the datagram its pieces make from offset 0 on.
fn rebuild(g: Group) -> Frame {
    let mut sorted: Vec<&(Fragment, bool, Vec<u8>)> = g.pieces.iter().collect();
    sorted.sort_by_key(|(at, _, _)| at.offset);
    let mut payload: Vec<u8> = Vec::new();
    let mut ended = false;
    for (at, more, bytes) in sorted {
        let offset = at.offset as usize;
        if offset > payload.len() {
            break; // a hole: what follows it cannot be placed
        }
        // An overlap: the later bytes win, as Linux's reassembly keeps none twice.
        payload.truncate(offset);
        payload.extend_from_slice(bytes);
        ended = !more;
    }
    let data = super::packet::datagram(&g.header, g.key.proto, &payload);
    Frame {
        node: g.node,
        iface: g.iface,
        ns: g.first_ns,
        out: g.out,
        frag: Some(Frag {
            key: g.key,
            pieces: g.pieces.iter().map(|(at, _, _)| *at).collect(),
            // A first piece missing leaves nothing placed: `ended` is false.
            complete: ended,
        }),
        data,
    }
}

impl Frame {
    /// The whole datagram this frame is, or carries: `None` for a datagram
    /// some of whose fragments never came.
    pub fn whole(&self) -> Option<super::Packet<'_>> {
        match &self.frag {
            Some(f) if !f.complete => None,
            _ => parse_packet(&self.data),
        }
    }
}

#[cfg(test)]
#[path = "fragments_tests.rs"]
mod tests;
