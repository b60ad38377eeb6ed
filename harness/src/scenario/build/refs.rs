//! Names that must be unique, and lookups of the raw nodes by name for
//! checks that refer to them.

use std::collections::BTreeSet;

use super::Pass;
use crate::scenario::raw::{self, S};
use crate::scenario::rules::Rule;
use crate::scenario::values as v;

/// A network, node or zone defined twice, or two servers with one host name.
pub(super) fn names(p: &mut Pass) {
    let doc = p.doc;
    let lists: [(&str, Vec<&S>); 3] = [
        ("network", doc.networks.iter().flat_map(|e| e.0.iter().map(|e| &e.0)).collect()),
        ("node", doc.nodes.iter().flat_map(|e| e.0.iter().map(|e| &e.0)).collect()),
        ("zone", doc.zones.iter().flat_map(|z| z.0.iter().map(|e| &e.0)).collect()),
    ];
    for (what, names) in lists {
        let mut seen = BTreeSet::new();
        for n in names {
            let key = if what == "zone" {
                v::name(n).map(|x| x.to_string()).unwrap_or(n.value.clone())
            } else {
                n.value.clone()
            };
            if !seen.insert(key) {
                p.report(Rule::DuplicateName, n.pos, format!("{what} `{}`", n.value));
            }
        }
    }
    let mut hosts = BTreeSet::new();
    for (_, s) in servers(p).collect::<Vec<_>>() {
        if let Ok(h) = v::name(&s.name) {
            if !hosts.insert(h.to_string()) {
                p.report(Rule::DuplicateName, s.name.pos, format!("server host name `{}`", s.name.value));
            }
        }
    }
}

pub(super) fn nodes<'a>(p: &Pass<'a>) -> &'a [(S, raw::Node)] {
    p.doc.nodes.as_ref().map_or(&[], |e| &e.0)
}

pub(super) fn node<'a>(p: &Pass<'a>, name: &str) -> Option<&'a raw::Node> {
    nodes(p).iter().find(|(n, _)| n.value == name).map(|(_, n)| n)
}

pub(super) fn servers<'a>(p: &Pass<'a>) -> impl Iterator<Item = (&'a S, &'a raw::Server)> {
    nodes(p).iter().filter_map(|(n, node)| node.server.as_ref().map(|s| (n, &s.value)))
}

pub(super) fn resolvers<'a>(p: &Pass<'a>) -> impl Iterator<Item = (&'a S, &'a raw::Resolver)> {
    nodes(p).iter().filter_map(|(n, node)| node.resolver.as_ref().map(|r| (n, &r.value)))
}
