//! What happened in a run, as plain serde data with sorted keys: every
//! report, the JSON output and the snapshots are made from an [`Outcome`].
//! A SERVFAIL or a timeout is a result here, never an error.
//! [`Outcome::stable`] buckets what varies from run to run (ports, times,
//! retry counts) so snapshots stay identical.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::capture::Sent;
use crate::dns::PortClass;
use crate::nameserver::Received;
use crate::resolver::Kind;
use crate::scenario::values::Transport;
use crate::scenario::RateBound;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub scenario: String,
    /// The resolver kind this run used on every resolver node.
    pub kind: Kind,
    pub probes: Vec<ProbeResult>,
    pub queries: Vec<QueryResult>,
    /// resolver node -> what it is and what it did upstream
    pub resolvers: BTreeMap<String, ResolverReport>,
    /// server host name -> queries it received, in order
    pub servers: BTreeMap<String, Vec<Received>>,
    /// firewall node -> counter -> packets
    pub firewalls: BTreeMap<String, BTreeMap<String, u64>>,
    /// For counted queries: rates and latency over all their names.
    #[serde(default)]
    pub rates: Vec<RateResult>,
    pub timings: Timings,
    /// Every expectation that did not hold.
    pub failures: Vec<String>,
    /// Every DNS message of the run in time order, followed hop by hop:
    /// what ladder diagrams are drawn from.
    #[serde(default)]
    pub messages: Vec<crate::wire::Message>,
}

/// A counted query through one resolver, summarised: intermittent
/// behaviour is judged as a rate with a tolerance, never per query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    pub resolver: String,
    /// The name as written, with `{i}`, and the type.
    pub ask: String,
    pub sent: u32,
    pub noerror_rate: f64,
    pub servfail_rate: f64,
    pub nxdomain_rate: f64,
    pub timeout_rate: f64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub max_ms: u64,
    pub expect: Vec<RateBound>,
    pub ok: bool,
}

impl RateResult {
    pub fn rate(&self, name: &str) -> f64 {
        match name {
            "noerror_rate" => self.noerror_rate,
            "servfail_rate" => self.servfail_rate,
            "nxdomain_rate" => self.nxdomain_rate,
            _ => self.timeout_rate,
        }
    }

