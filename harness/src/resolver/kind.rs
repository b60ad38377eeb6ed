//! The resolver implementations dnslab knows, and what each one can do.
//! Everything specific to one resolver lives in `resolver/<kind>.rs`; this
//! table is what lints need to know before anything runs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// hickory-resolver's recursor, built in: needs no package.
    Hickory,
    /// NLnet Labs unbound (Debian `unbound`).
    Unbound,
    /// ISC BIND 9 named (Debian `bind9`).
    Named,
    /// PowerDNS Recursor (Debian `pdns-recursor`).
    Pdns,
    /// CZ.NIC Knot Resolver (Debian `knot-resolver`).
    Kresd,
    /// dnsmasq as a forwarder (Debian `dnsmasq`).
    Dnsmasq,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Hickory, Kind::Unbound, Kind::Named, Kind::Pdns, Kind::Kresd, Kind::Dnsmasq];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Hickory => "hickory",
            Kind::Unbound => "unbound",
            Kind::Named => "named",
            Kind::Pdns => "pdns",
            Kind::Kresd => "kresd",
            Kind::Dnsmasq => "dnsmasq",
        }
    }

    /// Every kind's name, for messages: `hickory, unbound, ...`.
    pub fn names() -> String {
        Kind::ALL.map(|k| k.name()).join(", ")
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// (binary, Debian package) for the real ones.
    pub fn program(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::Hickory => None,
            Kind::Unbound => Some(("unbound", "unbound")),
            Kind::Named => Some(("named", "bind9")),
            Kind::Pdns => Some(("pdns_recursor", "pdns-recursor")),
            Kind::Kresd => Some(("kresd", "knot-resolver")),
            Kind::Dnsmasq => Some(("dnsmasq", "dnsmasq")),
        }
    }

    /// Why this kind cannot send its own queries from ports below 1024, if it cannot.
    pub fn low_ports_refusal(self) -> Option<&'static str> {
        match self {
            Kind::Pdns => Some("PowerDNS Recursor refuses to start with source ports below 1024; put it behind a NAT that rewrites ports instead"),
            _ => None,
        }
    }

    /// Why this kind cannot limit recursion to some clients (`allow:`), if it cannot.
    pub fn acl_refusal(self) -> Option<&'static str> {
        match self {
            Kind::Dnsmasq => Some("dnsmasq has no per-client access list (only per interface); leave it out of `kinds:`"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
