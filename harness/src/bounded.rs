//! Everything a run keeps from what others send has a limit: the servers'
//! query log and each node's capture ([`Bounded`]), and each resolver's
//! log ([`copy_bounded`]). A resolver stuck in a query loop, or a flood
//! through a lab, fills the limit and no more; reaching it is said in the
//! outcome ([`Overflow`]) and fails the run, since what was kept is then
//! no longer the whole record.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// What each limit is, in bytes.
pub const QUERY_LOG_MAX: usize = 64 << 20;
pub const CAPTURE_MAX: usize = 128 << 20;
pub const RESOLVER_LOG_MAX: usize = 16 << 20;

/// A limit that was reached, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    /// What reached it: `the capture in resolver-low`.
    pub what: String,
    pub limit: usize,
    /// Entries (or bytes, for a log) not kept.
    pub dropped: u64,
    pub unit: &'static str,
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reached its limit of {}: {} {} after it were not kept, so the record is incomplete",
            self.what,
            size(self.limit),
            self.dropped,
            self.unit
        )
    }
}

/// `16 MiB`, or `4000 bytes` below a MiB.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// A list that keeps items until their sizes add up to its limit, then
/// counts the rest. Reads as the slice of what it kept.
#[derive(Debug, Clone)]
pub struct Bounded<T> {
    items: Vec<T>,
    bytes: usize,
    limit: usize,
    dropped: u64,
}

impl<T> Bounded<T> {
    pub fn new(limit: usize) -> Bounded<T> {
        Bounded {
            items: Vec::new(),
            bytes: 0,
            limit,
            dropped: 0,
        }
    }

    /// Keeps `item` of `size` bytes if it fits; says whether it did.
    pub fn push(&mut self, item: T, size: usize) -> bool {
        if self.bytes.saturating_add(size) > self.limit {
            self.dropped += 1;
            return false;
        }
        self.bytes += size;
        self.items.push(item);
        true
    }

    /// The limit reached, if it was, by `what`; `unit` names the items.
    pub fn overflow(&self, what: impl Into<String>, unit: &'static str) -> Option<Overflow> {
        (self.dropped > 0).then(|| Overflow {
            what: what.into(),
            limit: self.limit,
            dropped: self.dropped,
            unit,
        })
    }

    /// Takes what was kept, leaving the count of what was not.
    pub fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

impl<T> std::ops::Deref for Bounded<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

/// Copies `from` into `to` until EOF, keeping the first `limit` bytes and
/// then a line that says the limit was reached; reads and drops the rest,
/// so a writer on the other end of a pipe never blocks. Counts the bytes
/// dropped in `dropped` as it goes, and returns them.
pub fn copy_bounded(mut from: impl Read, mut to: impl Write, limit: usize, dropped_so_far: &AtomicU64) -> u64 {
    let mut buf = [0u8; 16 << 10];
    let (mut kept, mut dropped) = (0usize, 0u64);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = limit - kept;
        let keep = n.min(room);
        if keep > 0 && to.write_all(&buf[..keep]).is_err() {
            // A full disk is a limit too: keep reading so the writer runs on.
            kept = limit;
        }
        kept += keep;
        if keep < n {
            if dropped == 0 {
                let _ = writeln!(to, "\n[dnslab: this log reached its limit of {}; the rest is not kept]", size(limit));
                let _ = to.flush();
            }
            dropped += (n - keep) as u64;
            dropped_so_far.store(dropped, Ordering::Relaxed);
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_list_keeps_up_to_its_limit_and_counts_the_rest() {
        let mut b = Bounded::new(10);
        assert!(b.push("a", 4) && b.push("b", 6));
        assert!(!b.push("c", 1) && !b.push("d", 7));
        assert_eq!(&b[..], ["a", "b"]);
        let o = b.overflow("the query log", "queries").unwrap();
        assert_eq!(o.dropped, 2);
        assert!(o.to_string().starts_with("the query log reached its limit of 10 bytes: 2 queries"), "{o}");
        assert!(Bounded::<u8>::new(1).overflow("x", "y").is_none());
    }

    #[test]
    fn a_log_past_its_limit_is_cut_with_a_line_that_says_so() {
        let input = vec![b'x'; 100_000];
        let mut out = Vec::new();
        let counted = AtomicU64::new(0);
        let dropped = copy_bounded(&input[..], &mut out, 40_000, &counted);
        assert_eq!((dropped, counted.load(Ordering::Relaxed)), (60_000, 60_000));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(&"x".repeat(40_000)));
        assert!(
            text.ends_with("[dnslab: this log reached its limit of 40000 bytes; the rest is not kept]\n"),
            "{}",
            &text[39_990..]
        );
        let mut small = Vec::new();
        assert_eq!(copy_bounded(&b"short\n"[..], &mut small, 40_000, &counted), 0);
        assert_eq!(small, b"short\n");
    }
}
