//! BIND 9 named (Debian `bind9`), in the foreground (`-g`, logging to
//! stderr) with a private config rendered from `named.conf`. Source ports:
//! its own `use-v4-udp-ports`/`avoid-v4-udp-ports`. It has no lab timeout
//! knob: it gives up on a dead server after about 10 s on its own.

use super::{hints_file, spawn_logged, version_of, Kind, Running, Spec};

const TEMPLATE: &str = include_str!("named.conf");

pub(super) fn start(spec: &Spec) -> Result<Running, String> {
    hints_file(spec)?;
    let (v4, v6) = (spec.addr.is_ipv4(), spec.addr.is_ipv6());
    let ports = match spec.source_ports {
        Some(p) if v4 => format!("    use-v4-udp-ports {{ range {} {}; }};\n    avoid-v4-udp-ports {{ }};", p.lo, p.hi),
        Some(p) => format!("    use-v6-udp-ports {{ range {} {}; }};\n    avoid-v6-udp-ports {{ }};", p.lo, p.hi),
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
    let config = super::render(
        TEMPLATE,
        &[
            ("node", spec.node.to_string()),
            ("dir", spec.dir.display().to_string()),
            ("listen4", if v4 { spec.addr.to_string() } else { "none".into() }),
            ("listen6", if v6 { spec.addr.to_string() } else { "none".into() }),
            ("source4", if v4 { spec.addr.to_string() } else { "*".into() }),
            ("source6", if v6 { spec.addr.to_string() } else { "*".into() }),
            ("ports", ports),
            ("access", access),
            ("local", local.join("\n")),
        ],
    );
    let conf = spec.dir.join("named.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let family = if v4 { "-4" } else { "-6" };
    let (process, log, bin) = spawn_logged(spec, "named", &["-g", family, "-c", &conf.display().to_string()])?;
    Ok(Running::process(Kind::Named, version_of(&bin, &["-v"]), log, conf, process))
}
