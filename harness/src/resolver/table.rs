//! `dnslab kinds`: every registered kind, whether it is installed here, and
//! what its adapter declares it can do, with the knob that does it.

use std::fmt::Write as _;

use super::{available, Can, Kind, PortKnob};

/// The Debian packages of the real kinds, in registry order: what `make
/// deps` installs (`dnslab kinds --packages`).
pub fn packages() -> Vec<&'static str> {
    Kind::ALL.into_iter().filter_map(|k| k.caps().program).map(|p| p.package).collect()
}

/// One block per kind: its program, whether it is installed, and each
/// capability as `yes (KNOB)` or `no: WHY`.
pub fn text() -> String {
    let mut out = String::new();
    for kind in Kind::ALL {
        let caps = kind.caps();
        let program = match caps.program {
            None => "in process".to_string(),
            Some(p) => format!("{} (Debian {})", p.binary, p.package),
        };
        let here = match available(kind) {
            Ok(()) => "installed".to_string(),
            Err(e) => e.to_string(),
        };
        writeln!(out, "{kind}: {program}; {here}").unwrap();
        let ports = match caps.ports {
            PortKnob::Own(knob) => format!("its own ({knob})"),
            PortKnob::Sysctl => "the node's ip_local_port_range".to_string(),
        };
        writeln!(out, "  {:<24} {ports}", "source ports").unwrap();
        for (what, can) in caps.each() {
            let said = match can {
                Can::Yes(knob) => format!("yes ({knob})"),
                Can::No(why) => format!("no: {why}"),
            };
            writeln!(out, "  {what:<24} {said}").unwrap();
        }
    }
    out
}
