//! praetor-testwait: waiting for a condition, the only way tests pass time.
//! Every wait has a deadline and a reason, polls with a bounded backoff, and
//! a failed wait says what it last saw, so a timeout reads as a finding
//! instead of a shrug.
//!
//! Test-only (a dev-dependency of every crate whose tests wait, and the base
//! of `praetor-testkit`'s waits). It depends on no Praetor crate, so unit and
//! integration tests of the lowest crates can use it; it never sleeps
//! without a condition to check and never panics (callers decide).
//!
//! ```
//! # async fn t() -> Result<(), praetor_testwait::Timeout> {
//! use std::time::Duration;
//! let started = tokio::time::Instant::now();
//! praetor_testwait::wait_until(Duration::from_secs(5), "50 ms to pass", || {
//!     let seen = started.elapsed();
//!     if seen >= Duration::from_millis(50) { Ok(()) } else { Err(format!("{seen:?}")) }
//! })
//! .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause between polls of an async wait.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between polls of an async wait.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// A condition that did not hold before its deadline: what was waited for,
/// how long, and the last state the probe reported. Its `Debug` is its
/// message, so `.unwrap()` and `?` in a test print a readable line.
#[derive(Clone, PartialEq, Eq)]
pub struct Timeout {
    /// What the wait was for (`"a leader"`).
    pub reason: String,
    /// How long it waited.
    pub within: Duration,
    /// The probe's last answer (or why there was none).
    pub last: String,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}; last seen: {}",
            self.within, self.reason, self.last
        )
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Timeout {}

/// Polls the async `probe` until it returns `Ok`, at most `within`. The
/// probe answers `Err(state)` while the condition does not hold, `state`
/// describing what it saw; polls start 10 ms apart and back off to 200 ms.
/// A probe that itself hangs is cut at the deadline.
///
/// # Errors
/// [`Timeout`] naming `reason` and the last state seen.
pub async fn wait_for<T, F, Fut>(within: Duration, reason: &str, mut probe: F) -> Result<T, Timeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    let mut last = String::from("(not probed yet)");
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(state)) => last = state,
            Err(_) => last = format!("{last} (the last probe was still running at the deadline)"),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Timeout {
                reason: reason.to_owned(),
                within,
                last,
            });
        }
        tokio::time::sleep_until((now + pause).min(deadline)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// [`wait_for`] for a synchronous `check` (a state read from memory), on
/// the async runtime.
///
/// # Errors
/// [`Timeout`] naming `reason` and the last state seen.
pub async fn wait_until<T>(
    within: Duration,
    reason: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, Timeout> {
    wait_for(within, reason, || std::future::ready(check())).await
}

/// [`wait_until`] outside any runtime: the thread sleeps between checks
/// (5 ms, backing off to 100 ms).
///
/// # Errors
/// [`Timeout`] naming `reason` and the last state seen.
pub fn wait_for_blocking<T>(
    within: Duration,
    reason: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, Timeout> {
    let deadline = std::time::Instant::now() + within;
    let mut pause = Duration::from_millis(5);
    loop {
        let last = match check() {
            Ok(value) => return Ok(value),
            Err(state) => state,
        };
        let now = std::time::Instant::now();
        if now >= deadline {
            return Err(Timeout {
                reason: reason.to_owned(),
                within,
                last,
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// `Ok(())` when `holds`, else `Err(state())`: a probe's answer from a
/// condition and a description of what was seen.
///
/// # Errors
/// `state()` when the condition does not hold.
pub fn check(holds: bool, state: impl FnOnce() -> String) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_never_holds_fails_with_reason_and_last_state() {
        let mut n = 0;
        let err = wait_for(Duration::from_millis(100), "n to reach 1000", || {
            n += 1;
            let seen = n;
            async move {
                if seen >= 1000 {
                    Ok(())
                } else {
                    Err(format!("n = {seen}"))
                }
            }
        })
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("n to reach 1000") && msg.contains("last seen: n = "),
            "{msg}"
        );
        assert_eq!(format!("{err:?}"), msg, "Debug reads as the message");
    }

    #[tokio::test]
    async fn a_condition_that_holds_returns_its_value() {
        let mut n = 0;
        let got = wait_until(Duration::from_secs(5), "n to reach 3", || {
            n += 1;
            if n >= 3 {
                Ok(n)
            } else {
                Err(format!("n = {n}"))
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn a_probe_that_hangs_is_cut_at_the_deadline() {
        let err = wait_for(Duration::from_millis(50), "a hung probe", || {
            std::future::pending::<Result<(), String>>()
        })
        .await
        .unwrap_err();
        assert!(err.last.contains("still running at the deadline"), "{err}");
    }

    #[test]
    fn the_blocking_wait_times_out_too() {
        let err = wait_for_blocking(Duration::from_millis(30), "never", || {
            Err::<(), _>("no".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("last seen: no"));
    }

    #[test]
    fn check_reports_the_state_only_when_the_condition_fails() {
        assert_eq!(check(true, || unreachable!()), Ok(()));
        assert_eq!(check(false, || "seen".into()), Err("seen".to_owned()));
    }
}
