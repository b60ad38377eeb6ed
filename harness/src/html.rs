//! The HTML report: one self-contained file (inline CSS and SVG, no script,
//! no fetches) that shows a run to someone who was not there.
//!
//! [`page`] puts together the scenario's description, [`topology`] (the
//! networks as bars, nodes as boxes, the NAT and the firewall with its
//! rules), the outcome matrix per query and resolver kind, the probes, the
//! firewall counters, a ladder per query ([`crate::ladder`]) and links to
//! the pcaps in the evidence directory.

use std::fmt::Write;
use std::path::Path;

use crate::dns::dotless;
use crate::ladder::{self, esc};
use crate::outcome::{Outcome, QueryResult};
use crate::report::RunReport;
use crate::scenario::{Node, Scenario};

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
pre.desc{background:#f6f6f2;padding:12px;white-space:pre-wrap;font-size:13px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}
th{background:#eee}td.ok{background:#bfe8bf}td.bad{background:#f2a7a7}td.none{background:#ddd;color:#666}
.pass{color:#1d7a1d}.fail{color:#b22}details{margin:6px 0}summary{cursor:pointer;font-family:monospace}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #999;font-size:12px}";

/// The whole report for `rep` and its scenario's [`topology`]; `pcap_root` is where the pcap links point
/// (the evidence directory, relative to the HTML file where it can be).
pub fn page(rep: &RunReport, topology_svg: &str, pcap_root: &str, pcaps: &[(String, Vec<String>)]) -> String {
    let mut h = String::new();
    let verdict = if rep.passed {
        r#"<span class="pass">PASS</span>"#
    } else {
        r#"<span class="fail">FAIL</span>"#
    };
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>dnslab: {0}</title><style>{STYLE}</style></head><body><h1>dnslab: {0} {verdict}</h1>",
        esc(&rep.scenario)
    );
    let _ = write!(h, "<pre class=\"desc\">{}</pre>", esc(rep.description.trim_end()));
    let _ = write!(h, "<h2>Topology</h2>{topology_svg}");
    h.push_str(&builds(rep));
    h.push_str(&matrix(rep));
    h.push_str(&probes(rep));
    h.push_str(&counters(rep));
    h.push_str(&ladders(rep));
    h.push_str(&pcap_links(pcap_root, pcaps));
    for k in &rep.skipped {
        let _ = write!(h, "<p>skipped: {}</p>", esc(k));
    }
    h.push_str("</body></html>\n");
    h
}

/// Which build each run started: kind, binary, version, SHA-256, wrapper.
fn builds(rep: &RunReport) -> String {
    let mut h = String::from("<h2>Builds: what each run started on its resolver nodes</h2><table><tr><th>run</th><th>what</th></tr>");
    // An outcome from before schema 3 does not say which build ran.
    for o in rep.runs.iter().filter(|o| !o.build.name.is_empty()) {
        let rows: Vec<String> = o
            .build
            .properties(o.kind)
            .into_iter()
            .map(|(k, v)| format!("{k}: <code>{}</code>", esc(&v)))
            .collect();
        let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(o.name()), rows.join("<br>"));
    }
    h + "</table>"
}

/// `big.example.com TXT +ignore`: a matrix row's question.
fn question(q: &QueryResult) -> String {
    crate::report::question(&q.qname, &q.qtype, &q.stub, &crate::probe::Stub::DIG)
}

fn matrix(rep: &RunReport) -> String {
    let mut h = String::from("<h2>Outcome: each query through each resolver kind</h2>");
    h.push_str(r#"<p class="legend"><span style="background:#bfe8bf">as expected</span><span style="background:#f2a7a7">not as expected</span><span style="background:#ddd">not run</span></p><table><tr><th>from</th><th>resolver</th><th>query</th><th>expected</th>"#);
    for o in &rep.runs {
        let _ = write!(h, "<th>{}</th>", esc(o.name()));
    }
    h.push_str("</tr>");
    // Rows in the scenario's order, as the first run had them; a kind that
    // does not run on a node shows a grey cell.
    // A question sent with other options than dig's (`+ignore`) is a row of its own.
    let mut rows: Vec<(&str, &str, String, &str, String)> = Vec::new();
    for o in &rep.runs {
        for q in &o.queries {
            let row = (q.from.as_str(), q.resolver.as_str(), question(q), q.qtype.as_str(), q.transport_label());
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    for row in &rows {
        /// The queries of one matrix row: `udp` and `udp6` are rows of their own.
        fn asked<'o>(o: &'o Outcome, row: &(&str, &str, String, &str, String)) -> Vec<&'o QueryResult> {
            let (from, via, asked, qtype, transport) = row;
            o.queries
                .iter()
                .filter(|q| q.from == *from && q.resolver == *via && question(q) == *asked && q.qtype == *qtype && q.transport_label() == *transport)
                .collect()
        }
        let (from, via, what, _, transport) = row;
        // One expectation for every kind, or each kind's own (`NODE@KIND`).
        let mut expects: Vec<String> = rep.runs.iter().flat_map(|o| asked(o, row)).map(|q| q.verdict.expect.to_string()).collect();
        expects.sort();
        expects.dedup();
        let expect = if expects.len() > 1 {
            "per kind (see cells)".to_string()
        } else {
            expects.concat()
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} {transport}</td><td>{}</td>",
            esc(from),
            esc(via),
            esc(what),
            esc(if expect.is_empty() { "-" } else { &expect })
        );
        for o in &rep.runs {
            // With --repeat a query is asked several times: one bad round makes the cell bad.
            let asked = asked(o, row);
            let Some(last) = asked.last() else {
                h.push_str(r#"<td class="none">-</td>"#);
                continue;
            };
            let ok = asked.iter().filter(|q| q.verdict.ok).count();
            let mut text = match asked.len() {
                1 => format!("{} {}", last.verdict.outcome, crate::report::ms(last.elapsed_ms)),
                n => format!("{ok}/{n} as expected, last {}", last.verdict.outcome),
            };
            if let Some(bad) = asked.iter().find(|q| !q.verdict.ok) {
                text += &format!(": {}", bad.verdict.against());
            }
            let _ = write!(h, r#"<td class="{}">{}</td>"#, if ok == asked.len() { "ok" } else { "bad" }, esc(&text));
        }
        h.push_str("</tr>");
    }
    h + "</table>"
}

fn probes(rep: &RunReport) -> String {
    let Some(o) = rep.runs.first().filter(|o| !o.probes.is_empty()) else {
        return String::new();
    };
    let mut h = String::from(
        "<h2>Probes: queries sent straight to a server, like <code>dig -b 0.0.0.0#PORT</code></h2><table><tr><th>from</th><th>server</th><th>query</th><th>via</th><th>source port</th><th>result</th><th>expected</th></tr>",
    );
    for p in &o.probes {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
            esc(&p.from),
            esc(&p.server),
            esc(&crate::report::question(&p.qname, &p.qtype, &p.stub, &crate::probe::Stub::NORECURSE)),
            p.transport_label(),
            p.source_port,
            if p.verdict.ok { "ok" } else { "bad" },
            esc(&p.verdict.outcome),
            esc(&match p.verdict.ok {
                true => p.verdict.expect.to_string(),
                false => format!("{}: {}", p.verdict.expect, p.verdict.against()),
            })
        );
    }
    h + "</table>"
}

fn counters(rep: &RunReport) -> String {
    let mut names: Vec<(String, String)> = rep
        .runs
        .iter()
        .flat_map(|o| o.firewalls.iter().flat_map(|(fw, c)| c.keys().map(move |k| (fw.clone(), k.clone()))))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return String::new();
    }
    let mut h = String::from("<h2>Firewall counters: packets each rule matched</h2><table><tr><th>firewall</th><th>rule</th><th>action</th>");
    for o in &rep.runs {
        let _ = write!(h, "<th>{}</th>", esc(o.name()));
    }
    h.push_str("</tr>");
    for (fw, c) in names {
        let action = rep.runs.iter().find_map(|o| o.rule_actions.get(&fw)?.get(&c)).map_or("", |a| a.as_str());
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td>", esc(&fw), esc(&c), esc(action));
        for o in &rep.runs {
            let n = o.firewalls.get(&fw).and_then(|m| m.get(&c)).copied().unwrap_or(0);
            let _ = write!(h, "<td>{n}</td>");
        }
        h.push_str("</tr>");
    }
    h + "</table>"
}

fn ladders(rep: &RunReport) -> String {
    let mut h = String::from("<h2>Ladders: what each query set off, in time order</h2><p>Solid arrows are queries, dashed ones responses; a red cross is a packet a node dropped. Repeats in a row are drawn once, with a count.</p>");
    for o in &rep.runs {
        let _ = write!(h, "<h3>{}</h3>", esc(o.name()));
        for (q, l) in o.queries.iter().zip(ladder::all(o)) {
            let Some(l) = l else { continue };
            // A failure or a drop is open; the rest a click away.
            let open = if q.verdict.ok && q.verdict.outcome == "NOERROR" && !l.arrows.iter().any(|a| a.dropped) {
                ""
            } else {
                " open"
            };
            let _ = write!(h, "<details{open}><summary>{}</summary>{}</details>", esc(&l.title), l.svg());
        }
    }
    h
}

fn pcap_links(root: &str, pcaps: &[(String, Vec<String>)]) -> String {
    if pcaps.is_empty() {
        return String::new();
    }
    let mut h =
        String::from("<h2>Packet captures</h2><p>Every DNS packet each node sent, per interface (open with Wireshark or <code>tshark -r</code>).</p><ul>");
    for (kind, files) in pcaps {
        let _ = write!(h, "<li>{kind}: ");
        for f in files {
            let _ = write!(h, r#"<a href="{}{}/pcap/{}">{}</a> "#, esc(&url(root)), esc(&url(kind)), esc(&url(f)), esc(f));
        }
        h.push_str("</li>");
    }
    h + "</ul>"
}

/// Percent-encodes what a path may hold but a URL may not.
fn url(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' | '#' | '%' | '"' | '?' | '<' | '>' => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// The pcap files in an evidence directory, per kind.
pub fn list_pcaps(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(kinds) = std::fs::read_dir(dir) else { return out };
    for k in kinds.flatten() {
        let Ok(files) = std::fs::read_dir(k.path().join("pcap")) else { continue };
        let mut names: Vec<String> = files.flatten().map(|f| f.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        out.push((k.file_name().to_string_lossy().into_owned(), names));
    }
    out.sort();
    out
}

/// The lab drawn as a tree: each network a bar, its hosts in boxes below
/// it, and each router below the bar it hangs from, above the bar of the
/// network behind it (a NAT's inside, a firewall's protected side).
pub fn topology(s: &Scenario) -> String {
    let root = s.servers().next().and_then(|(n, _)| n.interfaces.first()).map(|(net, _)| net.as_str());
    let root = root.or(s.networks.first().map(|n| n.name.as_str())).unwrap_or_default();
    let (mut seen, mut placed) = (vec![root.to_string()], Vec::new());
    let tree = Block::of(s, root, &mut seen, &mut placed);
    let mut svg = String::new();
    let (w, h) = tree.draw(&mut svg, 10, 30);
    // A network no router reaches: drawn on its own, below.
    let mut y = 30 + h + 20;
    let mut width = w;
    let rest: Vec<&str> = s.networks.iter().map(|n| n.name.as_str()).filter(|n| !seen.iter().any(|s| s == n)).collect();
    for net in rest {
        // A router of an earlier one may have drawn it already.
        if seen.iter().any(|s| s == net) {
            continue;
        }
        seen.push(net.to_string());
        let b = Block::of(s, net, &mut seen, &mut placed);
        let (bw, bh) = b.draw(&mut svg, 10, y);
        y += bh + 20;
        width = width.max(bw);
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="12">{svg}</svg>"##,
        width + 20,
        y
    )
}

const BOX_W: usize = 220;
const CELL: usize = BOX_W + 24;
const PER_LINE: usize = 5;

/// A network, the hosts on it, and the routers to the networks behind it.
struct Block<'a> {
    net: &'a crate::scenario::Network,
    hosts: Vec<&'a Node>,
    routers: Vec<(&'a Node, Block<'a>)>,
}

impl<'a> Block<'a> {
    fn of(s: &'a Scenario, net: &str, seen: &mut Vec<String>, placed: &mut Vec<String>) -> Block<'a> {
        let network = s.networks.iter().find(|n| n.name == net).expect("a node's network exists");
        let mut b = Block {
            net: network,
            hosts: vec![],
            routers: vec![],
        };
        for n in s.nodes.iter().filter(|n| n.interfaces.iter().any(|(x, _)| x == net)) {
            if placed.contains(&n.name) {
                continue;
            }
            placed.push(n.name.clone());
            let behind = n.interfaces.iter().map(|(x, _)| x.as_str()).find(|x| !seen.iter().any(|s| s == x));
            match behind {
                Some(next) => {
                    seen.push(next.to_string());
                    let kid = Block::of(s, next, seen, placed);
                    b.routers.push((n, kid));
                }
                // A host, or a router whose other side is drawn already.
                None => b.hosts.push(n),
            }
        }
        b
    }

    fn width(&self) -> usize {
        let hosts = self.hosts.len().clamp(1, PER_LINE) * CELL;
        hosts.max(self.routers.iter().map(|(_, k)| k.width()).sum())
    }

    /// Draws at (x, y) and returns the width and height used.
    fn draw(&self, svg: &mut String, x: usize, y: usize) -> (usize, usize) {
        let w = self.width();
        let subnets: Vec<String> = self.net.subnets.iter().map(|n| n.to_string()).collect();
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{}" height="8" fill="#4a6fa5"/><text x="{}" y="{}" font-weight="bold">network {} {}</text>"##,
            w - 10,
            x + 4,
            y - 6,
            esc(&self.net.name),
            esc(&subnets.join(" "))
        );
        let bar = y + 8;
        let per_line = (w / CELL).clamp(1, PER_LINE);
        let mut top = y + 30;
        for (li, line) in self.hosts.chunks(per_line).enumerate() {
            let mut tallest = 0;
            for (i, n) in line.iter().enumerate() {
                let bx = x + 10 + i * CELL;
                // The first line hangs from the bar; later ones rise in the gaps.
                if li == 0 {
                    let _ = write!(
                        svg,
                        r##"<line x1="{0}" y1="{bar}" x2="{0}" y2="{top}" stroke="#4a6fa5" stroke-width="2"/>"##,
                        bx + BOX_W / 2
                    );
                } else {
                    let rx = bx - 8;
                    let _ = write!(
                        svg,
                        r##"<path d="M{rx} {bar}V{}H{bx}" fill="none" stroke="#4a6fa5" stroke-width="2"/>"##,
                        top + 12
                    );
                }
                tallest = tallest.max(node_box(svg, n, bx, top));
            }
            top += tallest + 16;
        }
        let mut kx = x;
        let mut bottom = top;
        for (r, kid) in &self.routers {
            let bx = kx + 10;
            // Below hosts, the line rises in the gap beside them.
            if self.hosts.is_empty() {
                let _ = write!(
                    svg,
                    r##"<line x1="{0}" y1="{bar}" x2="{0}" y2="{top}" stroke="#4a6fa5" stroke-width="2"/>"##,
                    bx + BOX_W / 2
                );
            } else {
                let _ = write!(
                    svg,
                    r##"<path d="M{} {bar}V{}H{bx}" fill="none" stroke="#4a6fa5" stroke-width="2"/>"##,
                    bx - 8,
                    top + 12
                );
            }
            let h = node_box(svg, r, bx, top);
            let kid_y = top + h + 40;
            let _ = write!(
                svg,
                r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{kid_y}" stroke="#4a6fa5" stroke-width="2"/>"##,
                bx + BOX_W / 2,
                top + h
            );
            let (kw, kh) = kid.draw(svg, kx, kid_y);
            bottom = bottom.max(kid_y + kh);
            kx += kw;
        }
        (w, bottom - y)
    }
}

/// A node's box at (x, y); returns its height.
fn node_box(svg: &mut String, n: &Node, x: usize, y: usize) -> usize {
    let lines = node_lines(n);
    let h = 22 + 14 * lines.len();
    let _ = write!(
        svg,
        r##"<rect x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="6" fill="{}" stroke="#333"/><text x="{}" y="{}" font-weight="bold">{}</text>"##,
        colour(n),
        x + 6,
        y + 15,
        esc(&n.name)
    );
    for (j, l) in lines.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" xml:space="preserve">{}</text>"##,
            x + 6,
            y + 30 + 14 * j,
            esc(l)
        );
    }
    h
}

/// A node's role colour: servers blue, resolvers green, NATs orange,
/// firewalls red, clients grey.
fn colour(n: &Node) -> &'static str {
    if !n.firewall.is_empty() {
        "#f4b6b0"
    } else if n.nat.is_some() {
        "#fbd38d"
    } else if n.server.is_some() {
        "#b9d3f0"
    } else if n.resolver.is_some() {
        "#b8e6b8"
    } else {
        "#e4e4e4"
    }
}

