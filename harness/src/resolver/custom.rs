//! A resolver dnslab does not know: `--resolver NAME=custom:FILE`. FILE is
//! YAML and declares what an adapter folder holds for a registered kind:
//!
//! ```yaml
//! command: [/usr/sbin/unbound, -d, -c, "{config}"]   # how it starts, in the foreground
//! version: [/usr/sbin/unbound, -V]                    # its first line is the version
//! template: |                                         # its config, written to {config}
//!   server:
//!       interface: {addr4}
//!       ...
//! capabilities:                                       # each: {can: KNOB} or {cannot: WHY}
//!   low_ports: {can: outgoing-port-permit}
//!   ports: {can: "outgoing-port-permit: {ports}"}      # or {cannot: ...}: the sysctl gives them
//!   ...
//! ```
//!
//! `acts_as: KIND` (optional) makes a scenario's `kinds:` lists and
//! `NODE@KIND` expectations take it for that kind: a fork of unbound runs
//! where unbound runs. Its capabilities are still its own.
//!
//! The command line and the template take the placeholders of
//! [`PLACEHOLDERS`]. Readiness is the same check as for every kind, and
//! [`super::refusal`] holds a scenario against the declared capabilities.
//! `tests/fixtures/custom-unbound.yaml` is unbound declared this way.
//!
//! Like `--resolver-config`, a custom FILE comes only from the command line
//! or the environment, never from a scenario: it names a program to run.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::caps::{Can, Capabilities, PortKnob};
use super::registry::Adapter;
use super::{hints_file, spawn_logged, Running, Spec};
use crate::scenario::yaml;

/// Every placeholder of a custom kind's command line and template.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("config", "the path of its rendered config"),
    ("dir", "its private directory"),
    ("node", "its node's name"),
    ("addr", "the address it is asked on"),
    ("addrs", "every address of its node, space-separated"),
    ("addr4", "its node's first IPv4 address (empty without)"),
    ("addr6", "its node's first IPv6 address (empty without)"),
    ("ports", "its source port range, `LO-HI` (1024-65535 unless the scenario says)"),
    ("ports_lo", "the range's first port"),
    ("ports_hi", "the range's last port"),
    ("hints", "the path of the root hints file"),
    ("allow", "who may ask it, space-separated networks (`0.0.0.0/0 ::/0`: anyone)"),
    ("extra", "the text of its --resolver-config (empty without)"),
    ("edns_size", "the EDNS size the scenario asks it to offer upstream (empty without)"),
    ("tcp_upstream", "`on` or `off`, as the scenario asks for TCP upstream (empty without)"),
];

/// The most a custom kind's FILE may hold.
const FILE_MAX: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    acts_as: Option<String>,
    command: Vec<String>,
    version: Vec<String>,
    template: String,
    capabilities: RawCaps,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaps {
    low_ports: RawCan,
    acl: RawCan,
    ports: RawCan,
    local_zones: RawCan,
    ipv6: RawCan,
    edns_buffer: RawCan,
    tcp_first: RawCan,
    tcp_off: RawCan,
    dnssec_validation: RawCan,
    negative_trust_anchors: RawCan,
    extra_config: RawCan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCan {
    can: Option<String>,
    cannot: Option<String>,
}

/// A custom kind, read and checked.
#[derive(Debug)]
pub struct Custom {
    pub file: PathBuf,
    /// The registered kind a scenario's `kinds:` lists and `NODE@KIND`
    /// expectations take it for (a fork of unbound acts as unbound).
    pub acts_as: Option<super::Kind>,
    pub program_path: PathBuf,
    pub command: Vec<String>,
    pub version: Vec<String>,
    pub template: String,
    pub caps: Capabilities,
}

/// Reads FILE: every problem at once, each `FILE:LINE:COL message`.
pub fn load(file: &Path) -> Result<Custom, String> {
    let text = crate::text::read_bounded(file, FILE_MAX).map_err(|e| format!("{}: {e}", file.display()))?;
    let at = |pos: yaml::Pos, m: &str| format!("{}:{pos} {}", file.display(), crate::text::escape(m));
    let node = yaml::parse(&text).map_err(|e| at(e.pos, &e.message))?;
    let (raw, errors) = yaml::from_node::<Raw>(&node);
    let mut problems: Vec<String> = errors.iter().map(|e| at(e.pos, &e.message)).collect();
    let Some(raw) = raw else {
        return Err(problems.join("\n"));
    };
    let mut can = |what: &str, c: RawCan| match (c.can, c.cannot) {
        (Some(knob), None) => Can::Yes(leak(knob)),
        (None, Some(why)) => Can::No(leak(why)),
        _ => {
            problems.push(format!(
                "{}: capabilities.{what}: give `can: KNOB` or `cannot: WHY`, one of them",
                file.display()
            ));
            Can::No("not declared")
        }
    };
    let c = raw.capabilities;
    let ports = match can("ports", c.ports) {
        Can::Yes(knob) => PortKnob::Own(knob),
        Can::No(_) => PortKnob::Sysctl,
    };
    let caps = Capabilities {
        program: None,
        low_ports: can("low_ports", c.low_ports),
        acl: can("acl", c.acl),
        ports,
        local_zones: can("local_zones", c.local_zones),
        ipv6: can("ipv6", c.ipv6),
        edns_buffer: can("edns_buffer", c.edns_buffer),
        edns_max: None,
        tcp_first: can("tcp_first", c.tcp_first),
        tcp_off: can("tcp_off", c.tcp_off),
        dnssec_validation: can("dnssec_validation", c.dnssec_validation),
        negative_trust_anchors: can("negative_trust_anchors", c.negative_trust_anchors),
        extra_config: can("extra_config", c.extra_config),
        // Its {extra} goes where its template says; we cannot read its options.
        syntax: super::options::Syntax::OPAQUE,
    };
    if let Can::Yes(_) = caps.local_zones {
        // The template has no way to say a zone's records.
        problems.push(format!(
            "{}: capabilities.local_zones: a custom kind cannot answer local zones (no placeholder holds them)",
            file.display()
        ));
    }
    let known = |t: &str| {
        unknown_placeholders(t)
            .into_iter()
            .map(|p| format!("{}: `{{{p}}}` is no placeholder; they are {}", file.display(), names()))
    };
    problems.extend(known(&raw.template));
    problems.extend(raw.command.iter().flat_map(|w| known(w)));
    let program_path = match raw.command.first() {
        None => {
            problems.push(format!("{}: command: empty", file.display()));
            PathBuf::new()
        }
        Some(p) => super::build::executable(Path::new(p)).unwrap_or_else(|e| {
            problems.push(format!("{}: command: {e}", file.display()));
            PathBuf::new()
        }),
    };
    let acts_as = raw.acts_as.as_deref().and_then(|k| {
        let kind = super::Kind::parse(k);
        if kind.is_none() {
            problems.push(format!(
                "{}: acts_as: `{}` is no registered kind: {}",
                file.display(),
                crate::text::escape(k),
                super::Kind::names()
            ));
        }
        kind
    });
    if raw.version.is_empty() {
        problems.push(format!("{}: version: empty", file.display()));
    }
    match problems.is_empty() {
        true => Ok(Custom {
            file: file.to_path_buf(),
            acts_as,
            program_path,
            command: raw.command,
            version: raw.version,
            template: raw.template,
            caps,
        }),
        false => Err(problems.join("\n")),
    }
}

/// A declaration lives as long as the process: a run reads each FILE once.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn names() -> String {
    PLACEHOLDERS.iter().map(|(p, _)| format!("{{{p}}}")).collect::<Vec<_>>().join(" ")
}

