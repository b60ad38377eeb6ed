//! Zones: each origin and its text (inline or a file) read once, every bad
//! line reported where it is, then the tree completed (SOA, apex NS,
//! delegations, glue) and each resolver's local zones handed to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, Record};

use super::{refs, Pass};
use crate::scenario::model::Node;
use crate::scenario::raw::ZoneSource;
use crate::scenario::rules::Rule;
use crate::scenario::values as v;
use crate::scenario::yaml::Pos;
use crate::zone::{self, ServerInfo, Zone};

pub(super) fn zones(p: &mut Pass, nodes: &mut [Node]) -> Vec<Zone> {
    let users = zone_users(p);
    let mut texts: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
    for (z, src) in p.doc.zones.iter().flat_map(|e| e.0.iter()) {
        let Some(origin) = p.take(Rule::BadDomainName, z, v::name(z)) else { continue };
        if !users.contains(&origin) {
            let why = format!("`{}`: add it to some node's `server: {{zones: [...]}}` or a resolver's `local_zones`", z.value);
            p.report(Rule::ZoneUnserved, z.pos, why);
        }
        let records = match src {
            Some(src) => records(p, &origin, src),
            None => vec![],
        };
        texts.insert(origin, records);
    }
    let servers: Vec<ServerInfo> = nodes
        .iter()
        .filter_map(|n| {
            n.server.as_ref().map(|s| ServerInfo {
                hostname: s.hostname.clone(),
                addrs: n.interfaces.iter().flat_map(|(_, a)| a.iter().copied()).collect(),
                zones: s.zones.clone(),
                lame: s.lame.iter().map(|(z, _)| z.clone()).collect(),
            })
        })
        .collect();
    no_root(p);
    let named: BTreeSet<Name> = servers.iter().flat_map(|s| s.zones.iter().chain(&s.lame).cloned()).collect();
    for z in &named {
        texts.entry(z.clone()).or_default();
    }
    // A resolver's local zones that no server serves stay out of the lab's
    // tree: nothing delegates to them.
    let (local_only, texts): (BTreeMap<_, _>, BTreeMap<_, _>) = texts.into_iter().partition(|(z, _)| !named.contains(z));
    let zones = zone::derive(texts, &servers);
    let local: Vec<Zone> = local_only.into_iter().map(|(o, r)| zone::complete_local(o, r)).collect();
    local_zones(p, nodes, &local, &zones);
    zones
}

/// Every kind starts from root hints: the root's servers and addresses.
/// Read from the document, so that a root server with another problem is
/// reported for that problem alone.
fn no_root(p: &mut Pass) {
    if refs::servers(p).any(|(_, s)| s.zones.iter().any(|z| v::name(z).is_ok_and(|n| n.is_root()))) {
        return;
    }
    if let Some((name, _)) = refs::resolvers(p).next() {
        let why = format!("`{}` would have no root hints: give some node `server: {{zones: [\".\"]}}`", name.value);
        p.report(Rule::NoRoot, name.pos, why);
    }
}

/// Every zone a server serves or is lame for, or a resolver holds locally.
fn zone_users(p: &Pass) -> BTreeSet<Name> {
    let served = refs::servers(p).flat_map(|(_, s)| s.zones.iter().chain(s.lame.iter().flat_map(|l| l.0.iter().map(|(z, _)| z))));
    let local = refs::resolvers(p).flat_map(|(_, r)| r.local_zones.iter().flatten());
    served.chain(local).filter_map(|z| v::name(z).ok()).collect()
}

/// The records of one zone. Bad lines are reported at their own place:
/// `zonefile:line:col` for a file, the scenario's line for inline text.
fn records(p: &mut Pass, origin: &Name, src: &ZoneSource) -> Vec<Record> {
    let (text, file, at) = match src {
        ZoneSource::Text(t) => (t.value.clone(), None, t.pos),
        ZoneSource::File(f) => match zone_file(p.dir, &f.value) {
            Ok((path, t)) => (t, Some(path), f.pos),
            Err(e) => {
                p.report(Rule::Unreadable, f.pos, e);
                return vec![];
            }
        },
    };
    match zone::parse(origin, &text) {
        Ok(r) => r,
        Err(errors) => {
            for e in errors {
                let detail = format!("zone {origin}: {}", e.message);
                // An error of the zone as a whole (a record outside it) has no
                // line of its own: it is reported where the zone is named.
                if e.line == 0 {
                    p.report(Rule::ZoneSyntax, at, detail);
                    continue;
                }
                match &file {
                    Some(path) => p.report_in(path.clone(), Rule::ZoneSyntax, Pos { line: e.line, col: 1 }, detail),
                    // Inline text: its first line is the line the text starts on.
                    None => p.report(
                        Rule::ZoneSyntax,
                        Pos {
                            line: at.line + e.line - 1,
                            col: at.col,
                        },
                        detail,
                    ),
                }
            }
            vec![]
        }
    }
}

/// Hands each resolver the zones its `local_zones` names.
fn local_zones(p: &mut Pass, nodes: &mut [Node], local: &[Zone], zones: &[Zone]) {
    let written: BTreeSet<Name> = p.doc.zones.iter().flat_map(|z| z.0.iter()).filter_map(|(z, _)| v::name(z).ok()).collect();
    for (name, raw) in refs::resolvers(p).collect::<Vec<_>>() {
        let Some(r) = nodes.iter_mut().find(|n| n.name == name.value).and_then(|n| n.resolver.as_mut()) else {
            continue;
        };
        for z in raw.local_zones.iter().flatten() {
            let Some(origin) = p.take(Rule::UnknownZone, z, v::name(z)) else { continue };
            if !written.contains(&origin) {
                let why = format!("`{}`: write it under `zones:` (its text, a file, or nothing for an empty zone)", z.value);
                p.report(Rule::UnknownZone, z.pos, why);
                continue;
            }
            r.local_zones.extend(local.iter().chain(zones).find(|x| x.origin == origin).cloned());
        }
    }
}

/// Reads `{file: PATH}`: a regular file inside the scenario's directory (or
/// one `--allow-outside` names), at most `--max-zone-bytes` long. Paths are
/// compared once resolved, so `..` and symbolic links cannot leave.
fn zone_file(dir: &Path, written: &str) -> Result<(PathBuf, String), String> {
    let rules = crate::scenario::read_rules();
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read zone file `{written}`: {e}");
    let shown = dir.join(written);
    let path = shown.canonicalize().map_err(|e| cannot(&e))?;
    let home = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let inside = |d: &Path| d.canonicalize().is_ok_and(|d| path.starts_with(d));
    if !inside(home) && !rules.allow_outside.iter().any(|d| inside(d)) {
        return Err(format!(
            "zone file `{written}` is outside the scenario's directory: zone files must be inside it, or below it (`--allow-outside DIR` permits another)"
        ));
    }
    let text = crate::text::read_bounded(&path, rules.zone_max).map_err(|e| match e {
        crate::text::ReadError::TooLarge(_) => cannot(&format!("{e} (`--max-zone-bytes N` raises it)")),
        e => cannot(&e),
    })?;
    Ok((shown, text))
}
