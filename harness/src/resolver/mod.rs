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

pub mod build;
pub mod caps;
pub mod choose;
pub mod custom;
pub mod options;
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

pub use build::Build;
pub use caps::{Can, Capabilities, PortKnob, Program};
pub use registry::Adapter;

use crate::probe::{self, Ask};
use crate::scenario::values::TcpUpstream;
use crate::zone::Zone;

/// Everything an adapter needs to start one resolver.
pub struct Spec<'a> {
    /// What to start: its kind, binary, extra config and wrapper.
    pub build: &'a Build,
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
    /// The EDNS UDP payload size it must offer upstream, when the scenario
    /// says so (`edns_size:`); `None`: the kind's default.
    pub edns_size: Option<u16>,
    /// TCP to upstream servers always or never (`tcp_upstream:`); `None`:
    /// the kind's own way (UDP, TCP after TC=1).
    pub tcp_upstream: Option<TcpUpstream>,
    /// For forwarders: (zone, server address) for every zone of the lab.
    pub forwards: &'a [(String, IpAddr)],
    /// Its private directory: config, state, log.
    pub dir: &'a Path,
    /// Who may ask it for recursion; empty: anyone.
    pub allow: &'a [IpNet],
    /// Zones it answers itself, never asking upstream.
    pub local_zones: &'a [Zone],
    /// What the lint of its rendered config found ([`Spec::render`]).
    pub warnings: std::cell::RefCell<Vec<String>>,
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

    /// The template's `{edns}` text: `line(size)` when the scenario sets
    /// `edns_size`, else nothing (the kind's default holds).
    pub fn edns(&self, line: impl Fn(u16) -> String) -> (&'static str, String) {
        ("edns", self.edns_size.map(line).unwrap_or_default())
    }

    /// The template's `{tcp}` text: `on` or `off` for what the scenario
    /// says (`tcp_upstream:`), else nothing.
    pub fn tcp(&self, on: &str, off: &str) -> (&'static str, String) {
        let text = match self.tcp_upstream {
            Some(TcpUpstream::On) => on,
            Some(TcpUpstream::Off) => off,
            None => "",
        };
        ("tcp", text.to_string())
    }

    /// Fills a template's `{key}` placeholders: `vars`, and for every
    /// template `{node}`, `{dir}` and `{extra}` (the build's
    /// `--resolver-config` text, where each template says it goes).
    pub fn render(&self, template: &str, vars: &[(&str, String)]) -> String {
        let extra = match &self.build.config {
            Some((file, text)) => format!("{} {}\n{text}", self.build.caps().syntax.marker(), file.display()),
            None => String::new(),
        };
        let common = [("node", self.node.to_string()), ("dir", self.dir.display().to_string()), ("extra", extra)];
        let text = render(template, &vars.iter().cloned().chain(common).collect::<Vec<_>>());
        // The lint sees the config as written, whether or not it then starts
        // (named refuses a repeated option: the warning says why).
        if let (Some((file, _)), Can::Yes(repeat)) = (&self.build.config, self.build.caps().extra_config) {
            let found = self.build.caps().syntax.repeated(&text, &file.display().to_string(), repeat);
            self.warnings.borrow_mut().extend(found);
        }
        text
    }
}

/// A started resolver. Dropping it stops it.
pub struct Running {
    /// Its build's name (the kind's, unless named).
    pub name: String,
    pub version: String,
    /// Started under `--wrap`: stopped with SIGTERM and a bounded wait.
    wrapped: bool,
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

/// Is this kind's program installed here? (`dnslab kinds`, and which
/// kinds a run takes when none is asked for)
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

/// Does `build` need the node's `ip_local_port_range` to get its ports?
/// (Only kinds without a port knob of their own.)
pub fn ports_by_sysctl(build: &Build, ports: Option<Ports>) -> Option<Ports> {
    match build.caps().ports {
        PortKnob::Sysctl => ports,
        PortKnob::Own(_) => None,
    }
}

/// What `spec` asks of its build that the build's capabilities say it
/// cannot do. The lint says the same for the kinds a scenario names
/// (`kinds:`); this is the one check for every build, whoever chose it.
pub fn refusal(spec: &Spec) -> Option<&'static str> {
    let caps = spec.build.caps();
    let low = spec.source_ports.is_some_and(|p| p.lo < 1024);
    let v6 = spec.v6().is_some();
    let over = spec.edns_size.zip(caps.edns_max).is_some_and(|(n, max)| n > max);
    [
        (low, caps.low_ports),
        (!spec.allow.is_empty(), caps.acl),
        (!spec.local_zones.is_empty(), caps.local_zones),
        (v6, caps.ipv6),
        (spec.edns_size.is_some(), caps.edns_buffer),
        (over, Can::No("its EDNS size knob takes no more than its `edns_max`")),
        (true, spec.tcp_upstream.map_or(Can::Yes("its own way: UDP, TCP after TC=1"), |m| caps.tcp(m))),
    ]
    .into_iter()
    .find_map(|(needed, can)| needed.then(|| can.refusal()).flatten())
}

/// Starts `spec.build` and waits until it answers, within `ready_within`
/// (times the build's `--wrap-factor`).
pub fn start(spec: &Spec, ready_within: Duration) -> Result<Running, String> {
    if let Some(why) = refusal(spec) {
        return Err(why.to_string());
    }
    let mut running = spec.build.adapter().start(spec)?;
    wait_ready(spec, &mut running, ready_within * spec.build.factor())?;
    Ok(running)
}

