//! Verdicts on the whole answer. An [`Expect`] is what a scenario states
//! (outcome words, answer records, flags, EDE, transport); [`Expect::misses`]
//! says, for a [`Reply`], each way it falls short, naming the cause.
//!
//! The outcome words (`scenarios/README.md`, "Expectations"): every rcode;
//! `timeout`, `tcp-refused`, `tcp-reset`, `unreachable`; and two that look
//! inside a NOERROR: `NODATA` (no record of the asked type after following
//! CNAMEs, and an SOA in authority) and `REFERRAL` (no AA, no answer, NS in
//! authority). A plain `NOERROR` means what a resolver's user experiences:
//! an answer that holds a record of the asked type, after following CNAMEs.

use std::fmt;

use hickory_proto::rr::RecordType;
use serde::{Deserialize, Serialize};

use crate::answer::{ede_name, Flag, Reply, Status, EDE_NAMES};
use crate::scenario::values::Transport;

/// What an answer is, in the words expectations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Word {
    /// A status; `NOERROR` means an answer with data of the asked type.
    Status(Status),
    Nodata,
    Referral,
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Word::Status(s) => s.fmt(f),
            Word::Nodata => f.write_str("NODATA"),
            Word::Referral => f.write_str("REFERRAL"),
        }
    }
}

impl std::str::FromStr for Word {
    type Err = String;
    fn from_str(s: &str) -> Result<Word, String> {
        match s.to_ascii_uppercase().as_str() {
            "NODATA" => Ok(Word::Nodata),
            "REFERRAL" => Ok(Word::Referral),
            // `RCODE23` and the faults are for reading outcomes back, not for expectations.
            up if !up.starts_with("RCODE") => match up.parse::<Status>() {
                Ok(st) if !st.is_fault() => Ok(Word::Status(st)),
                _ => Err(bad_word(s)),
            },
            _ => Err(bad_word(s)),
        }
    }
}

fn bad_word(s: &str) -> String {
    format!("`{s}` is not an outcome; expected one of {}", Word::names().join(", "))
}

impl Word {
    /// Every word, as the README writes them: rcodes in capitals, the rest lower case.
    pub fn names() -> Vec<String> {
        let rcodes = crate::answer::Rcode::names().map(String::from);
        let inside = ["NODATA", "REFERRAL"].map(String::from);
        let none = Status::no_answer_names().map(|n| n.to_ascii_lowercase());
        rcodes.chain(inside).chain(none).collect()
    }

    /// The word for `reply` to `qname qtype`, if one fits: a truncated
    /// answer fits none, nor a NOERROR without data and without the SOA of
    /// a zone above the last name of its CNAME chain (a partial chain).
    pub fn of(reply: &Reply, qname: &str, qtype: &str) -> Option<Word> {
        if reply.rcode != Status::NOERROR {
            return Some(Word::Status(reply.rcode));
        }
        // A truncated answer is a promise of more over TCP, not an answer.
        if reply.has(Flag::Tc) {
            return None;
        }
        let d = data(reply, qname, qtype);
        if d.found {
            Some(Word::Status(Status::NOERROR))
        } else if is_referral(reply, qname) {
            Some(Word::Referral)
        } else if reply
            .authority
            .iter()
            .any(|r| r.rtype == "SOA" && encloses(&r.name, d.chain.last().map_or(qname, |n| n)))
        {
            Some(Word::Nodata)
        } else {
            None
        }
    }

    /// The word for `reply`, or what it is when no word fits.
    pub fn describe(reply: &Reply, qname: &str, qtype: &str) -> String {
        match Word::of(reply, qname, qtype) {
            Some(w) => w.to_string(),
            None if reply.has(Flag::Tc) && reply.answer.is_empty() => "NOERROR (truncated, no data)".into(),
            None if reply.has(Flag::Tc) => "NOERROR (truncated)".into(),
            None if reply.authority.iter().any(|r| r.rtype == "SOA") => "NOERROR (no data, another zone's SOA)".into(),
            None => "NOERROR (no data, no SOA)".into(),
        }
    }
}

/// Is `zone` the name `name` or one of its ancestors?
fn encloses(zone: &str, name: &str) -> bool {
    let (z, n) = (zone.trim_end_matches('.').to_ascii_lowercase(), name.trim_end_matches('.').to_ascii_lowercase());
    z.is_empty() || n == z || n.ends_with(&format!(".{z}"))
}

