//! What happened in a run, as plain serde data with sorted keys: every
//! report, the JSON output and the snapshots are made from an [`Outcome`].
//! A SERVFAIL or a timeout is a result here, never an error: each probe and
//! query holds the whole [`Reply`] and its verdict ([`Judged`]).
//! `rates.rs` sums counted queries up; `stable.rs` is [`Outcome::stable`],
//! which buckets what varies from run to run (ports, times, retry counts,
//! TTLs, cookies) so snapshots stay identical.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

mod fallback;
mod rates;
mod stable;

pub use fallback::tcp_fallbacks;
pub use rates::{matches_template, rates, RateResult};
pub use stable::{lost_bucket, time_bucket};

use crate::answer::Reply;
use crate::capture::Sent;
use crate::dns::PortClass;
use crate::nameserver::Received;
use crate::probe::Stub;
use crate::resolver::Kind;
use crate::scenario::values::{transport_on, Transport};
use crate::verdict::{Expect, Word};

/// The shape of outcomes this build writes: 2 has the whole answer, 3 the
/// build that ran (`build`).
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The version of this shape; see the README's list of fields.
    #[serde(default)]
    pub schema_version: u32,
    pub scenario: String,
    /// The resolver kind this run used on every resolver node.
    pub kind: Kind,
    /// The build of it: its name, binary, wrapper and extra config.
    #[serde(default)]
    pub build: BuildReport,
    pub probes: Vec<ProbeResult>,
    pub queries: Vec<QueryResult>,
    /// resolver node -> what it is and what it did upstream
    pub resolvers: BTreeMap<String, ResolverReport>,
    /// server host name -> queries it received, in order
    pub servers: BTreeMap<String, Vec<Received>>,
    /// firewall node -> counter -> packets
    pub firewalls: BTreeMap<String, BTreeMap<String, u64>>,
    /// firewall node -> counter -> its rule's action (`drop`, `reject`, `accept`)
    #[serde(default)]
    pub rule_actions: BTreeMap<String, BTreeMap<String, String>>,
    /// For counted queries: rates and latency over all their names.
    #[serde(default)]
    pub rates: Vec<RateResult>,
    pub timings: Timings,
    /// Every expectation that did not hold, and every limit reached.
    pub failures: Vec<String>,
    /// Each limit a log, the query log or a capture reached
    /// ([`crate::bounded`]): the record past it is incomplete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// Every DNS message of the run in time order, followed hop by hop:
    /// what ladder diagrams are drawn from.
    #[serde(default)]
    pub messages: Vec<crate::wire::Message>,
}

/// Which build a run started on every resolver node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The run's name: the build's NAME, or its kind's name.
    pub name: String,
    /// Its binary: path, version line and SHA-256; none for a kind that
    /// runs in our process.
    pub binary: Option<crate::resolver::build::Binary>,
    /// The `--wrap` command it ran under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<String>,
    /// The file its `--resolver-config` text came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<std::path::PathBuf>,
    /// A custom kind's declaration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<std::path::PathBuf>,
}

impl BuildReport {
    pub fn of(b: &crate::resolver::Build) -> BuildReport {
        BuildReport {
            name: b.name.clone(),
            binary: b.binary.clone(),
            wrap: b.wrap.as_ref().map(|w| w.text.clone()),
            config: b.config.as_ref().map(|(f, _)| f.clone()),
            custom: b.custom.as_ref().map(|c| c.file.clone()),
        }
    }
}

impl BuildReport {
    /// What it was, as (name, value) pairs: kind, binary, version, SHA-256,
    /// wrapper, extra config, custom file.
    pub fn properties(&self, kind: Kind) -> Vec<(&'static str, String)> {
        let mut out = vec![("kind", kind.name().to_string())];
        match &self.binary {
            Some(b) => out.extend([
                ("binary", b.path.display().to_string()),
                ("version", b.version.clone()),
                ("sha256", b.sha256.clone()),
            ]),
            None => out.push(("binary", "none: runs in dnslab's process".into())),
        }
        let paths = [("custom", &self.custom), ("resolver-config", &self.config)];
        out.extend(paths.into_iter().filter_map(|(k, p)| p.as_ref().map(|p| (k, p.display().to_string()))));
        out.extend(self.wrap.iter().map(|w| ("wrap", w.clone())));
        out
    }

    /// One line for the text report: `kind unbound, binary /usr/sbin/unbound, ...`.
    pub fn line(&self, kind: Kind) -> String {
        let parts: Vec<String> = self.properties(kind).into_iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("   build {}: {}", self.name, parts.join(", "))
    }
}

impl Outcome {
    /// The run's name in reports, JUnit and evidence: the build's name (an
    /// outcome older than schema 3 has its kind's).
    pub fn name(&self) -> &str {
        match self.build.name.is_empty() {
            true => self.kind.name(),
            false => &self.build.name,
        }
    }
}

/// One probe: what was sent straight to a server, and the whole answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    pub from: String,
    /// The server's host name, e.g. `ns1.msft.net`.
    pub server: String,
    pub server_addr: IpAddr,
    pub qname: String,
    pub qtype: String,
    /// The transport asked for (a TC=1 answer is retried over TCP: see `attempts`).
    pub transport: Transport,
    /// The header and EDNS the probe sent (`dig +norecurse` unless the scenario said).
    #[serde(default = "Stub::norecurse")]
    pub stub: Stub,
    /// As written in the scenario: `53`, `1000-1100`, `random`.
    pub requested_port: String,
    pub source_port: u16,
    pub elapsed_ms: u64,
    #[serde(flatten)]
    pub reply: Reply,
    #[serde(flatten)]
    pub verdict: Judged,
}

