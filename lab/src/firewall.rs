//! Firewall and NAT rules as data, rendered to one nft script per node and
//! loaded with `nft -f -` inside the node. Text is easy to review, to
//! snapshot, and a user sees the same with `dnslab exec NODE -- nft list ruleset`.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
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

/// Which IP fragments a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fragments {
    /// Every fragment, the first (with the ports) among them:
    /// `ip frag-off & 0x3fff != 0`, or an IPv6 fragment header.
    All,
    /// Only the fragments after the first (no transport header, no ports):
    /// `ip frag-off & 0x1fff != 0`, or `frag frag-off != 0`.
    NonFirst,
}

/// A comparison of the DNS message size in a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// `>`, `>=`, `<`, `<=` or `==`.
    pub op: SizeOp,
    /// Bytes of the DNS message (the UDP payload).
    pub bytes: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SizeOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl SizeOp {
    fn nft(self) -> &'static str {
        match self {
            SizeOp::Gt => ">",
            SizeOp::Ge => ">=",
            SizeOp::Lt => "<",
            SizeOp::Le => "<=",
            SizeOp::Eq => "==",
        }
    }
}

/// A filter rule, counted in a named counter: on forwarded traffic, or,
/// for a rule on fragments, on every packet before the kernel reassembles
/// it (a NAT or any conntrack reassembles at prerouting priority -400, and
/// a forward chain then never sees a fragment).
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
    /// Source addresses it matches; empty: any. Of both families: one nft
    /// rule per family.
    #[serde(default)]
    pub saddr: Vec<IpNet>,
    #[serde(default)]
    pub daddr: Vec<IpNet>,
    /// The interface a packet arrives on (`iifname`).
    #[serde(default)]
    pub iif: Option<String>,
    /// The interface a packet leaves by (`oifname`); not with `fragments`.
    #[serde(default)]
    pub oif: Option<String>,
    #[serde(default)]
    pub fragments: Option<Fragments>,
    /// The DNS message size over UDP (`udp length`, 8 bytes more).
    #[serde(default)]
    pub size: Option<Size>,
}

impl Filter {
    /// A rule with only its name, protocols and action set.
    pub fn new(name: &str, protos: Vec<L4>, action: Action) -> Filter {
        Filter {
            name: name.into(),
            protos,
            dport: None,
            sport: None,
            except_sport: vec![],
            action,
            family: None,
            saddr: vec![],
            daddr: vec![],
            iif: None,
            oif: None,
            fragments: None,
            size: None,
        }
    }

    /// Can no packet match it? (Its sources and destinations, and its
    /// `family`, share no IP version: it renders to no rule at all.)
    pub fn matches_nothing(&self) -> bool {
        self.lines().is_empty()
    }

