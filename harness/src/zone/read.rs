//! The zone reader: one pass over the entries of a master file, each parsed
//! on its own with the state the entries before it set (`$ORIGIN`, `$TTL`,
//! the last owner name). Every entry is a record, a directive that was
//! applied, or an error at its line; a bad entry costs only itself, so a
//! zone of N records with one bad line takes N small parses, not N²
//! (the reader before this re-parsed every prefix to find the bad line).

use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::txt::{parse_ttl, Parser};

use super::{at_in_rdata, describe, entries, soa_minimum, sort, ZoneError};

/// Parses zone text for `origin`. Every bad entry is reported with its line.
pub fn parse(origin: &Name, text: &str) -> Result<Vec<Record>, Vec<ZoneError>> {
    let mut items = entries(text).map_err(|e| vec![e])?;
    at_in_rdata(&mut items, origin);
    let mut state = State {
        origin: origin.clone(),
        // No `$TTL` (older zone files, like the seed's reverse zone): BIND
        // uses the SOA's minimum field, and so do we.
        ttl: match items.iter().any(|(_, t)| directive_word(t).as_deref() == Some("$TTL")) {
            true => None,
            false => items.iter().find_map(|(_, t)| soa_minimum(t)).map(|m| m.to_string()),
        },
        owner: None,
    };
    let (mut records, mut errors, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    for (line, entry) in &items {
        let result = match directive_word(entry) {
            Some(word) => state.directive(&word, entry).map(|()| vec![]),
            None => state.record(entry),
        };
        match result {
            Ok(found) => {
                for r in found.iter().filter(|r| !origin.zone_of(&r.name)) {
                    errors.push(ZoneError {
                        line: *line,
                        message: format!("{} is outside the zone {origin}", r.name),
                    });
                }
                errors.extend(found.iter().filter_map(too_big).map(|message| ZoneError { line: *line, message }));
                lines.extend(found.iter().map(|_| *line));
                records.extend(found);
            }
            Err(message) => errors.push(ZoneError { line: *line, message }),
        }
    }
    errors.extend(sets_too_big(&records, &lines));
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    sort(&mut records);
    Ok(records)
}

/// The most a DNS message can hold, over TCP (RFC 1035 4.2.2: a two-byte
/// length); a record's data has the same limit (RDLENGTH, RFC 1035 3.2.1).
const MESSAGE_MAX: usize = 65_535;

/// The wire length of a record's data, or why it cannot be encoded
/// (hickory's encoder stops at 65,535 bytes).
fn rdata_len(r: &Record) -> Result<usize, String> {
    use hickory_proto::serialize::binary::BinEncodable;
    r.data.to_bytes().map(|b| b.len()).map_err(|e| e.to_string())
}

/// A record whose data no RDLENGTH can hold: the server could never send it.
fn too_big(r: &Record) -> Option<String> {
    let at_most = format!("a record's data holds at most {MESSAGE_MAX} bytes (RDLENGTH)");
    match rdata_len(r) {
        Ok(n) if n <= MESSAGE_MAX => None,
        Ok(n) => Some(format!("the {} data of {} is {n} bytes; {at_most}", r.record_type(), r.name)),
        Err(e) => Some(format!("the {} data of {} cannot be encoded ({e}); {at_most}", r.record_type(), r.name)),
    }
}

/// RRsets that no DNS message can hold, even over TCP with every owner name
/// compressed to a pointer: each answer for them would be SERVFAIL.
fn sets_too_big(records: &[Record], lines: &[usize]) -> Vec<ZoneError> {
    let mut sets: std::collections::BTreeMap<(String, String), (usize, usize)> = Default::default();
    for (r, line) in records.iter().zip(lines) {
        // Header, the question (name and type and class), then per record a
        // name pointer, type, class, TTL and RDLENGTH, and its data.
        let e = sets
            .entry((r.name.to_ascii(), r.record_type().to_string()))
            .or_insert((*line, 12 + r.name.len() + 4));
        e.1 += 12 + rdata_len(r).unwrap_or(0);
    }
    sets.into_iter()
        .filter(|(_, (_, size))| *size > MESSAGE_MAX)
        .map(|((name, rtype), (line, size))| ZoneError {
            line,
            message: format!("the {name} {rtype} records take at least {size} bytes in an answer; no DNS message holds more than {MESSAGE_MAX}, even over TCP"),
        })
        .collect()
}

/// What the entries so far have set.
struct State {
    origin: Name,
    /// The default TTL as written (`300`, `1h`).
    ttl: Option<String>,
    /// The owner of the last record: an entry that starts with a blank has it.
    owner: Option<Name>,
}

/// `$ORIGIN`, `$TTL`, ... in capitals, if the entry is a directive.
fn directive_word(entry: &str) -> Option<String> {
    let word = entry.split_whitespace().next()?;
    word.starts_with('$').then(|| word.to_ascii_uppercase())
}

impl State {
    /// Applies `$ORIGIN NAME` or `$TTL TTL`; anything else is an error.
    fn directive(&mut self, word: &str, entry: &str) -> Result<(), String> {
        let args: Vec<&str> = entry.split_whitespace().skip(1).collect();
        match (word, &args[..]) {
            ("$ORIGIN", [name]) => {
                self.origin = Name::parse(name, Some(&self.origin)).map_err(|e| format!("`$ORIGIN {name}`: {e}"))?;
                Ok(())
            }
            ("$TTL", [ttl]) => {
                parse_ttl(ttl).map_err(|e| format!("`$TTL {ttl}`: {e}"))?;
                self.ttl = Some(ttl.to_string());
                Ok(())
            }
            ("$ORIGIN", _) => Err("`$ORIGIN` takes one domain name".into()),
            ("$TTL", _) => Err("`$TTL` takes one TTL (`300`, `1h`)".into()),
            ("$INCLUDE", _) => Err("`$INCLUDE` is not supported: write the records in the zone itself".into()),
            _ => Err(format!("`{word}` is not a directive; there are $ORIGIN and $TTL")),
        }
    }

    /// One record entry, parsed on its own with the state so far.
    fn record(&mut self, entry: &str) -> Result<Vec<Record>, String> {
        if let Some(r) = self.dnssec_record(entry) {
            return r;
        }
        let mut text = format!("$ORIGIN {}\n", self.origin);
        if let Some(ttl) = &self.ttl {
            text.push_str(&format!("$TTL {ttl}\n"));
        }
        if entry.starts_with([' ', '\t']) {
            let owner = self.owner.as_ref().ok_or("this record has no owner name, and no record before it gives one")?;
            text.push_str(&owner.to_string());
        }
        text.push_str(entry);
        let (_, sets) = Parser::new(text, None, Some(self.origin.clone())).parse().map_err(|e| describe(&e))?;
        let found: Vec<Record> = sets.values().flat_map(|s| s.records_without_rrsigs().cloned()).collect();
        let Some(first) = found.first() else {
            return Err(format!("`{}` is no record: it needs a type and its data", entry.trim()));
        };
        self.owner = Some(first.name.clone());
        Ok(found)
    }
}

impl State {
    /// A DNSSEC record entry (which hickory's text parser refuses), read by
    /// [`super::dnssec`]; `None` for an entry of any other type.
    fn dnssec_record(&mut self, entry: &str) -> Option<Result<Vec<Record>, String>> {
        let tokens: Vec<&str> = entry.split_whitespace().collect();
        let blank = entry.starts_with([' ', '\t']);
        let first = usize::from(!blank);
        // Up to two of TTL and class, in either order, before the type.
        let (mut i, mut ttl) = (first, None);
        while i < tokens.len() && i < first + 2 {
            let t = tokens[i];
            if t.eq_ignore_ascii_case("IN") {
                i += 1;
            } else if t.starts_with(|c: char| c.is_ascii_digit()) && ttl.is_none() {
                ttl = Some(t);
                i += 1;
            } else {
                break;
            }
        }
        let rtype = super::dnssec::dnssec_type(tokens.get(i)?)?;
        let mut read = || {
            let owner = match blank {
                true => self.owner.clone().ok_or("this record has no owner name, and no record before it gives one")?,
                false if tokens[0] == "@" => self.origin.clone(),
                false => Name::parse(tokens[0], Some(&self.origin)).map_err(|e| format!("`{}` is not a domain name: {e}", tokens[0]))?,
            };
            let ttl = match ttl.or(self.ttl.as_deref()) {
                Some(t) => parse_ttl(t).map_err(|e| format!("TTL `{t}`: {e}"))?,
                None => return Err("this record has no TTL, and there is no $TTL or SOA to take one from".to_string()),
            };
            let rdata = super::dnssec::rdata(rtype, &tokens[i + 1..], &self.origin)?;
            self.owner = Some(owner.clone());
            Ok(vec![Record::from_rdata(owner, ttl, rdata)])
        };
        Some(read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    #[test]
    fn every_line_is_a_record_a_directive_or_an_error() {
        for last in ["$INCLUDE /etc/passwd", "$INCLUDE /nonexistent", "$ORIGIN", "$TTL", "IN", "$FOO bar"] {
            let text = format!("$TTL 300\nwww IN A 203.0.113.80\n{last}\n");
            let errs = parse(&origin(), &text).expect_err(last);
            assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [3], "{last}: {errs:?}");
        }
    }

    #[test]
    fn state_carries_from_entry_to_entry() {
        let text = "$TTL 1h\nwww IN A 203.0.113.80\n    IN AAAA 2001:db8::80\n$ORIGIN sub.example.com.\nmail 60 IN A 203.0.113.25\n";
        let r = parse(&origin(), text).unwrap();
        let got: Vec<String> = r.iter().map(|r| format!("{} {} {}", r.name, r.ttl, r.record_type())).collect();
        assert_eq!(got, ["mail.sub.example.com. 60 A", "www.example.com. 3600 A", "www.example.com. 3600 AAAA"]);
    }

    /// A signed zone as `dnssec-signzone -O full` writes it: every DNSSEC
    /// type is read, and each prints back as it was written.
    #[test]
    fn dnssec_records_are_read_and_print_back() {
        let text = include_str!("../../../tests/fixtures/signed.zone");
        let records = parse(&Name::from_ascii("example.").unwrap(), text).unwrap();
        let types: std::collections::BTreeSet<String> = records.iter().map(|r| r.record_type().to_string()).collect();
        for t in ["DNSKEY", "DS", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "CDS", "CDNSKEY"] {
            assert!(types.contains(t), "no {t} in {types:?}");
        }
        // Printed back and read again, each record is the same record.
        let printed: String = records.iter().map(|r| format!("{r}\n")).collect();
        let again = parse(&Name::from_ascii("example.").unwrap(), &printed).unwrap();
        assert_eq!(records, again, "{printed}");
        // A broken one is an error at its line, like any other record.
        let bad = format!("{text}www 300 IN RRSIG A 13 2 300 20261302000000 20261101000000 1 example. AAAA\n");
        let errs = parse(&Name::from_ascii("example.").unwrap(), &bad).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("RRSIG expiration"), "{errs:?}");
    }

    /// One bad line after N good ones: linear, not one parse per prefix
    /// (13 s at N = 4,000 before, 66 s at 8,000). The speed itself is for
    /// `make bench`; here a quadratic reader would not finish.
    #[test]
    fn what_no_message_can_hold_is_an_error() {
        let long = format!("\"{}\"", "a".repeat(250));
        let big = format!("big TXT {}\n", vec![long.as_str(); 280].join(" "));
        let e = parse(&origin(), &format!("$TTL 300\nok TXT {long}\n{big}")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 3);
        assert!(e[0].message.contains("at most 65535 bytes (RDLENGTH)"), "{}", e[0].message);
        // 300 records of 250 bytes each: every one fits, the set does not.
        let many: String = (0..300).map(|i| format!("set TXT \"{i:03}{}\"\n", "b".repeat(247))).collect();
        let e = parse(&origin(), &format!("$TTL 300\n{many}")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("no DNS message holds more than 65535"), "{}", e[0].message);
        assert!(parse(&origin(), &format!("$TTL 300\n{}", &many[..many.len() / 2])).is_ok());
    }

    #[test]
    fn one_bad_line_costs_one_entry() {
        let mut text = String::from("$TTL 300\n");
        for i in 0..20_000 {
            text.push_str(&format!("h{i} IN A 203.0.113.{}\n", i % 250 + 1));
        }
        text.push_str("bad IN A 999.0.0.1\n");
        let errs = parse(&origin(), &text).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 20_002);
    }
}
