//! Waiting for a condition: the only way tests pass time. The polling is
//! `praetor-testwait`'s (shared with the unit and integration tests of the
//! crates below testkit); here its timeout becomes a [`KitError::Timeout`],
//! which a [`Cluster`](crate::Cluster) extends with every node's log tail.

use std::future::Future;
use std::time::Duration;

use crate::KitError;

pub use praetor_testwait::check;

impl From<praetor_testwait::Timeout> for KitError {
    fn from(t: praetor_testwait::Timeout) -> Self {
        KitError::Timeout {
            reason: t.reason,
            within: t.within,
            last: t.last,
        }
    }
}

/// Polls `probe` until it returns `Ok`, at most `within`. The probe answers
/// `Err(state)` while the condition does not hold, `state` describing what
/// it saw; polls start 10 ms apart and back off to 200 ms. A probe that
/// itself hangs is cut at the deadline.
///
/// # Errors
/// `Timeout` naming `reason` and the last state seen.
pub async fn wait_for<T, F, Fut>(within: Duration, reason: &str, probe: F) -> Result<T, KitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    Ok(praetor_testwait::wait_for(within, reason, probe).await?)
}

/// [`wait_for`] for a synchronous probe (a state read from memory), on the
/// async runtime.
///
/// # Errors
/// `Timeout` naming `reason` and the last state seen.
pub async fn wait_until<T>(
    within: Duration,
    reason: &str,
    probe: impl FnMut() -> Result<T, String>,
) -> Result<T, KitError> {
    Ok(praetor_testwait::wait_until(within, reason, probe).await?)
}

/// [`wait_for`] for a synchronous probe, outside any runtime.
///
/// # Errors
/// `Timeout` naming `reason` and the last state seen.
pub fn wait_for_blocking<T>(
    within: Duration,
    reason: &str,
    probe: impl FnMut() -> Result<T, String>,
) -> Result<T, KitError> {
    Ok(praetor_testwait::wait_for_blocking(within, reason, probe)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_is_a_kit_error_with_reason_and_last_state() {
        let err = wait_for(Duration::from_millis(50), "n to reach 1000", || async {
            Err::<(), _>("n = 1".to_owned())
        })
        .await
        .unwrap_err();
        assert!(matches!(err, KitError::Timeout { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("n to reach 1000") && msg.contains("last seen: n = 1"),
            "{msg}"
        );
    }

    #[test]
    fn the_blocking_wait_times_out_too() {
        let err = wait_for_blocking(Duration::from_millis(30), "never", || {
            Err::<(), _>("no".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("last seen: no"));
    }
}
