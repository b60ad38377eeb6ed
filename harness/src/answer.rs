//! The whole answer to one question, as a DNS engineer reads it: how it
//! ended ([`Status`]: an rcode, or no DNS answer and why), the header flags,
//! every section, EDNS with its options (Extended DNS Errors decoded), and
//! each attempt (UDP, then TCP after TC=1) with its sizes and time.
//!
//! Verdicts ([`crate::verdict`]) are made from this, never from a string
//! that hides it. Built from hickory-proto's [`Message`] by [`Reply::of`].

use std::fmt;
use std::str::FromStr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Record;
use serde::{Deserialize, Serialize};

use crate::scenario::values::Transport;

mod edns;
pub use edns::{ede_name, Ede, Edns, EdnsOpt, EDE_NAMES};

/// A response code, by its name in RFC 1035, 2136 and 6891.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    YxDomain,
    YxRrset,
    NxRrset,
    NotAuth,
    NotZone,
    BadVers,
    /// Any other code, by number (`RCODE23`).
    Other(u16),
}

/// Every named rcode with the word dig prints for it.
const RCODES: [(Rcode, &str); 12] = [
    (Rcode::NoError, "NOERROR"),
    (Rcode::FormErr, "FORMERR"),
    (Rcode::ServFail, "SERVFAIL"),
    (Rcode::NxDomain, "NXDOMAIN"),
    (Rcode::NotImp, "NOTIMP"),
    (Rcode::Refused, "REFUSED"),
    (Rcode::YxDomain, "YXDOMAIN"),
    (Rcode::YxRrset, "YXRRSET"),
    (Rcode::NxRrset, "NXRRSET"),
    (Rcode::NotAuth, "NOTAUTH"),
    (Rcode::NotZone, "NOTZONE"),
    (Rcode::BadVers, "BADVERS"),
];

impl Rcode {
    /// The names an expectation may use.
    pub fn names() -> impl Iterator<Item = &'static str> {
        RCODES.iter().map(|(_, n)| *n)
    }
}

impl From<ResponseCode> for Rcode {
    fn from(rc: ResponseCode) -> Rcode {
        match u16::from(rc) {
            16 => Rcode::BadVers,
            n if n < 11 => RCODES[n as usize].0,
            n => Rcode::Other(n),
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rcode::Other(n) => write!(f, "RCODE{n}"),
            named => f.write_str(RCODES.iter().find(|(r, _)| r == named).map_or("?", |(_, n)| n)),
        }
    }
}

impl FromStr for Rcode {
    type Err = ();
    fn from_str(s: &str) -> Result<Rcode, ()> {
        let up = s.to_ascii_uppercase();
        if let Some((r, _)) = RCODES.iter().find(|(_, n)| *n == up) {
            return Ok(*r);
        }
        up.strip_prefix("RCODE").and_then(|n| n.parse().ok()).map(Rcode::Other).ok_or(())
    }
}

/// How one question ended: a DNS answer with its rcode, or no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Status {
    Rcode(Rcode),
    /// Nothing came back in time (also: a TCP connection that never opened).
    Timeout,
    /// The server's host answered the TCP SYN with a RST: nothing listens.
    TcpRefused,
    /// The TCP connection opened, then was reset or closed before an answer.
    TcpReset,
    /// An ICMP error came back (a firewall's `reject`, no route).
    Unreachable,
    /// The client could not send (a source address the node lacks, a port
    /// in use), or could not read what came back: see the attempt's `error`.
    Error,
    /// The resolver asked was stopped (state `T`) while the question was
    /// open, so it was not waited out: a fault of the lab's resolver,
    /// never an expected outcome.
    ResolverHung,
}

/// The words for the non-rcode statuses, as the JSON writes them.
const NO_ANSWER: [(Status, &str); 6] = [
    (Status::Timeout, "TIMEOUT"),
    (Status::TcpRefused, "TCP-REFUSED"),
    (Status::TcpReset, "TCP-RESET"),
    (Status::Unreachable, "UNREACHABLE"),
    (Status::Error, "ERROR"),
    (Status::ResolverHung, "RESOLVER-HUNG"),
];

impl Status {
    pub const NOERROR: Status = Status::Rcode(Rcode::NoError);

    /// NOERROR or NXDOMAIN: the resolver came to an answer.
    pub fn resolved(self) -> bool {
        matches!(self, Status::Rcode(Rcode::NoError | Rcode::NxDomain))
    }

