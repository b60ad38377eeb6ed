//! unbound (Debian `unbound`), run in the foreground in its node with a
//! private config rendered from `unbound.conf`. Its own port knob
//! (`outgoing-port-avoid` + `outgoing-port-permit`) gives the source ports;
//! it ignores the node's `ip_local_port_range`.

use super::{hints_file, render, spawn_logged, version_of, Kind, Running, Spec};

const TEMPLATE: &str = include_str!("unbound.conf");

pub(super) fn start(spec: &Spec) -> Result<Running, String> {
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
    let config = render(
        TEMPLATE,
        &[
            ("node", spec.node.to_string()),
            ("dir", spec.dir.display().to_string()),
            ("addr", spec.addr.to_string()),
            ("ip4", if spec.addr.is_ipv4() { "yes" } else { "no" }.into()),
            ("ip6", if spec.addr.is_ipv6() { "yes" } else { "no" }.into()),
            ("ports", ports),
            ("access", access),
            ("local", if local.is_empty() { "    # (none)".into() } else { local.join("\n") }),
        ],
    );
    let conf = spec.dir.join("unbound.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let (process, log, bin) = spawn_logged(spec, "unbound", &["-d", "-c", &conf.display().to_string()])?;
    Ok(Running::process(Kind::Unbound, version_of(&bin, &["-V"]), log, conf, process))
}