    /// Each bound that does not hold, in words.
    pub fn misses(&self) -> Vec<String> {
        self.expect
            .iter()
            .filter_map(|b| {
                let r = self.rate(&b.rate);
                let low = b.min.is_some_and(|m| r < m);
                let high = b.max.is_some_and(|m| r > m);
                (low || high).then(|| format!("{} {:.3} is outside [{}, {}]", b.rate, r, b.min.unwrap_or(0.0), b.max.unwrap_or(1.0)))
            })
            .collect()
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Rates per (resolver, counted query), from the individual results. Bounds
/// for this kind (`NODE@KIND`) replace the general ones for the same rate.
pub fn rates(queries: &[QueryResult], specs: &[crate::scenario::QuerySpec], kind: Kind) -> Vec<RateResult> {
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| s.count.is_some()) {
        let q = &spec.query;
        let Some(template) = &q.template else { continue };
        let group: Vec<&QueryResult> = queries
            .iter()
            .filter(|r| r.resolver == q.via && r.qtype == q.qtype && matches_template(&r.qname, template))
            .collect();
        if group.is_empty() {
            continue;
        }
        let n = group.len() as f64;
        let share = |rc: &str| group.iter().filter(|r| r.rcode == rc).count() as f64 / n;
        let mut times: Vec<u64> = group.iter().map(|r| r.elapsed_ms).collect();
        times.sort();
        let mut r = RateResult {
            resolver: q.via.clone(),
            ask: format!("{template} {}", q.qtype),
            sent: group.len() as u32,
            noerror_rate: share("NOERROR"),
            servfail_rate: share("SERVFAIL"),
            nxdomain_rate: share("NXDOMAIN"),
            timeout_rate: share("TIMEOUT"),
            p50_ms: percentile(&times, 0.5),
            p90_ms: percentile(&times, 0.9),
            max_ms: times.last().copied().unwrap_or(0),
            expect: q
                .expect_rates
                .iter()
                .filter(|b| match b.kind {
                    Some(k) => k == kind,
                    None => !q.expect_rates.iter().any(|o| o.kind == Some(kind) && o.rate == b.rate),
                })
                .cloned()
                .collect(),
            ok: true,
        };
        r.ok = r.misses().is_empty();
        out.push(r);
    }
    out
}

/// Does `name` come from `template` (`q{i}.w.live.com.` matches `q17.w.live.com.`)?
pub fn matches_template(name: &str, template: &str) -> bool {
    let Some((pre, post)) = template.split_once(crate::scenario::values::INDEX) else {
        return false;
    };
    name.len() > pre.len() + post.len()
        && name[..pre.len()].eq_ignore_ascii_case(pre)
        && name[name.len() - post.len()..].eq_ignore_ascii_case(post)
        && name[pre.len()..name.len() - post.len()].bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    pub from: String,
    /// The server's host name, e.g. `ns1.msft.net`.
    pub server: String,
    pub server_addr: IpAddr,
    pub qname: String,
    pub qtype: String,
    pub transport: Transport,
    /// As written in the scenario: `53`, `1000-1100`, `random`.
    pub requested_port: String,
    pub source_port: u16,
    pub rcode: String,
    pub answers: Vec<String>,
    pub elapsed_ms: u64,
    pub expect: Vec<String>,
    pub ok: bool,
    /// Why there was no answer, when the socket said (not a plain timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    pub from: String,
    /// The resolver node asked.
    pub resolver: String,
    pub kind: Kind,
    pub qname: String,
    pub qtype: String,
    pub rcode: String,
    pub answers: Vec<String>,
    pub elapsed_ms: u64,
    pub expect: Vec<String>,
    pub ok: bool,
    /// The query and the response on the wire: their ratio is what an
    /// open resolver amplifies.
    #[serde(default)]
    pub query_bytes: u32,
    #[serde(default)]
    pub response_bytes: u32,
}

impl QueryResult {
    /// Response bytes per query byte, when an answer came.
    pub fn amplification(&self) -> Option<f64> {
        (self.response_bytes > 0 && self.query_bytes > 0).then(|| self.response_bytes as f64 / self.query_bytes as f64)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolverReport {
    pub kind: Kind,
    pub version: String,
    /// `running`, or why it is not (failed to start, crashed: with log tail).
    pub status: String,
    pub source_ports: Option<String>,
    /// Upstream queries, grouped; see [`Upstream`].
    pub upstream: Vec<Upstream>,
    /// Queries for names that should never leave a resolver (RFC 1918
    /// reverse, localhost): class -> server -> copies sent.
    #[serde(default)]
    pub leaked: BTreeMap<String, BTreeMap<String, u32>>,
    /// Queries sent to servers that are lame for the zone asked about:
    /// server -> copies sent. Each one is a requery the seed warns about.
    #[serde(default)]
    pub to_lame: BTreeMap<String, u32>,
}

impl ResolverReport {
    /// Fills `leaked` and `to_lame` from `upstream`. `lame_for(server, qname)`
    /// says whether the server is lame for the zone of `qname`.
    pub fn count_waste(&mut self, lame_for: impl Fn(&str, &str) -> bool) {
        for u in &self.upstream {
            if let Some(class) = crate::dns::leak_class(&u.qname) {
                *self.leaked.entry(class.into()).or_default().entry(u.server.clone()).or_default() += u.sent;
            }
            if u.sent > 0 && lame_for(&u.server, &u.qname) {
                *self.to_lame.entry(u.server.clone()).or_default() += u.sent;
            }
        }
    }
}

/// What a resolver sent to one server for one question, over one transport,
/// from one class of source port, and how much of it arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Upstream {
    pub server: String,
    pub qname: String,
    pub qtype: String,
    pub transport: Transport,
    /// Port class as the resolver sent it (before any NAT).
    pub port_class: PortClass,
    /// Port class as the server saw it (after NAT); absent if none arrived.
    pub seen_as: Option<PortClass>,
    pub sent: u32,
    /// Sent but never received by the server: dropped on the way.
    pub lost: u32,
    /// TCP connection attempts (SYNs) towards this server.
    pub tcp_connects: u32,
    /// How many different source ports these copies left from: 1 with
    /// `sent` > 1 means retries on the same port (dnsmasq does that).
    #[serde(default)]
    pub ports_used: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub lab_up_ms: u64,
    pub servers_ready_ms: u64,
    pub resolvers_ready_ms: u64,
    pub probes_ms: u64,
    pub queries_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Does `rcode` meet `expect` (empty: anything goes)?
pub fn meets(rcode: &str, expect: &[String]) -> bool {
    expect.is_empty() || expect.iter().any(|e| e == rcode)
}

/// Groups what a resolver sent against what the servers received.
/// `host_of` names the server at an address.
pub fn upstream(sent: &[Sent], received: &[&Received], host_of: impl Fn(IpAddr) -> String) -> Vec<Upstream> {
    let mut groups: BTreeMap<(String, String, String, Transport, PortClass), Upstream> = BTreeMap::new();
    let mut ports: BTreeMap<(String, String, String, Transport), BTreeSet<u16>> = BTreeMap::new();
    let mut connects: BTreeMap<(String, PortClass), u32> = BTreeMap::new();
    let matched = match_arrivals(sent, received, &host_of);
    for (si, s) in sent.iter().enumerate() {
        let server = host_of(s.dst);
        let class = PortClass::of(s.sport);
        if s.syn {
            *connects.entry((server, class)).or_default() += 1;
            continue;
        }
        let (qname, qtype) = (s.qname.clone().unwrap_or_default(), s.qtype.clone().unwrap_or_default());
        let qname = if qname.is_empty() { ".".to_string() } else { qname };
        let arrived = matched[si].map(|ri| received[ri]);
        let g = groups
            .entry((server.clone(), qname.to_lowercase(), qtype.clone(), s.transport, class))
            .or_insert_with(|| Upstream {
                server,
                qname: qname.to_lowercase(),
                qtype,
                transport: s.transport,
                port_class: class,
                seen_as: None,
                sent: 0,
                lost: 0,
                tcp_connects: 0,
                ports_used: 0,
            });
        g.sent += 1;
        ports
            .entry((g.server.clone(), g.qname.clone(), g.qtype.clone(), g.transport))
            .or_default()
            .insert(s.sport);
        match arrived {
            Some(r) => g.seen_as = Some(PortClass::of(r.src.port())),
            None => g.lost += 1,
        }
    }
    let mut out: Vec<Upstream> = groups.into_values().collect();
    // Ports per question (all classes together: a retry may change class).
    for u in &mut out {
        u.ports_used = ports
            .get(&(u.server.clone(), u.qname.clone(), u.qtype.clone(), u.transport))
            .map_or(0, |p| p.len() as u32);
    }
    for ((server, class), n) in connects {
        match out
            .iter_mut()
            .find(|u| u.server == server && u.transport == Transport::Tcp && u.port_class == class)
        {
            Some(u) => u.tcp_connects += n,
            None => out.push(Upstream {
                server,
                qname: "(no query: connection never opened)".into(),
                qtype: String::new(),
                transport: Transport::Tcp,
                port_class: class,
                seen_as: None,
                sent: 0,
                lost: 0,
                tcp_connects: n,
                ports_used: 0,
            }),
        }
    }
    out.sort();
    out
}

/// Pairs each sent query with at most one arrival, and each arrival with at
/// most one send. A retry may reuse the query id from another port (and a
/// NAT changes the port anyway), so candidates are ranked: same source port
/// first, then closest in time; the lost copy of a retried query stays lost.
fn match_arrivals(sent: &[Sent], received: &[&Received], host_of: &impl Fn(IpAddr) -> String) -> Vec<Option<usize>> {
    let mut pairs = Vec::new();
    for (si, s) in sent.iter().enumerate().filter(|(_, s)| !s.syn) {
        let server = host_of(s.dst);
        let qname = s.qname.clone().filter(|q| !q.is_empty()).unwrap_or_else(|| ".".into());
        for (ri, r) in received.iter().enumerate() {
            let same = r.server == server
                && Some(r.id) == s.id
                && r.qname.eq_ignore_ascii_case(&qname)
                && Some(&r.qtype) == s.qtype.as_ref()
                && r.transport == s.transport;
            if same {
                pairs.push((r.src.port() != s.sport, r.at_ms.abs_diff(s.at_ms), si, ri));
            }
        }
    }
    pairs.sort();
    let mut by_sent = vec![None; sent.len()];
    let mut used = vec![false; received.len()];
    for (_, _, si, ri) in pairs {
        if by_sent[si].is_none() && !used[ri] {
            by_sent[si] = Some(ri);
            used[ri] = true;
        }
    }
    by_sent
}

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
    /// `priming(qname)` says a name belongs to the resolver's priming of the
    /// root (RFC 8109: the root's NS set and its servers' own names): when a
    /// resolver does that is its own timer, not the scenario, so it is left out.
    pub fn stable(&self, owner: impl Fn(IpAddr) -> String, group: impl Fn(&str) -> String, priming: impl Fn(&str) -> bool) -> serde_json::Value {
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
                    "{} {} {} @{} {} port {} ({}) -> {}{}{}",
                    p.from,
                    p.qname,
                    p.qtype,
                    p.server,
                    p.transport,
                    p.requested_port,
                    port_label(p.source_port),
                    p.rcode,
                    // An answer's time is the machine's load (a retry after a lost first
                    // packet); a timeout's is the probe's patience.
                    if p.rcode == crate::dns::TIMEOUT {
                        format!(" in {}", time_bucket(p.elapsed_ms))
                    } else {
                        String::new()
                    },
                    if p.ok { "" } else { "  << UNEXPECTED" }
                )
            })
            .collect();
        let mut queries: Vec<String> = self
            .queries
            .iter()
            .filter(|q| name(&q.qname) == q.qname)
            .map(|q| {
                // The answers' data, without owner and TTL (the TTL counts down in a cache).
                let mut data: Vec<String> = q.answers.iter().map(|a| a.split_whitespace().skip(3).collect::<Vec<_>>().join(" ")).collect();
                data.sort();
                // What an open resolver lends an attacker, bucketed.
                let amplifies = match q.amplification() {
                    Some(x) if x >= 10.0 => " amplifies 10x+",
                    _ => "",
                };
                format!(
                    "{} -> {} {} {} -> {} [{}]{amplifies}{}",
                    q.from,
                    q.resolver,
                    q.qname,
                    q.qtype,
                    q.rcode,
                    data.join(", "),
                    if q.ok { "" } else { "  << UNEXPECTED" }
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
                serde_json::json!(self.stable_resolvers(&group, &priming)),
                serde_json::json!(self.stable_servers(&owner, &group, &priming)),
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
    fn stable_resolvers(&self, group: &impl Fn(&str) -> String, priming: &impl Fn(&str) -> bool) -> BTreeMap<&String, serde_json::Value> {
        self.resolvers
            .iter()
            .map(|(node, r)| {
                // One line per server group, name and port class, before bucketing.
                type Key = (String, String, String, Transport, PortClass);
                let mut sums: BTreeMap<Key, (u32, u32, BTreeSet<PortClass>, u32)> = BTreeMap::new();
                for u in r.upstream.iter().filter(|u| !priming(&u.qname)) {
                    let e = sums
                        .entry((group(&u.server), u.qname.clone(), u.qtype.clone(), u.transport, u.port_class))
                        .or_default();
                    e.0 += u.sent;
                    e.1 += u.lost;
                    e.2.extend(u.seen_as);
                    e.3 += u.tcp_connects;
                }
                let mut upstream: Vec<String> = sums
                    .into_iter()
                    .map(|((server, qname, qtype, transport, class), (sent, lost, seen, connects))| {
                        let seen: Vec<String> = seen.iter().map(|c| c.to_string()).collect();
                        format!(
                            "{server} {qname} {qtype} {transport} from {class} ports{}: lost {}{}",
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
                    .filter(|q| &q.resolver == node && q.rcode != "NOERROR" && q.rcode != "NXDOMAIN")
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
        priming: &impl Fn(&str) -> bool,
    ) -> BTreeMap<String, Vec<String>> {
        let mut grouped: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (s, log) in &self.servers {
            let counts = grouped.entry(group(s)).or_default();
            for r in log.iter().filter(|r| !priming(&r.qname)) {
                *counts
                    .entry(format!(
                        "{} {} {} {} -> {}{}",
                        who(r.src, owner),
                        r.transport,
                        r.qname,
                        r.qtype,
                        r.rcode,
                        if r.aa { " aa" } else { "" }
                    ))
                    .or_default() += 1;
            }
        }
        // How often a query arrived depends on retransmit timers; whether it did, does not.
        // A server that saw only left-out traffic (priming) is left out too.
        grouped
            .into_iter()
            .filter(|(_, counts)| !counts.is_empty())
            .map(|(g, counts)| (g, counts.into_keys().collect()))
            .collect()
    }
}