/// One client query through one resolver, and the whole answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    pub from: String,
    /// The resolver node asked, and the address it was asked on.
    pub resolver: String,
    pub resolver_addr: IpAddr,
    pub kind: Kind,
    pub qname: String,
    pub qtype: String,
    pub transport: Transport,
    /// The header and EDNS the client sent.
    pub stub: Stub,
    pub elapsed_ms: u64,
    /// The first attempt's query and response on the wire (over UDP): their
    /// ratio is what an open resolver amplifies.
    #[serde(default)]
    pub query_bytes: u32,
    #[serde(default)]
    pub response_bytes: u32,
    #[serde(flatten)]
    pub reply: Reply,
    #[serde(flatten)]
    pub verdict: Judged,
}

/// What was expected of an answer against what it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Judged {
    /// The outcome word of the answer: `NOERROR` (with data), `NODATA`,
    /// `REFERRAL`, `SERVFAIL`, `TIMEOUT`, ... (see [`Word::describe`]).
    pub outcome: String,
    pub expect: Expect,
    /// Each way the answer fell short of `expect`, with its cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub misses: Vec<String>,
    pub ok: bool,
}

impl Judged {
    /// What was expected against what came, in full: each miss with its
    /// cause, and the whole expectation when it is more than outcome words.
    pub fn against(&self) -> String {
        let misses = self.misses.join("; ");
        if self.expect == Expect::words(self.expect.outcome.clone()) {
            misses
        } else {
            format!("{misses} (expected {}; got {})", self.expect, self.outcome)
        }
    }

    pub fn of(expect: &Expect, reply: &Reply, qname: &str, qtype: &str) -> Judged {
        let misses = expect.misses(reply, qname, qtype);
        Judged {
            outcome: Word::describe(reply, qname, qtype),
            expect: expect.clone(),
            ok: misses.is_empty(),
            misses,
        }
    }
}

impl ProbeResult {
    /// `udp`, `tcp`, or `udp6`, `tcp6` to the server's IPv6 address.
    pub fn transport_label(&self) -> String {
        transport_on(self.transport, self.server_addr.is_ipv6())
    }
}

impl QueryResult {
    /// `udp`, `tcp`, or `udp6`, `tcp6` to the resolver's IPv6 address.
    pub fn transport_label(&self) -> String {
        transport_on(self.transport, self.resolver_addr.is_ipv6())
    }

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
    /// How a wrapped one ended when stopped with SIGTERM (`exit status: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    /// What the lint of its generated config found: an option given by
    /// dnslab and again by `--resolver-config`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The EDNS UDP payload size its UDP queries upstream offered (`none`:
    /// no OPT record) -> how many queries did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub edns_sizes: BTreeMap<String, u32>,
    /// Why it asked over TCP (`after TC=1`, `after UDP timeouts`, `after a
    /// UDP answer`, `TCP first`) -> how many TCP questions upstream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tcp_fallbacks: BTreeMap<String, u32>,
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
    /// Sent to the server's IPv6 address (`udp6`, `tcp6` in reports).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
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

/// Groups what a resolver sent against what the servers received.
/// `host_of` names the server at an address.
pub fn upstream(sent: &[Sent], received: &[&Received], host_of: impl Fn(IpAddr) -> String) -> Vec<Upstream> {
    let mut groups: BTreeMap<(String, String, String, Transport, bool, PortClass), Upstream> = BTreeMap::new();
    let mut ports: BTreeMap<(String, String, String, Transport, bool), BTreeSet<u16>> = BTreeMap::new();
    let mut connects: BTreeMap<(String, bool, PortClass), u32> = BTreeMap::new();
    let matched = match_arrivals(sent, received, &host_of);
    for (si, s) in sent.iter().enumerate() {
        let server = host_of(s.dst);
        let (class, ipv6) = (PortClass::of(s.sport), s.dst.is_ipv6());
        if s.syn {
            *connects.entry((server, ipv6, class)).or_default() += 1;
            continue;
        }
        let (qname, qtype) = (s.qname.clone().unwrap_or_default(), s.qtype.clone().unwrap_or_default());
        let qname = if qname.is_empty() { ".".to_string() } else { qname };
        let arrived = matched[si].map(|ri| received[ri]);
        let g = groups
            .entry((server.clone(), qname.to_lowercase(), qtype.clone(), s.transport, ipv6, class))
            .or_insert_with(|| Upstream {
                server,
                qname: qname.to_lowercase(),
                qtype,
                transport: s.transport,
                ipv6,
                port_class: class,
                seen_as: None,
                sent: 0,
                lost: 0,
                tcp_connects: 0,
                ports_used: 0,
            });
        g.sent += 1;
        ports
            .entry((g.server.clone(), g.qname.clone(), g.qtype.clone(), g.transport, g.ipv6))
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
            .get(&(u.server.clone(), u.qname.clone(), u.qtype.clone(), u.transport, u.ipv6))
            .map_or(0, |p| p.len() as u32);
    }
    for ((server, ipv6, class), n) in connects {
        match out
            .iter_mut()
            .find(|u| u.server == server && u.transport == Transport::Tcp && u.ipv6 == ipv6 && u.port_class == class)
        {
            Some(u) => u.tcp_connects += n,
            None => out.push(Upstream {
                server,
                qname: "(no query: connection never opened)".into(),
                qtype: String::new(),
                transport: Transport::Tcp,
                ipv6,
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