    /// Its nft rules: one per family its addresses (or `family`) allow;
    /// `[]` when no family can match (its `saddr` are all IPv4 and its
    /// `daddr` all IPv6).
    fn lines(&self) -> Vec<String> {
        let of = |nets: &[IpNet], f: Family| -> Option<Vec<IpNet>> {
            let v: Vec<IpNet> = nets.iter().copied().filter(|n| matches!(n, IpNet::V6(_)) == (f == Family::Ip6)).collect();
            (nets.is_empty() || !v.is_empty()).then_some(v)
        };
        // Addresses and fragments are matched per family (`ip` or `ip6`);
        // a rule without them is one rule for both, unless `family` says.
        let per_family = !self.saddr.is_empty() || !self.daddr.is_empty() || self.fragments.is_some();
        let fams: Vec<Option<Family>> = match (per_family, self.family) {
            (_, Some(f)) => vec![Some(f)],
            (true, None) => vec![Some(Family::Ip), Some(Family::Ip6)],
            (false, None) => vec![None],
        };
        let mut out = Vec::new();
        for fam in fams {
            let mut line = String::new();
            let (s, d) = match fam {
                None => (vec![], vec![]),
                Some(f) => match (of(&self.saddr, f), of(&self.daddr, f)) {
                    (Some(s), Some(d)) => (s, d),
                    _ => continue,
                },
            };
            line += match fam {
                Some(Family::Ip) => "meta nfproto ipv4 ",
                Some(Family::Ip6) => "meta nfproto ipv6 ",
                None => "",
            };
            if let Some(i) = &self.iif {
                let _ = write!(line, "iifname \"{i}\" ");
            }
            if let Some(o) = &self.oif {
                let _ = write!(line, "oifname \"{o}\" ");
            }
            let ip = if fam == Some(Family::Ip6) { "ip6" } else { "ip" };
            if !s.is_empty() {
                let _ = write!(line, "{ip} saddr {} ", set(&s));
            }
            if !d.is_empty() {
                let _ = write!(line, "{ip} daddr {} ", set(&d));
            }
            line += match (self.fragments, fam) {
                (Some(Fragments::All), Some(Family::Ip)) => "ip frag-off & 0x3fff != 0 ",
                (Some(Fragments::NonFirst), Some(Family::Ip)) => "ip frag-off & 0x1fff != 0 ",
                (Some(Fragments::All), Some(Family::Ip6)) => "exthdr frag exists ",
                (Some(Fragments::NonFirst), Some(Family::Ip6)) => "frag frag-off != 0 ",
                _ => "",
            };
            let _ = write!(line, "meta l4proto {}", set(&self.protos));
            if let Some(p) = self.dport {
                let _ = write!(line, " th dport {p}");
            }
            if let Some(p) = self.sport {
                let _ = write!(line, " th sport {p}");
            }
            if !self.except_sport.is_empty() {
                let _ = write!(line, " th sport != {}", set(&self.except_sport));
            }
            if let Some(sz) = self.size {
                // The UDP length field counts its 8-byte header.
                let _ = write!(line, " udp length {} {}", sz.op.nft(), u32::from(sz.bytes) + 8);
            }
            // A reject answers with ICMP "administratively prohibited", as
            // firewalld does: to the sender, an error it can tell from
            // silence (and from a RST, which only a host without a
            // listener sends).
            let action = match self.action {
                Action::Reject => "reject with icmpx admin-prohibited",
                other => other.name(),
            };
            let _ = write!(line, " counter name \"{COUNTER_PREFIX}{}\" {action}", self.name);
            out.push(line);
        }
        out
    }
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
    let (frag, forward): (Vec<&Filter>, Vec<&Filter>) = filters.iter().partition(|f| f.fragments.is_some());
    // Fragments are judged before conntrack reassembles them (-400).
    for (chain, hook, rules) in [
        ("prerouting_fragments", "prerouting priority -450", &frag),
        ("forward_filter", "forward priority filter", &forward),
    ] {
        if rules.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  chain {chain} {{\n    type filter hook {hook}; policy accept;");
        for line in rules.iter().flat_map(|f| f.lines()) {
            let _ = writeln!(s, "    {line}");
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
            dport: Some(Ports::one(53)),
            sport: Some(Ports { lo: 1, hi: 1023 }),
            except_sport: vec![53],
            ..Filter::new("lowport_drop", vec![L4::Udp, L4::Tcp], Action::Drop)
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
            dport: Some(Ports::one(53)),
            family,
            ..Filter::new("v6_dns_drop", vec![L4::Udp], Action::Reject)
        };
        let text = render(&[f(Some(Family::Ip6))], &[]).unwrap();
        assert!(
            text.contains("meta nfproto ipv6 meta l4proto udp th dport 53 counter name \"dnslab_v6_dns_drop\" reject with icmpx admin-prohibited"),
            "{text}"
        );
        assert!(render(&[f(Some(Family::Ip))], &[]).unwrap().contains("meta nfproto ipv4 meta l4proto"));
        assert!(!render(&[f(None)], &[]).unwrap().contains("nfproto"));
    }

    #[test]
    fn fragments_addresses_interfaces_and_sizes_render_as_nft_matches_them() {
        let frag = Filter {
            fragments: Some(Fragments::NonFirst),
            iif: Some("internet".into()),
            ..Filter::new("frag_drop", vec![L4::Udp], Action::Drop)
        };
        let text = render(&[frag], &[]).unwrap();
        assert!(
            text.contains("chain prerouting_fragments {\n    type filter hook prerouting priority -450; policy accept;"),
            "{text}"
        );
        assert!(
            text.contains("meta nfproto ipv4 iifname \"internet\" ip frag-off & 0x1fff != 0 meta l4proto udp counter"),
            "{text}"
        );
        assert!(
            text.contains("meta nfproto ipv6 iifname \"internet\" frag frag-off != 0 meta l4proto udp counter"),
            "{text}"
        );
        assert!(!text.contains("forward_filter"), "{text}");
        let big = Filter {
            sport: Some(Ports::one(53)),
            size: Some(Size { op: SizeOp::Gt, bytes: 1232 }),
            saddr: vec!["198.51.100.0/28".parse().unwrap(), "2001:db8:1::/64".parse().unwrap()],
            oif: Some("lan".into()),
            ..Filter::new("big_drop", vec![L4::Udp], Action::Drop)
        };
        let text = render(&[big], &[]).unwrap();
        assert!(
            text.contains("meta nfproto ipv4 oifname \"lan\" ip saddr 198.51.100.0/28 meta l4proto udp th sport 53 udp length > 1240 counter"),
            "{text}"
        );
        assert!(
            text.contains("meta nfproto ipv6 oifname \"lan\" ip6 saddr 2001:db8:1::/64 meta l4proto udp"),
            "{text}"
        );
        // IPv4 sources to IPv6 destinations: no packet is both.
        let none = Filter {
            saddr: vec!["192.0.2.0/24".parse().unwrap()],
            daddr: vec!["2001:db8::/32".parse().unwrap()],
            ..Filter::new("never", vec![L4::Udp], Action::Drop)
        };
        assert!(none.lines().is_empty());
    }
}