/// No AA, no answer, and NS records for the name or one of its ancestors.
fn is_referral(r: &Reply, qname: &str) -> bool {
    !r.has(Flag::Aa) && r.answer.is_empty() && r.authority.iter().any(|a| a.rtype == "NS" && encloses(&a.name, qname))
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The answer's records of the asked type, following CNAMEs from `qname`.
struct Data {
    found: bool,
    /// The names walked: `qname`, then each CNAME target.
    chain: Vec<String>,
}

fn data(reply: &Reply, qname: &str, qtype: &str) -> Data {
    let mut chain = vec![qname.trim_end_matches('.').to_string()];
    let mut at = qname.to_string();
    // A chain is at most as long as the answer section: no loop can trap us.
    for _ in 0..=reply.answer.len() {
        let here: Vec<_> = reply.answer.iter().filter(|r| same_name(&r.name, &at)).collect();
        if here.iter().any(|r| r.rtype.eq_ignore_ascii_case(qtype) || qtype.eq_ignore_ascii_case("ANY")) {
            return Data { found: true, chain };
        }
        match here.iter().find(|r| r.rtype == "CNAME") {
            Some(c) if !chain.iter().any(|n| same_name(n, &c.data)) => {
                at = c.data.clone();
                chain.push(c.data.trim_end_matches('.').to_string());
            }
            _ => break,
        }
    }
    Data { found: false, chain }
}

crate::answer::serde_as_string!(Word, FlagWant);

/// A count of answer records: exactly N, or within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub min: u32,
    pub max: u32,
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (a, b) if a == b => write!(f, "{a} answer records"),
            (0, b) => write!(f, "at most {b} answer records"),
            (a, u32::MAX) => write!(f, "at least {a} answer records"),
            (a, b) => write!(f, "{a}-{b} answer records"),
        }
    }
}

/// A flag that must be set (`aa`) or clear (`-tc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FlagWant {
    pub flag: Flag,
    pub set: bool,
}

impl fmt::Display for FlagWant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.set { "" } else { "-" }, self.flag.name())
    }
}

impl std::str::FromStr for FlagWant {
    type Err = String;
    fn from_str(s: &str) -> Result<FlagWant, String> {
        let (set, name) = match s.strip_prefix('-') {
            Some(n) => (false, n),
            None => (true, s),
        };
        let names: Vec<&str> = Flag::ALL.iter().map(|f| f.name()).collect();
        let flag = Flag::parse(name).ok_or_else(|| format!("`{s}` is not a flag; expected one of {} (`-tc`: must be clear)", names.join(", ")))?;
        Ok(FlagWant { flag, set })
    }
}

/// `A 203.0.113.80`: a record type and its data, compared without case,
/// TTL or trailing dots.
pub fn record(s: &str) -> Result<String, String> {
    let (t, data) = s
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("`{s}` should be `TYPE DATA`, like `A 203.0.113.80`"))?;
    let rtype: RecordType = t.to_ascii_uppercase().parse().map_err(|_| format!("`{t}` is not a record type"))?;
    if matches!(rtype, RecordType::Unknown(_)) {
        return Err(format!("`{t}` is not a record type"));
    }
    let parsed = hickory_proto::rr::RData::try_from_str(rtype, data.trim()).map_err(|e| format!("`{s}`: {e}"))?;
    Ok(normal(&format!("{rtype} {parsed}")))
}

fn normal(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a scenario expects of one answer. Empty: nothing stated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    /// Acceptable outcome words; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcome: Vec<Word>,
    /// The answer section as a set of `TYPE DATA`, normalised by [`record`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_count: Option<Count>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<FlagWant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ede: Option<u16>,
    /// The final answer must have come over this transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
}

/// The keys of a field map: reserved, so no node may be named like one.
pub const FIELDS: [&str; 6] = ["outcome", "answer", "answer_count", "flags", "ede", "transport"];