    pub fn rcode(self) -> Option<Rcode> {
        match self {
            Status::Rcode(r) => Some(r),
            _ => None,
        }
    }

    /// `ERROR` and `RESOLVER-HUNG`: faults of the lab's own, never an
    /// expected outcome.
    pub fn is_fault(self) -> bool {
        matches!(self, Status::Error | Status::ResolverHung)
    }

    /// The words for statuses without a DNS answer that expectations use.
    pub fn no_answer_names() -> impl Iterator<Item = &'static str> {
        NO_ANSWER.iter().filter(|(s, _)| !s.is_fault()).map(|(_, n)| *n)
    }

    /// What the socket said, as a status. `connected` is whether a TCP
    /// connection had opened. Linux reports a RST to a SYN as ECONNREFUSED,
    /// and so it does an ICMP port unreachable on a connected UDP socket;
    /// an ICMP host or admin-prohibited error is EHOSTUNREACH (ICMPv6's
    /// admin-prohibited: EACCES). Anything else is the client's own fault.
    pub fn of_error(e: &std::io::Error, transport: Transport, connected: bool) -> Status {
        use std::io::ErrorKind as K;
        match (transport, e.kind(), connected) {
            (Transport::Tcp, K::ConnectionRefused, false) => Status::TcpRefused,
            (Transport::Tcp, K::ConnectionReset | K::ConnectionRefused | K::UnexpectedEof | K::BrokenPipe | K::ConnectionAborted, true) => Status::TcpReset,
            (Transport::Udp, K::ConnectionRefused, _) => Status::Unreachable,
            (_, K::HostUnreachable | K::NetworkUnreachable | K::PermissionDenied, _) => Status::Unreachable,
            (_, K::TimedOut, _) => Status::Timeout,
            _ => Status::Error,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Rcode(r) => r.fmt(f),
            other => f.write_str(NO_ANSWER.iter().find(|(s, _)| s == other).map_or("?", |(_, n)| n)),
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        let up = s.to_ascii_uppercase();
        if let Some((st, _)) = NO_ANSWER.iter().find(|(_, n)| *n == up) {
            return Ok(*st);
        }
        Rcode::from_str(&up).map(Status::Rcode).map_err(|_| format!("`{s}` is not a status"))
    }
}

/// Serde as a string, through `Display` and `FromStr<Err = String>`: for
/// types whose JSON form is the word a scenario writes (`NOERROR`, `-tc`).
macro_rules! serde_as_string {
    ($($t:ty),*) => {$(
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<$t, String> {
                s.parse()
            }
        }
    )*};
}
pub(crate) use serde_as_string;

serde_as_string!(Status);

/// A header flag an answer can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    Aa,
    Tc,
    Rd,
    Ra,
    Ad,
    Cd,
}

impl Flag {
    pub const ALL: [Flag; 6] = [Flag::Aa, Flag::Tc, Flag::Rd, Flag::Ra, Flag::Ad, Flag::Cd];

    pub fn name(self) -> &'static str {
        ["aa", "tc", "rd", "ra", "ad", "cd"][self as usize]
    }

    pub fn parse(s: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.name() == s.to_ascii_lowercase())
    }
}

/// One resource record, as text: owner, TTL, type and data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    #[serde(rename = "type")]
    pub rtype: String,
    pub data: String,
}

impl Rr {
    fn of(r: &Record) -> Rr {
        Rr {
            name: r.name.to_ascii(),
            ttl: r.ttl,
            rtype: r.record_type().to_string(),
            data: r.data.to_string(),
        }
    }

    /// `TYPE DATA`, as expectations write it.
    pub fn type_and_data(&self) -> String {
        format!("{} {}", self.rtype, self.data)
    }
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} IN {} {}", self.name, self.ttl, self.rtype, self.data)
    }
}

/// One exchange on one transport: what went, what came, how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub transport: Transport,
    pub source_port: u16,
    pub query_bytes: u32,
    /// 0 when nothing came back.
    pub response_bytes: u32,
    pub elapsed_ms: u64,
    pub rcode: Status,
    /// The answer came back truncated (TC=1).
    #[serde(default)]
    pub tc: bool,
    /// What the socket said, when it said something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The final answer to a question and every attempt that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The final attempt's status: `NOERROR`, `SERVFAIL`, `TIMEOUT`, ...
    pub rcode: Status,
    pub flags: Vec<Flag>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
    /// The answer's OPT record; `None` without one (or without an answer).
    pub edns: Option<Edns>,
    /// In order: the first UDP try, then TCP after TC=1.
    pub attempts: Vec<Attempt>,
}

