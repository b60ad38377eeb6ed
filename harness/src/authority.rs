//! The authoritative lookup our servers do, written out because hickory's
//! in-memory store answers referrals with AA set and no glue, which neither
//! unbound nor hickory's own recursor can follow through root -> TLD -> leaf.
//! Pure data in, a [`Reply`] out: easy to test without a network.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::NS;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};

use crate::scenario::values::Lame;
use crate::zone::Zone;

/// What kind of reply a server gave; recorded in the query log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    Answer,
    Referral,
    Nodata,
    Nxdomain,
    Refused,
    /// A lame server's referral up to the root, without AA.
    #[serde(rename = "upward-referral")]
    UpwardReferral,
    /// Received and never answered (a silent lame server).
    #[serde(rename = "no-reply")]
    NoReply,
    /// An error before any lookup: BADVERS, NOTIMP.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub rcode: ResponseCode,
    pub aa: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Reply {
    /// A NOERROR answer with these records and nothing else.
    pub fn answer(records: Vec<Record>) -> Reply {
        let mut r = Reply::new(ReplyKind::Answer, ResponseCode::NoError, true);
        r.answers = records;
        r
    }

    /// An error rcode, nothing else.
    pub fn error(rcode: ResponseCode) -> Reply {
        Reply::new(ReplyKind::Error, rcode, false)
    }

    fn new(kind: ReplyKind, rcode: ResponseCode, aa: bool) -> Reply {
        Reply {
            kind,
            rcode,
            aa,
            answers: vec![],
            authority: vec![],
            additional: vec![],
        }
    }
}

fn at<'a>(z: &'a Zone, name: &'a Name, t: RecordType) -> impl Iterator<Item = &'a Record> {
    z.records
        .iter()
        .filter(move |r| &r.name == name && (r.record_type() == t || t == RecordType::ANY))
}

/// The SOA a negative answer carries: its TTL is the lesser of the SOA's
/// own TTL and its MINIMUM field, how long the denial may be cached
/// (RFC 2308 section 3).
fn soa(z: &Zone) -> Vec<Record> {
    at(z, &z.origin, RecordType::SOA)
        .map(|r| {
            let mut r = r.clone();
            if let RData::SOA(soa) = &r.data {
                r.ttl = r.ttl.min(soa.minimum);
            }
            r
        })
        .collect()
}

/// Address records for the targets of NS/MX records found in the zone.
fn glue(z: &Zone, records: &[Record]) -> Vec<Record> {
    let mut out = Vec::new();
    for r in records {
        let target = match &r.data {
            RData::NS(ns) => &ns.0,
            RData::MX(mx) => &mx.exchange,
            _ => continue,
        };
        out.extend(
            z.records
                .iter()
                .filter(|g| &g.name == target && matches!(g.record_type(), RecordType::A | RecordType::AAAA))
                .cloned(),
        );
    }
    out
}

/// Is a server that serves `served` and is named for the `lame` zones lame
/// for `qname`? Its mode if the deepest zone holding `qname` is a lame one.
pub fn lame_mode<'a>(served: impl IntoIterator<Item = &'a Name>, lame: &[(Name, Lame)], qname: &Name) -> Option<Lame> {
    let deepest = served.into_iter().filter(|o| o.zone_of(qname)).map(|o| o.num_labels()).max();
    lame.iter()
        .filter(|(o, _)| o.zone_of(qname) && deepest.is_none_or(|d| o.num_labels() > d))
        .max_by_key(|(o, _)| o.num_labels())
        .map(|(_, mode)| *mode)
}

/// How a server named for a zone it does not serve answers for it: `None`
/// when `qname` is in a zone it serves (or in no lame zone of it).
pub fn lame_reply(zones: &[&Zone], lame: &[(Name, Lame)], roots: &[Name], qname: &Name) -> Option<Reply> {
    let mode = lame_mode(zones.iter().map(|z| &z.origin), lame, qname)?;
    Some(match mode {
        Lame::Refused => Reply::new(ReplyKind::Refused, ResponseCode::Refused, false),
        Lame::Silent => Reply::new(ReplyKind::NoReply, ResponseCode::NoError, false),
        Lame::NoAa => {
            let mut r = Reply::new(ReplyKind::UpwardReferral, ResponseCode::NoError, false);
            r.authority = roots.iter().map(|n| Record::from_rdata(Name::root(), 3600, RData::NS(NS(n.clone())))).collect();
            r
        }
    })
}

