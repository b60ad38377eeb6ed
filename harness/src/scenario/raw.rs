//! The raw layer: exactly what the YAML says, with positions, and nothing
//! checked beyond shape. `deny_unknown_fields` is enforced by our YAML
//! deserializer for every key at once (see `yaml.rs`). The one pass in
//! `build/` checks it and turns it into a [`super::Scenario`].

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

use super::yaml::Spanned;

pub type S = Spanned<String>;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    pub name: S,
    pub description: Option<String>,
    /// network name -> subnet(s)
    pub networks: Option<Entries<NetworkSpec>>,
    pub nodes: Option<Entries<Node>>,
    /// zone origin -> zone text, `{file: ...}`, or nothing (generated)
    pub zones: Option<Entries<Option<ZoneSource>>>,
    pub queries: Option<List<Spanned<Query>>>,
    pub probes: Option<List<Spanned<Probe>>>,
    /// Where `dnslab audit` asks from.
    pub audit: Option<Spanned<Audit>>,
    /// Findings `dnslab audit` is expected to report (a broken variant's mistakes).
    pub expect_findings: Option<List<Spanned<ExpectFinding>>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// The inside vantage point; default `client`.
    pub from: Option<S>,
    /// Nodes that stand for the rest of the Internet: no resolver should recurse for them.
    pub outside: Option<OneOrMany>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExpectFinding {
    pub rule: S,
    pub zone: Option<S>,
    pub server: Option<S>,
    pub resolver: Option<S>,
    /// Only with these resolver kinds; default: any.
    pub kinds: Option<OneOrMany>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// network name -> address(es) on it
    pub interfaces: Option<Entries<OneOrMany>>,
    pub server: Option<Spanned<Server>>,
    pub resolver: Option<Spanned<Resolver>>,
    /// counter name -> rule
    pub firewall: Option<Entries<FirewallRule>>,
    pub nat: Option<Spanned<Nat>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The server's host name, e.g. `ns1.msft.net`.
    pub name: S,
    pub zones: Vec<S>,
    /// zone -> how this server answers for a zone it is named for but does not serve
    pub lame: Option<Entries<S>>,
    /// `allow` or `deny` (the default): zone transfers over TCP.
    pub axfr: Option<S>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Resolver {
    pub source_ports: Option<S>,
    pub kinds: Option<Vec<S>>,
    /// Who may ask it for recursion: network names or subnets; default anyone.
    pub allow: Option<OneOrMany>,
    /// Zones from `zones:` it serves itself, never asking upstream.
    pub local_zones: Option<Vec<S>>,
    /// The EDNS UDP payload size it offers upstream servers.
    pub edns_size: Option<S>,
    /// `on` or `off`: TCP to upstream servers always, or never.
    pub tcp_upstream: Option<S>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    pub proto: Option<OneOrMany>,
    pub dport: Option<S>,
    pub sport: Option<S>,
    pub except_sport: Option<OneOrMany>,
    pub action: S,
    /// `ip` or `ip6`: only that family; default both.
    pub family: Option<S>,
    /// Source or destination: subnets or networks' names.
    pub saddr: Option<OneOrMany>,
    pub daddr: Option<OneOrMany>,
    /// The network a packet arrives from (`iifname`) or leaves to (`oifname`).
    #[serde(rename = "in")]
    pub from_net: Option<S>,
    #[serde(rename = "out")]
    pub to_net: Option<S>,
    /// `all` or `non-first`.
    pub fragments: Option<S>,
    /// The DNS message size over UDP: `">1232"`, `"<=512"`, `"100"`.
    pub size: Option<S>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    pub outside: S,
    pub source_ports: Option<S>,
}

#[derive(Debug)]
pub enum ZoneSource {
    Text(S),
    File(S),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// `NAME TYPE`, or a list of them.
    pub ask: OneOrMany,
    pub from: Option<S>,
    /// resolver node names; default: every resolver
    pub via: Option<OneOrMany>,
    pub timeout: Option<S>,
    /// `udp`, `tcp`, or both: each a query of its own.
    pub transport: Option<OneOrMany>,
    /// `ip`, `ip6`, or both: which of the resolver's addresses to ask.
    pub family: Option<OneOrMany>,
    /// DO=1 (`dig +dnssec`).
    pub dnssec: Option<Spanned<bool>>,
    /// CD=1 (`dig +cd`).
    pub cd: Option<Spanned<bool>>,
    /// `none`, or `{size: N, version: V}`; default dig's: version 0, 1232 bytes.
    pub edns: Option<Spanned<Tree>>,
    /// Take a TC=1 answer as it is, without a retry over TCP (`dig +ignore`).
    pub ignore_tc: Option<Spanned<bool>>,
    pub expect: Option<Spanned<Tree>>,
    /// Send `count` distinct names: `{i}` in `ask` becomes 1, 2, ... count.
    pub count: Option<Spanned<u32>>,
    /// resolver node -> rate name -> bounds, judged over all `count` names
    pub expect_rates: Option<Entries<Entries<RateBound>>>,
}

/// `{min: 0.9}`, `{max: 0.05}`, or both: a rate's tolerance.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RateBound {
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub ask: OneOrMany,
    pub from: Option<S>,
    /// a server host name (`ns1.msft.net`) or node name
    pub server: S,
    pub transport: Option<OneOrMany>,
    /// `ip`, `ip6`, or both: which of the server's addresses to ask.
    pub family: Option<OneOrMany>,
    pub source: Option<S>,
    pub source_ports: Option<OneOrMany>,
    pub timeout: Option<S>,
    /// DO=1 (`dig +dnssec`).
    pub dnssec: Option<Spanned<bool>>,
    /// CD=1 (`dig +cd`).
    pub cd: Option<Spanned<bool>>,
    /// `none`, or `{size: N, version: V}`; default dig's: version 0, 1232 bytes.
    pub edns: Option<Spanned<Tree>>,
    /// Take a TC=1 answer as it is, without a retry over TCP (`dig +ignore`).
    pub ignore_tc: Option<Spanned<bool>>,
    pub expect: Option<Spanned<Tree>>,
}

