//! The monitor hub: every line the agent logs at the most verbose level a
//! monitor asked for goes into one bounded broadcast; each `GET
//! /v1/agent/monitor` holds a [`Subscription`] at its own level. A reader
//! that falls behind loses the oldest lines (and is told how many); the
//! logger never waits and the buffer never grows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;
use tracing::Level;

use super::format::LogLine;
use super::policy::{from_index, index};

/// Lines held for the slowest reader before it starts losing them
/// (Consul's monitor buffers 512).
pub const CAPACITY: usize = 512;

/// The process's monitor hub (tracing's subscriber is process-wide too).
pub fn hub() -> &'static MonitorHub {
    static HUB: OnceLock<MonitorHub> = OnceLock::new();
    HUB.get_or_init(MonitorHub::new)
}

/// Where logged lines meet the monitors reading them.
pub struct MonitorHub {
    tx: broadcast::Sender<Arc<LogLine>>,
    /// How many monitors read at each level (by `policy::index`).
    readers: Mutex<[usize; 5]>,
    /// One more than the index of the most verbose level read (0: none),
    /// read on every event without a lock.
    max: AtomicUsize,
}

impl MonitorHub {
    fn new() -> MonitorHub {
        MonitorHub {
            tx: broadcast::channel(CAPACITY).0,
            readers: Mutex::new([0; 5]),
            max: AtomicUsize::new(0),
        }
    }

    /// The most verbose level any monitor reads, if any reads.
    pub fn max_level(&self) -> Option<Level> {
        match self.max.load(Ordering::Relaxed) {
            0 => None,
            n => Some(from_index(n - 1)),
        }
    }

    /// Hands a line to every monitor; never waits.
    pub fn publish(&self, line: LogLine) {
        let _ = self.tx.send(Arc::new(line));
    }

    /// A monitor of the lines at `level` and more severe, from now on.
    pub fn subscribe(&'static self, level: Level) -> Subscription {
        let rx = self.tx.subscribe();
        self.count(level, true);
        Subscription {
            hub: self,
            level,
            rx,
        }
    }

    fn count(&self, level: Level, add: bool) {
        let changed = {
            let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            let slot = &mut readers[index(level)];
            *slot = if add {
                *slot + 1
            } else {
                slot.saturating_sub(1)
            };
            let max = readers.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
            self.max.swap(max, Ordering::Relaxed) != max
        };
        if changed {
            // Callsites cache whether they are enabled: ask again.
            tracing::callsite::rebuild_interest_cache();
        }
    }
}

/// One monitor's view of the hub; dropping it stops the lines.
pub struct Subscription {
    hub: &'static MonitorHub,
    level: Level,
    rx: broadcast::Receiver<Arc<LogLine>>,
}

/// What a monitor reads next.
pub enum Next {
    Line(Arc<LogLine>),
    /// This many lines were lost because the reader was too slow.
    Dropped(u64),
    /// The hub is gone (never, while the process runs).
    Closed,
}

impl Subscription {
    /// The next line at this monitor's level (waits for one).
    pub async fn next(&mut self) -> Next {
        loop {
            match self.rx.recv().await {
                Ok(line) if line.level <= self.level => return Next::Line(line),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => return Next::Dropped(n),
                Err(broadcast::error::RecvError::Closed) => return Next::Closed,
            }
        }
    }

    /// The next line already waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Next> {
        loop {
            match self.rx.try_recv() {
                Ok(line) if line.level <= self.level => return Some(Next::Line(line)),
                Ok(_) => continue,
                Err(broadcast::error::TryRecvError::Lagged(n)) => return Some(Next::Dropped(n)),
                Err(broadcast::error::TryRecvError::Empty) => return None,
                Err(broadcast::error::TryRecvError::Closed) => return Some(Next::Closed),
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.count(self.level, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_for_test() -> &'static MonitorHub {
        Box::leak(Box::new(MonitorHub::new()))
    }

    #[tokio::test]
    async fn a_monitor_sees_lines_at_its_level_and_more_severe() {
        let hub = hub_for_test();
        assert_eq!(hub.max_level(), None);
        let mut sub = hub.subscribe(Level::INFO);
        assert_eq!(hub.max_level(), Some(Level::INFO));
        hub.publish(LogLine::new(Level::DEBUG, "agent", "quiet"));
        hub.publish(LogLine::new(Level::WARN, "agent", "loud"));
        match sub.next().await {
            Next::Line(l) => assert_eq!(l.message, "loud"),
            _ => panic!("expected the warning"),
        }
        let verbose = hub.subscribe(Level::TRACE);
        assert_eq!(hub.max_level(), Some(Level::TRACE));
        drop(verbose);
        assert_eq!(hub.max_level(), Some(Level::INFO));
        drop(sub);
        assert_eq!(hub.max_level(), None);
    }

    #[tokio::test]
    async fn a_slow_monitor_loses_lines_and_is_told_how_many() {
        let hub = hub_for_test();
        let mut sub = hub.subscribe(Level::INFO);
        let sent = CAPACITY + 100;
        for i in 0..sent {
            hub.publish(LogLine::new(Level::INFO, "agent", format!("line {i}")));
        }
        match sub.next().await {
            Next::Dropped(n) => assert_eq!(n, 100),
            _ => panic!("expected the count of lost lines first"),
        }
        let mut kept = 0;
        while let Some(Next::Line(_)) = sub.try_next() {
            kept += 1;
        }
        assert_eq!(kept, CAPACITY, "the buffer holds at most CAPACITY lines");
    }
}
