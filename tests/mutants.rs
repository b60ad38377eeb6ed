//! The property behind "anything `check` accepts builds": 2,000 mutants of
//! the bundled scenarios, made with a fixed seed, go through the real
//! `dnslab check`. None may panic; each ends with exit 0 or 2; every line it
//! writes to stderr is `file:line:col rule: message`. About 100 of those it
//! accepts are then built as `dnslab up` builds them (lab, servers, the
//! built-in resolver), with no error and nothing left behind.
//!
//! The mutations are the ones a hostile or careless user makes: a value
//! replaced by an edge case or by a value from elsewhere, a line deleted,
//! doubled, moved or re-indented, a byte changed, the file cut short. A
//! failure prints the mutant; keep it in `tests/fuzz-regressions/` with the
//! exit code it should have (see `regressions_keep_their_exit_codes`).
//!
//! `make test` always uses the same seed. To explore further, set
//! `DNSLAB_MUTANTS_SEED=N` (and `DNSLAB_MUTANTS_BUILT=N` to build more).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{quiet, repo, settled};
use harness::resolver::Kind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x646e_736c_6162; // "dnslab"
const MUTANTS: usize = 2000;
const BUILT: usize = 100;
/// Files per `dnslab check`: one process each would spend most of the
/// budget starting processes.
const BATCH: usize = 50;

/// Values that have broken, or could break, a reader of scenarios.
const HOSTILE: &[&str] = &[
    "\"\"",
    "''",
    "../../../../tmp/pwn",
    "a/b",
    "\"a\\0b\"",
    "\"\\e[31mred\"",
    "\"two\\nlines\"",
    "\"/etc/passwd:1:1 yaml-syntax: forged\"",
    "lo",
    "all",
    "default",
    "drop",
    "counter",
    "0",
    "-1",
    "53",
    "1023",
    "65535",
    "65536",
    "99999999999999999999",
    "1e9",
    "0x35",
    "1-65535",
    "65535-1",
    "0-0",
    "[]",
    "{}",
    "[[]]",
    "null",
    "~",
    "true",
    "*",
    ".",
    "..",
    "com.",
    "\"-.com\"",
    "0.0.0.0",
    "255.255.255.255",
    "203.0.113.255/24",
    "203.0.113.0/24",
    "203.0.113.15/28",
    "203.0.113.1/32",
    "203.0.113.1/33",
    "198.51.100.1",
    "192.0.2.1/24",
    "100.64.0.1/10",
    "10.0.0.1/8",
    "127.0.0.1",
    "8.8.8.8",
    "::",
    "::1",
    "2001:db8::/32",
    "2001:db8::1/64",
    "2001:db8::/128",
    "fe80::1/64",
    "\"2001:db8::1\"",
    "udp",
    "tcp",
    "[udp, tcp, icmp]",
    "{min: 2, max: 1}",
    "{min: 0.5, max: 0.1}",
    "NOERROR",
    "SERVFAIL",
    "timeout",
    "{outcome: NOERROR, answer: [A 192.0.2.1]}",
    "\"www.example.com. 60 IN A 192.0.2.1\"",
    "{file: /etc/passwd}",
    "{file: ../../../../dev/zero}",
    "&a x",
    "*a",
    "!!binary AAAA",
    "|",
];

/// The bundled scenarios, by file name.
fn bases() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// The byte spans of plain tokens: runs of text between YAML punctuation.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let edge = matches!(c, ' ' | ',' | '{' | '}' | '[' | ']' | '\n' | '#' | '"' | '\'');
        match (start, edge) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// One mutation of `text`; `pool` holds tokens of every bundled scenario.