/// A small tree of scalars, for values whose meaning depends on their keys:
/// an expectation (`NOERROR`, `[SERVFAIL, timeout]`, `{resolver-low: ...}`,
/// `{answer: [...], flags: [aa]}`) or an EDNS setting. The pass in
/// `build/` gives it its meaning.
#[derive(Debug)]
pub enum Tree {
    Scalar(String),
    List(Vec<S>),
    Map(Vec<(S, Spanned<Tree>)>),
}

impl Spanned<Tree> {
    /// A scalar or a list of scalars, each with its position; `None` for a map.
    pub fn leaves(&self) -> Option<Vec<S>> {
        match &self.value {
            Tree::Scalar(v) => Some(vec![Spanned {
                pos: self.pos,
                value: v.clone(),
            }]),
            Tree::List(items) => Some(items.clone()),
            Tree::Map(_) => None,
        }
    }
}

/// A list whose bad items are reported and skipped, not fatal.
#[derive(Debug)]
pub struct List<T>(pub Vec<T>);

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

struct Lenient<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for Lenient<T> {
    type Value = Option<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        Ok(super::yaml::lenient(d))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = s.next_element_seed(Lenient::<T>(Default::default()))? {
                    out.extend(item);
                }
                Ok(List(out))
            }
        }
        d.deserialize_seq(V(Default::default()))
    }
}

/// A scalar or a list of scalars, each with its position.
#[derive(Debug, Default)]
pub struct OneOrMany(pub Vec<S>);

