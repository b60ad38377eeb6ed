//! PowerDNS Recursor (Debian `pdns-recursor`), in the foreground with a
//! private `recursor.conf` rendered from `pdns.conf`. Source ports:
//! `udp-source-port-min/max`, which it refuses below 1024 (the scenario lint
//! `resolver-cannot` says so; behind a NAT is how to show it). It listens on
//! every address of its node and sends from the first of each family
//! (`query-local-address`).

use super::caps::{Can, Capabilities, PortKnob, Program};
use super::registry::{Adapter, Declared};
use super::options::{Style, Syntax};
use super::{hints_file, spawn_logged, Running, Spec};

pub(super) const ADAPTER: &dyn Adapter = &Declared {
    caps: CAPS,
    template: Some(TEMPLATE),
    start,
};

const PROGRAM: Program = Program {
    binary: "pdns_recursor",
    package: "pdns-recursor",
    version_args: &["--version"],
};

const CAPS: Capabilities = Capabilities {
    program: Some(PROGRAM),
    low_ports: Can::No("PowerDNS Recursor refuses to start with source ports below 1024; put it behind a NAT that rewrites ports instead"),
    acl: Can::Yes("allow-from"),
    ports: PortKnob::Own("udp-source-port-min + udp-source-port-max"),
    local_zones: Can::Yes("auth-zones"),
    ipv6: Can::Yes("local-address + query-local-address"),
    edns_buffer: Can::Yes("edns-outgoing-bufsize"),
    edns_max: None,
    tcp_first: Can::No("PowerDNS Recursor has no setting that sends every upstream query over TCP"),
    tcp_off: Can::No("PowerDNS Recursor always retries a truncated answer over TCP; no setting turns that off"),
    dnssec_validation: Can::Yes("dnssec=validate + readTrustAnchorsFromFile (Lua)"),
    negative_trust_anchors: Can::Yes("addNTA (Lua)"),
    extra_config: Can::Yes("appended to recursor.conf; of an option given twice PowerDNS Recursor takes the later value (`name+=` adds to a list)"),
    syntax: Syntax {
        style: Style::Equals,
        repeatable: &[],
    },
};

const TEMPLATE: &str = include_str!("pdns.conf");

fn start(spec: &Spec) -> Result<Running, String> {
    hints_file(spec)?;
    let ports = match spec.source_ports {
        Some(p) => format!("udp-source-port-min={}\nudp-source-port-max={}\nudp-source-port-avoid=", p.lo, p.hi),
        None => "# (its default: 1024-65535)".into(),
    };
    let access = if spec.allow.is_empty() {
        "0.0.0.0/0, ::/0".to_string()
    } else {
        spec.allow.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
    };
    let local: Vec<String> = super::zone_files(spec)?
        .into_iter()
        .map(|(origin, file)| format!("{origin}={}", file.display()))
        .collect();
    let config = spec.render(
        TEMPLATE,
        &[
            ("addr", join(spec.addrs.iter().copied())),
            ("outgoing", join([spec.v4(), spec.v6()].into_iter().flatten())),
            ("ports", ports),
            spec.edns(|n| format!("edns-outgoing-bufsize={n}")),
            ("access", access),
            ("local", local.join(",")),
        ],
    );
    let conf = spec.dir.join("recursor.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let (process, log) = spawn_logged(spec, &[&format!("--config-dir={}", spec.dir.display())])?;
    Ok(Running::process(spec, log, conf, process))
}

fn join(addrs: impl Iterator<Item = std::net::IpAddr>) -> String {
    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}
