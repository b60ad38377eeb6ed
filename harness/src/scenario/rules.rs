//! The named rules a scenario is checked against, in the manner of Deckard's
//! rplint: each rule is a variant whose one-line doc is its message, and
//! every finding names its rule as a type, never as a string. Which code
//! reports a rule: `yaml.rs` for the shape of the file, the one pass in
//! `build/` for everything else.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Pos;

macro_rules! rules {
    ($( #[doc = $doc:literal] $name:ident = $slug:literal, )*) => {
        /// A rule of the scenario format.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule { $( #[doc = $doc] $name, )* }

        impl Rule {
            /// Every rule, in the order `scenarios/README.md` lists them.
            pub const ALL: &[Rule] = &[ $( Rule::$name ),* ];

            /// The rule's name, as findings print it: `bad-expect`.
            pub fn name(self) -> &'static str {
                match self { $( Rule::$name => $slug, )* }
            }

            /// The rule's message: its doc line.
            pub fn message(self) -> &'static str {
                match self { $( Rule::$name => $doc.trim_ascii(), )* }
            }
        }
    };
}

rules! {
    /// the scenario file, or a zone file it names, cannot be read
    Unreadable = "unreadable",
    /// the file is not valid YAML
    YamlSyntax = "yaml-syntax",
    /// a key that the format does not have
    UnknownKey = "unknown-key",
    /// a value of the wrong shape
    BadValue = "bad-value",
    /// a name is defined twice
    DuplicateName = "duplicate-name",
    /// a scenario, node or network name is not a plain name (a-z, 0-9, `-`; scenarios at most 63 characters, networks 15, as interface names; no node named like an `expect` field)
    BadName = "bad-name",
    /// an address or subnet is malformed, outside the lab's address space, or not the sender's own
    BadAddress = "bad-address",
    /// an address is not a host address inside the subnet of its network
    AddressOutsideNetwork = "address-outside-network",
    /// an address is given to two interfaces
    DuplicateAddress = "duplicate-address",
    /// a node refers to a network that is not defined under `networks:`
    UnknownNetwork = "unknown-network",
    /// a node has no interfaces, so nothing can reach it
    NodeUnconnected = "node-unconnected",
    /// a node has two roles that both answer DNS on port 53
    ConflictingRoles = "conflicting-roles",
    /// a domain name is malformed
    BadDomainName = "bad-domain-name",
    /// a zone is written under `zones:` but no server serves it, no server is lame for it and no resolver holds it locally
    ZoneUnserved = "zone-unserved",
    /// a scenario with a resolver has no server for the root zone `.`, so no resolver has hints to start from
    NoRoot = "no-root",
    /// a server's `lame` entry is not `ZONE: refused|no-aa|silent` for a zone it does not itself serve
    BadLame = "bad-lame",
    /// a resolver's `allow` entry is neither a network's name nor a subnet of the lab
    BadAllow = "bad-allow",
    /// a resolver's `local_zones` names a zone that is not under `zones:`
    UnknownZone = "unknown-zone",
    /// a zone file does not parse
    ZoneSyntax = "zone-syntax",
    /// a port or port range is not within 1-65535
    BadPortRange = "bad-port-range",
    /// a resolver kind is unknown, or cannot do what the scenario asks of it
    ResolverCannot = "resolver-cannot",
    /// a firewall rule is malformed
    BadFirewallRule = "bad-firewall-rule",
    /// a query or probe does not say `NAME TYPE`, or has a bad timeout, transport, family or EDNS setting
    BadQuery = "bad-query",
    /// a counted query or its rate expectations are malformed
    BadCount = "bad-count",
    /// a query or probe refers to a node that is not defined, or is not of the right kind
    UnknownNode = "unknown-node",
    /// an expectation is not an outcome, a field map or a finding, or names a resolver or port the query does not use
    BadExpect = "bad-expect",
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A finding: where (a zone file of its own, or the scenario), which rule,
/// and what is wrong. Ordered by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// A zone file the finding is in; `None`: the scenario file itself.
    pub file: Option<PathBuf>,
    pub pos: Pos,
    pub rule: Rule,
    pub message: String,
}

impl Finding {
    /// A finding of `rule` at `pos` of the scenario: its message, then `detail`.
    pub fn new(rule: Rule, pos: Pos, detail: impl fmt::Display) -> Finding {
        Finding {
            file: None,
            pos,
            rule,
            message: format!("{}: {detail}", rule.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn every_rule_has_a_message_and_a_unique_name() {
        let mut names = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            assert!(!r.message().is_empty() && !r.message().ends_with('.'), "{r}");
            assert!(names.insert(r.name()), "{r} twice");
        }
    }
}
