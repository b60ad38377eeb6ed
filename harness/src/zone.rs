//! Zones: RFC 1035 master-file text in, records out, plus everything a user
//! should never type twice. Apex NS records, delegations in parent zones,
//! glue and the servers' own address records are derived from which server
//! serves which zone.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::{parse_ttl, ParseError};

mod dnssec;
mod read;
pub use read::parse;

/// A zone as served: its origin and every record in it, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub origin: Name,
    pub records: Vec<Record>,
}

/// A server as far as zones care: its host name, addresses and zones.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub hostname: Name,
    pub addrs: Vec<IpAddr>,
    pub zones: Vec<Name>,
    /// Zones it is named for without serving them (a lame delegation).
    pub lame: Vec<Name>,
}

/// One zone-file error, with the 1-based line in the zone text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    pub line: usize,
    pub message: String,
}

/// Splits zone text into entries (one record or directive), each with the
/// line it starts on. Lines in parentheses are joined into one line, and the
/// parentheses dropped: hickory's lexer does not read quoted strings inside
/// a `( ... )` list (a TXT record there loses its quotes and its spaces, and
/// a `;` inside its quotes starts a comment), while on one line it does.
/// A `(` never closed, or a `)` never opened, is an error at its line.
fn entries(text: &str) -> Result<Vec<(usize, String)>, ZoneError> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let (mut depth, mut opened) = (0usize, 0usize);
    for (i, line) in text.lines().enumerate() {
        let (mut code, mut quoted, mut escaped) = (String::new(), false, false);
        let continues = depth > 0;
        for c in line.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => break,
                '(' if !quoted => {
                    if depth == 0 {
                        opened = i + 1;
                    }
                    depth += 1;
                    code.push(' ');
                    continue;
                }
                ')' if !quoted => {
                    if depth == 0 {
                        return Err(ZoneError {
                            line: i + 1,
                            message: "`)` closes a `(` that was never opened".into(),
                        });
                    }
                    depth -= 1;
                    code.push(' ');
                    continue;
                }
                _ => {}
            }
            code.push(c);
        }
        match out.last_mut() {
            // A line continues the previous entry while parentheses are open.
            Some(last) if continues => {
                last.1.push(' ');
                last.1.push_str(&code);
            }
            _ if !code.trim().is_empty() => out.push((i + 1, code)),
            _ => {}
        }
    }
    if depth > 0 {
        return Err(ZoneError {
            line: opened,
            message: "this `(` is never closed: every line after it would be part of this record".into(),
        });
    }
    Ok(out)
}

fn describe(e: &ParseError) -> String {
    e.to_string()
}

/// `@` on the right-hand side (`@ IN SOA @ hostmaster (`, as BIND's own
/// localhost zone writes it) means the current origin; hickory's parser
/// takes `@` only as an owner, so it is spelled out here.
fn at_in_rdata(items: &mut [(usize, String)], origin: &Name) {
    let mut current = origin.to_string();
    for (_, text) in items.iter_mut() {
        let trimmed = text.trim_start();
        if trimmed.to_ascii_uppercase().starts_with("$ORIGIN") {
            if let Some(o) = trimmed.split_whitespace().nth(1) {
                current = if o.ends_with('.') { o.to_string() } else { format!("{o}.{current}") };
            }
            continue;
        }
        if trimmed.starts_with('$') || !text.contains('@') {
            continue;
        }
        // Token by token, outside quotes; the first token of a line that does
        // not start with a blank is the owner, which hickory handles itself.
        let (mut out, mut quoted, mut token) = (String::new(), false, String::new());
        let mut first = !text.starts_with([' ', '\t']);
        let flush = |token: &mut String, out: &mut String, first: &mut bool| {
            if token == "@" && !*first {
                out.push_str(&current);
            } else {
                out.push_str(token);
            }
            if !token.is_empty() {
                *first = false;
            }
            token.clear();
        };
        for c in text.chars() {
            if c == '"' {
                quoted = !quoted;
            }
            if !quoted && (c.is_whitespace() || c == '(' || c == ')') {
                flush(&mut token, &mut out, &mut first);
                out.push(c);
            } else {
                token.push(c);
            }
        }
        flush(&mut token, &mut out, &mut first);
        *text = out;
    }
}

/// The minimum field of an SOA entry (the last of its seven fields), in seconds.
fn soa_minimum(entry: &str) -> Option<u32> {
    let flat = entry.replace(['(', ')'], " ");
    let tokens: Vec<&str> = flat.split_whitespace().collect();
    let at = tokens.iter().position(|t| t.eq_ignore_ascii_case("SOA"))?;
    // Parsed as hickory's own zone parser reads a TTL (`3600`, `2h`, `1h30m`).
    parse_ttl(tokens.get(at + 7)?).ok()
}

/// Canonical order: by name (DNS order), type, then text.
pub fn sort(records: &mut Vec<Record>) {
    let key = |r: &Record| (r.name.clone(), u16::from(r.record_type()), r.data.to_string());
    records.sort_by_key(key);
    records.dedup_by(|a, b| key(a) == key(b));
}