impl Drop for Running {
    /// A wrapped resolver gets SIGTERM and its grace here too (a run that
    /// fails early, `dnslab up` at `down`, `audit`): valgrind writes its
    /// report. Any other is killed by its guard.
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Running {
    fn process(spec: &Spec, log: LogFile, config: PathBuf, process: lab::Process) -> Running {
        Running {
            name: spec.build.name.clone(),
            version: spec.build.binary.as_ref().map_or(String::new(), |b| b.version.clone()),
            wrapped: spec.build.wrap.is_some(),
            log: Some(log.path),
            log_dropped: Some(log.dropped),
            config: Some(config),
            guard: Guard::Process(process),
        }
    }

    /// Ends it: a wrapped one with SIGTERM and up to [`build::WRAP_GRACE`]
    /// (valgrind writes its report then), returning how it ended; any other
    /// is killed when dropped, and `None`.
    pub fn stop(&mut self) -> Option<String> {
        match (&mut self.guard, self.wrapped) {
            (Guard::Process(p), true) => Some(match p.stop(build::WRAP_GRACE) {
                Ok(status) => status.to_string(),
                Err(e) => format!("no exit status: {e}"),
            }),
            _ => None,
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
            what: format!("the log of {} on {node}", self.name),
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
                    return Err(format!("{} exited before it was ready ({status}):\n{}", running.name, running.log_tail(15)));
                }
                lab::ProcState::Stopped => return Err(format!("{} was stopped (state T) before it was ready", running.name)),
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
                    running.name,
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

/// Starts the build's binary with `args` in the node, under its `--wrap`
/// if it has one, with stdout and stderr in `<dir>/<binary>.log` (bounded).
pub(crate) fn spawn_logged(spec: &Spec, args: &[&str]) -> Result<(lab::Process, LogFile), String> {
    let bin = spec
        .build
        .binary
        .as_ref()
        .map(|b| b.path.clone())
        .ok_or_else(|| format!("{} has no binary", spec.build.name))?;
    let file_name = bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "resolver".into());
    let path = spec.dir.join(format!("{file_name}.log"));
    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut cmd = match &spec.build.wrap {
        None => std::process::Command::new(&bin),
        Some(w) => {
            let words: Vec<String> = w.words.iter().map(|x| render(x, &[("dir", spec.dir.display().to_string())])).collect();
            let mut c = std::process::Command::new(&words[0]);
            c.args(&words[1..]).arg(&bin);
            c
        }
    };
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone().map_err(|e| e.to_string())?)
        .stderr(writer);
    let process = spec.lab.spawn(spec.node, &mut cmd).map_err(|e| format!("{}: {e}", bin.display()))?;
    // Our copies of the write end go with `cmd`: the pipe ends when the
    // resolver's own do, and the copying thread with it.
    drop(cmd);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::Builder::new()
        .name(format!("log {file_name}"))
        .spawn(move || crate::bounded::copy_bounded(reader, file, crate::bounded::RESOLVER_LOG_MAX, &counter))
        .map_err(|e| e.to_string())?;
    Ok((process, LogFile { path, dropped }))
}

/// The first line `command` (a program and its arguments) prints about
/// the version of the binary at `bin`. Bounded: 5 s and 64 KiB.
pub(crate) fn version_line(bin: &Path, command: &[String]) -> String {
    use std::io::Read;
    let Some((program, args)) = command.split_first() else {
        return String::new();
    };
    // One pipe for both streams: a program that fills one while we read
    // the other cannot stall us.
    let Ok((reader, writer)) = std::io::pipe() else {
        return String::new();
    };
    let Ok(w2) = writer.try_clone() else {
        return String::new();
    };
    let mut cmd = std::process::Command::new(program);
    // A group of its own: what it leaves behind (a wrapper script's child
    // holding the pipe) is killed with it, so the read below ends.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(args).stdin(std::process::Stdio::null()).stdout(writer).stderr(w2);
    let Ok(mut child) = cmd.spawn() else {
        return String::new();
    };
    drop(cmd);
    // A version command that hangs is given 5 s, then killed. It is waited
    // for without being reaped (WNOWAIT): its pid, which is its group's id,
    // stays ours until the group is killed, so no other process's group can
    // be signalled by mistake.
    let end = Instant::now() + Duration::from_secs(5);
    let pid = child.id();
    loop {
        // SAFETY: waitid on our own unreaped child into a zeroed siginfo;
        // WNOWAIT leaves it for the wait below.
        let exited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) == 0 && info.si_pid() != 0
        };
        if exited || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling the process group we made, whose leader is not
    // reaped yet: whatever it left holding the pipe goes with it.
    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    let _ = child.wait();
    let mut out = Vec::new();
    let _ = reader.take(64 << 10).read_to_end(&mut out);
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
    let line = line.replace("Dnsmasq version", "dnsmasq").replace("Version ", &format!("{name} "));
    crate::text::escape(line.trim())
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

/// The `{word}`s of a template (letters, digits, `_`): what [`render`]
/// fills, and what a custom kind's file is checked for.
pub(crate) fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(w, _)| w)
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
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
                "extra",
                "edns",
                "tcp",
            ];
            let filled = render(t, &vars.map(|v| (v, "X".to_string())));
            // No `{word}` left: every placeholder has a value.
            assert!(placeholders(&filled).next().is_none(), "{kind}: {filled}");
        }
    }
}
