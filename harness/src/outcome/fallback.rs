//! Why a resolver asked a server over TCP, read off the wire: after a UDP
//! answer with TC=1 (the answer did not fit), after UDP questions that got
//! no answer (lost, or fragments dropped on the way), or with no UDP
//! question before it (TCP first: its own choice or its config).

use std::collections::BTreeMap;

use crate::scenario::values::Transport;
use crate::wire::{Message, SYN};

/// `after TC=1`, `after UDP timeouts`, `after a UDP answer` or
/// `TCP first` -> how many of `node`'s TCP questions upstream, counting as
/// one question each TCP connection that never carried one (its SYN went
/// unanswered, as through a firewall that drops TCP/53): that attempt was
/// made for the last UDP question to the same server.
pub fn tcp_fallbacks(messages: &[Message], node: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let same = |a: &Message, b: &Message| a.qname.eq_ignore_ascii_case(&b.qname) && a.qtype == b.qtype && a.dst.ip() == b.dst.ip();
    let asks = |m: &Message, t: Transport| m.from == node && m.transport == t && !m.response;
    for (i, tcp) in messages.iter().enumerate() {
        if !asks(tcp, Transport::Tcp) {
            continue;
        }
        let tcp = if tcp.label == SYN {
            if messages
                .iter()
                .any(|m| asks(m, Transport::Tcp) && m.label != SYN && m.src == tcp.src && m.dst == tcp.dst)
            {
                continue; // the question it carried counts
            }
            match messages[..i].iter().rev().find(|m| asks(m, Transport::Udp) && m.dst.ip() == tcp.dst.ip()) {
                Some(q) => q,
                None => tcp,
            }
        } else {
            tcp
        };
        // The UDP questions of the same name and type to the same server before it.
        let udp: Vec<&Message> = messages[..i].iter().filter(|m| asks(m, Transport::Udp) && same(m, tcp)).collect();
        let answered = |q: &Message| -> Option<&Message> {
            messages[..i].iter().find(|r| {
                r.response
                    && r.transport == Transport::Udp
                    && r.id == q.id
                    && r.src.ip() == q.dst.ip()
                    && r.qname.eq_ignore_ascii_case(&q.qname)
                    && r.to() == Some(node)
            })
        };
        let why = match udp.last() {
            None => "TCP first",
            Some(_) => {
                let answers: Vec<&Message> = udp.iter().filter_map(|q| answered(q)).collect();
                match answers.last() {
                    Some(a) if a.label.starts_with("truncated (TC)") => "after TC=1",
                    Some(_) => "after a UDP answer",
                    None => "after UDP timeouts",
                }
            }
        };
        *out.entry(why.to_string()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::End;

    fn m(at_us: u64, from: &str, t: Transport, id: u16, response: bool, label: &str, end: End) -> Message {
        let (r, s) = ("203.0.113.53:40000".parse().unwrap(), "203.0.113.60:53".parse().unwrap());
        Message {
            at_us,
            from: from.into(),
            src: if response { s } else { r },
            dst: if response { r } else { s },
            transport: t,
            id,
            response,
            qname: "big.example.com.".into(),
            qtype: "TXT".into(),
            label: label.into(),
            path: vec![],
            nat: vec![],
            fragments: vec![],
            end,
        }
    }

    #[test]
    fn each_reason_for_tcp_is_told_apart() {
        let to_r = || End::Delivered("r".into());
        let to_ns = || End::Delivered("ns".into());
        // A truncated answer, then TCP.
        let tc = vec![
            m(1, "r", Transport::Udp, 7, false, "q", to_ns()),
            m(2, "ns", Transport::Udp, 7, true, "truncated (TC), 0 answers", to_r()),
            m(3, "r", Transport::Tcp, 8, false, "q", to_ns()),
        ];
        assert_eq!(tcp_fallbacks(&tc, "r"), BTreeMap::from([("after TC=1".to_string(), 1)]));
        // A truncated answer, then two connection attempts that never opened
        // (TCP/53 dropped), and one that did: its question counts, not its SYN.
        let syn = |at_us, port| {
            let mut s = m(at_us, "r", Transport::Tcp, 0, false, SYN, End::Dropped("fw".into()));
            s.src.set_port(port);
            s
        };
        let mut blocked = vec![tc[0].clone(), tc[1].clone(), syn(3, 41000), syn(4, 41001), syn(5, 40000)];
        blocked.push(m(6, "r", Transport::Tcp, 8, false, "q", to_ns()));
        assert_eq!(tcp_fallbacks(&blocked, "r"), BTreeMap::from([("after TC=1".to_string(), 3)]));
        // Two questions whose answers were dropped on the way, then TCP.
        let lost = vec![
            m(1, "r", Transport::Udp, 7, false, "q", to_ns()),
            m(2, "ns", Transport::Udp, 7, true, "NOERROR 8 answers", End::Dropped("fw".into())),
            m(3, "r", Transport::Udp, 9, false, "q", to_ns()),
            m(4, "r", Transport::Tcp, 10, false, "q", to_ns()),
        ];
        assert_eq!(tcp_fallbacks(&lost, "r"), BTreeMap::from([("after UDP timeouts".to_string(), 1)]));
        let first = vec![
            m(1, "r", Transport::Tcp, 8, false, "q", to_ns()),
            m(2, "r", Transport::Tcp, 0, false, SYN, to_ns()),
        ];
        assert_eq!(tcp_fallbacks(&first, "r"), BTreeMap::from([("TCP first".to_string(), 1)]));
        assert!(tcp_fallbacks(&first, "other").is_empty());
    }
}
