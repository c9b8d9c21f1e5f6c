//! Quiescence, as consul-template's `wait = "min:max"`: after a change, a
//! template renders once its data has been still for `min`, and at the
//! latest `max` after the first change of a burst, so a burst of changes
//! renders once and a steady stream of changes still renders every `max`.
//! Pure: the caller passes the clock in and sleeps until `deadline`.

use std::time::{Duration, Instant};

/// How long a template waits for its data to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Render when no change came for this long.
    pub min: Duration,
    /// Render at the latest this long after the first change of a burst.
    pub max: Duration,
}

/// Why a wait setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("wait {given:?}: {reason}")]
    Invalid { given: String, reason: String },
}

impl Wait {
    /// Parses consul-template's `min[:max]` (Go durations); without `max`
    /// it is four times `min`, as consul-template's.
    ///
    /// # Errors
    /// When a part is not a duration or `max` is below `min`.
    pub fn parse(s: &str) -> Result<Wait, WaitError> {
        let invalid = |reason: String| WaitError::Invalid {
            given: s.to_owned(),
            reason,
        };
        let duration = |part: &str| {
            praetor_api::duration::parse(part.trim()).map_err(|e| invalid(e.to_string()))
        };
        let (min, max) = match s.split_once(':') {
            Some((min, max)) => (duration(min)?, duration(max)?),
            None => {
                let min = duration(s)?;
                (min, min.saturating_mul(4))
            }
        };
        Wait::new(min, max).map_err(|e| match e {
            WaitError::Invalid { reason, .. } => invalid(reason),
        })
    }

    /// A wait of `min` and `max`.
    ///
    /// # Errors
    /// When `max` is below `min`.
    pub fn new(min: Duration, max: Duration) -> Result<Wait, WaitError> {
        if max < min {
            return Err(WaitError::Invalid {
                given: format!("{min:?}:{max:?}"),
                reason: "the maximum must not be below the minimum".into(),
            });
        }
        Ok(Wait { min, max })
    }
}

/// The pending render of one template.
#[derive(Debug, Clone, Default)]
pub struct Quiescence {
    wait: Option<Wait>,
    /// The first and the last change not rendered yet.
    pending: Option<(Instant, Instant)>,
}

impl Quiescence {
    /// A template that waits as `wait` says (none: renders at once).
    pub fn new(wait: Option<Wait>) -> Self {
        Quiescence {
            wait,
            pending: None,
        }
    }

    /// Notes a change of the template's data at `now`.
    pub fn changed(&mut self, now: Instant) {
        self.pending = Some(match self.pending {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the pending change should render (`None`: nothing pending).
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = self.pending?;
        Some(match self.wait {
            None => last,
            Some(w) => (last + w.min).min(first + w.max),
        })
    }

    /// Whether a pending change should render at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    /// Notes that the template rendered: nothing is pending.
    pub fn rendered(&mut self) {
        self.pending = None;
    }
}

/// Sleeps until `deadline`; never returns without one.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn wait_parses_min_and_max_and_defaults_max_to_four_times_min() {
        assert_eq!(
            Wait::parse("2s:10s").unwrap(),
            Wait {
                min: Duration::from_secs(2),
                max: Duration::from_secs(10)
            }
        );
        assert_eq!(
            Wait::parse("500ms").unwrap(),
            Wait {
                min: ms(500),
                max: ms(2000)
            }
        );
        let e = Wait::parse("10s:2s").unwrap_err().to_string();
        assert!(e.contains("maximum must not be below"), "{e}");
        let e = Wait::parse("soon").unwrap_err().to_string();
        assert!(e.starts_with("wait \"soon\""), "{e}");
    }

    #[test]
    fn without_a_wait_a_change_is_due_at_once() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(None);
        assert!(!q.due(t0));
        q.changed(t0);
        assert!(q.due(t0));
        q.rendered();
        assert_eq!(q.deadline(), None);
    }

    #[test]
    fn a_burst_of_fifty_changes_renders_once_after_it_settles() {
        let t0 = Instant::now();
        let w = Wait::new(ms(100), ms(10_000)).unwrap();
        let mut q = Quiescence::new(Some(w));
        let mut renders = 0;
        let mut now = t0;
        for _ in 0..50 {
            q.changed(now);
            now += ms(20);
            if q.due(now) {
                renders += 1;
                q.rendered();
            }
        }
        assert_eq!(renders, 0, "nothing renders while the burst goes on");
        assert_eq!(q.deadline(), Some(t0 + ms(49 * 20 + 100)));
    }

    #[test]
    fn a_steady_stream_still_renders_every_max() {
        let t0 = Instant::now();
        let w = Wait::new(ms(100), ms(300)).unwrap();
        let mut q = Quiescence::new(Some(w));
        q.changed(t0);
        q.changed(t0 + ms(250));
        assert_eq!(q.deadline(), Some(t0 + ms(300)));
    }

    proptest! {
        /// Any text parses to a wait with max >= min, or is refused with
        /// the text in the message; `min:max` of whole milliseconds reads
        /// back as given.
        #[test]
        fn wait_parsing_never_panics_and_reads_back(s in ".{0,40}", min in 0u64..100_000, extra in 0u64..100_000) {
            match Wait::parse(&s) {
                Ok(w) => prop_assert!(w.max >= w.min),
                Err(e) => prop_assert!(e.to_string().starts_with("wait ")),
            }
            let w = Wait::parse(&format!("{min}ms:{}ms", min + extra)).unwrap();
            prop_assert_eq!(w, Wait::new(ms(min), ms(min + extra)).unwrap());
        }

        /// The deadline is never after the first change plus `max`, never
        /// before the last change, and before `first + max` it is exactly
        /// `min` after the last change.
        #[test]
        fn the_deadline_is_bounded_by_min_and_max(
            min in 0u64..1000,
            extra in 0u64..5000,
            gaps in proptest::collection::vec(0u64..500, 1..60),
        ) {
            let w = Wait::new(ms(min), ms(min + extra)).unwrap();
            let t0 = Instant::now();
            let mut q = Quiescence::new(Some(w));
            let first = t0 + ms(gaps[0]);
            let mut now = t0;
            for g in gaps {
                now += ms(g);
                q.changed(now);
            }
            let d = q.deadline().unwrap();
            prop_assert!(d <= first + w.max);
            prop_assert!(d >= now.min(first + w.max));
            if now + w.min <= first + w.max {
                prop_assert_eq!(d, now + w.min);
            }
        }
    }
}
