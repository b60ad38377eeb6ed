//! Ladder (sequence) diagrams of a run, drawn from its messages
//! ([`crate::wire`]): one column per node, one arrow per DNS message in time
//! order, and a firewall's drops as arrows that end in a cross (a dropped
//! IP fragment too, with its offset and size).
//!
//! [`all`] picks what each client query set off: the client's question,
//! the resolver's upstream queries and their answers, until the client had
//! its answer. [`Ladder::text`], [`Ladder::mermaid`] and [`Ladder::svg`] draw
//! it for a terminal, for a GitHub issue and for the HTML report.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

use crate::dns::dotless;
use crate::outcome::{Outcome, QueryResult};
use crate::scenario::values::Transport;
use crate::wire::{End, Message, SYN};

/// One arrow; `count` copies of it in a row are drawn once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrow {
    pub from: String,
    pub to: String,
    pub label: String,
    /// Source ports worth showing: after a NAT's rewrite, or of a drop.
    pub ports: Vec<u16>,
    pub response: bool,
    /// It ends in a cross: dropped at `to`.
    pub dropped: bool,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ladder {
    pub title: String,
    pub columns: Vec<String>,
    pub arrows: Vec<Arrow>,
}

/// Ports listed on one collapsed arrow before `...`.
const MAX_PORTS: usize = 4;

/// Slack after a query timed out, for what the resolver sent last.
const TAIL_US: u64 = 100_000;

/// The ladder of each client query of `o`, in the order of `o.queries`
/// (`None` where its question was not seen on the wire).
///
/// One pass indexes the clients' questions; each ladder then reads only its
/// own time window of the messages, which are in time order, so a run of
/// thousands of queries (`--repeat`) costs no more than a pass per query.
pub fn all(o: &Outcome) -> Vec<Option<Ladder>> {
    // A question on the wire by sender, resolver, name, type, transport and
    // source port: a query's first attempt names its own (a TC=1 retry over
    // TCP is a question too, but from its own port, so it never stands in).
    type Key = (String, String, String, String, Transport, u16);
    let mut asked: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, m) in o.messages.iter().enumerate().filter(|(_, m)| !m.response && m.label != SYN) {
        if let Some(to) = m.to() {
            let key = (m.from.clone(), to.to_string(), m.qname.clone(), m.qtype.clone(), m.transport, m.src.port());
            asked.entry(key).or_default().push(i);
        }
    }
    // The nth time a query is in the outcome is the nth such question on the wire.
    let mut nth: HashMap<Key, usize> = HashMap::new();
    o.queries
        .iter()
        .map(|q| {
            let first = q.reply.attempts.first()?;
            let qname = format!("{}.", q.qname.trim_end_matches('.')).to_lowercase();
            let key = (q.from.clone(), q.resolver.clone(), qname, q.qtype.clone(), first.transport, first.source_port);
            let n = nth.entry(key.clone()).or_default();
            *n += 1;
            let start = *asked.get(&key)?.get(*n - 1)?;
            Some(window(o, q, start))
        })
        .collect()
}

/// What query `q`, asked by message `start`, set off until it was answered
/// (or timed out): the resolver's upstream messages in that window, and of
/// the messages between a client and the resolver only this query's own,
/// told apart by the source port of each of its attempts (other names go
/// through the same resolver at the same time).
fn window(o: &Outcome, q: &QueryResult, start: usize) -> Ladder {
    let first = &o.messages[start];
    let limit = first.at_us + q.elapsed_ms * 1000 + TAIL_US;
    let rest = &o.messages[start..];
    let rest = &rest[..rest.partition_point(|m| m.at_us <= limit)];
    let ports: Vec<(Transport, u16)> = q.reply.attempts.iter().map(|a| (a.transport, a.source_port)).collect();
    let mine = |m: &Message| m.from == first.from && ports.contains(&(m.transport, m.src.port()));
    let to_me = |m: &Message| m.response && m.from == q.resolver && ports.contains(&(m.transport, m.dst.port()));
    // Its last answer ends it; a last attempt without one runs to the client's patience.
    let last_answered = q.reply.attempts.last().is_some_and(|a| a.rcode.rcode().is_some());
    let end = match (last_answered, ports.last()) {
        (true, Some(&(t, p))) => rest
            .iter()
            .rfind(|m| to_me(m) && m.transport == t && m.dst.port() == p)
            .map_or(limit, |m| m.at_us),
        _ => limit,
    };
    let resolver_addr = first.dst.ip();
    // Where the resolver's upstream queries came from as their servers saw
    // them (after a NAT): an answer to one that a firewall dropped on its
    // way back never reached the resolver, and is still this query's.
    let asked_from: std::collections::HashSet<std::net::SocketAddr> = rest
        .iter()
        .filter(|m| m.at_us <= end && !m.response && m.from == q.resolver)
        .map(|m| m.nat.last().map_or(m.src, |r| r.src))
        .collect();
    let involved = |m: &&Message| {
        if m.at_us > end {
            return false;
        }
        // Between a client and the resolver's port 53: this query's, or not at all.
        let asks_it = !m.response && m.dst.ip() == resolver_addr && m.dst.port() == 53;
        let client_side = asks_it || (m.response && m.from == q.resolver && m.src.port() == 53);
        match client_side {
            true => mine(m) || to_me(m),
            false => m.from == q.resolver || m.to() == Some(q.resolver.as_str()) || (m.response && asked_from.contains(&m.dst)),
        }
    };
    let picked: Vec<&Message> = rest.iter().filter(involved).collect();
    let title = format!("{} {} via {} ({}): {}", dotless(&q.qname), q.qtype, q.resolver, q.kind, q.verdict.outcome);
    Ladder::of(title, &picked)
}

