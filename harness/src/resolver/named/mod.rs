//! BIND 9 named (Debian `bind9`), in the foreground (`-g`, logging to
//! stderr) with a private config rendered from `named.conf`. Source ports:
//! its own `use-v4-udp-ports`/`avoid-v4-udp-ports` and the v6 pair. It
//! listens on every address of its node; `-4` or `-6` only where the node has
//! one family. It has no lab timeout
//! knob: it gives up on a dead server after about 10 s on its own.

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
    binary: "named",
    package: "bind9",
    version_args: &["-v"],
};

const CAPS: Capabilities = Capabilities {
    program: Some(PROGRAM),
    low_ports: Can::Yes("use-v4-udp-ports / use-v6-udp-ports"),
    acl: Can::Yes("allow-recursion + allow-query-cache"),
    ports: PortKnob::Own("use-v4-udp-ports + avoid-v4-udp-ports, and the v6 pair"),
    local_zones: Can::Yes("zone { type primary; }"),
    ipv6: Can::Yes("listen-on-v6 + query-source-v6"),
    edns_buffer: Can::Yes("edns-udp-size"),
    // edns-udp-size and max-udp-size take 512-4096 and lower anything above.
    edns_max: Some(4096),
    tcp_first: Can::Yes("server 0.0.0.0/0 { tcp-only yes; }; server ::/0 { tcp-only yes; };"),
    tcp_off: Can::No("named always retries a truncated answer over TCP; no setting turns that off"),
    dnssec_validation: Can::Yes("trust-anchors { . static-ds ... }; with dnssec-validation yes"),
    negative_trust_anchors: Can::Yes("validate-except"),
    extra_config: Can::Yes("appended inside `options { }`; named refuses to start when an option is given twice (`'recursion' redefined`)"),
    syntax: Syntax {
        style: Style::Statements,
        repeatable: &["listen-on", "listen-on-v6"],
    },
};

const TEMPLATE: &str = include_str!("named.conf");

fn start(spec: &Spec) -> Result<Running, String> {
    hints_file(spec)?;
    let (v4, v6) = (spec.v4(), spec.v6());
    let ports = match spec.source_ports {
        Some(p) => format!(
            "    use-v4-udp-ports {{ range {lo} {hi}; }};\n    avoid-v4-udp-ports {{ }};\n    use-v6-udp-ports {{ range {lo} {hi}; }};\n    avoid-v6-udp-ports {{ }};",
            lo = p.lo,
            hi = p.hi
        ),
        None => "    // (named's default: the node's ephemeral range)".into(),
    };
    let access = if spec.allow.is_empty() {
        "    allow-recursion { any; };".to_string()
    } else {
        let list: String = spec.allow.iter().map(|n| format!("{n}; ")).collect();
        format!("    allow-recursion {{ {list}}};\n    allow-query-cache {{ {list}}};")
    };
    let local: Vec<String> = super::zone_files(spec)?
        .into_iter()
        .map(|(origin, file)| format!("zone \"{origin}\" {{ type primary; file \"{}\"; }};", file.display()))
        .collect();
    let listen = |v6: bool| {
        let list: Vec<String> = spec.of_family(v6).map(|a| format!("{a};")).collect();
        if list.is_empty() {
            "none;".to_string()
        } else {
            list.join(" ")
        }
    };
    let source = |a: Option<std::net::IpAddr>| a.map_or("*".to_string(), |a| a.to_string());
    let config = spec.render(
        TEMPLATE,
        &[
            ("listen4", listen(false)),
            ("listen6", listen(true)),
            ("source4", source(v4)),
            ("source6", source(v6)),
            ("ports", ports),
            spec.edns(|n| format!("    edns-udp-size {n};\n    max-udp-size {n};")),
            spec.tcp("server 0.0.0.0/0 { tcp-only yes; };\nserver ::/0 { tcp-only yes; };", ""),
            ("access", access),
            ("local", local.join("\n")),
        ],
    );
    let conf = spec.dir.join("named.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let conf_arg = conf.display().to_string();
    // -4 or -6 only on a single-stack node: a dual-stack one uses both.
    let mut args = vec!["-g"];
    match (v4, v6) {
        (Some(_), None) => args.push("-4"),
        (None, Some(_)) => args.push("-6"),
        _ => {}
    }
    args.extend(["-c", &conf_arg]);
    let (process, log) = spawn_logged(spec, &args)?;
    Ok(Running::process(spec, log, conf, process))
}
