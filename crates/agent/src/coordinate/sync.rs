//! Sending this agent's coordinate to the servers, as Consul's agent does:
//! every `sync_coordinate_interval_min` (15 s), scaled up with the size of
//! the pool so the servers see a bounded rate, with a random stagger. The
//! first update goes out a few seconds after start, once gossip had time to
//! measure a few round trips. Each update is `Command::CoordinateBatchUpdate`
//! of one entry, written with the agent's token; the leader queues it for
//! its next batch. A failed update is logged and the next one is simply
//! sent at the next round (a coordinate is soft state).

use std::sync::Arc;
use std::time::Duration;

use praetor_api::coordinate::CoordinateEntry;
use praetor_gossip::Gossip;
use praetor_store::Command;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;

/// Consul's `sync_coordinate_interval_min`.
const INTERVAL_MIN: Duration = Duration::from_secs(15);
/// The first update, after start.
const FIRST_AFTER: Duration = Duration::from_secs(3);

/// The interval between updates for a pool of `members`, as Consul's
/// `aeScale`: 15 s up to 128 members, then one more step per doubling.
pub fn sync_coordinate_interval(members: usize) -> Duration {
    crate::local::scaled(INTERVAL_MIN, members)
}

/// Sends `gossip`'s coordinate for node `node` until `stop`.
pub async fn run_coordinate_sync(
    gossip: Gossip,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    node: String,
    stop: CancellationToken,
) {
    let mut wait = FIRST_AFTER + stagger(FIRST_AFTER);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let interval = sync_coordinate_interval(gossip.members().len());
        wait = interval + stagger(interval);
        let entry = CoordinateEntry {
            node: node.clone(),
            segment: String::new(),
            coord: gossip.coordinate(),
        };
        if let Err(reason) = super::validate(&entry) {
            // Never happens: gossip keeps its coordinate finite.
            tracing::warn!(%reason, "not sending this agent's coordinate");
            continue;
        }
        let cmd = Command::CoordinateBatchUpdate(vec![super::to_record(&entry)]);
        let token = acl.agent_token();
        tokio::select! {
            () = stop.cancelled() => return,
            sent = backend.write(&token, cmd) => match sent {
                Ok(_) => tracing::debug!("sent this agent's coordinate"),
                Err(error) => tracing::warn!(%error, "sending this agent's coordinate"),
            },
        }
    }
}

/// A random stagger up to a quarter of `interval`, so agents started
/// together do not all send at once.
fn stagger(interval: Duration) -> Duration {
    let quarter = u64::try_from(interval.as_millis() / 4)
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(rand::thread_rng().gen_range(0..quarter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_with_the_pool_as_consuls() {
        assert_eq!(sync_coordinate_interval(3), Duration::from_secs(15));
        assert_eq!(sync_coordinate_interval(128), Duration::from_secs(15));
        assert_eq!(sync_coordinate_interval(129), Duration::from_secs(30));
        assert_eq!(sync_coordinate_interval(1024), Duration::from_secs(60));
        assert!(stagger(INTERVAL_MIN) < INTERVAL_MIN / 4);
    }
}
