//! PowerDNS Recursor (Debian `pdns-recursor`), in the foreground with a
//! private `recursor.conf` rendered from `pdns.conf`. Source ports:
//! `udp-source-port-min/max`, which it refuses below 1024 (the scenario lint
//! `resolver-cannot` says so; behind a NAT is how to show it). It listens on
//! every address of its node and sends from the first of each family
//! (`query-local-address`).

use super::{hints_file, spawn_logged, version_of, Kind, Running, Spec};

const TEMPLATE: &str = include_str!("pdns.conf");

pub(super) fn start(spec: &Spec) -> Result<Running, String> {
    hints_file(spec)?;
    let ports = match spec.source_ports {
        Some(p) if p.lo < 1024 => return Err(Kind::Pdns.low_ports_refusal().expect("pdns refuses").to_string()),
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
    let config = super::render(
        TEMPLATE,
        &[
            ("node", spec.node.to_string()),
            ("dir", spec.dir.display().to_string()),
            ("addr", join(spec.addrs.iter().copied())),
            ("outgoing", join([spec.v4(), spec.v6()].into_iter().flatten())),
            ("ports", ports),
            ("access", access),
            ("local", local.join(",")),
        ],
    );
    let conf = spec.dir.join("recursor.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let (process, log, bin) = spawn_logged(spec, "pdns_recursor", &[&format!("--config-dir={}", spec.dir.display())])?;
    Ok(Running::process(Kind::Pdns, version_of(&bin, &["--version"]), log, conf, process))
}

fn join(addrs: impl Iterator<Item = std::net::IpAddr>) -> String {
    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}
