//! Progress on a terminal for runs that take a while: one spinner line per
//! resolver kind ([`crate::run::Progress`] steps: lab up, servers ready,
//! each resolver ready, queries sent and answered).
//!
//! Nothing is drawn for the first second (a quick run stays clean), when
//! stderr is not a terminal (CI logs), or with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The spinners of one `dnslab run`; drop it to clear them.
pub struct Bars {
    multi: MultiProgress,
    done: Arc<AtomicBool>,
}

/// One kind's spinner.
pub struct Bar(ProgressBar);

impl Bars {
    /// Spinners that show after one second, if `show` and stderr is a terminal.
    pub fn new(show: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let done = Arc::new(AtomicBool::new(false));
        if show && std::io::stderr().is_terminal() {
            let (m, d) = (multi.clone(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(1));
                if !d.load(Ordering::Relaxed) {
                    m.set_draw_target(ProgressDrawTarget::stderr());
                }
            });
        }
        Bars { multi, done }
    }

    pub fn bar(&self, name: &str) -> Bar {
        let b = self.multi.add(ProgressBar::new_spinner());
        b.set_style(ProgressStyle::with_template("{spinner} {prefix:>8} {elapsed:>4} {msg}").expect("a valid template"));
        b.set_prefix(name.to_string());
        b.set_message("building the lab");
        b.enable_steady_tick(Duration::from_millis(120));
        Bar(b)
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.multi.clear();
    }
}

impl crate::run::Progress for Bar {
    fn step(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
