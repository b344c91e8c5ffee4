//! Progress of a running check on stderr: a live line on a terminal, a plain line every two
//! seconds in a log. The model's checker reports through [`emm_model::Progress`]; this is the
//! CLI's implementation of it.

use emm_model::Progress;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Nothing.
    Silent,
    /// A live line on stderr (a terminal).
    Bar,
    /// A plain line on stderr every two seconds (a log).
    Lines,
}

#[derive(Debug)]
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    /// When the current check started (for `Lines`: only a long run says what it does next).
    started: Instant,
    last_line: Instant,
}

/// The CLI's [`Progress`]: an indicatif spinner or plain lines on stderr.
#[derive(Debug)]
pub struct Stderr {
    style: Style,
    shown: Mutex<Option<Shown>>,
}

impl Stderr {
    /// Progress in `style`.
    pub fn new(style: Style) -> Stderr {
        Stderr {
            style,
            shown: Mutex::new(None),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Shown) -> R) -> Option<R> {
        if self.style == Style::Silent {
            return None;
        }
        let mut guard = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let shown = guard.get_or_insert_with(|| Shown {
            bar: (self.style == Style::Bar).then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }),
            started: Instant::now(),
            last_line: Instant::now(),
        });
        Some(f(shown))
    }
}

impl Progress for Stderr {
    fn update(&self, label: &str, unique: usize, rate: f64, depth: usize) {
        let msg = format!(
            "{label}: {unique} unique states, {:.2} M/s, depth {depth}",
            rate / 1e6
        );
        self.with(|s| match &s.bar {
            Some(bar) => bar.set_message(msg),
            None => {
                if s.last_line.elapsed() >= Duration::from_secs(2) {
                    eprintln!("emm-check: {msg}");
                    s.last_line = Instant::now();
                }
            }
        });
    }

    fn note(&self, label: &str, what: &str) {
        self.with(|s| match &s.bar {
            Some(bar) => bar.set_message(format!("{label}: {what}")),
            // In a log, only a run long enough to have printed progress says what it does next.
            None if s.started.elapsed() >= Duration::from_secs(2) => {
                eprintln!("emm-check: {label}: {what}")
            }
            None => {}
        });
    }

    fn finish(&self, _label: &str) {
        if self.style == Style::Silent {
            return;
        }
        let mut guard = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = guard.take().and_then(|s| s.bar) {
            bar.finish_and_clear();
        }
    }
}