/// Answers `qname qtype` from the zones one server serves.
pub fn lookup(zones: &[&Zone], qname: &Name, qtype: RecordType) -> Reply {
    // The deepest zone we serve that contains the name; for DS at a zone's
    // apex, the parent's side of the cut if we serve it too (RFC 4035 3.1.4.1).
    let parent_side = |z: &&&Zone| !(qtype == RecordType::DS && &z.origin == qname && !qname.is_root());
    let holds = |z: &&&Zone| z.origin.zone_of(qname);
    let deepest = |ok: &dyn Fn(&&&Zone) -> bool| zones.iter().filter(|z| holds(z) && ok(z)).max_by_key(|z| z.origin.num_labels());
    let Some(z) = deepest(&parent_side).or_else(|| deepest(&|_| true)) else {
        return Reply::new(ReplyKind::Refused, ResponseCode::Refused, false);
    };
    // A zone cut between the origin and the name: refer, without AA, with glue.
    // (DS lives on the parent side of the cut.)
    let mut cut = None;
    let mut n = qname.clone();
    while n.num_labels() > z.origin.num_labels() {
        let is_ds_at_cut = &n == qname && qtype == RecordType::DS;
        if !is_ds_at_cut && at(z, &n, RecordType::NS).next().is_some() {
            cut = Some(n.clone());
        }
        n = n.base_name();
    }
    if let Some(cut) = cut {
        let mut r = Reply::new(ReplyKind::Referral, ResponseCode::NoError, false);
        r.authority = at(z, &cut, RecordType::NS).cloned().collect();
        r.additional = glue(z, &r.authority);
        return r;
    }
    let exact: Vec<Record> = at(z, qname, qtype).cloned().collect();
    if !exact.is_empty() {
        let mut r = Reply::new(ReplyKind::Answer, ResponseCode::NoError, true);
        r.additional = glue(z, &exact);
        r.answers = exact;
        return r;
    }
    let cname: Vec<Record> = at(z, qname, RecordType::CNAME).cloned().collect();
    if !cname.is_empty() {
        let mut r = Reply::new(ReplyKind::Answer, ResponseCode::NoError, true);
        r.answers = cname;
        return r;
    }
    // The name exists (perhaps as an empty non-terminal): no data.
    if z.records.iter().any(|r| qname.zone_of(&r.name)) {
        let mut r = Reply::new(ReplyKind::Nodata, ResponseCode::NoError, true);
        r.authority = soa(z);
        return r;
    }
    // Wildcard at the closest encloser (RFC 4592).
    let mut encloser = qname.base_name();
    while !z.records.iter().any(|r| encloser.zone_of(&r.name)) && encloser.num_labels() > z.origin.num_labels() {
        encloser = encloser.base_name();
    }
    if let Ok(wild) = Name::from_ascii("*").and_then(|s| s.append_domain(&encloser)) {
        let matches: Vec<Record> = at(z, &wild, qtype).cloned().collect();
        if !matches.is_empty() {
            let mut r = Reply::new(ReplyKind::Answer, ResponseCode::NoError, true);
            r.answers = matches
                .into_iter()
                .map(|mut rec| {
                    rec.name = qname.clone();
                    rec
                })
                .collect();
            return r;
        }
        if z.records.iter().any(|r| r.name == wild) {
            let mut r = Reply::new(ReplyKind::Nodata, ResponseCode::NoError, true);
            r.authority = soa(z);
            return r;
        }
    }
    let mut r = Reply::new(ReplyKind::Nxdomain, ResponseCode::NXDomain, true);
    r.authority = soa(z);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{derive, ServerInfo};
    use std::collections::BTreeMap;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn zones() -> Vec<Zone> {
        let mut z = BTreeMap::new();
        z.insert(n("."), vec![]);
        z.insert(n("com."), vec![]);
        z.insert(
            n("example.com."),
            crate::zone::parse(
                &n("example.com."),
                "$ORIGIN example.com.\n$TTL 60\n@ IN MX 10 mail\nmail IN A 192.0.2.25\n*.w IN A 192.0.2.80\n",
            )
            .unwrap(),
        );
        let s = |h: &str, a: &str, zs: &[&str]| ServerInfo {
            hostname: n(h),
            addrs: vec![a.parse().unwrap()],
            zones: zs.iter().map(|z| n(z)).collect(),
            lame: vec![],
        };
        derive(
            z,
            &[
                s("a.root.", "192.0.2.1", &["."]),
                s("ns.com.", "192.0.2.2", &["com."]),
                s("ns1.example.com.", "192.0.2.3", &["example.com."]),
            ],
        )
    }

    #[test]
    fn referral_has_glue_and_no_aa() {
        let zs = zones();
        let com = zs.iter().find(|z| z.origin == n("com.")).unwrap();
        let r = lookup(&[com], &n("www.example.com."), RecordType::A);
        assert_eq!((r.kind, r.aa), (ReplyKind::Referral, false));
        assert_eq!(r.authority.len(), 1);
        assert_eq!(r.additional[0].to_string(), "ns1.example.com. 3600 IN A 192.0.2.3");
    }

    #[test]
    fn answers_nodata_nxdomain_wildcard_refused() {
        let zs = zones();
        let ex: Vec<&Zone> = zs.iter().filter(|z| z.origin == n("example.com.")).collect();
        let mx = lookup(&ex, &n("example.com."), RecordType::MX);
        assert!(mx.aa && mx.kind == ReplyKind::Answer && mx.additional.len() == 1);
        assert_eq!(lookup(&ex, &n("mail.example.com."), RecordType::MX).kind, ReplyKind::Nodata);
        assert_eq!(lookup(&ex, &n("nope.example.com."), RecordType::A).rcode, ResponseCode::NXDomain);
        let w = lookup(&ex, &n("x17.w.example.com."), RecordType::A);
        assert_eq!(w.answers[0].name, n("x17.w.example.com."));
        assert_eq!(lookup(&ex, &n("google.com."), RecordType::A).kind, ReplyKind::Refused);
    }

    #[test]
    fn lame_for_zones_it_does_not_serve_only() {
        let zs = zones();
        let ex: Vec<&Zone> = zs.iter().filter(|z| z.origin == n("example.com.")).collect();
        let lame = [(n("example.net."), Lame::NoAa), (n("sub.example.com."), Lame::Silent)];
        let roots = [n("a.root.")];
        let up = lame_reply(&ex, &lame, &roots, &n("www.example.net.")).unwrap();
        assert_eq!(
            (up.kind, up.aa, up.authority[0].to_string()),
            (ReplyKind::UpwardReferral, false, ". 3600 IN NS a.root.".into())
        );
        assert!(lame_reply(&ex, &lame, &roots, &n("www.example.com.")).is_none());
        assert_eq!(lame_reply(&ex, &lame, &roots, &n("a.sub.example.com.")).unwrap().kind, ReplyKind::NoReply);
    }
}
