//! Reading a captured Ethernet frame: its IP header, whether it is a
//! fragment, and its UDP or TCP ports and payload (what `tshark -V` shows
//! of the first layers).
//!
//! A whole datagram is a [`Packet`]; a fragment is a [`Piece`] of one, and
//! [`super::fragments`] puts the pieces back together before anything reads
//! the DNS message inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::scenario::values::Transport;

/// The parts of an Ethernet frame a DNS lab looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    /// A TCP segment with SYN set and ACK not: a connection attempt.
    pub syn: bool,
    /// TCP's sequence number (a NAT leaves it alone); 0 for UDP.
    pub seq: u32,
    /// The DNS message, without TCP's length prefix; empty if none.
    pub dns: &'a [u8],
}

/// What tells the fragments of one datagram from another's: addresses,
/// protocol and the IP ID (IPv4) or the fragment header's identification
/// (IPv6). A router keeps it; a NAT rewrites the addresses, never the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub id: u32,
}

/// One IP fragment: where its bytes go in the datagram it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    pub key: FragKey,
    /// Its place in the datagram's payload, in bytes.
    pub offset: usize,
    /// More fragments follow (IPv4 MF, IPv6 M).
    pub more: bool,
    /// The fragment's payload: what follows its IP (and fragment) header.
    pub payload: &'a [u8],
    /// The Ethernet header and the fixed IP header (IPv6's without its
    /// extension headers), for the whole datagram rebuilt from the pieces.
    pub header: &'a [u8],
}

/// A fragment's `header` (see [`Piece::header`]) + `payload`, as one
/// unfragmented datagram of protocol `proto`.
pub fn datagram(header: &[u8], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header);
    if out.len() >= 14 + 20 && out[12..14] == [0x08, 0x00] {
        let total = (out.len() - 14 + payload.len()).min(u16::MAX as usize) as u16;
        out[16..18].copy_from_slice(&total.to_be_bytes());
        out[20..22].copy_from_slice(&[0, 0]); // no flags, no offset
    } else if out.len() >= 14 + 40 {
        let plen = payload.len().min(u16::MAX as usize) as u16;
        out[18..20].copy_from_slice(&plen.to_be_bytes());
        out[20] = proto; // next header: what the fragment header said
    }
    out.extend_from_slice(payload);
    out
}

/// IPv6 extension headers that may come before a fragment header or the
/// transport header (hop-by-hop, routing, destination options).
const V6_SKIPPED: [u8; 3] = [0, 43, 60];

/// The IP layer of a frame: addresses, protocol, payload, and the fragment
/// fields if it is a fragment (`offset`, `more`, `id`).
struct Ip<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &'a [u8],
    frag: Option<(usize, bool, u32)>,
    /// The Ethernet header and the IP header without a fragment header.
    header: &'a [u8],
}

fn ip(f: &[u8]) -> Option<Ip<'_>> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let ip = f.get(14..)?;
    match ethertype {
        0x0800 => {
            let ihl = ((ip.first()? & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
            let flags = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            let (offset, more) = (((flags & 0x1fff) as usize) * 8, flags & 0x2000 != 0);
            let id = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as u32;
            Some(Ip {
                src: Ipv4Addr::new(*ip.get(12)?, *ip.get(13)?, *ip.get(14)?, *ip.get(15)?).into(),
                dst: Ipv4Addr::new(*ip.get(16)?, *ip.get(17)?, *ip.get(18)?, *ip.get(19)?).into(),
                proto: *ip.get(9)?,
                payload: ip.get(ihl..total.min(ip.len()).max(ihl))?,
                frag: (offset > 0 || more).then_some((offset, more, id)),
                header: f.get(..14 + ihl)?,
            })
        }
        0x86dd => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let plen = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as usize;
            let end = (40 + plen).min(ip.len());
            let (mut next, mut at, mut frag) = (*ip.get(6)?, 40, None);
            // A bounded walk: each extension header moves `at` on by 8 or more.
            while at < end {
                if V6_SKIPPED.contains(&next) {
                    let len = (*ip.get(at + 1)? as usize + 1) * 8;
                    next = *ip.get(at)?;
                    at += len;
                } else if next == 44 && frag.is_none() {
                    let v = u16::from_be_bytes([*ip.get(at + 2)?, *ip.get(at + 3)?]);
                    let id = u32::from_be_bytes(ip.get(at + 4..at + 8)?.try_into().ok()?);
                    frag = Some(((v & 0xfff8) as usize, v & 1 != 0, id));
                    next = *ip.get(at)?;
                    at += 8;
                } else {
                    break;
                }
            }
            Some(Ip {
                src: Ipv6Addr::from(s).into(),
                dst: Ipv6Addr::from(d).into(),
                proto: next,
                payload: ip.get(at.min(end)..end)?,
                frag,
                header: f.get(..14 + 40)?,
            })
        }
        _ => None,
    }
}

/// The fragment a frame carries, or `None` for a whole datagram (or no IP).
pub fn piece(f: &[u8]) -> Option<Piece<'_>> {
    let ip = ip(f)?;
    let (offset, more, id) = ip.frag?;
    Some(Piece {
        key: FragKey {
            src: ip.src,
            dst: ip.dst,
            proto: ip.proto,
            id,
        },
        offset,
        more,
        payload: ip.payload,
        header: ip.header,
    })
}

/// Ethernet -> IPv4/IPv6 -> UDP/TCP, for a whole datagram; a fragment is
/// `None` (only [`super::fragments::reassemble`] can read one).
pub fn parse_packet(f: &[u8]) -> Option<Packet<'_>> {
    let ip = ip(f)?;
    if ip.frag.is_some() {
        return None;
    }
    let l4 = ip.payload;
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let mut seq = 0;
    let (transport, syn, dns) = match ip.proto {
        17 => (Transport::Udp, false, l4.get(8..)?),
        6 => {
            let off = ((l4.get(12)? >> 4) as usize) * 4;
            let flags = *l4.get(13)?;
            let payload = l4.get(off..)?;
            let syn = flags & 0x02 != 0 && flags & 0x10 == 0;
            seq = u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?);
            (Transport::Tcp, syn, payload.get(2..).unwrap_or_default())
        }
        _ => return None,
    };
    Some(Packet {
        src: ip.src,
        dst: ip.dst,
        sport,
        dport,
        transport,
        syn,
        seq,
        dns,
    })
}

/// The ports of a first fragment's UDP header: what says a fragmented
/// datagram is DNS.
pub fn first_ports(p: &Piece<'_>) -> Option<(u16, u16)> {
    if p.offset != 0 || p.key.proto != 17 {
        return None;
    }
    let l4 = p.payload;
    Some((u16::from_be_bytes([*l4.first()?, *l4.get(1)?]), u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?])))
}
