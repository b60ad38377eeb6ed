//! Firewall and NAT rules as data, rendered to one nft script per node and
//! loaded with `nft -f -` inside the node. Text is easy to review, to
//! snapshot, and a user sees the same with `dnslab exec NODE -- nft list ruleset`.

use std::fmt::Write;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Name of the table that holds every rule dnslab adds in a node.
pub const TABLE: &str = "dnslab";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Drop,
    Reject,
    Accept,
}

impl Action {
    /// The word a scenario writes: `drop`, `reject`, `accept`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Accept => "accept",
        }
    }
}

/// An inclusive port range; `lo == hi` is one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ports {
    pub lo: u16,
    pub hi: u16,
}

impl Ports {
    pub fn one(p: u16) -> Ports {
        Ports { lo: p, hi: p }
    }
    pub fn contains(&self, p: u16) -> bool {
        (self.lo..=self.hi).contains(&p)
    }
}

impl std::fmt::Display for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// An address family a rule is limited to (`meta nfproto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 only: `meta nfproto ipv4`.
    Ip,
    /// IPv6 only: `meta nfproto ipv6`.
    Ip6,
}

/// A filter rule on forwarded traffic, counted in a named counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Also the name of its nft counter; `[a-z][a-z0-9_]*`.
    pub name: String,
    pub protos: Vec<L4>,
    pub dport: Option<Ports>,
    pub sport: Option<Ports>,
    pub except_sport: Vec<u16>,
    pub action: Action,
    /// Only this family; `None`: both (the table is `inet`).
    #[serde(default)]
    pub family: Option<Family>,
}

/// Source NAT for traffic leaving through `out_iface`, optionally into a
/// chosen port range (the kernel's conntrack picks a free port in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snat {
    pub out_iface: String,
    pub to: IpAddr,
    pub ports: Option<Ports>,
}

/// What every counter's name in the ruleset starts with. A scenario's name
/// for a counter may be an nft keyword (`all`, `drop`, `ip`, ...), which nft
/// refuses as a counter's name, quoted or not (nft 1.0.6: `counter all { }`
/// and `counter "all" { }` are syntax errors); with the prefix it never is.
/// [`crate::Lab::counters`] strips it again.
pub const COUNTER_PREFIX: &str = "dnslab_";

/// Is `name` usable as a counter's name (before [`COUNTER_PREFIX`])?
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase()) && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn set<T: std::fmt::Display>(items: &[T]) -> String {
    match items {
        [one] => one.to_string(),
        many => format!("{{ {} }}", many.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl std::fmt::Display for L4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            L4::Udp => "udp",
            L4::Tcp => "tcp",
        })
    }
}

/// The nft script for one node, or `None` when it has no rules.
pub fn render(filters: &[Filter], snat: &[Snat]) -> Option<String> {
    if filters.is_empty() && snat.is_empty() {
        return None;
    }
    let mut s = format!("table inet {TABLE} {{\n");
    for f in filters {
        let _ = writeln!(s, "  counter {COUNTER_PREFIX}{} {{ }}", f.name);
    }
    if !filters.is_empty() {
        s += "  chain forward_filter {\n    type filter hook forward priority filter; policy accept;\n";
        for f in filters {
            let family = match f.family {
                Some(Family::Ip) => "meta nfproto ipv4 ",
                Some(Family::Ip6) => "meta nfproto ipv6 ",
                None => "",
            };
            let _ = write!(s, "    {family}meta l4proto {}", set(&f.protos));
            if let Some(p) = f.dport {
                let _ = write!(s, " th dport {p}");
            }
            if let Some(p) = f.sport {
                let _ = write!(s, " th sport {p}");
            }
            if !f.except_sport.is_empty() {
                let _ = write!(s, " th sport != {}", set(&f.except_sport));
            }
            // A reject answers with ICMP "administratively prohibited", as
            // firewalld does: to the sender, an error it can tell from silence
            // (and from a RST, which only a host without a listener sends).
            let action = match f.action {
                Action::Reject => "reject with icmpx admin-prohibited",
                other => other.name(),
            };
            let _ = writeln!(s, " counter name \"{COUNTER_PREFIX}{}\" {action}", f.name);
        }
        s += "  }\n";
    }
    if !snat.is_empty() {
        s += "  chain postrouting_nat {\n    type nat hook postrouting priority srcnat; policy accept;\n";
        for n in snat {
            let fam = if n.to.is_ipv6() { "ip6" } else { "ip" };
            let to = if n.to.is_ipv6() { format!("[{}]", n.to) } else { n.to.to_string() };
            if let Some(p) = n.ports {
                // A port range needs a transport protocol in the rule.
                let _ = writeln!(
                    s,
                    "    oifname \"{}\" meta nfproto ipv{} meta l4proto {{ tcp, udp }} snat {fam} to {to}:{p}",
                    n.out_iface,
                    if n.to.is_ipv6() { 6 } else { 4 }
                );
            }
            let _ = writeln!(
                s,
                "    oifname \"{}\" meta nfproto ipv{} snat {fam} to {to}",
                n.out_iface,
                if n.to.is_ipv6() { 6 } else { 4 }
            );
        }
        s += "  }\n";
    }
    s += "}\n";
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowport_rule_reads_like_the_seed() {
        let f = Filter {
            name: "lowport_drop".into(),
            protos: vec![L4::Udp, L4::Tcp],
            dport: Some(Ports::one(53)),
            sport: Some(Ports { lo: 1, hi: 1023 }),
            except_sport: vec![53],
            action: Action::Drop,
            family: None,
        };
        let n = Snat {
            out_iface: "internet".into(),
            to: "203.0.113.30".parse().unwrap(),
            ports: Some(Ports { lo: 600, hi: 1023 }),
        };
        let text = render(&[f], &[n]).unwrap();
        assert!(
            text.contains("meta l4proto { udp, tcp } th dport 53 th sport 1-1023 th sport != 53 counter name \"dnslab_lowport_drop\" drop"),
            "{text}"
        );
        assert!(text.contains("snat ip to 203.0.113.30:600-1023"), "{text}");
    }

    #[test]
    fn a_rule_for_one_family_says_so() {
        let f = |family| Filter {
            name: "v6_dns_drop".into(),
            protos: vec![L4::Udp],
            dport: Some(Ports::one(53)),
            sport: None,
            except_sport: vec![],
            action: Action::Reject,
            family,
        };
        let text = render(&[f(Some(Family::Ip6))], &[]).unwrap();
        assert!(
            text.contains("meta nfproto ipv6 meta l4proto udp th dport 53 counter name \"dnslab_v6_dns_drop\" reject with icmpx admin-prohibited"),
            "{text}"
        );
        assert!(render(&[f(Some(Family::Ip))], &[]).unwrap().contains("meta nfproto ipv4 meta l4proto"));
        assert!(!render(&[f(None)], &[]).unwrap().contains("nfproto"));
    }
}
