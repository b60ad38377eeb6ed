//! Knot Resolver kresd (Debian `knot-resolver`), in the foreground with a
//! private Lua config rendered from `kresd.conf` and a private cache dir.
//! It listens on every address of its node and sends over each family the
//! node has (`net.ipv6`, `net.outgoing_v6`).
//! It has no source port knob: the node's `ip_local_port_range` gives its
//! ports (UDP, and its TCP fallback too). It has no lab timeout knob either:
//! it gives up after 13-18 s on its own.

use super::caps::{Can, Capabilities, PortKnob, Program};
use super::registry::{Adapter, Declared};
use super::options::{Style, Syntax};
use super::{spawn_logged, Running, Spec};

pub(super) const ADAPTER: &dyn Adapter = &Declared {
    caps: CAPS,
    template: Some(TEMPLATE),
    start,
};

const PROGRAM: Program = Program {
    binary: "kresd",
    package: "knot-resolver",
    version_args: &["--version"],
};

const CAPS: Capabilities = Capabilities {
    program: Some(PROGRAM),
    low_ports: Can::Yes("the node's ip_local_port_range"),
    acl: Can::Yes("view:addr"),
    ports: PortKnob::Sysctl,
    local_zones: Can::Yes("policy rules (policy.ANSWER)"),
    ipv6: Can::Yes("net.ipv6 + net.outgoing_v6"),
    edns_buffer: Can::Yes("net.bufsize"),
    edns_max: None,
    tcp_first: Can::Yes("policy.add(policy.all(policy.FLAGS('TCP')))"),
    tcp_off: Can::No("kresd always retries a truncated answer over TCP; its query flags have no NO_TCP"),
    dnssec_validation: Can::Yes("trust_anchors.add_file"),
    negative_trust_anchors: Can::Yes("trust_anchors.set_insecure"),
    extra_config: Can::Yes("appended to the Lua config, run after ours: a later assignment wins, a later call adds (another `net.listen`)"),
    syntax: Syntax {
        style: Style::Lua,
        repeatable: &[],
    },
};

const TEMPLATE: &str = include_str!("kresd.conf");

fn start(spec: &Spec) -> Result<Running, String> {
    let hints = root_hints(spec.hints);
    let listen: Vec<String> = spec.addrs.iter().map(|a| format!("net.listen('{a}', 53, {{ kind = 'dns' }})")).collect();
    let mut outgoing: Vec<String> = spec.v4().map(|a| format!("net.outgoing_v4('{a}')")).into_iter().collect();
    outgoing.extend(spec.v6().map(|a| format!("net.outgoing_v6('{a}')")));
    let access = if spec.allow.is_empty() {
        "-- (anyone)".to_string()
    } else {
        let mut lines = vec!["modules.load('view')".to_string()];
        lines.extend(spec.allow.iter().map(|n| format!("view:addr('{n}', policy.all(policy.PASS))")));
        lines.push("view:addr('0.0.0.0/0', policy.all(policy.REFUSE))\nview:addr('::/0', policy.all(policy.REFUSE))".into());
        lines.join("\n")
    };
    let config = spec.render(
        TEMPLATE,
        &[
            ("listen", listen.join("\n")),
            ("ip4", spec.v4().is_some().to_string()),
            ("ip6", spec.v6().is_some().to_string()),
            ("outgoing", outgoing.join("\n")),
            ("hints", hints),
            ("access", access),
            spec.edns(|n| format!("net.bufsize({n})")),
            spec.tcp("policy.add(policy.all(policy.FLAGS('TCP')))", ""),
            ("local", local_rules(spec.local_zones)),
        ],
    );
    let conf = spec.dir.join("kresd.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    // kresd changes into its run directory first: every path must be absolute.
    let rundir = spec.dir.join("run");
    std::fs::create_dir_all(&rundir).map_err(|e| e.to_string())?;
    let (process, log) = spawn_logged(spec, &["-n", "-c", &conf.display().to_string(), &rundir.display().to_string()])?;
    Ok(Running::process(spec, log, conf, process))
}

/// `hints.root{}`'s table: one entry per name, its addresses as a list. Two
/// entries with one key (a server with an A and an AAAA) would keep only
/// the last, and kresd would lose the other address.
fn root_hints(hints: &[(hickory_proto::rr::Name, std::net::IpAddr)]) -> String {
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (n, a) in hints {
        by_name.entry(n.to_string()).or_default().push(format!("'{a}'"));
    }
    let entries: Vec<String> = by_name.iter().map(|(n, a)| format!("['{n}'] = {{ {} }}", a.join(", "))).collect();
    entries.join(", ")
}

/// `policy.ANSWER` rules for every name of the local zones (A, AAAA, PTR,
/// CNAME, NS), then a `policy.DENY` (NXDOMAIN) for anything else in them.
fn local_rules(zones: &[crate::zone::Zone]) -> String {
    use hickory_proto::rr::RData;
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    for z in zones {
        let mut names: BTreeMap<String, BTreeMap<&str, (u32, Vec<String>)>> = BTreeMap::new();
        for r in &z.records {
            let (t, rdata) = match &r.data {
                RData::A(a) => ("A", format!("kres.str2ip('{a}')")),
                RData::AAAA(a) => ("AAAA", format!("kres.str2ip('{a}')")),
                RData::PTR(n) => ("PTR", format!("kres.str2dname('{n}')")),
                RData::CNAME(n) => ("CNAME", format!("kres.str2dname('{n}')")),
                RData::NS(n) => ("NS", format!("kres.str2dname('{n}')")),
                _ => continue,
            };
            let e = names.entry(r.name.to_string()).or_default().entry(t).or_insert((r.ttl, vec![]));
            e.1.push(rdata);
        }
        for (name, types) in names {
            let table: Vec<String> = types
                .into_iter()
                .map(|(t, (ttl, rdata))| format!("[kres.type.{t}] = {{ rdata = {{ {} }}, ttl = {ttl} }}", rdata.join(", ")))
                .collect();
            out.push(format!(
                "policy.add(policy.domains(policy.ANSWER({{ {} }}, true), {{ todname('{name}') }}))",
                table.join(", ")
            ));
        }
        out.push(format!(
            "policy.add(policy.suffix(policy.DENY_MSG('local zone {0}'), {{ todname('{0}') }}))",
            z.origin
        ));
    }
    if out.is_empty() {
        "-- (none)".into()
    } else {
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_hints_list_every_address_of_a_name_under_one_key() {
        let n = |s: &str| hickory_proto::rr::Name::from_ascii(s).unwrap();
        let hints = [
            (n("a.root-servers.net."), "203.0.113.1".parse().unwrap()),
            (n("a.root-servers.net."), "2001:db8:1::1".parse().unwrap()),
            (n("b.root-servers.net."), "203.0.113.2".parse().unwrap()),
        ];
        assert_eq!(
            super::root_hints(&hints),
            "['a.root-servers.net.'] = { '203.0.113.1', '2001:db8:1::1' }, ['b.root-servers.net.'] = { '203.0.113.2' }"
        );
    }
}