/// `22` or `no-reachable-authority`.
pub fn ede(s: &str) -> Result<u16, String> {
    if let Ok(n) = s.parse::<u16>() {
        return Ok(n);
    }
    EDE_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u16)
        .ok_or_else(|| format!("`{s}` is not an Extended DNS Error: a code (0-65535) or a name such as no-reachable-authority, dnssec-bogus"))
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }

    /// Only outcome words.
    pub fn words(outcome: Vec<Word>) -> Expect {
        Expect { outcome, ..Expect::default() }
    }

    /// Each way `reply` to `qname qtype` falls short of this, with its cause.
    pub fn misses(&self, reply: &Reply, qname: &str, qtype: &str) -> Vec<String> {
        let mut out = Vec::new();
        let word = Word::of(reply, qname, qtype);
        if !self.outcome.is_empty() && !word.is_some_and(|w| self.outcome.contains(&w)) {
            let want: Vec<String> = self.outcome.iter().map(|w| w.to_string()).collect();
            out.push(format!(
                "expected {}, got {}{}",
                want.join(" or "),
                Word::describe(reply, qname, qtype),
                cause(reply, qname, qtype)
            ));
        }
        // Fields describe an answer: none holds when none came.
        if reply.rcode.rcode().is_none() {
            if *self != Expect::words(self.outcome.clone()) {
                out.push(format!("no DNS answer came ({}), so {self} cannot hold", reply.rcode));
            }
            return out;
        }
        if let Some(want) = &self.answer {
            let mut got: Vec<String> = reply.answer.iter().map(|r| normal(&r.type_and_data())).collect();
            got.sort();
            got.dedup();
            let mut want = want.clone();
            want.sort();
            want.dedup();
            if got != want {
                let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
                let extra: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
                out.push(format!("answer is {{{}}}: missing {missing:?}, extra {extra:?}", got.join(", ")));
            }
        }
        if let Some(c) = self.answer_count {
            let n = reply.answer.len() as u32;
            if n < c.min || n > c.max {
                out.push(format!("expected {c}, got {n}"));
            }
        }
        for f in &self.flags {
            if reply.has(f.flag) != f.set {
                let state = if f.set { "clear" } else { "set" };
                out.push(format!("flag {} is {state} (expected {f})", f.flag.name()));
            }
        }
        if let Some(code) = self.ede {
            let got = reply
                .edns
                .iter()
                .flat_map(|e| &e.ede)
                .map(|e| format!("{} {}", e.code, e.name))
                .collect::<Vec<_>>();
            if !reply.edns.iter().flat_map(|e| &e.ede).any(|e| e.code == code) {
                let got = if got.is_empty() { "none".to_string() } else { got.join(", ") };
                out.push(format!("expected EDE {code} ({}), got {got}", ede_name(code)));
            }
        }
        if let Some(t) = self.transport {
            if reply.transport() != t {
                out.push(format!("the final answer came over {}, expected {t}", reply.transport()));
            }
        }
        out
    }
}

/// Why a NOERROR is not the answer a user wanted: the CNAME chain, TC=1
/// without a retry over TCP, an empty authority section.
fn cause(reply: &Reply, qname: &str, qtype: &str) -> String {
    if reply.rcode != Status::NOERROR {
        return reply.error().map(|e| format!(" ({e})")).unwrap_or_default();
    }
    let d = data(reply, qname, qtype);
    if d.found {
        return String::new();
    }
    let mut why = vec![match d.chain.len() {
        1 => format!("no {qtype} record for {} in the answer", d.chain[0]),
        _ => format!("no {qtype} record after following CNAMEs: the chain {} ends without one", d.chain.join(" -> ")),
    }];
    if reply.has(Flag::Tc) {
        let retried = reply.attempts.iter().any(|a| a.transport == Transport::Tcp);
        why.push(if retried {
            "truncated (TC=1) even over TCP".into()
        } else {
            "truncated (TC=1) and not retried over TCP".into()
        });
    }
    let last = d.chain.last().map_or(qname, |n| n.as_str());
    match reply.authority.iter().find(|r| r.rtype == "SOA") {
        None => why.push("no SOA in authority".into()),
        Some(soa) if !encloses(&soa.name, last) => why.push(format!(
            "the SOA in authority is {}'s, not of a zone above {last}",
            soa.name.trim_end_matches('.')
        )),
        Some(_) => {}
    }
    format!(": {}", why.join("; "))
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.outcome.is_empty() {
            parts.push(self.outcome.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" or "));
        }
        if let Some(a) = &self.answer {
            parts.push(format!("answer {{{}}}", a.join(", ")));
        }
        if let Some(c) = self.answer_count {
            parts.push(if c.min == c.max {
                format!("{} answers", c.min)
            } else {
                format!("{}-{} answers", c.min, c.max)
            });
        }
        if !self.flags.is_empty() {
            parts.push(format!("flags {}", self.flags.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")));
        }
        if let Some(e) = self.ede {
            parts.push(format!("EDE {e} ({})", ede_name(e)));
        }
        if let Some(t) = self.transport {
            parts.push(format!("over {t}"));
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests;