fn mutate(rng: &mut StdRng, text: &str, pool: &[String]) -> String {
    let pick = |rng: &mut StdRng, n: usize| rng.random_range(0..n.max(1));
    if tokens(text).is_empty() {
        // Cut to nothing, or to punctuation: start again from one value.
        return HOSTILE[pick(rng, HOSTILE.len())].to_string();
    }
    match rng.random_range(0..100) {
        // A token replaced: by a hostile value, or by one from elsewhere.
        0..=54 => {
            let spans = tokens(text);
            let (s, e) = spans[pick(rng, spans.len())];
            let trailing_colon = text[s..e].ends_with(':');
            let mut with = if rng.random_bool(0.5) {
                HOSTILE[pick(rng, HOSTILE.len())].to_string()
            } else {
                pool[pick(rng, pool.len())].trim_end_matches(':').to_string()
            };
            if trailing_colon {
                with.push(':');
            }
            format!("{}{}{}", &text[..s], with, &text[e..])
        }
        55..=69 => {
            let mut l = lines(text);
            l.remove(pick(rng, l.len()));
            l.join("\n")
        }
        70..=77 => {
            let mut l = lines(text);
            let i = pick(rng, l.len());
            l.insert(i, l[i].clone());
            l.join("\n")
        }
        78..=83 => {
            let mut l = lines(text);
            let (a, b) = (pick(rng, l.len()), pick(rng, l.len()));
            l.swap(a, b);
            l.join("\n")
        }
        84..=89 => {
            let mut l = lines(text);
            let i = pick(rng, l.len());
            l[i] = if rng.random_bool(0.5) {
                format!("  {}", l[i])
            } else {
                l[i].trim_start().to_string()
            };
            l.join("\n")
        }
        90..=96 => {
            let mut b = text.as_bytes().to_vec();
            let i = pick(rng, b.len());
            b[i] = [b'\0', b'\t', b'\r', 0x1b, b':', b'-', b'"', b'{', b'&', b'*', b'!', b'%', 0xff][pick(rng, 13)];
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => {
            let mut cut = pick(rng, text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
    }
}

/// `file:line:col rule: message`, or the count of problems after them.
fn well_formed(line: &str) -> bool {
    if line.starts_with("... and ") && line.ends_with(" more") || line.contains(" problem") && line.contains(" in ") {
        return true;
    }
    let Some((head, rest)) = line.split_once(' ') else { return false };
    let mut parts = head.rsplitn(3, ':');
    let (col, row) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let rule = rest.split_once(": ").map(|(r, _)| r).unwrap_or("");
    digits(col) && digits(row) && parts.next().is_some() && !rule.is_empty() && rule.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// What `dnslab check FILES` said: its exit code, and which files it accepted.
struct Checked {
    code: Option<i32>,
    accepted: Vec<PathBuf>,
    bad_lines: Vec<String>,
}

fn check(files: &[PathBuf]) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_dnslab"))
        .arg("check")
        .args(files)
        .output()
        .expect("run dnslab check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let accepted = files
        .iter()
        .filter(|f| stdout.lines().any(|l| l.starts_with(&format!("{}: ok (", f.display()))))
        .cloned()
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad_lines = stderr.lines().filter(|l| !well_formed(l)).map(str::to_string).collect();
    Checked {
        code: out.status.code(),
        accepted,
        bad_lines,
    }
}

/// The mutants a batch's failure came from, each checked alone.
fn culprits(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| {
            let c = check(std::slice::from_ref(f));
            let bad = !matches!(c.code, Some(0 | 2)) || !c.bad_lines.is_empty();
            bad.then(|| {
                let text = std::fs::read(f).unwrap();
                format!(
                    "{}: exit {:?}, lines {:?}\n--- mutant ---\n{}\n---",
                    f.display(),
                    c.code,
                    c.bad_lines,
                    String::from_utf8_lossy(&text).escape_debug()
                )
            })
        })
        .collect()
}

/// Builds `path` as `dnslab up` does with the built-in resolver, then tears it down.
fn build(path: &Path) -> Result<(), String> {
    let s = harness::scenario::load(path).map_err(|d| format!("load after check accepted it: {d}"))?;
    let hickory = harness::resolver::Build::installed(Kind::Hickory)?;
    let up = harness::plan::Plan::new(&s, &hickory)
        .and_then(|plan| harness::run::up(&plan))
        .map_err(|e| e.to_string())?;
    drop(up);
    Ok(())
}

#[test]
fn two_thousand_mutants_through_check_and_a_hundred_built() {
    let t0 = Instant::now();
    let (before, ns_before) = quiet();
    let dir = tempdir();
    let bases = bases();
    let pool: Vec<String> = bases
        .iter()
        .flat_map(|(_, t)| tokens(t).into_iter().map(|(s, e)| t[s..e].to_string()))
        .collect();
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let mut rng = StdRng::seed_from_u64(env("DNSLAB_MUTANTS_SEED", SEED));
    let built = env("DNSLAB_MUTANTS_BUILT", BUILT as u64) as usize;
    let mut files = Vec::new();
    for i in 0..MUTANTS {
        let (name, text) = &bases[i % bases.len()];
        let mut m = text.clone();
        for _ in 0..rng.random_range(1..=3) {
            m = mutate(&mut rng, &m, &pool);
        }
        let f = dir.join(format!("{i:04}-{name}"));
        std::fs::write(&f, m).unwrap();
        files.push(f);
    }

    let mut accepted = Vec::new();
    let mut failures = Vec::new();
    for batch in files.chunks(BATCH) {
        let c = check(batch);
        if !matches!(c.code, Some(0 | 2)) || !c.bad_lines.is_empty() {
            failures.extend(culprits(batch));
        }
        accepted.extend(c.accepted);
    }
    let t_check = t0.elapsed();

    // Spread over the accepted ones, so that every base is among them.
    let step = (accepted.len() / built).max(1);
    let chosen: Vec<&PathBuf> = accepted.iter().step_by(step).take(built).collect();
    for f in &chosen {
        if let Err(e) = build(f) {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            failures.push(format!(
                "{}: check accepted it, the build failed: {e}\n--- mutant ---\n{text}\n---",
                f.display()
            ));
        }
    }
    eprintln!(
        "{MUTANTS} mutants: {} accepted, {} built; check {:.1} s, all {:.1} s",
        accepted.len(),
        chosen.len(),
        t_check.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    drop(dir);
    assert!(failures.is_empty(), "{} mutants broke a promise:\n{}", failures.len(), failures.join("\n"));
    assert!(
        chosen.len() >= built * 9 / 10,
        "only {} accepted mutants to build: the mutations are too rough",
        chosen.len()
    );
    settled(&before, ns_before);
}

/// Every file in `tests/fuzz-regressions/` is an input that once broke a
/// promise. Its first line says the exit code `check` must give it now:
/// `# exit: 2`.
#[test]
fn regressions_keep_their_exit_codes() {
    let dir = repo().join("tests/fuzz-regressions");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).expect("tests/fuzz-regressions/") {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let want: i32 = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# exit: "))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: the first line must be `# exit: N`", path.display()));
        let c = check(std::slice::from_ref(&path));
        assert_eq!(c.code, Some(want), "{}", path.display());
        assert!(c.bad_lines.is_empty(), "{}: {:?}", path.display(), c.bad_lines);
        seen += 1;
    }
    assert!(seen > 0, "no regressions found in {}", dir.display());
}

/// The mutants' directory, removed when the test ends, pass or fail (a
/// failure prints each mutant it is about).
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let d = std::env::temp_dir().join(format!("dnslab-test-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}