impl Ladder {
    /// Arrows for `messages`, repeats in a row collapsed, columns in order of
    /// first appearance.
    pub fn of(title: String, messages: &[&Message]) -> Ladder {
        let mut arrows: Vec<Arrow> = Vec::new();
        let mut columns: Vec<String> = Vec::new();
        for m in messages {
            let Some(to) = m.to() else { continue };
            for n in std::iter::once(&m.from).chain(&m.path).chain(std::iter::once(&to.to_string())) {
                if !columns.contains(n) {
                    columns.push(n.clone());
                }
            }
            for a in segments(m) {
                // The same arrow again, maybe from another port: a retry.
                match arrows.last_mut() {
                    Some(last) if last.same_as(&a) => {
                        last.count += 1;
                        // A retransmission from the same port shows it once.
                        for p in a.ports {
                            if last.ports.last() != Some(&p) {
                                last.ports.push(p);
                            }
                        }
                    }
                    _ => arrows.push(a),
                }
            }
        }
        Ladder { title, columns, arrows }
    }

    fn col(&self, n: &str) -> usize {
        self.columns.iter().position(|c| c == n).expect("every arrow's node is a column")
    }

    /// For a terminal: columns of `|`, arrows of `-`, labels on the right.
    pub fn text(&self) -> String {
        let w = self.columns.iter().map(|c| c.len() + 2).max().unwrap_or(8).max(8);
        let mut out = format!("{}\n", self.title);
        let header: String = self.columns.iter().map(|c| format!("{c:<w$}")).collect();
        out.push_str(header.trim_end());
        out.push('\n');
        for a in &self.arrows {
            let (f, t) = (self.col(&a.from), self.col(&a.to));
            let (lo, hi) = (f.min(t), f.max(t));
            let mut line: Vec<char> = " ".repeat(w * self.columns.len()).chars().collect();
            for i in 0..self.columns.len() {
                line[i * w] = '|';
            }
            // A node to itself (a hairpin) has no line, only its label.
            if lo < hi {
                line[lo * w + 1..hi * w].fill(if a.response { '.' } else { '-' });
            }
            let head = if a.dropped {
                'X'
            } else if t > f {
                '>'
            } else {
                '<'
            };
            if lo < hi {
                line[if t > f { hi * w - 1 } else { lo * w + 1 }] = head;
            }
            let line: String = line.into_iter().collect();
            let _ = writeln!(out, "{} {}", line.trim_end(), a.text_label());
        }
        out
    }

