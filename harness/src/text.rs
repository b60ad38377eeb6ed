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

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file")]
    NotRegular,
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("not UTF-8 text (byte {0})")]
    NotUtf8(usize),
}

/// Reads a regular file of at most `max` bytes as UTF-8. A device, a FIFO,
/// a directory or a larger file is an error that says so: `/dev/zero` ends
/// at once instead of growing without end.
pub fn read_bounded(path: &Path, max: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error().valid_up_to()))
}

/// Writes to standard output, as `print!` does, except that a reader who
/// went away (`dnslab list | head -1`: EPIPE) is no panic. The rest of the
/// output is dropped and the command ends with its own exit code. Any other
/// write error is said on stderr once.
pub fn say(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static GONE: AtomicBool = AtomicBool::new(false);
    if GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("dnslab: cannot write to standard output: {e}");
        }
    }
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
        assert_eq!(read_bounded(Path::new("/dev/zero"), 10).unwrap_err().to_string(), "not a regular file");
        let dir = std::env::temp_dir().join(format!("dnslab-text-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big");
        std::fs::write(&f, "0123456789ab").unwrap();
        assert!(matches!(read_bounded(&f, 10), Err(ReadError::TooLarge(10))));
        assert_eq!(read_bounded(&f, 12).unwrap(), "0123456789ab");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
