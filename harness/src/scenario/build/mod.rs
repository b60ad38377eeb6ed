//! The one pass over a raw document. It reads every value once, and from
//! that one reading comes both every [`Finding`] and the typed
//! [`Scenario`]: a value that does not parse is reported and left out, so
//! the model holds only what a run can build, and it is handed out only
//! when nothing was reported.
//!
//! `nodes.rs` reads networks and nodes, `zones.rs` the zones, `asks.rs`
//! queries and probes with their expectations, `refs.rs` checks names that
//! refer to each other.

mod asks;
mod expect;
mod firewall;
mod nodes;
mod refs;
mod zones;

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::{self, ExpectedFinding, Scenario};
use super::raw::{Doc, OneOrMany, S};
use super::rules::{Finding, Rule};
use super::values as v;
use super::yaml::Pos;
use crate::resolver::Kind;

/// The pass's state: the document, where its files are, what was found.
pub(super) struct Pass<'a> {
    pub doc: &'a Doc,
    pub dir: &'a Path,
    pub findings: Vec<Finding>,
}

impl Pass<'_> {
    fn report(&mut self, rule: Rule, pos: Pos, detail: impl fmt::Display) {
        self.findings.push(Finding::new(rule, pos, detail));
    }

    /// A finding in a file of its own (a zone file), at its own line.
    fn report_in(&mut self, file: PathBuf, rule: Rule, pos: Pos, detail: impl fmt::Display) {
        let mut f = Finding::new(rule, pos, detail);
        f.file = Some(file);
        self.findings.push(f);
    }

    /// `r`'s value, or its error reported under `rule` at `s`.
    fn take<T>(&mut self, rule: Rule, s: &S, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.report(rule, s.pos, e)).ok()
    }

    /// Every item of `list` that parses; the rest reported.
    fn each<T>(&mut self, rule: Rule, list: &OneOrMany, f: impl Fn(&str) -> Result<T, String>) -> Vec<T> {
        list.0.iter().filter_map(|s| self.take(rule, s, f(s))).collect()
    }
}

fn strs(o: &OneOrMany) -> impl Iterator<Item = &str> {
    o.0.iter().map(|s| s.value.as_str())
}

/// The node a query or probe is sent from: `from`, or the node `client`.
fn from_node(from: &Option<S>) -> &str {
    from.as_ref().map_or("client", |f| f.value.as_str())
}

/// Reads `doc` (found at `path`) into a scenario, with every finding.
pub(super) fn build(doc: &Doc, path: &Path) -> (Option<Scenario>, Vec<Finding>) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut p = Pass { doc, dir, findings: vec![] };
    scenario_name(&mut p);
    let networks = nodes::networks(&mut p);
    let mut nodes = nodes::nodes(&mut p, &networks);
    refs::names(&mut p);
    let zones = zones::zones(&mut p, &mut nodes);
    let (query_specs, probes) = (asks::queries(&mut p, &nodes), asks::probes(&mut p, &nodes));
    let expect_findings = expect_findings(&mut p);
    let audit = doc.audit.as_ref().map(|a| &a.value);
    for n in audit.iter().flat_map(|a| a.from.iter().chain(a.outside.iter().flat_map(|o| o.0.iter()))) {
        if !nodes.iter().any(|x| x.name == n.value) {
            p.report(Rule::UnknownNode, n.pos, format!("no node `{}`", n.value));
        }
    }
    if !p.findings.is_empty() {
        return (None, p.findings);
    }
    let scenario = Scenario {
        name: doc.name.value.clone(),
        description: doc.description.clone().unwrap_or_default().trim_end().to_string(),
        path: path.to_path_buf(),
        networks,
        nodes,
        zones,
        queries: model::expand(&query_specs, 1),
        query_specs,
        probes,
        audit_from: audit.and_then(|a| a.from.as_ref()).map_or("client".to_string(), |f| f.value.clone()),
        outside: audit
            .and_then(|a| a.outside.as_ref())
            .map(|o| strs(o).map(String::from).collect())
            .unwrap_or_default(),
        expect_findings,
    };
    (Some(scenario), vec![])
}

/// `expect_findings:`: each a finding `dnslab audit` can report, where.
fn expect_findings(p: &mut Pass) -> Vec<ExpectedFinding> {
    let mut out = Vec::new();
    for f in p.doc.expect_findings.iter().flatten().map(|f| &f.value) {
        if !v::FINDINGS.contains(&f.rule.value.as_str()) {
            let all = v::FINDINGS.join(", ");
            p.report(
                Rule::BadExpect,
                f.rule.pos,
                format!("`{}` is not a finding of `dnslab audit`; expected one of {all}", f.rule.value),
            );
        }
        let zone = f.zone.as_ref().and_then(|z| p.take(Rule::BadExpect, z, v::name(z)));
        let mut kinds = Vec::new();
        for k in f.kinds.iter().flat_map(|k| k.0.iter()) {
            match Kind::parse(k) {
                Some(kind) => kinds.push(kind),
                None => p.report(
                    Rule::BadExpect,
                    k.pos,
                    format!("`{}` is not a resolver kind; expected one of {}", k.value, Kind::names()),
                ),
            }
        }
        if let Some(r) = &f.resolver {
            if refs::node(p, r).is_none_or(|n| n.resolver.is_none()) {
                p.report(Rule::UnknownNode, r.pos, format!("`{}` is not a resolver node", r.value));
            }
        }
        if let Some(s) = &f.server {
            if !refs::servers(p).any(|(_, sv)| v::name(&sv.name).ok() == v::name(s).ok()) {
                p.report(Rule::UnknownNode, s.pos, format!("`{}` is not a server's host name", s.value));
            }
        }
        out.push(ExpectedFinding {
            rule: f.rule.value.clone(),
            zone: zone.map(|z| z.to_string()),
            server: f.server.as_ref().map(|s| s.value.trim_end_matches('.').to_string()),
            resolver: f.resolver.as_ref().map(|r| r.value.clone()),
            kinds,
        });
    }
    out
}

/// The most a scenario's name may hold: it names the lab and its files.
const NAME_MAX: usize = 63;

/// `name:` is a plain name (`a-z 0-9 -`, 1-63 characters, a letter or digit
/// first): it names the lab, its scratch directory and its evidence, so no
/// `/`, `..`, NUL or control character may reach a path.
fn scenario_name(p: &mut Pass) {
    let n = &p.doc.name;
    let plain = n.value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = n.value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !plain || !starts || n.value.len() > NAME_MAX {
        p.report(
            Rule::BadName,
            n.pos,
            format!(
                "scenario name `{}` must be 1-{NAME_MAX} characters of a-z, 0-9 and `-`, starting with a letter or digit: it names the lab and its files",
                n.value
            ),
        );
    }
}
