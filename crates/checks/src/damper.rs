//! Consul's flapping damper (its `StatusHandler`): a probe's result becomes
//! the check's status only after enough consecutive successes or failures.
//! Pure: no clock, no I/O.

use crate::definition::Status;

/// Counts consecutive successes (passing or warning results, as Consul
/// counts them) and failures (critical results).
///
/// Both counters start at their thresholds, as in Consul, so the first
/// result after a start takes effect at once; after that a status change
/// needs the full run: `success_before_passing` successes in a row to leave
/// a failure, `failures_before_warning` failures in a row to turn warning and
/// `failures_before_critical` to turn critical.
#[derive(Debug)]
pub(crate) struct Damper {
    success_before_passing: u32,
    failures_before_warning: u32,
    failures_before_critical: u32,
    successes: u32,
    failures: u32,
}

impl Damper {
    /// `failures_before_warning` 0 means the same as
    /// `failures_before_critical`, as in Consul.
    pub(crate) fn new(
        success_before_passing: u32,
        failures_before_warning: u32,
        failures_before_critical: u32,
    ) -> Damper {
        let failures_before_warning = if failures_before_warning == 0 {
            failures_before_critical
        } else {
            failures_before_warning
        };
        Damper {
            success_before_passing,
            failures_before_warning,
            failures_before_critical,
            successes: success_before_passing,
            failures: failures_before_critical,
        }
    }

    /// The status `result` leads to, or `None` to keep the current one.
    pub(crate) fn judge(&mut self, result: Status) -> Option<Status> {
        match result {
            Status::Passing | Status::Warning => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                (self.successes >= self.success_before_passing).then_some(result)
            }
            Status::Critical => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                if self.failures >= self.failures_before_critical {
                    Some(Status::Critical)
                } else if self.failures >= self.failures_before_warning {
                    Some(Status::Warning)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Critical, Passing, Warning};

    #[test]
    fn without_thresholds_every_result_counts_at_once() {
        let mut d = Damper::new(0, 0, 0);
        assert_eq!(d.judge(Critical), Some(Critical));
        assert_eq!(d.judge(Passing), Some(Passing));
        assert_eq!(d.judge(Warning), Some(Warning));
        assert_eq!(d.judge(Critical), Some(Critical));
    }

    #[test]
    fn the_first_result_counts_at_once_as_in_consul() {
        let mut d = Damper::new(3, 0, 3);
        assert_eq!(d.judge(Passing), Some(Passing));
        let mut d = Damper::new(3, 0, 3);
        assert_eq!(d.judge(Critical), Some(Critical));
    }

    #[test]
    fn thresholds_need_consecutive_runs() {
        let mut d = Damper::new(2, 2, 3);
        assert_eq!(d.judge(Passing), Some(Passing));
        assert_eq!(d.judge(Critical), None, "one failure is not enough");
        assert_eq!(d.judge(Critical), Some(Warning), "second failure: warning");
        assert_eq!(d.judge(Critical), Some(Critical), "third failure: critical");
        assert_eq!(d.judge(Passing), None, "the success run starts over");
        assert_eq!(d.judge(Critical), None, "a failure breaks the run");
        assert_eq!(d.judge(Passing), None);
        assert_eq!(d.judge(Passing), Some(Passing));
        assert_eq!(d.judge(Passing), Some(Passing));
    }

    #[test]
    fn warning_threshold_defaults_to_the_critical_one() {
        let mut d = Damper::new(0, 0, 2);
        assert_eq!(d.judge(Passing), Some(Passing));
        assert_eq!(d.judge(Critical), None);
        assert_eq!(d.judge(Critical), Some(Critical));
    }

    #[test]
    fn a_warning_result_counts_as_a_success() {
        let mut d = Damper::new(2, 0, 2);
        assert_eq!(d.judge(Critical), Some(Critical));
        assert_eq!(d.judge(Warning), None);
        assert_eq!(d.judge(Warning), Some(Warning));
    }
}
