//! Bring your own resolver: a developer's build through `KIND:PATH` and
//! `DNSLAB_RESOLVERS`, two builds of one kind side by side, unbound
//! declared as a `custom` kind, `--wrap valgrind`, a wrapped build that ends
//! badly, `--resolver-config` and its lint, and bad build lines. Each needs
//! unbound (and valgrind, named), which `make test` installs.

mod common;

use std::path::PathBuf;
use std::sync::RwLock;

use common::Temp;
use serde_json::Value;

/// The leak test takes it alone: a lab of another test running beside it
/// would look like a leftover.
static HOST: RwLock<()> = RwLock::new(());

/// A developer's build: a script that logs how it was started, then
/// becomes the real unbound.
fn wrapper(t: &Temp) -> (PathBuf, PathBuf) {
    let log = t.0.join("args.log");
    let body = format!(
        "#!/bin/sh\n# A developer's build of unbound.\necho \"$@\" >> {}\nexec /usr/sbin/unbound \"$@\"\n",
        log.display()
    );
    (t.script("unbound", &body), log)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn run_named<'a>(rep: &'a Value, name: &str) -> &'a Value {
    rep["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["build"]["name"] == name)
        .unwrap_or_else(|| panic!("no run `{name}`"))
}

/// The stable outcome of one run of `rep`, as the snapshots hold it.
fn stable(rep: &Value, name: &str) -> Value {
    let s = harness::scenario::load(&common::repo().join("scenarios/msft-lowport.yaml")).unwrap();
    let o: harness::outcome::Outcome = serde_json::from_value(run_named(rep, name).clone()).unwrap();
    harness::snapshot::stable(&s, &o)
}

#[test]
fn a_developers_build_runs_through_kind_path_and_is_named_in_every_report() {
    let _h = HOST.read().unwrap();
    let t = Temp::new("byo-dev");
    let (script, log) = wrapper(&t);
    let (junit, ev) = (t.0.join("junit.xml"), t.0.join("evidence"));
    let build = format!("unbound:{}", script.display());
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        &build,
        "--format",
        "json",
        "--quiet",
        "--junit",
        junit.to_str().unwrap(),
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rep = json(&out);
    assert_eq!(rep["runs"].as_array().unwrap().len(), 1, "one build asked for");
    let b = &run_named(&rep, "unbound")["build"]["binary"];
    assert_eq!(b["path"], script.to_str().unwrap());
    assert_eq!(b["sha256"], harness::resolver::build::sha256_of(&script).unwrap());
    assert!(b["version"].as_str().unwrap().starts_with("unbound 1."), "{b}");
    // It was started once per resolver node, with dnslab's config.
    let started: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("-d -c "))
        .map(String::from)
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    assert!(started.iter().all(|l| l.ends_with("/unbound.conf")), "{started:?}");
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("msft-lowport/unbound/") && junit.contains(&format!("value=\"{}\"", script.display())),
        "{junit}"
    );
    let html = std::fs::read_to_string(ev.join("report.html")).unwrap();
    let sha = b["sha256"].as_str().unwrap();
    assert!(
        html.contains("Builds") && html.contains(sha) && html.contains(script.to_str().unwrap()),
        "the HTML report names the build"
    );
}

