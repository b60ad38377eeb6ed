//! Parsers for the small value languages inside a scenario: addresses, port
//! ranges, `NAME TYPE`, durations. The one pass in `build/` reads every
//! value with them, once.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use lab::Ports;
use serde::{Deserialize, Serialize};

/// A lab address: parseable and inside the closed world.
pub fn addr(s: &str) -> Result<IpAddr, String> {
    let a: IpAddr = s.parse().map_err(|_| format!("`{s}` is not an IP address"))?;
    if !lab::topology::allowed(a) {
        return Err(format!("{a} is outside the lab's address space ({})", lab::topology::ALLOWED.join(", ")));
    }
    Ok(a)
}

pub fn subnet(s: &str) -> Result<IpNet, String> {
    let n: IpNet = s.parse().map_err(|_| format!("`{s}` is not a subnet (like 203.0.113.0/24)"))?;
    if n.trunc() != n {
        return Err(format!("`{s}` has host bits set; did you mean {}?", n.trunc()));
    }
    if !lab::topology::allowed(n.network()) || !lab::topology::allowed(n.broadcast()) {
        return Err(format!("{n} is outside the lab's address space ({})", lab::topology::ALLOWED.join(", ")));
    }
    Ok(n)
}

/// `N` or `LO-HI`, within 1..=65535.
pub fn ports(s: &str) -> Result<Ports, String> {
    let bad = || format!("`{s}` is not a port or port range (like 53 or 600-1023) within 1-65535");
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u32>().map_err(|_| bad())?, b.trim().parse::<u32>().map_err(|_| bad())?),
        None => {
            let p = s.trim().parse::<u32>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo == 0 || hi > 65535 || lo > hi {
        return Err(bad());
    }
    Ok(Ports { lo: lo as u16, hi: hi as u16 })
}

/// A probe's source port: exact, a range, or `random` (the kernel picks
/// from the node's ephemeral range, as plain `dig` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortSpec {
    Exact(u16),
    Range(Ports),
    Random,
}

pub fn port_spec(s: &str) -> Result<PortSpec, String> {
    if s == "random" {
        return Ok(PortSpec::Random);
    }
    let p = ports(s).map_err(|e| format!("{e}, or `random`"))?;
    Ok(if p.lo == p.hi { PortSpec::Exact(p.lo) } else { PortSpec::Range(p) })
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Exact(p) => write!(f, "{p}"),
            PortSpec::Range(r) => write!(f, "{r}"),
            PortSpec::Random => f.write_str("random"),
        }
    }
}

/// A domain name, made absolute: `live.com` and `live.com.` are the same.
pub fn name(s: &str) -> Result<Name, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!("`{s}` is not a domain name"));
    }
    let mut n = Name::from_ascii(s).map_err(|e| format!("`{s}` is not a domain name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// The placeholder a counted query's names number themselves with.
pub const INDEX: &str = "{i}";

/// `live.com A`: a name and a record type. A name may hold `{i}`.
pub fn ask(s: &str) -> Result<(Name, RecordType), String> {
    let s = &s.replace(INDEX, "1");
    let mut parts = s.split_whitespace();
    let (Some(n), Some(t), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("`{s}` should be `NAME TYPE`, like `live.com MX`"));
    };
    let qtype = RecordType::from_str(&t.to_ascii_uppercase()).map_err(|_| format!("`{t}` is not a record type"))?;
    if matches!(qtype, RecordType::Unknown(_)) {
        return Err(format!("`{t}` is not a record type"));
    }
    Ok((name(n)?, qtype))
}

/// The rates a counted query can be judged by.
pub const RATES: [&str; 6] = ["noerror_rate", "nodata_rate", "referral_rate", "servfail_rate", "nxdomain_rate", "timeout_rate"];

/// `500ms`, `2s`, `1.5s`
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (like 500ms or 2s)");
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(bad());
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(0.0..=600.0).contains(&(v * mult)) || v * mult == 0.0 {
        return Err(format!("`{s}` must be more than 0 and at most 600s"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

/// A resolver's TCP to upstream servers (`tcp_upstream:`), where its kind can
/// be told: every query over TCP, or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TcpUpstream {
    /// Every upstream query over TCP, never UDP.
    On,
    /// No TCP upstream: a truncated answer is all it gets.
    Off,
}

pub fn tcp_upstream(s: &str) -> Result<TcpUpstream, String> {
    match s {
        "on" => Ok(TcpUpstream::On),
        "off" => Ok(TcpUpstream::Off),
        _ => Err(format!("tcp_upstream `{s}`: on (every upstream query over TCP) or off (none)")),
    }
}

pub fn transport(s: &str) -> Result<Transport, String> {
    match s {
        "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        _ => Err(format!("`{s}` is not a transport; expected udp or tcp")),
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

pub use lab::firewall::Family;

/// `ip` or `ip6`, as `family:` of a query, a probe or a firewall rule says.
pub fn family(s: &str) -> Result<Family, String> {
    match s {
        "ip" => Ok(Family::Ip),
        "ip6" => Ok(Family::Ip6),
        _ => Err(format!("family `{s}`; expected ip or ip6")),
    }
}

/// Is `addr` of this family?
pub fn of_family(addr: std::net::IpAddr, f: Family) -> bool {
    addr.is_ipv6() == (f == Family::Ip6)
}

/// `udp` or `udp6`, `tcp` or `tcp6`, as netstat writes them: the transport
/// and, for IPv6, the family.
pub fn transport_on(t: Transport, ipv6: bool) -> String {
    if ipv6 {
        format!("{t}6")
    } else {
        t.to_string()
    }
}

/// How a server answers for a zone it is named for (in the zone's NS set
/// or its parent's delegation) but does not serve: a lame delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lame {
    /// REFUSED: what a modern authoritative-only server without the zone says.
    Refused,
    /// NOERROR without the AA bit: a referral up to the root, as a server
    /// without a zone clause for it once answered.
    NoAa,
    /// No answer at all: the server is down or unreachable.
    Silent,
}

pub const LAME_MODES: [&str; 3] = ["refused", "no-aa", "silent"];

pub fn lame(s: &str) -> Result<Lame, String> {
    match s {
        "refused" => Ok(Lame::Refused),
        "no-aa" => Ok(Lame::NoAa),
        "silent" => Ok(Lame::Silent),
        _ => Err(format!("`{s}` is not a way to be lame; expected one of {}", LAME_MODES.join(", "))),
    }
}

/// The findings `dnslab audit` can report, by rule name.
pub const FINDINGS: [&str; 7] = [
    "lame-delegation",
    "open-resolver",
    "no-localhost-zone",
    "no-rfc1918-zones",
    "bad-soa-rname",
    "relative-name",
    "glue-mismatch",
];

/// Node, network and counter names: they become interface names and appear
/// in commands, so keep them plain.
pub fn ident(s: &str, max: usize) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` must be 1-{max} characters of a-z, 0-9 and `-`, starting with a letter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(ports("600-1023").unwrap(), Ports { lo: 600, hi: 1023 });
        assert!(ports("0-10").is_err() && ports("70000").is_err() && ports("9-3").is_err());
        assert_eq!(port_spec("random").unwrap(), PortSpec::Random);
        assert!(addr("10.0.0.1").is_err() && addr("203.0.113.7").is_ok() && addr("2001:db8::1").is_ok());
        assert_eq!(ask("live.com mx").unwrap().1, RecordType::MX);
        assert!(ask("live.com").is_err() && ask("live.com BOGUS").is_err());
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
    }
}
