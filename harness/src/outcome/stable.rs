//! The snapshot form of an outcome: everything that varies between runs
//! bucketed (times, ports, loss counts) or left out (TTLs, message IDs,
//! EDNS cookies and padding, which server of a group was picked).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use super::{matches_template, Outcome, QueryResult};
use crate::answer::{Reply, Rr};
use crate::dns::PortClass;
use crate::scenario::values::{transport_on, Transport};

/// Coarse buckets for times, so snapshots survive a slow machine.
pub fn time_bucket(ms: u64) -> &'static str {
    match ms {
        0..=99 => "<0.1s",
        100..=999 => "0.1-1s",
        1000..=4999 => "1-5s",
        _ => ">=5s",
    }
}

/// How much of what was sent got lost: the count itself depends on retry
/// timers, the share of it on the network.
pub fn lost_bucket(sent: u32, lost: u32) -> &'static str {
    match (sent, lost) {
        (_, 0) => "none",
        (s, l) if l >= s => "all",
        _ => "some",
    }
}

fn port_label(p: u16) -> String {
    PortClass::of(p).to_string()
}

fn who(addr: SocketAddr, owner: &impl Fn(IpAddr) -> String) -> String {
    format!("{} from {} port", owner(addr.ip()), port_label(addr.port()))
}

impl Outcome {
    /// Is `q` one of a counted query's names (judged by its rate, not alone)?
    pub fn is_counted(&self, q: &QueryResult) -> bool {
        self.rates
            .iter()
            .any(|r| r.resolver == q.resolver && matches_template(&q.qname, r.ask.split(' ').next().unwrap_or("")))
    }