/// A mapping whose keys keep their positions and their order, duplicates
/// included, so that lints can point at a duplicate name.
#[derive(Debug)]
pub struct Entries<T>(pub Vec<(S, T)>);

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<S>()? {
                    if let Some(v) = m.next_value_seed(Lenient::<T>(Default::default()))? {
                        out.push((k, v));
                    }
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(Default::default()))
    }
}

/// A network: its subnets (`198.51.100.0/28`, or a list), or
/// `{subnet: ..., mtu: 1280}`.
#[derive(Debug)]
pub struct NetworkSpec {
    pub subnets: OneOrMany,
    pub mtu: Option<S>,
}

impl<'de> Deserialize<'de> for NetworkSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<NetAny> = Spanned::deserialize(d)?;
        Ok(match s.value {
            NetAny::Str(v) => NetworkSpec {
                subnets: OneOrMany(vec![Spanned { pos: s.pos, value: v }]),
                mtu: None,
            },
            NetAny::Seq(v) => NetworkSpec {
                subnets: OneOrMany(v),
                mtu: None,
            },
            NetAny::Map { subnets, mtu } => NetworkSpec { subnets, mtu },
        })
    }
}

enum NetAny {
    Str(String),
    Seq(Vec<S>),
    Map { subnets: OneOrMany, mtu: Option<S> },
}

impl<'de> Deserialize<'de> for NetAny {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NetAny;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a subnet, a list of subnets, or `{subnet: ..., mtu: N}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NetAny, E> {
                Ok(NetAny::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<NetAny, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<S>()? {
                    out.push(x);
                }
                Ok(NetAny::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<NetAny, A::Error> {
                let (mut subnets, mut mtu) = (None, None);
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "subnet" => subnets = Some(m.next_value::<OneOrMany>()?),
                        "mtu" => mtu = Some(m.next_value::<S>()?),
                        other => return Err(de::Error::unknown_field(other, &["subnet", "mtu"])),
                    }
                }
                let subnets = subnets.ok_or_else(|| de::Error::missing_field("subnet"))?;
                Ok(NetAny::Map { subnets, mtu })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<StrOrSeq> = Spanned::deserialize(d)?;
        Ok(OneOrMany(match s.value {
            StrOrSeq::Str(v) => vec![Spanned { pos: s.pos, value: v }],
            StrOrSeq::Seq(v) => v,
        }))
    }
}

enum StrOrSeq {
    Str(String),
    Seq(Vec<S>),
}

impl<'de> Deserialize<'de> for StrOrSeq {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrSeq;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrSeq, E> {
                Ok(StrOrSeq::Str(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOrSeq, E> {
                Ok(StrOrSeq::Str(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOrSeq, E> {
                Ok(StrOrSeq::Str(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StrOrSeq, E> {
                Ok(StrOrSeq::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<StrOrSeq, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<S>()? {
                    out.push(x);
                }
                Ok(StrOrSeq::Seq(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ZoneSource {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<StrOrMap> = Spanned::deserialize(d)?;
        Ok(match s.value {
            StrOrMap::Str(t) => ZoneSource::Text(Spanned { pos: s.pos, value: t }),
            StrOrMap::File(f) => ZoneSource::File(f),
        })
    }
}

enum StrOrMap {
    Str(String),
    File(S),
}

impl<'de> Deserialize<'de> for StrOrMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("zone-file text, or `file: PATH`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrMap, E> {
                Ok(StrOrMap::Str(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StrOrMap, A::Error> {
                let mut file = None;
                while let Some(k) = m.next_key::<String>()? {
                    if k != "file" {
                        return Err(de::Error::unknown_field(&k, &["file"]));
                    }
                    file = Some(m.next_value::<S>()?);
                }
                file.map(StrOrMap::File).ok_or_else(|| de::Error::missing_field("file"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value, a list of values, or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<S>()? {
                    out.push(x);
                }
                Ok(Tree::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<S>()? {
                    out.push((k, m.next_value()?));
                }
                Ok(Tree::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}
