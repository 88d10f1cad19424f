//! Log rate limiting without allocation: at most `lines` log lines per
//! `interval` for each class of line, then the rest are only counted, and
//! one summary ("N similar lines suppressed") says how many when the
//! interval ends.
//!
//! A server that logs each failed login or each bad packet writes as fast
//! as an attacker can send: one guesser at 12,000 attempts a second wrote
//! 100 MB of log in 30 s. The limiter keeps the first lines of each burst
//! (the ones that say what is happening) and the count of the rest.
//!
//! Sans-IO like every machine here: the host passes the time in, asks
//! [`LogLimiter::check`] before writing a line of a class, writes the
//! summaries [`LogLimiter::poll_summary`] gives when
//! [`LogLimiter::poll_timeout`] is due, and decides itself what a class
//! is (an index below `CLASSES`).
//!
//! ```
//! use ppp_core::log_limit::LogLimiter;
//! use ppp_core::time::{Duration, Instant};
//!
//! const FAILED_LOGIN: usize = 0;
//! let mut limit: LogLimiter<1> = LogLimiter::new(2, Duration::from_secs(10));
//! let mut written = 0;
//! for n in 0..1000 {
//!     let d = limit.check(Instant::from_millis(n), FAILED_LOGIN);
//!     if d.log {
//!         written += 1; // log the line
//!     }
//! }
//! assert_eq!(written, 2);
//! let end = limit.poll_timeout().unwrap();
//! let summary = limit.poll_summary(end).unwrap();
//! assert_eq!((summary.class, summary.suppressed), (FAILED_LOGIN, 998));
//! ```

use crate::time::{Duration, Instant};

/// What to do with one line ([`LogLimiter::check`]).
#[must_use = "the decision says whether to write the line and a summary"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision {
    /// Write the line.
    pub log: bool,
    /// Lines of this class suppressed in the interval that just ended and
    /// not yet reported: write "N similar lines suppressed" first (0:
    /// nothing to report).
    pub suppressed_before: u64,
}

/// Lines of one class suppressed in an interval that has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary {
    /// The class.
    pub class: usize,
    /// How many lines were suppressed.
    pub suppressed: u64,
}

/// One class's current interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    /// End of the interval, milliseconds; 0 before the first line.
    end: u64,
    logged: u32,
    suppressed: u64,
}

/// At most `lines` lines per `interval` for each of `CLASSES` classes
/// (24 octets per class).
#[derive(Clone, Debug)]
pub struct LogLimiter<const CLASSES: usize> {
    lines: u32,
    interval: Duration,
    classes: [Window; CLASSES],
}

impl<const CLASSES: usize> LogLimiter<CLASSES> {
    /// `lines` per `interval` and class.
    pub const fn new(lines: u32, interval: Duration) -> Self {
        LogLimiter {
            lines,
            interval,
            classes: [Window {
                end: 0,
                logged: 0,
                suppressed: 0,
            }; CLASSES],
        }
    }

    /// A line of `class` is about to be written at `now`. A class beyond
    /// `CLASSES` is never limited.
    pub fn check(&mut self, now: Instant, class: usize) -> Decision {
        let Some(w) = self.classes.get_mut(class) else {
            return Decision {
                log: true,
                suppressed_before: 0,
            };
        };
        let mut suppressed_before = 0;
        if now.as_millis() >= w.end {
            // The interval is over: its count is reported with this line,
            // which opens the next one.
            suppressed_before = core::mem::take(&mut w.suppressed);
            w.end = (now + self.interval).as_millis();
            w.logged = 0;
        }
        let log = w.logged < self.lines;
        if log {
            w.logged += 1;
        } else {
            w.suppressed = w.suppressed.saturating_add(1);
        }
        Decision {
            log,
            suppressed_before,
        }
    }

    /// The count of a class whose interval ended at or before `now` with
    /// lines suppressed; call until `None`.
    pub fn poll_summary(&mut self, now: Instant) -> Option<Summary> {
        let (class, w) = self
            .classes
            .iter_mut()
            .enumerate()
            .find(|(_, w)| w.suppressed > 0 && now.as_millis() >= w.end)?;
        Some(Summary {
            class,
            suppressed: core::mem::take(&mut w.suppressed),
        })
    }

    /// When the next summary is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.classes
            .iter()
            .filter(|w| w.suppressed > 0)
            .map(|w| Instant::from_millis(w.end))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn lines_beyond_the_limit_are_counted_and_summarised_when_the_interval_ends() {
        let mut l: LogLimiter<2> = LogLimiter::new(3, Duration::from_secs(1));
        let logged = (0..100).filter(|&n| l.check(at(n), 0).log).count();
        assert_eq!(logged, 3);
        // The other class has its own allowance.
        assert!(l.check(at(100), 1).log);
        assert_eq!(l.poll_timeout(), Some(at(1000)));
        assert_eq!(l.poll_summary(at(999)), None, "not before the end");
        assert_eq!(
            l.poll_summary(at(1000)),
            Some(Summary {
                class: 0,
                suppressed: 97
            })
        );
        assert_eq!(l.poll_summary(at(1000)), None, "reported once");
        assert_eq!(l.poll_timeout(), None);
        // A new interval starts with the next line.
        assert_eq!(
            l.check(at(1500), 0),
            Decision {
                log: true,
                suppressed_before: 0
            }
        );
    }

    #[test]
    fn a_line_after_the_interval_carries_the_summary_not_yet_polled() {
        let mut l: LogLimiter<1> = LogLimiter::new(1, Duration::from_secs(1));
        assert!(l.check(at(0), 0).log);
        assert!(!l.check(at(1), 0).log);
        assert!(!l.check(at(2), 0).log);
        assert_eq!(
            l.check(at(5000), 0),
            Decision {
                log: true,
                suppressed_before: 2
            }
        );
        assert_eq!(l.poll_summary(at(9999)), None, "already reported");
    }

    #[test]
    fn zero_lines_logs_only_summaries_and_unknown_classes_are_not_limited() {
        let mut l: LogLimiter<1> = LogLimiter::new(0, Duration::from_secs(1));
        assert!(!l.check(at(0), 0).log);
        assert_eq!(
            l.check(at(1000), 0),
            Decision {
                log: false,
                suppressed_before: 1
            }
        );
        assert!(l.check(at(0), 7).log);
    }
}