const TTL: u32 = 3600;

fn has(records: &[Record], name: &Name, t: RecordType) -> bool {
    records.iter().any(|r| &r.name == name && r.record_type() == t)
}

fn addr_records(name: &Name, addrs: &[IpAddr]) -> Vec<Record> {
    addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => Record::from_rdata(name.clone(), TTL, RData::A(A(*v4))),
            IpAddr::V6(v6) => Record::from_rdata(name.clone(), TTL, RData::AAAA(AAAA(*v6))),
        })
        .collect()
}

/// The mailbox a generated SOA names: hostmaster in the zone itself, or for
/// the root, in the domain of its first server.
fn default_rname(origin: &Name, first_ns: &Name) -> Name {
    let domain = if origin.is_root() { first_ns.base_name() } else { origin.clone() };
    Name::from_ascii("hostmaster").expect("label").append_domain(&domain).expect("short enough")
}

/// Completes every zone: SOA if missing, apex NS from its servers, the
/// servers' own addresses, and in each parent the delegation NS and glue.
pub fn derive(mut zones: BTreeMap<Name, Vec<Record>>, servers: &[ServerInfo]) -> Vec<Zone> {
    let ns_of = |z: &Name| -> Vec<Name> {
        let mut v: Vec<Name> = servers
            .iter()
            .filter(|s| s.zones.contains(z) || s.lame.contains(z))
            .map(|s| s.hostname.clone())
            .collect();
        v.sort();
        v
    };
    let origins: Vec<Name> = zones.keys().cloned().collect();
    for origin in &origins {
        let hosts = ns_of(origin);
        let records = zones.get_mut(origin).expect("key");
        if !has(records, origin, RecordType::SOA) {
            let mname = hosts.first().cloned().unwrap_or_else(Name::root);
            let soa = SOA::new(mname.clone(), default_rname(origin, &mname), 1, 14400, 3600, 1209600, 300);
            records.push(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)));
        }
        if !has(records, origin, RecordType::NS) {
            records.extend(hosts.iter().map(|h| Record::from_rdata(origin.clone(), TTL, RData::NS(NS(h.clone())))));
        }
    }
    // The zone that holds a name's data: the deepest zone containing it.
    let home = |name: &Name| origins.iter().filter(|o| o.zone_of(name)).max_by_key(|o| o.num_labels()).cloned();
    for s in servers {
        if let Some(z) = home(&s.hostname) {
            let records = zones.get_mut(&z).expect("key");
            if !has(records, &s.hostname, RecordType::A) && !has(records, &s.hostname, RecordType::AAAA) {
                records.extend(addr_records(&s.hostname, &s.addrs));
            }
        }
    }
    for child in &origins {
        if child.is_root() {
            continue;
        }
        let Some(parent) = home(&child.base_name()) else { continue };
        let child_ns: Vec<Name> = zones[child]
            .iter()
            .filter(|r| &r.name == child)
            .filter_map(|r| match &r.data {
                RData::NS(NS(n)) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let records = zones.get_mut(&parent).expect("key");
        if has(records, child, RecordType::NS) {
            continue; // the user wrote the delegation; theirs wins
        }
        for h in &child_ns {
            records.push(Record::from_rdata(child.clone(), TTL, RData::NS(NS(h.clone()))));
            // Glue: only for names inside the parent; anything else must be
            // looked up, as live.com's parent `com.` does for ns1.msft.net.
            if parent.zone_of(h) && !has(records, h, RecordType::A) && !has(records, h, RecordType::AAAA) {
                if let Some(s) = servers.iter().find(|s| &s.hostname == h) {
                    records.extend(addr_records(h, &s.addrs));
                }
            }
        }
    }
    zones
        .into_iter()
        .map(|(origin, mut records)| {
            sort(&mut records);
            Zone { origin, records }
        })
        .collect()
}

/// Completes a zone a resolver serves itself (RFC 6303 style): an SOA and
/// an NS naming `localhost.` when the text has none, and for an empty
/// `localhost.` or `127.in-addr.arpa.` zone the loopback records RFC 6761
/// says they always hold.
pub fn complete_local(origin: Name, mut records: Vec<Record>) -> Zone {
    let localhost = Name::from_ascii("localhost.").expect("name");
    if records.is_empty() && origin == localhost {
        records.extend(addr_records(&localhost, &["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")]));
    }
    let loopback = Name::from_ascii("1.0.0.127.in-addr.arpa.").expect("name");
    if records.is_empty() && origin.zone_of(&loopback) {
        records.push(Record::from_rdata(loopback, TTL, RData::PTR(hickory_proto::rr::rdata::PTR(localhost.clone()))));
    }
    if !has(&records, &origin, RecordType::SOA) {
        let soa = SOA::new(localhost.clone(), default_rname(&origin, &localhost), 1, 14400, 3600, 1209600, 300);
        records.push(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)));
    }
    if !has(&records, &origin, RecordType::NS) {
        records.push(Record::from_rdata(origin.clone(), TTL, RData::NS(NS(localhost))));
    }
    sort(&mut records);
    Zone { origin, records }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// The seed's localhost zone, verbatim.
    const SEED_LOCALHOST: &str = "$TTL 86400 ; 24 hours could have been written as 24h or 1d\n$ORIGIN localhost.\n@  1D  IN    SOA @ hostmaster (\n             0 ; serial\n             12h  ; refresh\n             15m  ; retry \n             1w ; expiry\n             3h ; minimum\n     )\n@  1D  IN  NS @ ; localhost is the name server\n   1D  IN  A  127.0.0.1 ; always returns the loop-back address\n";

    #[test]
    fn multi_line_soa_with_comments() {
        let text = "$ORIGIN localhost.\n$TTL 1d\nlocalhost.    IN    SOA localhost. hostmaster.localhost. (\n             2007040800 ; serial\n             3H ; refresh\n             15M ; retry\n             1w ; expire\n             3h ; minimum\n     )\nlocalhost.     IN  NS localhost. ; localhost is the name server\nlocalhost.     IN  A  127.0.0.1 ; the loop-back address\n";
        let r = parse(&n("localhost."), text).unwrap();
        assert_eq!(r.len(), 3);
        let soa = r.iter().find(|r| r.record_type() == RecordType::SOA).unwrap();
        assert!(soa.data.to_string().contains("2007040800"), "{}", soa.data);
        let _ = SEED_LOCALHOST;
    }

    #[test]
    fn every_error_with_its_line() {
        let text = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 2 3 4 5 )\nwww IN A 999.1.1.1\nok IN A 192.0.2.1\nmail IN BOGUS foo\n";
        let e = parse(&n("example.com."), text).unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 6], "{e:?}");
    }

    #[test]
    fn quoted_strings_in_parentheses_keep_their_spaces_and_semicolons() {
        let text = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 2 3 4 5 )\nbig IN TXT ( \"one; two\"  ; a comment\n   \"three (four)\" )\nwww IN A 192.0.2.1\n";
        let records = parse(&n("example.com."), text).unwrap();
        let txt: Vec<String> = records
            .iter()
            .filter(|r| r.record_type() == RecordType::TXT)
            .map(|r| r.data.to_string())
            .collect();
        assert_eq!(txt.len(), 1, "{records:?}");
        let RData::TXT(t) = &records.iter().find(|r| r.record_type() == RecordType::TXT).unwrap().data else {
            unreachable!()
        };
        let strings: Vec<&[u8]> = t.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(strings, [&b"one; two"[..], &b"three (four)"[..]]);
        assert!(records.iter().any(|r| r.record_type() == RecordType::A), "the line after the list is kept");
    }

    #[test]
    fn an_unclosed_parenthesis_is_an_error_at_its_line() {
        let text = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 2 3 4 5 )\nbig IN TXT ( \"x\"\nwww IN A 192.0.2.1\n";
        let e = parse(&n("example.com."), text).unwrap_err();
        assert_eq!((e[0].line, e.len()), (4, 1), "{e:?}");
        let e = parse(&n("example.com."), "www IN A 192.0.2.1 )\n").unwrap_err();
        assert_eq!(e[0].line, 1, "{e:?}");
    }

    #[test]
    fn delegations_and_glue_are_derived() {
        let mut zones = BTreeMap::new();
        for z in [".", "com.", "net.", "live.com.", "msft.net."] {
            zones.insert(n(z), vec![]);
        }
        let s = |h: &str, a: &str, zs: &[&str]| ServerInfo {
            hostname: n(h),
            addrs: vec![a.parse().unwrap()],
            zones: zs.iter().map(|z| n(z)).collect(),
            lame: vec![],
        };
        let servers = [
            s("a.root-servers.net.", "203.0.113.1", &["."]),
            s("a.gtld-servers.net.", "203.0.113.2", &["com.", "net."]),
            s("ns1.msft.net.", "198.51.100.2", &["live.com.", "msft.net."]),
        ];
        let zs = derive(zones, &servers);
        let text = |o: &str| {
            zs.iter()
                .find(|z| z.origin == n(o))
                .unwrap()
                .records
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let com = text("com.");
        assert!(com.contains("live.com. 3600 IN NS ns1.msft.net."), "{com}");
        assert!(!com.contains("198.51.100.2"), "no glue for an out-of-zone name: {com}");
        let net = text("net.");
        assert!(
            net.contains("msft.net. 3600 IN NS ns1.msft.net.") && net.contains("ns1.msft.net. 3600 IN A 198.51.100.2"),
            "{net}"
        );
        assert!(text(".").contains("a.gtld-servers.net. 3600 IN A 203.0.113.2"));
        assert!(text("msft.net.").contains("ns1.msft.net. 3600 IN A 198.51.100.2"));
    }
}
