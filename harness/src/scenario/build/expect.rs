//! `expect:` read into [`Expect`]s. An expectation is an outcome word, a
//! list of them, or a map of fields (`outcome`, `answer`, `answer_count`,
//! `flags`, `ede`, `transport`); a map whose keys are resolver nodes
//! (`NODE` or `NODE@KIND`) or a probe's source ports holds one per key. The
//! two maps are told apart by their keys: field names are reserved.

use super::Pass;
use crate::resolver::Kind;
use crate::scenario::model::Target;
use crate::scenario::raw::{Tree, S};
use crate::scenario::rules::Rule;
use crate::scenario::values as v;
use crate::scenario::yaml::Spanned;
use crate::verdict::{self, Count, Expect, FlagWant, Word, FIELDS};

/// What the keys of a keyed map may be.
pub(super) enum Keys<'a> {
    /// The resolver nodes a query goes through.
    Resolvers(&'a [String]),
    /// The entries of a probe's `source_ports`.
    Ports(&'a [String]),
}

/// An `expect:` as read: one for all, or one per key.
#[derive(Default)]
pub(super) struct Parsed {
    all: Expect,
    /// (key, kind or build for `NODE@X`, expectation)
    each: Option<Vec<(String, Option<Target>, Expect)>>,
}

impl Parsed {
    /// The expectation for `key`, and those for one kind only.
    pub(super) fn for_key(&self, key: &str) -> (Expect, Vec<(Target, Expect)>) {
        let Some(each) = &self.each else { return (self.all.clone(), vec![]) };
        let general = each.iter().find(|(k, kind, _)| k == key && kind.is_none()).map(|(_, _, e)| e.clone());
        let kinds = each
            .iter()
            .filter(|(k, _, _)| k == key)
            .filter_map(|(_, kind, e)| Some((kind.clone()?, e.clone())))
            .collect();
        (general.unwrap_or_default(), kinds)
    }
}

pub(super) fn parse(p: &mut Pass, tree: &Spanned<Tree>, keys: &Keys) -> Parsed {
    if is_empty(tree) {
        p.report(
            Rule::BadExpect,
            tree.pos,
            "an empty expectation states nothing: leave `expect` out, or say what must come",
        );
        return Parsed::default();
    }
    let Tree::Map(entries) = &tree.value else {
        return Parsed { all: one(p, tree), each: None };
    };
    let fields: Vec<&S> = entries.iter().map(|(k, _)| k).filter(|k| FIELDS.contains(&k.value.as_str())).collect();
    if fields.len() == entries.len() {
        return Parsed { all: one(p, tree), each: None };
    }
    if let Some(f) = fields.first() {
        let detail = format!(
            "`{}` is a field, but the other keys of this map name what it applies to; put the fields under each key",
            f.value
        );
        p.report(Rule::BadExpect, f.pos, detail);
    }
    let mut each = Vec::new();
    for (k, val) in entries.iter().filter(|(k, _)| !FIELDS.contains(&k.value.as_str())) {
        let key = match keys {
            Keys::Resolvers(via) => node_key(p, Rule::BadExpect, k, via),
            Keys::Ports(ports) if ports.contains(&k.value) => Some((k.value.clone(), None)),
            Keys::Ports(ports) => {
                p.report(
                    Rule::BadExpect,
                    k.pos,
                    format!("`{}` is not one of this probe's source_ports ({})", k.value, ports.join(", ")),
                );
                None
            }
        };
        if let Tree::Map(inner) = &val.value {
            if inner.iter().any(|(ik, _)| !FIELDS.contains(&ik.value.as_str())) {
                let fields = FIELDS.join(", ");
                p.report(
                    Rule::BadExpect,
                    val.pos,
                    format!("under `{}` comes an outcome, a list of them, or fields ({fields})", k.value),
                );
                continue;
            }
        }
        if is_empty(val) {
            p.report(
                Rule::BadExpect,
                val.pos,
                format!("the expectation under `{}` is empty: it states nothing", k.value),
            );
            continue;
        }
        let e = one(p, val);
        if let Some((node, kind)) = key {
            each.push((node, kind, e));
        }
    }
    Parsed {
        all: Expect::default(),
        each: Some(each),
    }
}

/// `NODE`, `NODE@KIND` or `NODE@BUILD`, for a resolver the query goes
/// through. A name after `@` that is no kind is a build's name
/// (`--resolver NAME=...`); `dnslab run` warns when no build of the run has it.
pub(super) fn node_key(p: &mut Pass, rule: Rule, key: &S, via: &[String]) -> Option<(String, Option<Target>)> {
    let (node, kind) = match key.value.split_once('@') {
        Some((node, kind)) => (node, Some(kind)),
        None => (key.value.as_str(), None),
    };
    let mut ok = true;
    if !via.iter().any(|v| v == node) {
        p.report(
            rule,
            key.pos,
            format!("`{node}` is not one of the resolvers this query goes through ({})", via.join(", ")),
        );
        ok = false;
    }
    let target = match kind {
        None => None,
        Some(k) => match Kind::parse(k) {
            Some(kind) => Some(Target::Kind(kind)),
            None if near_a_kind(k).is_some() => {
                let kind = near_a_kind(k).unwrap_or_default();
                p.report(
                    rule,
                    key.pos,
                    format!(
                        "`{}`: `{k}` is no kind, and too like `{kind}` to be a build's name: write `{node}@{kind}`",
                        key.value
                    ),
                );
                return None;
            }
            None if v::ident(k, crate::resolver::build::NAME_MAX).is_ok() => Some(Target::Build(k.to_string())),
            None => {
                p.report(
                    rule,
                    key.pos,
                    format!(
                        "`{}`: after `@` comes a resolver kind ({}) or a build's name (a-z, 0-9, -)",
                        key.value,
                        Kind::names()
                    ),
                );
                return None;
            }
        },
    };
    ok.then(|| (node.to_string(), target))
}

/// The kind `name` is one or two edits from, if any: `unboud`, `bind`
/// for named is not caught, `kresd2` is.
fn near_a_kind(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    Kind::ALL.into_iter().map(|k| k.name()).find(|k| distance(name, k) <= 2)
}

/// `[]`, `{}`, or a field with an empty list (`outcome: []`).
fn is_empty(tree: &Spanned<Tree>) -> bool {
    match &tree.value {
        Tree::Scalar(_) => false,
        Tree::List(items) => items.is_empty(),
        Tree::Map(entries) => entries.is_empty(),
    }
}

fn words(p: &mut Pass, list: &[S]) -> Vec<Word> {
    list.iter().filter_map(|s| p.take(Rule::BadExpect, s, s.value.parse())).collect()
}

/// One expectation: words, or a map of fields.
fn one(p: &mut Pass, tree: &Spanned<Tree>) -> Expect {
    let Tree::Map(fields) = &tree.value else {
        return Expect::words(words(p, &tree.leaves().unwrap_or_default()));
    };
    for (k, val) in fields.iter().filter(|(k, v)| k.value != "answer" && is_empty(v)) {
        p.report(Rule::BadExpect, val.pos, format!("`{}` is empty: it states nothing", k.value));
    }
    let mut e = Expect::default();
    for (k, val) in fields {
        let leaves = val.leaves();
        let Some(list) = leaves.as_deref().or(if k.value == "answer_count" { Some(&[]) } else { None }) else {
            p.report(Rule::BadExpect, val.pos, format!("`{}` takes a value or a list, not a mapping", k.value));
            continue;
        };
        let single = || list.first().filter(|_| list.len() == 1);
        match k.value.as_str() {
            "outcome" => e.outcome = words(p, list),
            "answer" => e.answer = Some(list.iter().filter_map(|s| p.take(Rule::BadExpect, s, verdict::record(s))).collect()),
            "flags" => e.flags = list.iter().filter_map(|s| p.take(Rule::BadExpect, s, s.value.parse::<FlagWant>())).collect(),
            "answer_count" => e.answer_count = count(p, val),
            "ede" => match single() {
                Some(s) => e.ede = p.take(Rule::BadExpect, s, verdict::ede(s)),
                None => p.report(Rule::BadExpect, val.pos, "`ede` is one code or name"),
            },
            _ => match single() {
                Some(s) => e.transport = p.take(Rule::BadExpect, s, v::transport(s)),
                None => p.report(Rule::BadExpect, val.pos, "`transport` is udp or tcp"),
            },
        }
    }
    e
}

/// `answer_count: N` or `{min: N, max: M}`.
fn count(p: &mut Pass, val: &Spanned<Tree>) -> Option<Count> {
    let num = |t: &Spanned<Tree>| match &t.value {
        Tree::Scalar(s) => s.parse::<u32>().ok(),
        _ => None,
    };
    let c = match &val.value {
        Tree::Map(m) => {
            let get = |name: &str| m.iter().find(|(k, _)| k.value == name).map(|(_, v)| num(v));
            let known = m.iter().all(|(k, _)| k.value == "min" || k.value == "max");
            match (get("min"), get("max"), known) {
                (Some(None), _, _) | (_, Some(None), _) | (None, None, _) | (_, _, false) => None,
                (min, max, true) => Some(Count {
                    min: min.flatten().unwrap_or(0),
                    max: max.flatten().unwrap_or(u32::MAX),
                }),
            }
        }
        _ => num(val).map(|n| Count { min: n, max: n }),
    };
    match c {
        Some(c) if c.min <= c.max => Some(c),
        _ => {
            p.report(Rule::BadExpect, val.pos, "`answer_count` is N, or `{min: N, max: M}` with N <= M");
            None
        }
    }
}