    /// A Mermaid `sequenceDiagram`, for a GitHub issue or the docs.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("sequenceDiagram\n");
        let _ = writeln!(out, "    title {}", self.title.replace(':', " -").replace([';', '#'], " "));
        for (i, c) in self.columns.iter().enumerate() {
            let _ = writeln!(out, "    participant n{i} as {c}");
        }
        for a in &self.arrows {
            let arrow = match (a.dropped, a.response) {
                (true, _) => "-x",
                (false, true) => "-->>",
                (false, false) => "->>",
            };
            let label = a.text_label().replace([';', '#'], " ");
            let _ = writeln!(out, "    n{}{arrow}n{}: {label}", self.col(&a.from), self.col(&a.to));
        }
        out
    }

    /// A standalone SVG picture of the ladder.
    pub fn svg(&self) -> String {
        const COL: usize = 150;
        const ROW: usize = 30;
        const TOP: usize = 50;
        let width = COL * self.columns.len().max(1) + 40;
        let height = TOP + ROW * (self.arrows.len() + 1) + 10;
        let x = |i: usize| 20 + COL / 2 + i * COL;
        let mut s = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12"><defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#333"/></marker></defs>"##
        );
        for (i, c) in self.columns.iter().enumerate() {
            let _ = write!(
                s,
                r##"<rect x="{}" y="8" width="{}" height="24" rx="4" fill="#e8eef7" stroke="#4a6fa5"/><text x="{}" y="24" text-anchor="middle">{}</text><line x1="{}" y1="32" x2="{}" y2="{}" stroke="#aaa" stroke-dasharray="4 3"/>"##,
                x(i) - COL / 2 + 8,
                COL - 16,
                x(i),
                esc(c),
                x(i),
                x(i),
                height - 4
            );
        }
        for (r, a) in self.arrows.iter().enumerate() {
            let y = TOP + ROW * (r + 1);
            let (x1, x2) = (x(self.col(&a.from)), x(self.col(&a.to)));
            let colour = if a.dropped {
                "#c0392b"
            } else if a.response {
                "#555"
            } else {
                "#222"
            };
            let dash = if a.response { r#" stroke-dasharray="6 3""# } else { "" };
            let head = if a.dropped { "" } else { r#" marker-end="url(#head)""# };
            let _ = write!(
                s,
                r#"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="1.5"{dash}{head}/>"#
            );
            if a.dropped {
                let _ = write!(
                    s,
                    r#"<path d="M{} {}l12 12M{} {}l-12 12" stroke="{colour}" stroke-width="2.5"/>"#,
                    x2 - 6,
                    y - 6,
                    x2 + 6,
                    y - 6
                );
            }
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{colour}">{}</text>"#,
                (x1 + x2) / 2,
                y - 5,
                esc(&a.text_label())
            );
        }
        s.push_str("</svg>");
        s
    }
}

impl Arrow {
    fn same_as(&self, o: &Arrow) -> bool {
        (&self.from, &self.to, &self.label, self.response, self.dropped) == (&o.from, &o.to, &o.label, o.response, o.dropped)
    }

    fn text_label(&self) -> String {
        let mut l = self.label.clone();
        if !self.ports.is_empty() {
            let shown: Vec<String> = self.ports.iter().take(MAX_PORTS).map(|p| format!(":{p}")).collect();
            let more = if self.ports.len() > MAX_PORTS { " ..." } else { "" };
            let _ = write!(l, " from {}{more}", shown.join(" "));
        }
        if self.dropped {
            l.push_str(", dropped");
        }
        if self.count > 1 {
            let _ = write!(l, " (x{})", self.count);
        }
        l
    }
}

/// A message's arrows: it is drawn again after each NAT that rewrote it, so
/// the port the far side saw is shown; a drop ends in a cross, and each IP
/// fragment lost where it ended is drawn after it, with its offset and size.
fn segments(m: &Message) -> Vec<Arrow> {
    let Some(to) = m.to() else { return vec![] };
    let mut stops: Vec<(&str, u16)> = vec![(&m.from, m.src.port())];
    stops.extend(m.nat.iter().map(|r| (r.node.as_str(), r.src.port())));
    let label = match m.fragments.len() {
        0 | 1 => m.label.clone(),
        n => format!("{} in {n} fragments", m.label),
    };
    let mut out = Vec::new();
    for (i, (from, sport)) in stops.iter().enumerate() {
        let last = i + 1 == stops.len();
        let next = if last { to } else { stops[i + 1].0 };
        let show_port = !m.response && (i > 0 || (last && m.dropped()));
        out.push(Arrow {
            from: from.to_string(),
            to: next.to_string(),
            label: label.clone(),
            ports: if show_port { vec![*sport] } else { vec![] },
            response: m.response,
            dropped: last && m.dropped(),
            count: 1,
        });
    }
    if let (End::FragmentDropped(_), Some(&(from, _))) = (&m.end, stops.last()) {
        for p in m.fragments.iter().filter(|p| p.dropped) {
            out.push(Arrow {
                from: from.to_string(),
                to: to.to_string(),
                label: format!("fragment @{}, {} B", p.offset, p.bytes),
                ports: vec![],
                response: m.response,
                dropped: true,
                count: 1,
            });
        }
    }
    out
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
