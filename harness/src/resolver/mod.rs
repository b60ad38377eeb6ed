//! Resolver adapters. Start at the registry just below: one line per kind,
//! each kind a folder (`unbound/mod.rs` + `unbound/unbound.conf`, ...)
//! whose adapter declares its [`Capabilities`] as data ([`caps`]). [`start`]
//! checks a resolver's needs against them, runs it in a node and waits
//! until it answers. Tests and probes talk to resolvers only over the
//! network, on port 53 of the resolver node.
//!
//! Adding a kind: a folder `resolver/<kind>/` with `mod.rs` (its
//! `ADAPTER`: capabilities, template, start) and its template, one line
//! here, and its snapshots (`tests/snapshots/scenarios__*@<kind>.snap`);
//! `tests/kinds.rs` fails until all three are there.

pub mod caps;
pub mod table;
#[macro_use]
mod registry;
pub mod watch;

kinds! {
    /// hickory-resolver's recursor, built in: needs no package.
    Hickory => hickory,
    /// NLnet Labs unbound (Debian `unbound`).
    Unbound => unbound,
    /// ISC BIND 9 named (Debian `bind9`).
    Named => named,
    /// PowerDNS Recursor (Debian `pdns-recursor`).
    Pdns => pdns,
    /// CZ.NIC Knot Resolver (Debian `knot-resolver`).
    Kresd => kresd,
    /// dnsmasq as a forwarder (Debian `dnsmasq`).
    Dnsmasq => dnsmasq,
}

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use lab::Ports;

pub use caps::{Can, Capabilities, PortKnob, Program};
pub use registry::Adapter;

use crate::probe::{self, Ask};
use crate::zone::Zone;

/// Everything an adapter needs to start one resolver.
pub struct Spec<'a> {
    pub lab: &'a lab::Lab,
    pub node: &'a str,
    /// The address it is first asked on (readiness checks use it).
    pub addr: IpAddr,
    /// Every address of its node, `addr` among them: it listens on port 53
    /// of each and sends upstream from the first of each family, so a
    /// dual-stack node resolves over both IPv4 and IPv6.
    pub addrs: &'a [IpAddr],
    /// Root server host names and addresses.
    pub hints: &'a [(Name, IpAddr)],
    /// Source ports it must use itself, when the scenario says so.
    pub source_ports: Option<Ports>,
    /// For forwarders: (zone, server address) for every zone of the lab.
    pub forwards: &'a [(String, IpAddr)],
    /// Its private directory: config, state, log.
    pub dir: &'a Path,
    /// Who may ask it for recursion; empty: anyone.
    pub allow: &'a [IpNet],
    /// Zones it answers itself, never asking upstream.
    pub local_zones: &'a [Zone],
}

impl Spec<'_> {
    /// The node's first IPv4 address, if it has one.
    pub fn v4(&self) -> Option<IpAddr> {
        self.addrs.iter().copied().find(IpAddr::is_ipv4)
    }
    /// The node's first IPv6 address, if it has one.
    pub fn v6(&self) -> Option<IpAddr> {
        self.addrs.iter().copied().find(IpAddr::is_ipv6)
    }
    /// The node's addresses of one family (IPv6 when `v6`).
    pub fn of_family(&self, v6: bool) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().copied().filter(move |a| a.is_ipv6() == v6)
    }
}

/// A started resolver. Dropping it stops it.
pub struct Running {
    pub kind: Kind,
    pub version: String,
    pub log: Option<PathBuf>,
    /// Bytes of its log past [`crate::bounded::RESOLVER_LOG_MAX`], not kept.
    log_dropped: Option<Arc<AtomicU64>>,
    pub config: Option<PathBuf>,
    guard: Guard,
}

enum Guard {
    Process(lab::Process),
    InProcess(#[allow(dead_code)] Box<dyn Send>),
}

/// Why a resolver is not available on this machine.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("{kind} is not installed: `{binary}` not found; install it with `apt-get install {package}`")]
    Missing { kind: Kind, binary: &'static str, package: &'static str },
}

/// Is this kind runnable here? (its binary is installed)
pub fn available(kind: Kind) -> Result<(), Unavailable> {
    match kind.caps().program {
        None => Ok(()),
        Some(Program { binary, package, .. }) => find_binary(binary).map(|_| ()).ok_or(Unavailable::Missing { kind, binary, package }),
    }
}

