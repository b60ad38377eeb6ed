//! The commands that build nothing: `check` and `list`, as a user runs them.

mod common;

#[test]
fn check_reports_every_problem_with_file_line_col_and_exits_2() {
    let bad = common::repo().join("tests/lint/unknown-key.yaml");
    let out = common::run(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(" unknown-key: ")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with(&format!("{}:15:5 unknown-key:", bad.display())), "{err}");
}

#[test]
fn check_accepts_the_bundled_scenarios() {
    let out = common::run(&["check", "msft-lowport", "msft-lowport-mixed"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches(": ok (").count(), 2);
}

#[test]
fn list_shows_each_scenario_on_one_line() {
    let out = common::run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("msft-lowport ") && l.contains("SERVFAIL")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("msft-lowport-mixed ")), "{text}");
}

/// `dnslab list | head -1`: the reader is gone before dnslab writes. It
/// panicked before ("failed printing to stdout: Broken pipe", exit 101).
#[test]
fn a_reader_that_went_away_is_no_panic() {
    for args in [&["list"][..], &["check", "msft-lowport", "truncated"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = common::dnslab().args(args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_resolver_kind_that_is_not_known_is_bad_input() {
    let out = common::run(&["run", "msft-lowport", "--resolver", "bind10"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_scenario_that_cannot_be_read_is_reported_as_unreadable() {
    let out = common::run(&["check", "/nonexistent/dnslab-scenario.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dnslab-scenario.yaml:1:1 unreadable: "), "{err}");
}

#[test]
fn a_scenario_that_is_no_regular_file_ends_at_once() {
    // `check /dev/zero` read forever before.
    let t = std::time::Instant::now();
    let out = common::run(&["check", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/zero:1:1 unreadable: cannot read the scenario: not a regular file"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

/// A scenario in a directory of its own, with `zones:` as given.
fn scenario_with_zones(tag: &str, zones: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dnslab-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "name: zones\nnetworks: {{ net: 203.0.113.0/24 }}\nnodes:\n  client: {{ interfaces: {{ net: 203.0.113.10 }} }}\n  ns:\n    interfaces: {{ net: 203.0.113.1 }}\n    server: {{ name: a.root-servers.net, zones: [\".\", example.com] }}\nzones:\n{zones}"
    );
    std::fs::write(dir.join("s.yaml"), text).unwrap();
    dir
}

#[test]
fn zone_files_stay_inside_the_scenario_directory_and_are_bounded() {
    let dir = scenario_with_zones("zones", "  example.com: { file: /etc/passwd }\n");
    let s = dir.join("s.yaml").display().to_string();
    let out = common::run(&["check", &s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unreadable: ") && err.contains("zone file `/etc/passwd` is outside the scenario's directory"),
        "{err}"
    );
    // Nor through `..`, nor /dev/zero by any path.
    let dir2 = scenario_with_zones("dotdot", "  example.com: { file: ../../../../dev/zero }\n");
    let out = common::run(&["check", &dir2.join("s.yaml").display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is outside the scenario's directory"), "{err}");
    let out = common::run(&["check", "--allow-outside", "/dev", &dir2.join("s.yaml").display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a regular file"), "{err}");
    // Inside, but larger than the limit the flag sets.
    std::fs::write(dir.join("example.com.zone"), "$TTL 300\nwww IN A 203.0.113.80\n").unwrap();
    std::fs::write(
        dir.join("s.yaml"),
        std::fs::read_to_string(dir.join("s.yaml")).unwrap().replace("/etc/passwd", "example.com.zone"),
    )
    .unwrap();
    assert_eq!(common::run(&["check", &s]).status.code(), Some(0));
    let out = common::run(&["check", "--max-zone-bytes", "10", &s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than the limit of 10 bytes (`--max-zone-bytes N` raises it)"), "{err}");
    for d in [dir, dir2] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn past_a_hundred_problems_the_rest_are_counted() {
    let zones: String = (0..150).map(|i| format!("  bad{i}..com:\n")).collect();
    let dir = scenario_with_zones("many", &zones);
    let out = common::run(&["check", &dir.join("s.yaml").display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.lines().filter(|l| l.contains(" bad-domain-name: ")).count(), 100, "{err}");
    assert!(err.contains("... and "), "{err}");
}

/// A TXT record with an escape sequence (ESC [2J clears a terminal): the
/// text report and JUnit show it escaped, never the raw byte.
#[test]
fn data_from_the_wire_reaches_the_terminal_escaped() {
    let dir = std::env::temp_dir().join(format!("dnslab-cli-esc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = r#"name: esc
networks: { net: 203.0.113.0/24 }
nodes:
  client: { interfaces: { net: 203.0.113.10 } }
  root:
    interfaces: { net: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
zones:
  ".": "$TTL 300\nevil IN TXT \"before\e[2Jafter\"\n"
probes:
  - ask: evil TXT
    server: a.root-servers.net
    expect: { answer: [TXT nothing] }
"#;
    std::fs::write(dir.join("s.yaml"), text).unwrap();
    let junit = dir.join("j.xml");
    // A failed run keeps its evidence: here, inside the test's own directory.
    let evidence = dir.join("evidence").display().to_string();
    let out = common::run(&[
        "run",
        &dir.join("s.yaml").display().to_string(),
        "--junit",
        &junit.display().to_string(),
        "--evidence",
        &evidence,
    ]);
    let xml = std::fs::read(&junit).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("before\\u{1b}[2jafter"), "{stdout}");
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("junit", &xml)] {
        assert!(!bytes.contains(&0x1b), "a raw ESC in {what}");
    }
}
