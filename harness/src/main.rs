//! `dnslab`: the command line. Exit codes: 0 every expectation held,
//! 1 an expectation failed, 2 bad input or a lab error.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use harness::report::{self, RunReport};
use harness::resolver::{self, Build};
use harness::{scenario, supervise};

/// `print!` and `println!` that survive a closed pipe: [`harness::text::say`].
macro_rules! say {
    ($($t:tt)*) => { harness::text::say(format_args!($($t)*)) };
}
macro_rules! sayln {
    () => { harness::text::say(format_args!("\n")) };
    ($($t:tt)*) => { harness::text::say(format_args!("{}\n", format_args!($($t)*))) };
}

#[derive(Parser)]
#[command(name = "dnslab", version, about = "A DNS lab of real namespaces, nftables and resolvers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// The most one zone file (`{file: PATH}`) may hold, in bytes.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = harness::text::ZONE_MAX)]
    max_zone_bytes: u64,
    /// A directory outside the scenario's own that zone files may come from.
    #[arg(long, global = true, value_name = "DIR")]
    allow_outside: Vec<std::path::PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LadderFormat {
    Text,
    Mermaid,
}

/// Which builds of which resolver kinds run, and how.
#[derive(clap::Args, Clone, Default)]
struct BuildArgs {
    /// Builds to run, comma-separated, each `[NAME=]KIND[:PATH]`: `unbound`,
    /// `unbound:./build/unbound`, `old=unbound,new=unbound:./build/unbound`,
    /// `mine=custom:FILE`. Default: $DNSLAB_RESOLVERS, else hickory and every
    /// real kind installed.
    #[arg(long, value_name = "BUILDS")]
    resolver: Vec<String>,
    /// Builds one per line (`[NAME=]KIND[:PATH]`), for paths that hold a `,`.
    #[arg(long, value_name = "FILE")]
    resolver_file: Option<std::path::PathBuf>,
    /// Merge FILE's text into the generated config of the build NAME (or of
    /// every build of kind NAME), where `dnslab kinds` says ("extra config").
    #[arg(long, value_name = "NAME=FILE")]
    resolver_config: Vec<String>,
    /// Start every real resolver under this command, e.g.
    /// `valgrind --error-exitcode=99 --log-file={dir}/vg.log`; `{dir}` is the
    /// resolver's directory, kept in the evidence.
    #[arg(long, value_name = "CMD")]
    wrap: Option<String>,
    /// With --wrap: how many times longer readiness and client timeouts are (default 10).
    #[arg(long, value_name = "N")]
    wrap_factor: Option<u32>,
}

impl BuildArgs {
    fn asked(&self) -> resolver::choose::Asked {
        resolver::choose::Asked {
            resolver: self.resolver.clone(),
            file: self.resolver_file.clone(),
            options: resolver::build::Options {
                configs: self.resolver_config.clone(),
                wrap: self.wrap.clone(),
                wrap_factor: self.wrap_factor,
                check_only: false,
            },
        }
    }
}

