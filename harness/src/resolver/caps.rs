//! What a resolver kind can do, declared as data by its adapter
//! (`resolver/<kind>/mod.rs`). The lint, the run, `dnslab kinds` and the
//! tests read these declarations; no other place knows what a kind can do.
//!
//! Each capability is [`Can::Yes`] with the knob that does it (as the kind's
//! own config spells it, for the README and `dnslab kinds`), or [`Can::No`]
//! with the reason a scenario that needs it cannot run with that kind. The
//! knobs of EDNS, TCP, DNSSEC and negative trust anchors were checked on
//! this machine's Debian packages (`../shared/dnssec-facts.md`).

use crate::scenario::values::TcpUpstream;

/// One capability: the knob that gives it, or why the kind lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Can {
    Yes(&'static str),
    No(&'static str),
}

impl Can {
    /// Why the kind cannot, if it cannot.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Can::Yes(_) => None,
            Can::No(why) => Some(why),
        }
    }
}

/// How a kind is made to send from the scenario's source ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKnob {
    /// A setting of its own (named in the string).
    Own(&'static str),
    /// None: the node's `net.ipv4.ip_local_port_range` gives its ports.
    Sysctl,
}

/// The program a real kind runs, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// Its binary's file name.
    pub binary: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
    /// The arguments that make it print its version.
    pub version_args: &'static [&'static str],
}

/// Everything a kind declares. Every field must be given: a kind cannot
/// leave a capability out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The program it runs; `None` for a kind that runs in our process.
    pub program: Option<Program>,
    /// Sending its own queries from source ports below 1024.
    pub low_ports: Can,
    /// Limiting recursion to some clients (a scenario's `allow:`).
    pub acl: Can,
    /// How it gets the scenario's source ports.
    pub ports: PortKnob,
    /// Answering zones itself (`local_zones:`).
    pub local_zones: Can,
    /// Listening and sending over IPv6.
    pub ipv6: Can,
    /// Setting the EDNS UDP buffer size it advertises upstream.
    pub edns_buffer: Can,
    /// The largest size its knob takes, when it has a limit of its own
    /// (named: 4096, silently lowered above it).
    pub edns_max: Option<u16>,
    /// Sending every upstream query over TCP (`tcp_upstream: on`).
    pub tcp_first: Can,
    /// Never using TCP upstream, not even after TC=1 (`tcp_upstream: off`).
    pub tcp_off: Can,
    /// Validating DNSSEC against a trust anchor of the lab's.
    pub dnssec_validation: Can,
    /// Negative trust anchors: a zone it does not validate.
    pub negative_trust_anchors: Can,
    /// Taking a build's extra config (`--resolver-config`): where the text
    /// goes and what a repeated option does.
    pub extra_config: Can,
    /// How its config names options, for the lint of repeated ones.
    pub syntax: super::options::Syntax,
}

const UNDECLARED: Can = Can::No("a custom kind declares its capabilities in its file");

/// What a kind declares that can do nothing ([`super::Kind::Custom`] before
/// its file is read).
pub const NOTHING: Capabilities = Capabilities {
    program: None,
    low_ports: UNDECLARED,
    acl: UNDECLARED,
    ports: PortKnob::Sysctl,
    local_zones: UNDECLARED,
    ipv6: UNDECLARED,
    edns_buffer: UNDECLARED,
    edns_max: None,
    tcp_first: UNDECLARED,
    tcp_off: UNDECLARED,
    dnssec_validation: UNDECLARED,
    negative_trust_anchors: UNDECLARED,
    extra_config: UNDECLARED,
    syntax: super::options::Syntax::OPAQUE,
};

impl Capabilities {
    /// Does it run inside dnslab's process (no binary, no template)?
    pub fn in_process(&self) -> bool {
        self.program.is_none()
    }

    /// What `tcp_upstream: on` or `off` needs.
    pub fn tcp(&self, mode: TcpUpstream) -> Can {
        match mode {
            TcpUpstream::On => self.tcp_first,
            TcpUpstream::Off => self.tcp_off,
        }
    }

    /// Every capability by name, for `dnslab kinds` and the tests.
    pub fn each(&self) -> [(&'static str, Can); 10] {
        [
            ("low source ports", self.low_ports),
            ("ACL", self.acl),
            ("local zones", self.local_zones),
            ("IPv6", self.ipv6),
            ("EDNS buffer size", self.edns_buffer),
            ("TCP upstream always", self.tcp_first),
            ("TCP upstream never", self.tcp_off),
            ("DNSSEC validation", self.dnssec_validation),
            ("negative trust anchors", self.negative_trust_anchors),
            ("extra config", self.extra_config),
        ]
    }
}