pub fn find_binary(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Does `kind` need the node's `ip_local_port_range` to get its ports?
/// (Only kinds without a port knob of their own.)
pub fn ports_by_sysctl(kind: Kind, ports: Option<Ports>) -> Option<Ports> {
    match kind.caps().ports {
        PortKnob::Sysctl => ports,
        PortKnob::Own(_) => None,
    }
}

/// What `spec` asks of `kind` that its capabilities say it cannot do. The
/// lint says the same for the kinds a scenario names (`kinds:`); this is
/// the one check for every kind, whoever chose it.
pub fn refusal(kind: Kind, spec: &Spec) -> Option<&'static str> {
    let caps = kind.caps();
    let low = spec.source_ports.is_some_and(|p| p.lo < 1024);
    let v6 = spec.v6().is_some();
    [
        (low, caps.low_ports),
        (!spec.allow.is_empty(), caps.acl),
        (!spec.local_zones.is_empty(), caps.local_zones),
        (v6, caps.ipv6),
    ]
    .into_iter()
    .find_map(|(needed, can)| needed.then(|| can.refusal()).flatten())
}

/// Starts `kind` and waits until it answers, within `ready_within`.
pub fn start(kind: Kind, spec: &Spec, ready_within: Duration) -> Result<Running, String> {
    available(kind).map_err(|e| e.to_string())?;
    if let Some(why) = refusal(kind, spec) {
        return Err(why.to_string());
    }
    let mut running = kind.adapter().start(spec)?;
    wait_ready(spec, &mut running, ready_within)?;
    Ok(running)
}

impl Running {
    fn process(kind: Kind, version: String, log: LogFile, config: PathBuf, process: lab::Process) -> Running {
        Running {
            kind,
            version,
            log: Some(log.path),
            log_dropped: Some(log.dropped),
            config: Some(config),
            guard: Guard::Process(process),
        }
    }

    /// Alive, stopped, or ended (and then reaped). A resolver in our own
    /// process is alive while we are.
    pub fn state(&mut self) -> lab::ProcState {
        match &mut self.guard {
            // A wait that fails has nothing left to wait for.
            Guard::Process(p) => p.state().unwrap_or(lab::ProcState::Alive),
            Guard::InProcess(_) => lab::ProcState::Alive,
        }
    }

    /// The last `lines` lines of its log, from at most its last 64 KiB.
    pub fn log_tail(&self, lines: usize) -> String {
        use std::io::{Read, Seek, SeekFrom};
        const TAIL_MAX: u64 = 64 << 10;
        let Some(Ok(mut f)) = self.log.as_ref().map(std::fs::File::open) else {
            return String::new();
        };
        let len = f.metadata().map_or(0, |m| m.len());
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(len.saturating_sub(TAIL_MAX))).is_err() || f.take(TAIL_MAX).read_to_end(&mut bytes).is_err() {
            return String::new();
        }
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its log's limit, if the log reached it.
    pub fn log_overflow(&self, node: &str) -> Option<crate::bounded::Overflow> {
        let dropped = self.log_dropped.as_ref()?.load(Ordering::Relaxed);
        (dropped > 0).then(|| crate::bounded::Overflow {
            what: format!("the log of {} on {node}", self.kind),
            limit: crate::bounded::RESOLVER_LOG_MAX,
            dropped,
            unit: "bytes",
        })
    }
}