    /// The outcome with everything that varies between runs bucketed or
    /// dropped: the snapshot form. `owner` names the node at an address.
    ///
    /// Servers that serve the same zones are one group (`ns1.msft.net|ns2.msft.net`):
    /// which of them a resolver picks is its own random choice. `group` names
    /// a server's group.
    ///
    /// `own_choice(qname, qtype)` says an upstream question is the
    /// resolver's own housekeeping, whose timing or very presence is its
    /// choice, not the scenario's: the priming of the root (RFC 8109: the
    /// root's NS set and its servers' own names), and a name server's address
    /// of a family it has none of. Such questions are left out.
    ///
    /// `either_family(host)` says a server has addresses of both families:
    /// which one a resolver uses for it is the resolver's own choice, so its
    /// traffic is shown without the family (`udp`, never `udp6`).
    pub fn stable(
        &self,
        owner: impl Fn(IpAddr) -> String,
        group: impl Fn(&str) -> String,
        own_choice: impl Fn(&str, &str) -> bool,
        either_family: impl Fn(&str) -> bool,
    ) -> serde_json::Value {
        // Counted queries are judged by their rates; their names collapse to the
        // template. Where there are rates, the port a packet leaves from is
        // random by design, so only the counted names' traffic is shown.
        let templates: Vec<String> = self.rates.iter().map(|r| r.ask.split(' ').next().unwrap_or("").to_string()).collect();
        let name = |n: &str| templates.iter().find(|t| matches_template(n, t)).cloned().unwrap_or_else(|| n.to_string());
        let probes: Vec<String> = self
            .probes
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} @{} {} port {} ({}) -> {}{}",
                    p.from,
                    p.qname,
                    p.qtype,
                    p.server,
                    p.transport_label(),
                    p.requested_port,
                    port_label(p.source_port),
                    answer(&p.reply, &p.verdict.outcome),
                    if p.verdict.ok { "" } else { "  << UNEXPECTED" }
                )
            })
            .collect();
        let mut queries: Vec<String> = self
            .queries
            .iter()
            .filter(|q| name(&q.qname) == q.qname)
            .map(|q| {
                // What an open resolver lends an attacker, bucketed.
                let amplifies = match q.amplification() {
                    Some(x) if x >= 10.0 => " amplifies 10x+",
                    _ => "",
                };
                format!(
                    "{} -> {} {} {} {} -> {}{amplifies}{}",
                    q.from,
                    q.resolver,
                    q.qname,
                    q.qtype,
                    q.transport_label(),
                    answer(&q.reply, &q.verdict.outcome),
                    if q.verdict.ok { "" } else { "  << UNEXPECTED" }
                )
            })
            .collect();
        queries.sort();
        let firewalls: BTreeMap<&String, BTreeMap<&String, &str>> = self
            .firewalls
            .iter()
            .map(|(n, c)| (n, c.iter().map(|(k, v)| (k, if *v == 0 { "0" } else { "some" })).collect()))
            .collect();
        let rates: Vec<String> = self
            .rates
            .iter()
            .map(|r| {
                let bounds: Vec<String> = r
                    .expect
                    .iter()
                    .map(|b| format!("{} in [{}, {}]", b.rate, b.min.unwrap_or(0.0), b.max.unwrap_or(1.0)))
                    .collect();
                format!(
                    "{} {} x{}: {}",
                    r.resolver,
                    r.ask,
                    r.sent,
                    if r.ok {
                        format!("ok ({})", bounds.join(", "))
                    } else {
                        format!("MISSED: {}", r.misses().join("; "))
                    }
                )
            })
            .collect();
        // Where there are rates, which packets are lost is chance, and so is
        // what a resolver does next (unbound may mark both servers down and
        // fail every name): the rates and counters are the stable record.
        let (resolvers, servers) = if templates.is_empty() {
            (
                serde_json::json!(self.stable_resolvers(&group, &own_choice, &either_family)),
                serde_json::json!(self.stable_servers(&owner, &group, &own_choice, &either_family)),
            )
        } else {
            let status: BTreeMap<&String, String> = self
                .resolvers
                .iter()
                .map(|(n, r)| (n, r.status.lines().next().unwrap_or("").to_string()))
                .collect();
            (serde_json::json!(status), serde_json::json!(null))
        };
        serde_json::json!({
            "schema_version": self.schema_version,
            "scenario": self.scenario,
            "rates": rates,
            "kind": self.kind,
            "probes": probes,
            "queries": queries,
            "resolvers": resolvers,
            "servers": servers,
            "firewalls": firewalls,
            "failures": self.failures.len(),
        })
    }

    /// Each resolver's upstream traffic, grouped and bucketed (no counted queries).
    fn stable_resolvers(
        &self,
        group: &impl Fn(&str) -> String,
        own_choice: &impl Fn(&str, &str) -> bool,
        either_family: &impl Fn(&str) -> bool,
    ) -> BTreeMap<&String, serde_json::Value> {
        self.resolvers
            .iter()
            .map(|(node, r)| {
                // One line per server group, name and port class, before bucketing.
                type Key = (String, String, String, String, PortClass);
                let mut sums: BTreeMap<Key, (u32, u32, BTreeSet<PortClass>, u32)> = BTreeMap::new();
                for u in r.upstream.iter().filter(|u| !own_choice(&u.qname, &u.qtype)) {
                    let e = sums
                        .entry((
                            group(&u.server),
                            u.qname.clone(),
                            u.qtype.clone(),
                            transport_on(u.transport, u.ipv6 && !either_family(&u.server)),
                            u.port_class,
                        ))
                        .or_default();
                    e.0 += u.sent;
                    e.1 += u.lost;
                    e.2.extend(u.seen_as);
                    e.3 += u.tcp_connects;
                }
                let mut upstream: Vec<String> = collapse_dead(sums)
                    .into_iter()
                    .map(|((server, qname, qtype, transport, class), (sent, lost, seen, connects))| {
                        let seen: Vec<String> = seen.iter().map(|c| c.to_string()).collect();
                        format!(
                            "{server} {qname}{} {transport} from {class} ports{}: lost {}{}",
                            if qtype.is_empty() { String::new() } else { format!(" {qtype}") },
                            if seen.is_empty() {
                                String::new()
                            } else {
                                format!(" (seen as {})", seen.join("/"))
                            },
                            lost_bucket(sent, lost),
                            if connects > 0 { ", with tcp connects" } else { "" }
                        )
                    })
                    .collect();
                upstream.sort();
                upstream.dedup();
                let status = r.status.lines().next().unwrap_or("").to_string();
                // How long it takes to give up: the slowest failure, bucketed. (Later
                // failures may come at once from its cache of dead servers, or not,
                // depending on timers; the first one shows its patience.)
                let gives_up = self
                    .queries
                    .iter()
                    .filter(|q| &q.resolver == node && !q.reply.rcode.resolved())
                    .map(|q| q.elapsed_ms)
                    .max()
                    .map(time_bucket);
                // Which servers saw names that should never have left (not how often).
                let leaked: BTreeMap<&String, BTreeSet<String>> = r.leaked.iter().map(|(c, to)| (c, to.keys().map(|s| group(s)).collect())).collect();
                let mut entry = serde_json::json!({ "status": status, "source_ports": r.source_ports, "upstream": upstream, "gives_up_in": gives_up });
                if !leaked.is_empty() {
                    entry["leaked_to"] = serde_json::json!(leaked);
                }
                (node, entry)
            })
            .collect()
    }

    /// What each group of servers received, without counts (no counted queries).
    fn stable_servers(
        &self,
        owner: &impl Fn(IpAddr) -> String,
        group: &impl Fn(&str) -> String,
        own_choice: &impl Fn(&str, &str) -> bool,
        either_family: &impl Fn(&str) -> bool,
    ) -> BTreeMap<String, Vec<String>> {
        let mut grouped: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (s, log) in &self.servers {
            let counts = grouped.entry(group(s)).or_default();
            let family_shown = !either_family(s);
            for r in log.iter().filter(|r| !own_choice(&r.qname, &r.qtype)) {
                *counts
                    .entry(format!(
                        "{} {} {} {} -> {}{}",
                        who(r.src, owner),
                        transport_on(r.transport, r.src.is_ipv6() && family_shown),
                        r.qname,
                        r.qtype,
                        r.rcode,
                        if r.aa { " aa" } else { "" }
                    ))
                    .or_default() += 1;
            }
        }
        // How often a query arrived depends on retransmit timers; whether it did, does not.
        // A server that saw only left-out traffic (the resolver's own choice) is left out too.
        grouped
            .into_iter()
            .filter(|(_, counts)| !counts.is_empty())
            .map(|(g, counts)| (g, counts.into_keys().collect()))
            .collect()
    }
}

