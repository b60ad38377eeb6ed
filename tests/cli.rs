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