/// Polls with a non-recursive query (it causes no upstream traffic) until
/// any DNS answer comes back, then until each local zone answers (named
/// answers before its zones are loaded, with SERVFAIL for them).
fn wait_ready(spec: &Spec, running: &mut Running, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let ask = |name: Name, rd: bool| Ask {
        source: Some(spec.addr),
        timeout: Duration::from_millis(100),
        tries: 1,
        ..Ask::udp(spec.addr, name, if rd { RecordType::SOA } else { RecordType::NS }, rd)
    };
    let checks = std::iter::once((ask(Name::root(), false), "any answer"))
        .chain(spec.local_zones.iter().map(|z| (ask(z.origin.clone(), true), "its local zones loaded")));
    for (check, what) in checks {
        loop {
            match running.state() {
                lab::ProcState::Alive => {}
                lab::ProcState::Exited(status) => {
                    return Err(format!("{} exited before it was ready ({status}):\n{}", running.kind, running.log_tail(15)));
                }
                lab::ProcState::Stopped => return Err(format!("{} was stopped (state T) before it was ready", running.kind)),
            }
            let a = check.clone();
            let answer = probe::block_in(spec.lab, spec.node, move || async move { probe::ask(&a).await }).map_err(|e| e.to_string())?;
            let ready = match check.stub.rd {
                false => answer.rcode.rcode().is_some(),
                true => answer.rcode.resolved(),
            };
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer within {within:?} ({what}: {} {} -> {}):\n{}",
                    running.kind,
                    check.name,
                    check.qtype,
                    answer.rcode,
                    running.log_tail(15)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Writes the root hints zone (`. NS name`, `name A addr`) most resolvers read.
pub(crate) fn hints_file(spec: &Spec) -> Result<PathBuf, String> {
    let text: String = spec
        .hints
        .iter()
        .map(|(name, addr)| format!(". 3600000 NS {name}\n{name} 3600000 {} {addr}\n", if addr.is_ipv4() { "A" } else { "AAAA" }))
        .collect();
    let path = spec.dir.join("root.hints");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// A resolver's log file, written by a thread of ours from a pipe on its
/// stdout and stderr, up to [`crate::bounded::RESOLVER_LOG_MAX`].
pub(crate) struct LogFile {
    path: PathBuf,
    dropped: Arc<AtomicU64>,
}

/// Starts `binary args...` in the node with stdout and stderr in
/// `<dir>/<binary>.log` (bounded). Returns the process, the log and the
/// binary's path.
pub(crate) fn spawn_logged(spec: &Spec, program: &Program, args: &[&str]) -> Result<(lab::Process, LogFile, PathBuf), String> {
    let Program { binary, package, .. } = *program;
    let bin = find_binary(binary).ok_or_else(|| format!("{binary} is not installed: install it with `apt-get install {package}`"))?;
    let path = spec.dir.join(format!("{binary}.log"));
    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone().map_err(|e| e.to_string())?)
        .stderr(writer);
    let process = spec.lab.spawn(spec.node, &mut cmd).map_err(|e| e.to_string())?;
    // Our copies of the write end go with `cmd`: the pipe ends when the
    // resolver's own do, and the copying thread with it.
    drop(cmd);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::Builder::new()
        .name(format!("log {binary}"))
        .spawn(move || crate::bounded::copy_bounded(reader, file, crate::bounded::RESOLVER_LOG_MAX, &counter))
        .map_err(|e| e.to_string())?;
    Ok((process, LogFile { path, dropped }, bin))
}

/// The first line a binary prints about its version.
pub(crate) fn version_of(bin: &Path, program: &Program) -> String {
    let out = std::process::Command::new(bin)
        .args(program.version_args)
        .output()
        .map(|o| [o.stdout, o.stderr].concat())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    // pdns_recursor prefixes a timestamp; keep from the program's name on.
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let name = bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let line = match line.find("PowerDNS") {
        Some(i) => &line[i..],
        None => line,
    };
    // Drop copyright notes and build tags: "Dnsmasq version 2.90  Copyright ...".
    let line = line.split("  ").next().unwrap_or(line).split(" (").next().unwrap_or(line);
    line.replace("Dnsmasq version", "dnsmasq")
        .replace("Version ", &format!("{name} "))
        .trim()
        .to_string()
}

/// Writes each local zone as a master file (absolute names, one record a
/// line) into the resolver's directory; returns (origin, path) pairs.
pub(crate) fn zone_files(spec: &Spec) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    for zone in spec.local_zones {
        let text: String = zone.records.iter().map(|r| format!("{r}\n")).collect();
        let path = spec.dir.join(format!("{}zone", zone.origin));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        out.push((zone.origin.to_string(), path));
    }
    Ok(out)
}

/// Fills `{key}` placeholders in a config template.
pub(crate) fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_resolver_says_how_to_install_it() {
        for kind in Kind::ALL {
            let Some(Program { binary, package, .. }) = kind.caps().program else {
                continue;
            };
            let msg = Unavailable::Missing { kind, binary, package }.to_string();
            assert!(msg.contains(&format!("apt-get install {package}")) && msg.contains(binary), "{msg}");
        }
        assert_eq!(
            Kind::Pdns.caps().program.map(|p| (p.binary, p.package)),
            Some(("pdns_recursor", "pdns-recursor"))
        );
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for kind in Kind::ALL {
            let Some(t) = kind.adapter().template() else {
                assert!(kind.caps().in_process(), "{kind} runs a program and has no template");
                continue;
            };
            let vars = [
                "node",
                "dir",
                "addr",
                "interfaces",
                "listen",
                "ip4",
                "ip6",
                "ports",
                "listen4",
                "listen6",
                "source4",
                "source6",
                "outgoing",
                "hints",
                "access",
                "local",
                "servers",
            ];
            let filled = render(t, &vars.map(|v| (v, "X".to_string())));
            // No `{word}` left: every placeholder has a value.
            let left = filled
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}'))
                .any(|(w, _)| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(!left, "{kind}: {filled}");
        }
    }
}