#[test]
fn dnslab_resolvers_and_a_resolver_file_name_builds_as_resolver_does() {
    let _h = HOST.read().unwrap();
    let t = Temp::new("byo-env");
    // A path with a comma: only a file can hold it.
    let dir = t.0.join("build,1");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("unbound");
    std::fs::write(&script, "#!/bin/sh\nexec /usr/sbin/unbound \"$@\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = t.0.join("builds");
    std::fs::write(&file, format!("# the build under test\ncomma=unbound:{}\n", script.display())).unwrap();
    let from_file = common::run(&["run", "msft-lowport", "--resolver-file", file.to_str().unwrap(), "--format", "json", "--quiet"]);
    assert_eq!(from_file.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_file.stderr));
    assert_eq!(run_named(&json(&from_file), "comma")["build"]["binary"]["path"], script.to_str().unwrap());
    let from_env = common::dnslab()
        .env("DNSLAB_RESOLVERS", "env=unbound")
        .args(["run", "msft-lowport", "--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(from_env.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_env.stderr));
    let rep = json(&from_env);
    assert_eq!(rep["runs"].as_array().unwrap().len(), 1, "DNSLAB_RESOLVERS names one build");
    assert_eq!(run_named(&rep, "env")["build"]["binary"]["path"], "/usr/sbin/unbound");
}

#[test]
fn two_builds_of_one_kind_run_side_by_side_and_agree() {
    let _h = HOST.read().unwrap();
    let t = Temp::new("byo-pair");
    let (script, _) = wrapper(&t);
    let ev = t.0.join("evidence");
    let builds = format!("old=unbound:/usr/sbin/unbound,new=unbound:{}", script.display());
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        &builds,
        "--format",
        "json",
        "--quiet",
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rep = json(&out);
    for name in ["old", "new"] {
        assert!(ev.join(name).join("resolvers/resolver-low/unbound.conf").is_file(), "{name}'s evidence");
    }
    assert_eq!(stable(&rep, "old"), stable(&rep, "new"));
}

#[test]
fn unbound_declared_as_a_custom_kind_gives_the_built_in_outcome() {
    let _h = HOST.read().unwrap();
    let file = common::repo().join("tests/fixtures/custom-unbound.yaml");
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        &format!("unbound,mine=custom:{}", file.display()),
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rep = json(&out);
    assert_eq!(run_named(&rep, "mine")["kind"], "custom");
    assert_eq!(run_named(&rep, "mine")["build"]["custom"], file.to_str().unwrap());
    let mut mine = stable(&rep, "mine");
    assert_eq!(mine["kind"], "custom");
    mine["kind"] = "unbound".into();
    assert_eq!(mine, stable(&rep, "unbound"));
}

#[test]
fn valgrind_wraps_every_resolver_and_its_report_is_in_the_evidence() {
    let _h = HOST.read().unwrap();
    let t = Temp::new("byo-vg");
    let ev = t.0.join("evidence");
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        "unbound",
        "--wrap",
        "valgrind --error-exitcode=99 --log-file={dir}/vg.log",
        "--format",
        "json",
        "--quiet",
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rep = json(&out);
    let o = run_named(&rep, "unbound");
    assert_eq!(o["build"]["wrap"], "valgrind --error-exitcode=99 --log-file={dir}/vg.log");
    for (node, r) in o["resolvers"].as_object().unwrap() {
        assert_eq!(r["exit"], "exit status: 0", "{node}");
        let vg = std::fs::read_to_string(ev.join("unbound/resolvers").join(node).join("vg.log")).unwrap();
        assert!(vg.contains("ERROR SUMMARY: 0 errors"), "{node}: {vg}");
    }
}

#[test]
fn a_wrapped_build_that_ends_badly_fails_the_run_and_leaves_no_process() {
    let _h = HOST.write().unwrap();
    let before = common::lab_processes();
    let t = Temp::new("byo-bad");
    // A wrapper that ends with 99 when stopped, as valgrind does with errors;
    // its shell and the resolver it started are both in the lab's PID namespace.
    let wrap = t.script(
        "checker",
        "#!/bin/sh\n\"$@\" &\nchild=$!\ntrap 'kill -TERM $child; wait $child; exit 99' TERM\nwait $child\n",
    );
    let ev = t.0.join("evidence");
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        "unbound",
        "--wrap",
        wrap.to_str().unwrap(),
        "--quiet",
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ended with exit status: 99 when stopped"), "{text}");
    assert!(common::eventually(5, || common::lab_processes() == before), "left: {}", common::lab_processes());
}

#[test]
fn resolver_config_is_merged_and_a_repeated_option_is_warned_about() {
    let _h = HOST.read().unwrap();
    let t = Temp::new("byo-conf");
    let (u, n) = (t.0.join("unbound-extra.conf"), t.0.join("named-extra.conf"));
    std::fs::write(&u, "    num-threads: 1\n    log-servfail: yes\n").unwrap();
    std::fs::write(&n, "recursion no;\n").unwrap();
    let ev = t.0.join("evidence");
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        "unbound,named",
        "--resolver-config",
        &format!("unbound={}", u.display()),
        "--resolver-config",
        &format!("named={}", n.display()),
        "--format",
        "json",
        "--quiet",
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    let rep = json(&out);
    // unbound takes the later value and runs; named refuses the repeat.
    let unbound = &run_named(&rep, "unbound")["resolvers"]["resolver-normal"];
    assert_eq!(unbound["status"], "running");
    assert!(
        unbound["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("`num-threads` is set by dnslab's config and again by"),
        "{unbound}"
    );
    let conf = std::fs::read_to_string(ev.join("unbound/resolvers/resolver-normal/unbound.conf")).unwrap();
    assert!(conf.contains("log-servfail: yes"), "{conf}");
    let named = &run_named(&rep, "named")["resolvers"]["resolver-normal"];
    assert!(named["status"].as_str().unwrap().contains("'recursion' redefined"), "{named}");
    assert!(
        named["warnings"][0].as_str().unwrap().starts_with("`recursion` is set by dnslab's config"),
        "{named}"
    );
}

#[test]
fn bad_builds_are_all_reported_at_once_before_anything_is_built() {
    let _h = HOST.write().unwrap();
    let before = common::host_state();
    let t = Temp::new("byo-badargs");
    let plain = t.0.join("not-executable");
    std::fs::write(&plain, "").unwrap();
    let builds = format!("Bad=unbound,unbund,hickory:/bin/true,unbound:{},x=custom:/nonexistent.yaml", plain.display());
    let out = common::run(&[
        "run",
        "msft-lowport",
        "--resolver",
        &builds,
        "--resolver-config",
        "nobody=/etc/hostname",
        "--wrap-factor",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "build name",
        "no resolver kind",
        "own process",
        "not executable",
        "nonexistent.yaml",
        "--wrap-factor is only for --wrap",
    ] {
        assert!(err.contains(want), "{want}:\n{err}");
    }
    // Refused in the starter: no supervisor, no lab, nothing left.
    assert_eq!(common::host_state(), before);
}
