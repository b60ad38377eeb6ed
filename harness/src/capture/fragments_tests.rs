use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

/// A UDP datagram of `len` payload bytes from port 53, as IPv4 fragments
/// of at most `mtu` bytes each, IP ID `id` (what the kernel sends).
fn v4_fragments(node: &str, out: bool, id: u16, len: usize, mtu: usize) -> Vec<Frame> {
    let mut udp = vec![0, 53, 0x9c, 0x40];
    udp.extend(((8 + len) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend((0..len).map(|i| i as u8));
    let step = (mtu - 20) / 8 * 8;
    udp.chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let more = (i + 1) * step < udp.len();
            let flags = ((i * step / 8) as u16) | if more { 0x2000 } else { 0 };
            let mut f = vec![0u8; 12];
            f.extend([0x08, 0x00]);
            let total = (20 + chunk.len()) as u16;
            f.extend([0x45, 0, (total >> 8) as u8, total as u8]);
            f.extend(id.to_be_bytes());
            f.extend(flags.to_be_bytes());
            f.extend([64, 17, 0, 0]);
            f.extend(Ipv4Addr::new(198, 51, 100, 2).octets());
            f.extend(Ipv4Addr::new(203, 0, 113, 53).octets());
            f.extend(chunk);
            Frame {
                node: node.into(),
                iface: "eth0".into(),
                ns: 1_000 + i as u64,
                out,
                data: f,
                frag: None,
            }
        })
        .collect()
}

/// The same over IPv6: a hop-by-hop header, then a fragment header.
fn v6_fragments(id: u32, len: usize, step: usize) -> Vec<Frame> {
    let mut udp = vec![0, 53, 0x9c, 0x40];
    udp.extend(((8 + len) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend((0..len).map(|i| (i * 7) as u8));
    udp.chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let more = (i + 1) * step < udp.len();
            let mut f = vec![0u8; 12];
            f.extend([0x86, 0xdd]);
            f.extend([0x60, 0, 0, 0]);
            f.extend(((8 + 8 + chunk.len()) as u16).to_be_bytes());
            f.extend([0, 64]); // next: hop-by-hop
            f.extend("2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets());
            f.extend("2001:db8:2::53".parse::<Ipv6Addr>().unwrap().octets());
            f.extend([44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop: next fragment, PadN
            let v = ((i * step) as u16) | more as u16;
            f.extend([17, 0]);
            f.extend(v.to_be_bytes());
            f.extend(id.to_be_bytes());
            f.extend(chunk);
            Frame {
                node: "ns1".into(),
                iface: "eth0".into(),
                ns: 5_000 + i as u64,
                out: true,
                data: f,
                frag: None,
            }
        })
        .collect()
}

#[test]
fn the_fragments_of_a_datagram_make_it_whole_in_any_order() {
    let mut frames = v4_fragments("ns1", true, 7, 3800, 1500);
    assert_eq!(frames.len(), 3);
    frames.swap(0, 2);
    let out = reassemble(&frames);
    assert_eq!(out.len(), 1);
    let p = out[0].whole().expect("whole");
    assert_eq!((p.sport, p.dport, p.dns.len()), (53, 40000, 3800));
    assert!(p.dns.iter().enumerate().all(|(i, b)| *b == i as u8));
    let frag = out[0].frag.as_ref().unwrap();
    assert!(frag.complete);
    let mut pieces = frag.pieces.clone();
    pieces.sort();
    assert_eq!(
        pieces.iter().map(|f| (f.offset, f.bytes)).collect::<Vec<_>>(),
        [(0, 1480), (1480, 1480), (2960, 848)]
    );
    // At MTU 1280 the same answer is four fragments.
    assert_eq!(v4_fragments("ns1", true, 7, 3800, 1280).len(), 4);
}

#[test]
fn a_missing_fragment_leaves_the_start_and_says_so() {
    let mut frames = v4_fragments("edge", true, 9, 3800, 1500);
    frames.remove(1);
    let out = reassemble(&frames);
    assert_eq!(out.len(), 1);
    assert!(out[0].whole().is_none());
    let frag = out[0].frag.as_ref().unwrap();
    assert!(!frag.complete);
    assert_eq!(frag.pieces.len(), 2);
    // Without the first piece there are no ports, but the key still tells.
    let later = reassemble(&frames[1..]);
    assert_eq!(later[0].frag.as_ref().unwrap().key.id, 9);
    assert!(later[0].whole().is_none());
}

#[test]
fn datagrams_are_told_apart_by_node_direction_and_id() {
    let mut frames = v4_fragments("ns1", true, 1, 3000, 1500);
    frames.extend(v4_fragments("edge", false, 1, 3000, 1500));
    frames.extend(v4_fragments("ns1", true, 2, 3000, 1500));
    // The same ID again, long after: another datagram.
    let mut late = v4_fragments("ns1", true, 1, 3000, 1500);
    late.iter_mut().for_each(|f| f.ns += 2 * WINDOW_NS);
    frames.extend(late);
    let out = reassemble(&frames);
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|f| f.whole().is_some_and(|p| p.dns.len() == 3000)));
}

#[test]
fn ipv6_fragment_headers_after_extension_headers_are_read() {
    let frames = v6_fragments(0xdead_beef, 3800, 1232);
    assert!(frames.iter().all(|f| parse_packet(&f.data).is_none()));
    let out = reassemble(&frames);
    assert_eq!(out.len(), 1);
    let p = out[0].whole().expect("whole");
    assert_eq!((p.src.to_string().as_str(), p.sport, p.dns.len()), ("2001:db8:1::2", 53, 3800));
    assert!(p.dns.iter().enumerate().all(|(i, b)| *b == (i * 7) as u8));
    assert_eq!(out[0].frag.as_ref().unwrap().key.id, 0xdead_beef);
}

#[test]
fn only_fragments_of_dns_datagrams_are_kept() {
    let mut frames = v4_fragments("ns1", true, 3, 3000, 1500);
    let mut other = v4_fragments("ns1", true, 4, 3000, 1500);
    other[0].data[14 + 20 + 1] = 80; // source port 80: not DNS
    frames.extend(other);
    // A later fragment whose first one only another node saw is DNS too.
    let mut behind = v4_fragments("client", false, 3, 3000, 1500);
    behind.remove(0);
    frames.extend(behind);
    let kept = dns_only(frames);
    assert_eq!(kept.len(), 3 + 2);
    assert!(kept.iter().all(|f| piece(&f.data).unwrap().key.id == 3));
}