/// One answer in the snapshot form: its outcome word, flags, each section
/// sorted and without TTLs, EDNS without the data of its options (cookies
/// and padding are random), EDE codes, and the transports it took. No
/// answer at all: the word, and the patience it took as a bucket.
pub fn answer(r: &Reply, outcome: &str) -> String {
    let via = r.via();
    if r.rcode.rcode().is_none() {
        // The last attempt's patience (the UDP try before it took as long
        // as the machine's load made it).
        let waited = r.attempts.last().map_or(0, |a| a.elapsed_ms);
        return format!("{outcome} in {} via {via}", time_bucket(waited));
    }
    let section = |rrs: &[Rr]| {
        let mut v: Vec<String> = rrs
            .iter()
            .map(|x| format!("{} {} {}", x.name.to_ascii_lowercase(), x.rtype, x.data.to_ascii_lowercase()))
            .collect();
        v.sort();
        v.dedup();
        v.join(", ")
    };
    let flags: Vec<&str> = r.flags.iter().map(|f| f.name()).collect();
    let mut s = format!("{outcome} ({}) [{}]", flags.join(" "), section(&r.answer));
    for (label, rrs) in [("authority", &r.authority), ("additional", &r.additional)] {
        if !rrs.is_empty() {
            s += &format!(" {label} [{}]", section(rrs));
        }
    }
    match &r.edns {
        None => s += " no edns",
        Some(e) => {
            let mut opts: Vec<&str> = e.options.iter().map(|o| o.name.as_str()).collect();
            opts.sort();
            opts.dedup();
            s += &format!(" edns{} {}{}", e.version, e.udp_size, if e.dnssec_ok { " do" } else { "" });
            if !opts.is_empty() {
                s += &format!(" {}", opts.join(" "));
            }
            let mut codes: Vec<(u16, &str)> = e.ede.iter().map(|x| (x.code, x.name.as_str())).collect();
            codes.sort();
            codes.dedup();
            for (code, name) in codes {
                s += &format!(" ede {code} {name}");
            }
        }
    }
    if via != Transport::Udp.to_string() {
        s += &format!(" via {via}");
    }
    s
}

/// Upstream sums keyed by (server group, qname, qtype, transport, port class).
type UpstreamSums = BTreeMap<(String, String, String, String, PortClass), (u32, u32, BTreeSet<PortClass>, u32)>;

/// A server that got none of a resolver's questions over a transport and
/// port class is dead to it; which names the resolver tried on it before
/// giving up is its own timers' choice (kresd, run by run: the name asked,
/// the server's own address, or both). Those lines become one, with the
/// names as `(every question)`.
fn collapse_dead(sums: UpstreamSums) -> UpstreamSums {
    let mut alive: BTreeSet<(String, String, PortClass)> = BTreeSet::new();
    let mut asked: BTreeSet<(String, String, PortClass)> = BTreeSet::new();
    for ((server, _, _, transport, class), (sent, lost, _, _)) in &sums {
        let key = (server.clone(), transport.clone(), *class);
        if *sent > 0 {
            asked.insert(key.clone());
        }
        if lost < sent {
            alive.insert(key);
        }
    }
    let mut out = UpstreamSums::new();
    for ((server, qname, qtype, transport, class), v) in sums {
        let key = (server.clone(), transport.clone(), class);
        let dead = v.0 > 0 && asked.contains(&key) && !alive.contains(&key);
        let (qname, qtype) = if dead {
            ("(every question)".to_string(), String::new())
        } else {
            (qname, qtype)
        };
        let e = out.entry((server, qname, qtype, transport, class)).or_default();
        e.0 += v.0;
        e.1 += v.1;
        e.2.extend(v.2);
        e.3 += v.3;
    }
    out
}
