//! Text from input or from the wire, made safe to print: every control
//! character is escaped (`\n`, `\t`, `\u{1b}`), so a value can neither break a
//! line nor drive the terminal. Reading input is bounded here too.

use std::io::Read;
use std::path::Path;

/// `s` with every control character escaped as Rust writes it, so it stays
/// on one line and sends no escape sequence; other characters are kept.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Like [`escape`], but keeps line breaks: for text of many lines, such as a
/// scenario's description.
pub fn escape_lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// The most a scenario file may hold.
pub const SCENARIO_MAX: u64 = 4 << 20;
/// The most a zone file may hold, unless `--max-zone-bytes` says more.
pub const ZONE_MAX: u64 = 16 << 20;

/// Reads a regular file of at most `max` bytes as UTF-8. A device, a FIFO,
/// a directory or a larger file is an error that says so: `/dev/zero` ends
/// at once instead of growing without end.
pub fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than the limit of {max} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("a\nb\tc\u{1b}[31md é"), "a\\nb\\tc\\u{1b}[31md é");
        assert_eq!(escape("x\n/etc/passwd:1:1 yaml-syntax: forged").lines().count(), 1);
        assert_eq!(escape_lines("one\ntwo\u{1b}[2J"), "one\ntwo\\u{1b}[2J");
    }

    #[test]
    fn reads_are_bounded_and_regular() {
        assert_eq!(read_bounded(Path::new("/dev/zero"), 10).unwrap_err(), "not a regular file");
        let dir = std::env::temp_dir().join(format!("dnslab-text-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big");
        std::fs::write(&f, "0123456789ab").unwrap();
        assert!(read_bounded(&f, 10).unwrap_err().contains("limit of 10 bytes"));
        assert_eq!(read_bounded(&f, 12).unwrap(), "0123456789ab");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
