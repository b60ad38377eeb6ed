//! unbound (Debian `unbound`), run in the foreground in its node with a
//! private config rendered from `unbound.conf`. It listens on every address
//! of its node and sends over each family the node has (`do-ip6: yes` only
//! where it has IPv6). Its own port knob
//! (`outgoing-port-avoid` + `outgoing-port-permit`) gives the source ports;
//! it ignores the node's `ip_local_port_range`.

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
    binary: "unbound",
    package: "unbound",
    version_args: &["-V"],
};

const CAPS: Capabilities = Capabilities {
    program: Some(PROGRAM),
    low_ports: Can::Yes("outgoing-port-permit"),
    acl: Can::Yes("access-control"),
    ports: PortKnob::Own("outgoing-port-avoid + outgoing-port-permit"),
    local_zones: Can::Yes("local-zone + local-data"),
    ipv6: Can::Yes("do-ip6 + outgoing-interface"),
    edns_buffer: Can::Yes("edns-buffer-size"),
    edns_max: None,
    tcp_first: Can::Yes("tcp-upstream: yes"),
    tcp_off: Can::Yes("do-tcp: no, which also refuses clients over TCP"),
    dnssec_validation: Can::Yes("trust-anchor-file (module-config: \"validator iterator\")"),
    negative_trust_anchors: Can::Yes("domain-insecure"),
    extra_config: Can::Yes("appended at the end of `server:`; of an option given twice unbound takes the later value"),
    syntax: Syntax {
        style: Style::Colon,
        // These add up: each line is one more address, rule or zone.
        repeatable: &["interface", "outgoing-interface", "access-control", "local-zone", "local-data", "local-data-ptr", "domain-insecure", "trust-anchor", "trust-anchor-file", "outgoing-port-permit", "outgoing-port-avoid", "private-address", "private-domain", "name", "stub-addr", "stub-host", "forward-addr", "forward-host"],
    },
};

const TEMPLATE: &str = include_str!("unbound.conf");

fn start(spec: &Spec) -> Result<Running, String> {
    hints_file(spec)?;
    let ports = match spec.source_ports {
        Some(p) => format!("    outgoing-port-avoid: 0-65535\n    outgoing-port-permit: {}-{}", p.lo, p.hi),
        None => "    # (unbound's default: 1024-65535)".to_string(),
    };
    let access = if spec.allow.is_empty() {
        "    access-control: 0.0.0.0/0 allow\n    access-control: ::/0 allow".to_string()
    } else {
        let mut lines: Vec<String> = spec.allow.iter().map(|n| format!("    access-control: {n} allow")).collect();
        lines.push("    access-control: 0.0.0.0/0 refuse\n    access-control: ::/0 refuse".into());
        lines.join("\n")
    };
    let mut local = Vec::new();
    for z in spec.local_zones {
        local.push(format!("    local-zone: \"{}\" static", z.origin));
        local.extend(z.records.iter().map(|r| format!("    local-data: \"{r}\"")));
    }
    let config = spec.render(
        TEMPLATE,
        &[
            ("interfaces", interfaces(spec)),
            ("ip4", yes_no(spec.v4().is_some())),
            ("ip6", yes_no(spec.v6().is_some())),
            ("ports", ports),
            spec.edns(|n| format!("    edns-buffer-size: {n}")),
            spec.tcp("    tcp-upstream: yes", "    do-tcp: no"),
            ("access", access),
            ("local", if local.is_empty() { "    # (none)".into() } else { local.join("\n") }),
        ],
    );
    let conf = spec.dir.join("unbound.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let (process, log) = spawn_logged(spec, &["-d", "-c", &conf.display().to_string()])?;
    Ok(Running::process(spec, log, conf, process))
}

/// `interface:` for every address, `outgoing-interface:` for the first of
/// each family (unbound picks among several at random; one keeps the
/// source address of every upstream query predictable).
fn interfaces(spec: &Spec) -> String {
    let listen = spec.addrs.iter().map(|a| format!("    interface: {a}"));
    let out = [spec.v4(), spec.v6()].into_iter().flatten().map(|a| format!("    outgoing-interface: {a}"));
    listen.chain(out).collect::<Vec<_>>().join("\n")
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}
