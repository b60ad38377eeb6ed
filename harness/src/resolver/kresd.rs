//! Knot Resolver kresd (Debian `knot-resolver`), in the foreground with a
//! private Lua config rendered from `kresd.conf` and a private cache dir.
//! It has no source port knob: the node's `ip_local_port_range` gives its
//! ports (UDP, and its TCP fallback too). It has no lab timeout knob either:
//! it gives up after 13-18 s on its own.

use super::{spawn_logged, version_of, Kind, Running, Spec};

const TEMPLATE: &str = include_str!("kresd.conf");

pub(super) fn start(spec: &Spec) -> Result<Running, String> {
    let hints: Vec<String> = spec.hints.iter().map(|(n, a)| format!("['{n}'] = '{a}'")).collect();
    let outgoing = if spec.addr.is_ipv4() {
        format!("net.outgoing_v4('{}')", spec.addr)
    } else {
        format!("net.outgoing_v6('{}')", spec.addr)
    };
    let config = super::render(
        TEMPLATE,
        &[
            ("node", spec.node.to_string()),
            ("addr", spec.addr.to_string()),
            ("ip4", spec.addr.is_ipv4().to_string()),
            ("ip6", spec.addr.is_ipv6().to_string()),
            ("outgoing", outgoing),
            ("hints", hints.join(", ")),
        ],
    );
    let conf = spec.dir.join("kresd.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    // kresd changes into its run directory first: every path must be absolute.
    let rundir = spec.dir.join("run");
    std::fs::create_dir_all(&rundir).map_err(|e| e.to_string())?;
    let (process, log, bin) = spawn_logged(spec, "kresd", &["-n", "-c", &conf.display().to_string(), &rundir.display().to_string()])?;
    Ok(Running::process(Kind::Kresd, version_of(&bin, &["--version"]), log, conf, process))
}