impl Reply {
    /// No answer at all, after `attempts`.
    pub fn none(attempts: Vec<Attempt>) -> Reply {
        Reply {
            rcode: attempts.last().map_or(Status::Timeout, |a| a.rcode),
            flags: vec![],
            answer: vec![],
            authority: vec![],
            additional: vec![],
            edns: None,
            attempts,
        }
    }

    /// The whole of message `m`, reached after `attempts`.
    pub fn of(m: &Message, attempts: Vec<Attempt>) -> Reply {
        let md = &m.metadata;
        let set = [
            md.authoritative,
            md.truncation,
            md.recursion_desired,
            md.recursion_available,
            md.authentic_data,
            md.checking_disabled,
        ];
        Reply {
            rcode: Status::Rcode(md.response_code.into()),
            flags: Flag::ALL.into_iter().zip(set).filter(|(_, on)| *on).map(|(f, _)| f).collect(),
            answer: m.answers.iter().map(Rr::of).collect(),
            authority: m.authorities.iter().map(Rr::of).collect(),
            additional: m.additionals.iter().map(Rr::of).collect(),
            edns: m.edns.as_ref().map(Edns::of),
            attempts,
        }
    }

    pub fn has(&self, f: Flag) -> bool {
        self.flags.contains(&f)
    }

    /// The final transport: where the answer (or the silence) came from.
    pub fn transport(&self) -> Transport {
        self.attempts.last().map_or(Transport::Udp, |a| a.transport)
    }

    /// Bytes of the first attempt's query and response: over UDP, what a
    /// spoofed query makes a server send (its amplification).
    pub fn bytes(&self) -> (u32, u32) {
        self.attempts.first().map_or((0, 0), |a| (a.query_bytes, a.response_bytes))
    }

    /// The transports taken, in order: `udp`, or `udp>tcp` after TC=1.
    pub fn via(&self) -> String {
        self.attempts.iter().map(|a| a.transport.to_string()).collect::<Vec<_>>().join(">")
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.attempts.iter().map(|a| a.elapsed_ms).sum()
    }

    pub fn source_port(&self) -> u16 {
        self.attempts.first().map_or(0, |a| a.source_port)
    }

    /// What the socket said last, if anything.
    pub fn error(&self) -> Option<&str> {
        self.attempts.last().and_then(|a| a.error.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_the_json_writes_them() {
        for s in [
            "NOERROR",
            "SERVFAIL",
            "TIMEOUT",
            "TCP-REFUSED",
            "TCP-RESET",
            "UNREACHABLE",
            "RESOLVER-HUNG",
            "BADVERS",
            "RCODE23",
        ] {
            assert_eq!(s.parse::<Status>().unwrap().to_string(), s);
        }
        assert_eq!(Rcode::from(ResponseCode::BADVERS), Rcode::BadVers);
        assert_eq!(Rcode::from(ResponseCode::NXDomain), Rcode::NxDomain);
        assert_eq!(ede_name(22), "no-reachable-authority");
    }

    #[test]
    fn socket_errors_map_to_the_outcome_a_dns_engineer_would_name() {
        use std::io::{Error, ErrorKind as K};
        let of = |k: K, t: Transport, connected: bool| Status::of_error(&Error::from(k), t, connected);
        // A RST to the SYN, and one after the connection opened.
        assert_eq!(of(K::ConnectionRefused, Transport::Tcp, false), Status::TcpRefused);
        assert_eq!(of(K::ConnectionReset, Transport::Tcp, true), Status::TcpReset);
        assert_eq!(of(K::UnexpectedEof, Transport::Tcp, true), Status::TcpReset);
        // ICMP: port unreachable on a connected UDP socket, host or admin-prohibited.
        assert_eq!(of(K::ConnectionRefused, Transport::Udp, false), Status::Unreachable);
        assert_eq!(of(K::HostUnreachable, Transport::Tcp, false), Status::Unreachable);
        assert_eq!(of(K::PermissionDenied, Transport::Udp, false), Status::Unreachable);
        // The client's own trouble is never called unreachable.
        assert_eq!(of(K::AddrNotAvailable, Transport::Udp, false), Status::Error);
        assert_eq!(of(K::InvalidData, Transport::Tcp, true), Status::Error);
        assert_eq!(ede_name(99), "ede-99");
    }
}