/// What `dnslab run` was asked for besides the scenario and kinds.
#[derive(clap::Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Send the queries N times (counted queries with new names each round) and aggregate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// Leave the evidence here: report.html, outcome.json, and per resolver
    /// kind its pcaps, ladders, configs and logs, every server's query log and
    /// the firewall rules. Without it, evidence goes to a temporary directory
    /// kept only on failure or with --html.
    #[arg(long)]
    evidence: Option<std::path::PathBuf>,
    /// Write JUnit XML: a test case per expectation, `scenario/build/resolver query`.
    #[arg(long)]
    junit: Option<std::path::PathBuf>,
    /// Also write the HTML report here (it is always in the evidence directory).
    #[arg(long)]
    html: Option<std::path::PathBuf>,
    /// Draw ladder diagrams in the terminal: every client query, or those whose
    /// name, or `resolver-node/name`, contains FILTER.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "FILTER")]
    ladder: Option<String>,
    /// With --ladder: `text` for a terminal, `mermaid` to paste into an issue.
    #[arg(long, value_enum, default_value = "text")]
    ladder_format: LadderFormat,
    /// No progress display, even on a terminal.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the scenario's lab, run its probes and queries, report, tear down.
    Run {
        /// A bundled scenario's name (see `dnslab list`) or a YAML file.
        scenario: String,
        #[command(flatten)]
        builds: BuildArgs,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Write the HTML report of an evidence directory (`dnslab run --evidence DIR`)
    /// to DIR/report.html again.
    Report { dir: std::path::PathBuf },
    /// Build the scenario's lab and look for the seed's DNS mistakes: lame
    /// delegations, open resolvers, leaks of localhost and RFC 1918 reverse
    /// names, bad SOA RNAMEs, names missing their trailing dot, wrong glue.
    /// Exit 0 when every finding is one the scenario expects (`expect_findings:`).
    Audit {
        scenario: String,
        #[command(flatten)]
        builds: BuildArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Only validate scenario files; every problem is reported with file:line:col.
    Check {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// List the bundled scenarios, one line each.
    List,
    /// Every resolver kind: installed or how to install it, and what each
    /// can do (its adapter's declared capabilities, with the knob for each).
    Kinds {
        /// Only the Debian packages of the real kinds, one per line.
        #[arg(long)]
        packages: bool,
    },
    /// Build a lab and keep it running (servers and resolvers up) until `dnslab down`.
    Up {
        scenario: String,
        /// One build (default: hickory); see `dnslab run --help`.
        #[command(flatten)]
        builds: BuildArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run a command inside a node of the running lab, e.g. `dnslab exec client -- dig live.com`.
    Exec {
        /// Which lab, when several are up.
        #[arg(long)]
        lab: Option<String>,
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// How each resolver of a running lab is: running, hung (stopped,
    /// state T) or exited, and how.
    Status { lab: Option<String> },
    /// Stop a running lab; everything of it is gone when this returns.
    Down { lab: Option<String> },
}

fn load(name: &str) -> Result<scenario::Scenario, ExitCode> {
    scenario::load(&scenario::locate(name)).map_err(|d| {
        eprintln!("{d}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    scenario::set_read_rules(scenario::ReadRules {
        zone_max: cli.max_zone_bytes,
        allow_outside: cli.allow_outside.clone(),
    });
    let needs_lab = matches!(cli.command, Cmd::Run { .. } | Cmd::Up { .. } | Cmd::Audit { .. });
    if needs_lab && !supervise::is_supervisor() {
        // Validate before anything is built, then hand over to the supervisor.
        let (name, builds) = match &cli.command {
            Cmd::Run { scenario, builds, .. } | Cmd::Up { scenario, builds, .. } | Cmd::Audit { scenario, builds, .. } => (scenario, builds),
            _ => unreachable!(),
        };
        // Bad builds are reported here, before the supervisor starts.
        if let Err(code) = load_with_builds(name, builds, matches!(cli.command, Cmd::Up { .. })) {
            return code;
        }
        return ExitCode::from(supervise::reexec(matches!(cli.command, Cmd::Up { .. })) as u8);
    }
    if supervise::is_supervisor() {
        supervise::install_exit_handlers();
        if let Err(e) = supervise::private_scratch() {
            eprintln!(
                "dnslab: no private scratch space ({e}); a killed run may leave files in {}",
                std::env::temp_dir().display()
            );
        }
    }
    match cli.command {
        Cmd::Run { scenario, builds, args } => run(&scenario, &builds, args),
        Cmd::Report { dir } => report_dir(&dir),
        Cmd::Audit { scenario, builds, format } => audit(&scenario, &builds, format),
        Cmd::Check { files } => check(&files),
        Cmd::List => list(),
        Cmd::Kinds { packages } => {
            match packages {
                true => sayln!("{}", resolver::table::packages().join("\n")),
                false => say!("{}", resolver::table::text()),
            }
            ExitCode::SUCCESS
        }
        Cmd::Up { scenario, builds, format } => up(&scenario, &builds, format),
        Cmd::Exec { lab, node, command } => match supervise::pick(lab.as_deref()).and_then(|l| supervise::exec_in(&l, &node, &command)) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("dnslab exec: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Status { lab } => status(lab.as_deref()),
        Cmd::Down { lab } => match supervise::pick(lab.as_deref()).and_then(|l| supervise::ask(&l, "down").map(|_| l).map_err(|e| e.to_string())) {
            Ok(l) => {
                // The socket disappears when the supervisor has exited.
                while supervise::labs_up().contains(&l) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                eprintln!("lab `{l}` is down");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("dnslab down: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn check(files: &[String]) -> ExitCode {
    let mut bad = false;
    for f in files {
        match scenario::load(&scenario::locate(f)) {
            Ok(s) => sayln!(
                "{}: ok ({} nodes, {} zones, {} probes, {} queries)",
                s.path.display(),
                s.nodes.len(),
                s.zones.len(),
                s.probes.len(),
                s.queries.len()
            ),
            Err(d) => {
                eprintln!("{d}");
                bad = true;
            }
        }
    }
    if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn list() -> ExitCode {
    for (name, path) in scenario::bundled() {
        let line = match scenario::load(&path) {
            Ok(s) => harness::text::escape(s.description.lines().next().unwrap_or("")),
            Err(d) => format!("(invalid: {} problems; run `dnslab check {}`)", d.findings.len(), path.display()),
        };
        sayln!("{name:<24} {line}");
    }
    ExitCode::SUCCESS
}

/// The scenario and the builds to run it with, the skipped kinds named on
/// stderr. `up` runs one build, hickory unless asked.
fn load_with_builds(name: &str, asked: &BuildArgs, up: bool) -> Result<(scenario::Scenario, Vec<Build>, Vec<String>), ExitCode> {
    let s = load(name)?;
    let mut asked = asked.asked();
    // The starter only checks; the supervisor runs version commands and hashes.
    asked.options.check_only = !supervise::is_supervisor();
    if up && asked.resolver.is_empty() && asked.file.is_none() && resolver::choose::from_env().is_none() {
        asked.resolver.push("hickory".into());
    }
    let (builds, skipped) = resolver::choose::choose(&asked, &s).map_err(|problems| {
        // Paths, names and a custom file's text are the user's: escaped.
        for line in problems.iter().flat_map(|p| p.lines()) {
            eprintln!("dnslab: {}", harness::text::escape(line));
        }
        ExitCode::from(2)
    })?;
    if up && builds.len() != 1 {
        eprintln!("dnslab up: one build at a time ({} asked)", builds.len());
        return Err(ExitCode::from(2));
    }
    for k in &skipped {
        eprintln!("dnslab: skipping {k}");
    }
    // `NODE@X` with X no kind is a build's name: one this run has no build
    // of is most likely a typo.
    for (node, name) in s.build_targets() {
        if !builds.iter().any(|b| b.name == name) {
            let names: Vec<&str> = builds.iter().map(|b| b.name.as_str()).collect();
            eprintln!(
                "dnslab: warning: `{}@{}` names no kind and no build of this run ({}): its expectations are not used",
                harness::text::escape(&node),
                harness::text::escape(&name),
                names.join(", ")
            );
        }
    }
    Ok((s, builds, skipped))
}

fn run(name: &str, asked: &BuildArgs, a: RunArgs) -> ExitCode {
    let (s, builds, skipped) = match load_with_builds(name, asked, false) {
        Ok((s, k, sk)) => (s.with_repeat(a.repeat), k, sk),
        Err(c) => return c,
    };
    let (evidence_dir, asked_for) = match a.evidence {
        Some(d) => (d, true),
        None => (
            std::env::temp_dir().join(format!("dnslab-evidence-{}-{:08x}", s.name, rand::random::<u32>())),
            false,
        ),
    };
    let bars = harness::progress::Bars::new(!a.quiet);
    // Each build gets a lab of its own; they run side by side.
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = builds
            .iter()
            .map(|b| {
                let (s, dir, bar) = (&s, evidence_dir.join(&b.name), bars.bar(&b.name));
                scope.spawn(move || harness::plan::Plan::new(s, b).and_then(|plan| harness::run::run(&plan, &bar, Some(&dir))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("run thread")).collect()
    });
    drop(bars);
    let mut runs = Vec::new();
    for r in results {
        match r {
            Ok(o) => runs.push(o),
            Err(e) => {
                eprintln!("dnslab: lab error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let rep = RunReport {
        scenario: s.name.clone(),
        description: s.description.clone(),
        passed: runs.iter().all(|o| o.passed()),
        skipped,
        runs,
    };
    let json = serde_json::to_string_pretty(&rep).expect("serializable");
    let topology = harness::html::topology(&s);
    let written = std::fs::write(evidence_dir.join("outcome.json"), &json)
        .and_then(|()| std::fs::write(evidence_dir.join("topology.svg"), &topology))
        .and_then(|()| write_report(&evidence_dir, &rep, &topology, &evidence_dir.join("report.html")));
    if let Err(e) = written {
        eprintln!("dnslab: cannot write the evidence in {}: {e}", evidence_dir.display());
        return ExitCode::from(2);
    }
    for (path, what) in [(&a.junit, "junit"), (&a.html, "html")] {
        let Some(path) = path else { continue };
        let r = match what {
            "junit" => std::fs::write(path, report::junit(&rep)),
            _ => write_report(&evidence_dir, &rep, &topology, path),
        };
        if let Err(e) = r {
            eprintln!("dnslab: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let keep = asked_for || !rep.passed || a.html.is_some();
    match a.format {
        Format::Json => sayln!("{json}"),
        Format::Text => {
            sayln!("{}\n", harness::text::escape_lines(&rep.description));
            for o in &rep.runs {
                // Names and data from the wire (qnames, TXT, a resolver's log tail) are escaped.
                sayln!("{}", harness::text::escape_lines(&report::text(o)));
            }
            for k in &rep.skipped {
                sayln!("skipped: {k}");
            }
        }
    }
    if let Some(filter) = &a.ladder {
        // JSON on stdout stays one document; the ladders go to stderr then.
        let ladders = ladders(&rep, filter, a.ladder_format);
        match a.format {
            Format::Text => say!("{}", harness::text::escape_lines(&ladders)),
            Format::Json => eprint!("{ladders}"),
        }
    }
    if a.format == Format::Text {
        say!("{}", harness::text::escape_lines(&report::summary(&rep)));
        sayln!("{}", if rep.passed { "RESULT: PASS" } else { "RESULT: FAIL" });
    }
    if keep {
        eprintln!("dnslab: evidence in {}", evidence_dir.display());
        eprintln!("dnslab: report in {}", evidence_dir.join("report.html").display());
    } else {
        let _ = std::fs::remove_dir_all(&evidence_dir);
    }
    if rep.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The HTML report of evidence directory `dir`, written to `to`; pcap
/// links are relative when the report is in `dir` itself.
fn write_report(dir: &std::path::Path, rep: &RunReport, topology: &str, to: &std::path::Path) -> std::io::Result<()> {
    let same = to.parent().and_then(|p| p.canonicalize().ok()) == dir.canonicalize().ok();
    let root = if same {
        String::new()
    } else {
        format!("file://{}/", dir.canonicalize()?.display())
    };
    std::fs::write(to, harness::html::page(rep, topology, &root, &harness::html::list_pcaps(dir)))
}

/// `dnslab report DIR`: DIR/report.html again, from DIR/outcome.json.
fn report_dir(dir: &std::path::Path) -> ExitCode {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("cannot read {}: {e}", dir.join(f).display()));
    let rep = read("outcome.json").and_then(|j| serde_json::from_str::<RunReport>(&j).map_err(|e| format!("{}: {e}", dir.join("outcome.json").display())));
    let done = rep.and_then(|rep| {
        let topology = read("topology.svg").unwrap_or_default();
        write_report(dir, &rep, &topology, &dir.join("report.html")).map_err(|e| e.to_string())
    });
    match done {
        Ok(()) => {
            sayln!("{}", dir.join("report.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dnslab: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--ladder`: the ladders of the client queries that match `filter`.
fn ladders(rep: &RunReport, filter: &str, format: LadderFormat) -> String {
    let mut out = String::new();
    for o in &rep.runs {
        for (q, l) in o.queries.iter().zip(harness::ladder::all(o)) {
            if !format!("{}/{}", q.resolver, q.qname).contains(filter) {
                continue;
            }
            out += &match (l, format) {
                (Some(l), LadderFormat::Text) => format!("{}\n", l.text()),
                (Some(l), LadderFormat::Mermaid) => format!("```mermaid\n{}```\n\n", l.mermaid()),
                (None, _) => format!("{} {} via {} ({}): no packets seen\n\n", q.qname, q.qtype, q.resolver, o.name()),
            };
        }
    }
    out
}

fn audit(name: &str, asked: &BuildArgs, format: Format) -> ExitCode {
    use harness::audit;
    let (s, builds, _) = match load_with_builds(name, asked, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let mut findings = audit::zone_checks(&s);
    // The servers' checks do not depend on the resolver kind: once is enough.
    let builds = match builds.is_empty() {
        true => match Build::installed(resolver::Kind::Hickory) {
            Ok(b) => vec![b],
            Err(e) => {
                eprintln!("dnslab: {e}");
                return ExitCode::from(2);
            }
        },
        false => builds,
    };
    // What `expect_findings: {kinds: ...}` sees of each build.
    let kinds: Vec<resolver::Kind> = builds.iter().map(|b| b.acts_as()).collect();
    for (i, b) in builds.iter().enumerate() {
        match audit::live_checks(&s, b, i == 0) {
            Ok(f) => findings.extend(f),
            Err(e) => {
                eprintln!("dnslab: lab error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    findings.sort();
    findings.dedup();
    let unmet = audit::judge(&mut findings, &s.expect_findings, &kinds);
    match format {
        Format::Json => sayln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "scenario": s.name, "kinds": kinds, "findings": findings, "expected_but_not_found": unmet }))
                .expect("serializable")
        ),
        Format::Text => say!("{}", harness::text::escape_lines(&audit::text(&findings, &unmet))),
    }
    if findings.iter().all(|f| f.expected) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn up(name: &str, asked: &BuildArgs, format: Format) -> ExitCode {
    let (s, build) = match load_with_builds(name, asked, true) {
        Ok((s, mut b, _)) => (s, b.remove(0)),
        Err(c) => return c,
    };
    let listener = match supervise::claim(&s.name) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dnslab up: {e}");
            return ExitCode::from(2);
        }
    };
    let lab = match harness::plan::Plan::new(&s, &build).and_then(|plan| harness::run::up(&plan)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dnslab up: {e}");
            return ExitCode::from(2);
        }
    };
    let info = lab.info(&s);
    match format {
        Format::Json => {
            let nodes: Vec<_> = info
                .nodes
                .iter()
                .map(|n| serde_json::json!({"name": n.name, "addresses": n.addresses}))
                .collect();
            sayln!("{}", serde_json::json!({ "lab": s.name, "supervisor_pid": info.pid, "nodes": nodes }));
        }
        Format::Text => {
            sayln!(
                "lab `{}` is up with {}; `dnslab exec NODE -- CMD` to use it, `dnslab down` to end it",
                s.name,
                harness::text::escape(&build.describe())
            );
            sayln!("  supervisor pid {} (SIGKILL to it also ends the lab, leaving nothing)", info.pid);
            for n in &info.nodes {
                let addrs: Vec<String> = n.addresses.iter().map(|a| a.to_string()).collect();
                sayln!("  {:<18} {}", n.name, addrs.join(" "));
            }
        }
    }
    // Our stdout is the starter's pipe: close it so the starter can return.
    detach_stdio();
    let status = || serde_json::to_string(&lab.health()).unwrap_or_default();
    supervise::serve(&listener, &info, &status);
    drop(lab);
    // Only now does the socket go: `down` waits for it, so it returns once
    // the lab's processes are gone, not when they have begun to go.
    drop(listener);
    ExitCode::SUCCESS
}

/// `dnslab status`: one line per resolver node of a running lab.
fn status(lab: Option<&str>) -> ExitCode {
    let answer = supervise::pick(lab).and_then(|l| supervise::ask(&l, "status").map(|a| (l, a)).map_err(|e| e.to_string()));
    let (l, line) = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dnslab status: {e}");
            return ExitCode::from(2);
        }
    };
    let health: std::collections::BTreeMap<String, harness::resolver::watch::Health> = match serde_json::from_str(&line) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("dnslab status: lab `{l}` answered what I cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    sayln!("lab `{l}`:");
    for (node, h) in &health {
        sayln!("  {:<18} {}", harness::text::escape(node), h);
    }
    ExitCode::SUCCESS
}

fn detach_stdio() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: replacing our own stdout/stderr with /dev/null.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
}
