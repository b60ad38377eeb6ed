//! dnsmasq (Debian `dnsmasq`) as a forwarder, as home routers run it: it
//! does not recurse, but forwards each domain to the servers the scenario
//! says serve it (`--server=/live.com/198.51.100.2`, derived, never typed).
//! Source ports: `--min-port/--max-port`. With no timeout knob for dead
//! upstreams it never answers; the client times out.

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
    binary: "dnsmasq",
    package: "dnsmasq",
    version_args: &["--version"],
};

const CAPS: Capabilities = Capabilities {
    program: Some(PROGRAM),
    low_ports: Can::Yes("min-port"),
    acl: Can::No("dnsmasq has no per-client access list (only per interface); leave it out of `kinds:`"),
    ports: PortKnob::Own("min-port + max-port"),
    local_zones: Can::Yes("local= + host-record, ptr-record, cname"),
    ipv6: Can::Yes("listen-address"),
    edns_buffer: Can::Yes("edns-packet-max (a cap: as a forwarder it passes on the client's own EDNS size, up to it)"),
    edns_max: None,
    tcp_first: Can::No("dnsmasq forwards over the transport the client used; no setting changes that"),
    tcp_off: Can::No("dnsmasq forwards over the transport the client used; no setting changes that"),
    dnssec_validation: Can::Yes("dnssec + trust-anchor= (DS form only)"),
    negative_trust_anchors: Can::No("dnsmasq 2.90 has no negative trust anchors"),
    extra_config: Can::Yes("appended to dnsmasq.conf; dnsmasq refuses to start when a single-valued option is given twice (`illegal repeated keyword`)"),
    syntax: Syntax {
        style: Style::Equals,
        // These add up: one more upstream, address, interface or record.
        repeatable: &["server", "local", "address", "listen-address", "interface", "except-interface", "host-record", "ptr-record", "cname", "txt-record", "srv-host", "mx-host", "trust-anchor", "rev-server"],
    },
};

/// Its config file: every option, the forwards and the local records (all
/// in one file, so the lint sees each option a `--resolver-config` repeats).
const TEMPLATE: &str = include_str!("dnsmasq.conf");

fn start(spec: &Spec) -> Result<Running, String> {
    let ports = match spec.source_ports {
        Some(p) => format!("min-port={}\nmax-port={}", p.lo, p.hi),
        None => "# (its default source ports: the node's ephemeral range)".into(),
    };
    // A local zone is never forwarded, not even to a lab server that serves it.
    let local = |zone: &str| {
        spec.local_zones
            .iter()
            .any(|z| z.origin.zone_of(&hickory_proto::rr::Name::from_ascii(zone).unwrap_or_default()))
    };
    let mut servers: Vec<String> = spec
        .forwards
        .iter()
        .filter(|(zone, _)| !local(zone))
        .map(|(zone, addr)| format!("server=/{}/{addr}", zone.trim_end_matches('.')))
        .collect();
    servers.extend(local_lines(spec.local_zones));
    let conf = spec.dir.join("dnsmasq.conf");
    let listen = spec.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let edns = spec.edns(|n| format!("edns-packet-max={n}"));
    let config = spec.render(TEMPLATE, &[("listen", listen), ("ports", ports), edns, ("servers", servers.join("\n"))]);
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let (process, log) = spawn_logged(spec, &["--keep-in-foreground", &format!("--conf-file={}", conf.display())])?;
    Ok(Running::process(spec, log, conf, process))
}

/// A local zone as dnsmasq lines: `local=/zone/` (never forwarded), then
/// `host-record` for addresses and `ptr-record`/`cname` for names.
fn local_lines(zones: &[crate::zone::Zone]) -> Vec<String> {
    use hickory_proto::rr::RData;
    let mut out = Vec::new();
    for z in zones {
        out.push(format!("local=/{}/", z.origin.to_string().trim_end_matches('.')));
        for r in &z.records {
            let name = r.name.to_string();
            let name = name.trim_end_matches('.');
            match &r.data {
                RData::A(a) => out.push(format!("host-record={name},{a}")),
                RData::AAAA(a) => out.push(format!("host-record={name},{a}")),
                RData::PTR(t) => out.push(format!("ptr-record={name},{}", t.to_string().trim_end_matches('.'))),
                RData::CNAME(t) => out.push(format!("cname={name},{}", t.to_string().trim_end_matches('.'))),
                _ => {}
            }
        }
    }
    out
}
