//! The leader's session TTL timers, as Consul's `session_ttl.go`: each
//! session with a TTL expires 2 × TTL after its creation or last renewal
//! (Consul's grace multiplier), measured on the leader; expiry is proposed
//! as `Command::SessionExpire`, so every server invalidates the session at
//! the same index. A server that becomes leader starts every timer afresh
//! at 2 × TTL, as Consul's does, since it cannot know when the old leader
//! last saw a renewal. Never touches the store except through the log.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use praetor_store::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Server;

/// Consul's `SessionTTLMultiplier`: a session lives up to this many TTLs
/// without renewal.
pub const TTL_MULTIPLIER: u32 = 2;
/// How often the leader looks for new, renewed and expired sessions.
const TICK: Duration = Duration::from_millis(250);
/// Pause before proposing an expiry again after a failed proposal.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the TTL timers while this server leads, until `stop`.
pub async fn run_session_ttl(server: Server, stop: CancellationToken) {
    // Session ID → (the renewal index the timer follows, its deadline).
    let mut timers: HashMap<String, (u64, Instant)> = HashMap::new();
    let mut leading = false;
    loop {
        if server.is_leader() {
            if !leading {
                timers.clear();
                leading = true;
                tracing::debug!("session TTL timers (re)started");
            }
            let due = due_sessions(&server, &mut timers);
            for (id, renewed) in due {
                let cmd = Command::SessionExpire {
                    id: id.clone(),
                    renewed,
                };
                match server.write_local(cmd).await {
                    Ok((_, r)) if r.ok() => {
                        tracing::info!(session = %id, "session expired (TTL)");
                        timers.remove(&id);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(session = %id, error = %e, "could not expire session");
                        if let Some(t) = timers.get_mut(&id) {
                            t.1 = Instant::now() + RETRY;
                        }
                    }
                }
            }
        } else if leading {
            leading = false;
            timers.clear();
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Updates the timers from the store (new sessions, renewals, destroyed
/// sessions) and returns the sessions whose deadline has passed, with the
/// renewal index their expiry is conditional on.
fn due_sessions(
    server: &Server,
    timers: &mut HashMap<String, (u64, Instant)>,
) -> Vec<(String, u64)> {
    let now = Instant::now();
    let st = server.shared().read();
    let mut alive = HashSet::new();
    let mut due = Vec::new();
    for s in st.store.sessions().iter() {
        let Some(ttl) = ttl_of(&s.entry.ttl) else {
            continue;
        };
        alive.insert(s.entry.id.clone());
        let deadline = now + ttl * TTL_MULTIPLIER;
        let t = timers
            .entry(s.entry.id.clone())
            .or_insert((s.renewed, deadline));
        if t.0 != s.renewed {
            *t = (s.renewed, deadline);
        }
        if t.1 <= now {
            due.push((s.entry.id.clone(), s.renewed));
        }
    }
    timers.retain(|id, _| alive.contains(id));
    due
}

fn ttl_of(ttl: &str) -> Option<Duration> {
    if ttl.is_empty() {
        return None;
    }
    praetor_api::duration::parse(ttl)
        .ok()
        .filter(|d| !d.is_zero())
}
