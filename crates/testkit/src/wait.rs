//! Waiting for a condition: the only way tests pass time. Every wait has a
//! deadline and a reason, and a failed wait says what it last saw, so a
//! timeout reads as a finding instead of a shrug.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::KitError;

/// Polls `probe` until it returns `Ok`, at most `within`. The probe answers
/// `Err(state)` while the condition does not hold, `state` describing what it
/// saw; polls start 10 ms apart and back off to 200 ms. A probe that itself
/// hangs is cut at the deadline.
///
/// # Errors
/// `Timeout` naming `reason` and the last state seen.
pub async fn wait_for<T, F, Fut>(
    within: Duration,
    reason: &str,
    mut probe: F,
) -> Result<T, KitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(10);
    let mut last = String::from("(not probed yet)");
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(state)) => last = state,
            Err(_) => last = format!("{last} (the last probe was still running at the deadline)"),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(KitError::Timeout {
                reason: reason.to_owned(),
                within,
                last,
            });
        }
        tokio::time::sleep_until((now + pause).min(deadline)).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// [`wait_for`] for a synchronous probe, outside any runtime.
///
/// # Errors
/// `Timeout` naming `reason` and the last state seen.
pub fn wait_for_blocking<T>(
    within: Duration,
    reason: &str,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, KitError> {
    let deadline = std::time::Instant::now() + within;
    let mut pause = Duration::from_millis(5);
    loop {
        let last = match probe() {
            Ok(value) => return Ok(value),
            Err(state) => state,
        };
        let now = std::time::Instant::now();
        if now >= deadline {
            return Err(KitError::Timeout {
                reason: reason.to_owned(),
                within,
                last,
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
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
    }

    #[tokio::test]
    async fn a_condition_that_holds_returns_its_value() {
        let mut n = 0;
        let got = wait_for(Duration::from_secs(5), "n to reach 3", || {
            n += 1;
            let seen = n;
            async move {
                if seen >= 3 {
                    Ok(seen)
                } else {
                    Err(format!("n = {seen}"))
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
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
