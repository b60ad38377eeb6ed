//! unbound (Debian `unbound`), run in the foreground in its node with a
//! private config rendered from `unbound.conf`. Its own port knob
//! (`outgoing-port-avoid` + `outgoing-port-permit`) gives the source ports;
//! it ignores the node's `ip_local_port_range`.

use std::process::{Command, Stdio};

use super::{find_binary, render, Guard, Kind, Running, Spec};

const TEMPLATE: &str = include_str!("unbound.conf");

pub(super) fn start(spec: &Spec) -> Result<Running, String> {
    let bin = find_binary("unbound").ok_or("unbound is not installed: install it with `apt-get install unbound`")?;
    let dir = spec.dir;
    let hints: String = spec
        .hints
        .iter()
        .map(|(name, addr)| format!(". 3600000 NS {name}\n{name} 3600000 {} {addr}\n", if addr.is_ipv4() { "A" } else { "AAAA" }))
        .collect();
    std::fs::write(dir.join("root.hints"), hints).map_err(|e| e.to_string())?;
    let ports = match spec.source_ports {
        Some(p) => format!("    outgoing-port-avoid: 0-65535\n    outgoing-port-permit: {}-{}", p.lo, p.hi),
        None => "    # (unbound's default: 1024-65535)".to_string(),
    };
    let config = render(
        TEMPLATE,
        &[
            ("node", spec.node.to_string()),
            ("dir", dir.display().to_string()),
            ("addr", spec.addr.to_string()),
            ("ip4", if spec.addr.is_ipv4() { "yes" } else { "no" }.into()),
            ("ip6", if spec.addr.is_ipv6() { "yes" } else { "no" }.into()),
            ("ports", ports),
        ],
    );
    let conf = dir.join("unbound.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let log = dir.join("unbound.log");
    let logfile = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(logfile.try_clone().map_err(|e| e.to_string())?)
        .stderr(logfile);
    let process = spec.lab.spawn(spec.node, &mut cmd).map_err(|e| e.to_string())?;
    Ok(Running {
        kind: Kind::Unbound,
        version: version(&bin),
        log: Some(log),
        config: Some(conf),
        guard: Guard::Process(process),
    })
}

fn version(bin: &std::path::Path) -> String {
    let out = Command::new(bin)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines().next().unwrap_or("unbound").trim().replace("Version ", "unbound ")
}
