//! Bookkeeping of a datastore outage, pure (the caller passes the time): how many attempts in
//! a row failed and since when, and what each failure deserves in the log. The first failure
//! is a warning, the following ones are quiet except for a reminder every [`REMIND_EVERY`],
//! and the first success reports how long the store was away, so an outage of hours costs
//! a handful of log lines instead of one per retry.

use std::time::{Duration, Instant};

/// How often a continuing outage is reported again.
pub const REMIND_EVERY: Duration = Duration::from_secs(60);

/// The failures since the datastore last answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outage {
    /// When the first failure of the current outage happened; `None` while all is well.
    since: Option<Instant>,
    /// Failed attempts in the current outage.
    failures: u32,
    /// When the outage was last reported at warning level.
    reported: Option<Instant>,
}

/// How loudly to report one failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// The first failure after a success: a warning.
    Started,
    /// The outage goes on and no warning was given for [`REMIND_EVERY`]: a warning with the
    /// totals so far.
    Continuing { down_for: Duration, failures: u32 },
    /// The outage goes on and was reported recently: debug level only.
    Quiet,
}

/// An outage that ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub down_for: Duration,
    pub failures: u32,
}

impl Outage {
    /// One more attempt failed at `now`.
    pub fn failed(&mut self, now: Instant) -> Report {
        self.failures += 1;
        let Some(since) = self.since else {
            self.since = Some(now);
            self.reported = Some(now);
            return Report::Started;
        };
        match self.reported {
            Some(last) if now.saturating_duration_since(last) < REMIND_EVERY => Report::Quiet,
            _ => {
                self.reported = Some(now);
                Report::Continuing {
                    down_for: now.saturating_duration_since(since),
                    failures: self.failures,
                }
            }
        }
    }

    /// An attempt succeeded at `now`: the outage it ends, if there was one.
    pub fn succeeded(&mut self, now: Instant) -> Option<Recovery> {
        let since = self.since?;
        let recovery = Recovery {
            down_for: now.saturating_duration_since(since),
            failures: self.failures,
        };
        *self = Outage::default();
        Some(recovery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_then_reminds_then_reports_recovery() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut o = Outage::default();
        assert_eq!(o.succeeded(t0), None, "no outage, nothing to report");
        assert_eq!(o.failed(t0), Report::Started);
        for i in 1..60 {
            assert_eq!(o.failed(t0 + s(i)), Report::Quiet, "retry {i}");
        }
        assert_eq!(
            o.failed(t0 + s(60)),
            Report::Continuing {
                down_for: s(60),
                failures: 61
            }
        );
        assert_eq!(o.failed(t0 + s(61)), Report::Quiet);
        assert_eq!(
            o.succeeded(t0 + s(62)),
            Some(Recovery {
                down_for: s(62),
                failures: 62
            })
        );
        assert_eq!(o, Outage::default());
        // The next outage starts afresh.
        assert_eq!(o.failed(t0 + s(100)), Report::Started);
        assert_eq!(
            o.succeeded(t0 + s(101)),
            Some(Recovery {
                down_for: s(1),
                failures: 1
            })
        );
    }

    #[test]
    fn an_hour_of_retries_every_second_costs_a_few_warnings() {
        let t0 = Instant::now();
        let mut o = Outage::default();
        let warnings = (0..3600)
            .map(|i| o.failed(t0 + Duration::from_secs(i)))
            .filter(|r| *r != Report::Quiet)
            .count();
        assert_eq!(warnings, 60, "one at the start, then one a minute");
    }
}