/// What a node's box says: addresses, role, rules.
fn node_lines(n: &Node) -> Vec<String> {
    let mut l: Vec<String> = n.interfaces.iter().flat_map(|(_, a)| a.iter().map(|a| a.to_string())).collect();
    if let Some(sv) = &n.server {
        l.push(sv.hostname.to_string().trim_end_matches('.').to_string());
        let zones: Vec<String> = sv.zones.iter().map(|z| dotless(&z.to_string()).to_string()).collect();
        l.push(format!("zones: {}", zones.join(" ")));
    }
    if let Some(r) = &n.resolver {
        let ports = r.source_ports.map_or("random".to_string(), |p| p.to_string());
        l.push(format!("resolver, ports {ports}"));
    }
    if let Some(nat) = &n.nat {
        let ports = nat.source_ports.map_or("any".to_string(), |p| p.to_string());
        l.push(format!("NAT to {}, ports {ports}", nat.outside));
    }
    for f in &n.firewall {
        let protos: Vec<String> = f.protos.iter().map(|p| p.to_string()).collect();
        l.push(format!("rule {}: {} {}", f.name, format!("{:?}", f.action).to_lowercase(), protos.join(",")));
        let mut m = String::from("  if");
        if let Some(p) = f.dport {
            let _ = write!(m, " dport {p}");
        }
        if let Some(p) = f.sport {
            let _ = write!(m, " sport {p}");
        }
        let except: Vec<String> = f.except_sport.iter().map(u16::to_string).collect();
        if !except.is_empty() {
            let _ = write!(m, ", not sport {}", except.join(","));
        }
        l.push(m);
    }
    l
}
