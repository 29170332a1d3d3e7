//! The bounded access log: which requests get a log line. At tens of thousands of requests per second one line per
//! request is megabytes per second of logs (and a measurable share of the CPU), so:
//!
//! - a 5xx or a request slower than `ACCESS_LOG_SLOW_MS`: at WARN; a 4xx: at INFO — both up to
//!   [`PROBLEMS_PER_SECOND`] lines a second per process (every one at any ordinary rate; a flood of 404s or 429s
//!   from an abusive client, or of 503s in an outage, cannot turn into megabytes of logs);
//! - a success (1xx–3xx): at most `ACCESS_LOG_PER_SECOND` lines per second per process, at INFO; 0 logs none.
//!
//! What a budget left out is counted and reported in one INFO line when its next second's first line is written
//! (so a burst shows as "N more requests"). The Prometheus metrics in `observe` count every request whatever is
//! logged. A budget is one atomic word (the second and the count of that second), so deciding costs one load and,
//! for a line within the budget, one compare-and-swap — no lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plaza_core::Config;

/// Lines a second for errors and slow requests: far above what a healthy process produces.
pub const PROBLEMS_PER_SECOND: u32 = 100;

/// What to do with one finished request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A 5xx or a slow request: WARN.
    Warn,
    /// A 4xx, or a success within the second's budget: INFO.
    Info,
    /// Over its budget: counted, not logged.
    Skip,
}

/// The access-log policy and its per-second budgets, shared by every worker of a process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slow: Duration,
    epoch: Instant,
    successes: Budget,
    problems: Budget,
}

/// Lines a second for one kind of request.
#[derive(Debug)]
struct Budget {
    kind: &'static str,
    per_second: u32,
    /// `second << 32 | lines logged in that second`, seconds counted from `epoch`.
    window: AtomicU64,
    /// Requests not logged since the last summary.
    skipped: AtomicU64,
}

impl AccessLog {
    /// The policy of `config` (`ACCESS_LOG_PER_SECOND`, `ACCESS_LOG_SLOW_MS`).
    pub fn new(config: &Config) -> Self {
        Self::with(config.access_log_per_second, config.access_log_slow)
    }

    /// A policy logging at most `per_second` successes a second, and (within [`PROBLEMS_PER_SECOND`]) every
    /// error and every request at least `slow` long.
    pub fn with(per_second: u32, slow: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                slow,
                epoch: Instant::now(),
                successes: Budget::new("successful requests", per_second),
                problems: Budget::new("error or slow requests", PROBLEMS_PER_SECOND),
            }),
        }
    }

    /// Decides about a request that answered `status` after `elapsed`, and emits the summary of the previous
    /// seconds' skipped lines when this request opens a new second of its budget.
    pub fn decide(&self, status: u16, elapsed: Duration) -> Verdict {
        let second = self.inner.epoch.elapsed().as_secs();
        let (budget, verdict) = if status >= 500 || elapsed >= self.inner.slow {
            (&self.inner.problems, Verdict::Warn)
        } else if status >= 400 {
            (&self.inner.problems, Verdict::Info)
        } else {
            (&self.inner.successes, Verdict::Info)
        };
        if budget.take(second) {
            verdict
        } else {
            budget.skipped.fetch_add(1, Ordering::Relaxed);
            Verdict::Skip
        }
    }
}

impl Budget {
    fn new(kind: &'static str, per_second: u32) -> Self {
        Self {
            kind,
            per_second,
            window: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// Takes one line of `second`'s budget; false when it is spent.
    fn take(&self, second: u64) -> bool {
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, used) = (current >> 32, current & u64::from(u32::MAX));
            let next = if window == second {
                if used >= u64::from(self.per_second) {
                    return false;
                }
                current + 1
            } else {
                (second << 32) | u64::from(self.per_second.min(1))
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) if window != second => {
                    // This request opened a new second: report what the earlier ones left out.
                    let skipped = self.skipped.swap(0, Ordering::Relaxed);
                    if skipped > 0 {
                        tracing::info!(
                            target: "plaza::http",
                            skipped,
                            per_second = self.per_second,
                            "{} not logged (over the access log's budget); the metrics count them",
                            self.kind
                        );
                    }
                    return self.per_second > 0;
                }
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    /// Log lines captured by a test subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lines").clone()).expect("utf-8")
        }
    }

    /// Runs `body` with the access log's events captured as text lines.
    fn captured(body: impl FnOnce()) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(subscriber, body);
        lines.text()
    }

    #[test]
    fn successes_are_bounded_per_second_and_errors_logged_at_ordinary_rates() {
        let log = AccessLog::with(5, Duration::from_secs(1));
        let fast = Duration::from_millis(1);
        let text = captured(|| {
            for i in 0..1_000u32 {
                let status = match i % 100 {
                    0 => 500,
                    1 => 404,
                    2 => 304,
                    _ => 200,
                };
                super::super::observe::emit(&log, "GET", "/api/schedule", status, fast);
            }
        });
        let lines: Vec<&str> = text.lines().collect();
        let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
        assert_eq!(count("status=500"), 10, "{text}");
        assert_eq!(count("status=404"), 10, "{text}");
        // Within one second (a second boundary during the loop gives one more budget).
        let successes = count("status=200") + count("status=304");
        assert!(
            (1..=10).contains(&successes),
            "{successes} successes logged"
        );
        assert!(lines.len() <= 20 + 10 + 1, "{} lines", lines.len());
        assert!(text.contains("WARN"), "a 5xx is a warning: {text}");
    }

    #[test]
    fn slow_requests_are_always_logged_and_zero_logs_no_success() {
        let log = AccessLog::with(0, Duration::from_millis(100));
        let text = captured(|| {
            for _ in 0..50 {
                super::super::observe::emit(&log, "GET", "/", 200, Duration::from_millis(1));
            }
            super::super::observe::emit(&log, "GET", "/slow", 200, Duration::from_millis(150));
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("/slow") && text.contains("WARN"), "{text}");
    }

    #[test]
    fn skipped_successes_are_summarised_when_the_next_second_opens() {
        let log = AccessLog::with(1, Duration::from_secs(1));
        assert!(log.inner.successes.take(0));
        for _ in 0..9 {
            assert!(!log.inner.successes.take(0));
            log.inner.successes.skipped.fetch_add(1, Ordering::Relaxed);
        }
        let text = captured(|| assert!(log.inner.successes.take(1)));
        assert!(text.contains("skipped=9"), "{text}");
        assert_eq!(log.inner.successes.skipped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_flood_of_errors_is_bounded_too() {
        let log = AccessLog::with(5, Duration::from_secs(1));
        let text = captured(|| {
            for _ in 0..5_000u32 {
                super::super::observe::emit(&log, "GET", "/nope", 404, Duration::from_millis(1));
            }
        });
        let logged = text.lines().filter(|l| l.contains("status=404")).count();
        // Within one second (a second boundary during the loop gives one more budget).
        let most = 2 * PROBLEMS_PER_SECOND as usize;
        assert!(
            (PROBLEMS_PER_SECOND as usize..=most).contains(&logged),
            "{logged} of 5,000 404s logged"
        );
    }
}