/// The `{word}`s of `text` that are no placeholder.
fn unknown_placeholders(text: &str) -> Vec<String> {
    super::placeholders(text)
        .filter(|w| !PLACEHOLDERS.iter().any(|(p, _)| p == w))
        .map(String::from)
        .collect()
}

impl Adapter for Custom {
    fn caps(&self) -> &Capabilities {
        &self.caps
    }
    fn template(&self) -> Option<&str> {
        Some(&self.template)
    }
    fn start(&self, spec: &Spec) -> Result<Running, String> {
        let hints = hints_file(spec)?;
        let config = spec.dir.join("config");
        let ports = spec.source_ports.unwrap_or(lab::Ports { lo: 1024, hi: 65535 });
        let allow = match spec.allow.is_empty() {
            true => "0.0.0.0/0 ::/0".to_string(),
            false => spec.allow.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "),
        };
        let show = |a: Option<std::net::IpAddr>| a.map_or(String::new(), |a| a.to_string());
        let vars = [
            ("config", config.display().to_string()),
            ("addr", spec.addr.to_string()),
            ("addrs", spec.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")),
            ("addr4", show(spec.v4())),
            ("addr6", show(spec.v6())),
            ("ports", format!("{}-{}", ports.lo, ports.hi)),
            ("ports_lo", ports.lo.to_string()),
            ("ports_hi", ports.hi.to_string()),
            ("hints", hints.display().to_string()),
            ("allow", allow),
            ("edns_size", spec.edns_size.map(|n| n.to_string()).unwrap_or_default()),
            ("tcp_upstream", spec.tcp("on", "off").1),
        ];
        std::fs::write(&config, spec.render(&self.template, &vars)).map_err(|e| e.to_string())?;
        let args: Vec<String> = self.command[1..].iter().map(|w| spec.render(w, &vars)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (process, log) = spawn_logged(spec, &args)?;
        Ok(Running::process(spec, log, config, process))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_example_reads_and_a_bad_file_says_every_problem() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/custom-unbound.yaml");
        if Path::new("/usr/sbin/unbound").exists() {
            let c = load(&example).expect("the example reads");
            assert_eq!(c.caps.low_ports, Can::Yes("outgoing-port-permit"));
        }
        let dir = std::env::temp_dir().join(format!("dnslab-test-custom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.yaml");
        std::fs::write(
            &bad,
            "command: [/nonexistent/x, \"{nope}\"]\nversion: []\ntemplate: \"{cfg}\"\ncolour: red\ncapabilities: {}\n",
        )
        .unwrap();
        let e = load(&bad).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.contains("colour") && e.contains(":4:1"), "{e}");
        assert!(e.contains("missing field"), "{e}");
    }
}
