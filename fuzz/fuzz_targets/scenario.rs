//! The scenario reader (YAML, then every check) on arbitrary text: it never
//! panics, and every diagnostic it gives is one line with a position and a
//! rule, `file:line:col rule: message`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// `file:line:col rule: message`, or the two summary lines.
fn well_formed(line: &str) -> bool {
    if line.starts_with("... and ") && line.ends_with(" more") || line.contains(" in fuzz.yaml") && line.contains(" problem") {
        return true;
    }
    let Some((head, rest)) = line.split_once(' ') else { return false };
    let mut parts = head.rsplitn(3, ':');
    let (col, row) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let rule = rest.split_once(": ").map(|(r, _)| r).unwrap_or("");
    digits(col) && digits(row) && parts.next().is_some() && !rule.is_empty() && rule.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(d) = harness::scenario::parse(std::path::Path::new("fuzz.yaml"), &text) {
        let shown = d.to_string();
        for line in shown.lines() {
            assert!(well_formed(line), "a diagnostic line that is not file:line:col rule: message: {line:?}");
        }
    }
});
