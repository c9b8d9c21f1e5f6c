//! The load of a fault-injection run: clients doing reads (each
//! consistency mode), writes and check-and-sets on a few keys, and lock
//! holders doing fenced writes, every operation through the HTTP API of a
//! node drawn at random (servers and client agents alike), each with a
//! bounded timeout, and every one recorded ([`Recorder`]) with its invoke
//! and complete times on one monotonic clock and what its answer says
//! about its effect (see [`ops`](self::ops) for the classification).
//!
//! The KV workers are open-loop: each starts an operation at its own rate
//! whether or not the previous ones answered (up to a bound in flight), so
//! a node that hangs during a fault holds some operations, not the load,
//! and the answered rate per window measures availability. The lock
//! workers are sequential: create a session, acquire, fenced writes,
//! release. Every value written is unique (`kv<worker>-<seq>`), which is
//! what lets the checker reason about CAS by value (see
//! [`linearizability`](crate::linearizability)).
//!
//! Workers stop starting operations at [`Workload::stop`] and wait for
//! those in flight, each bounded by its timeout. The choices come from a
//! seeded generator, so a run's sequence of choices can be replayed (not
//! its timing). Never signals a process; talks only to the nodes it was
//! given.

mod ops;
mod record;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

pub use ops::{history, Version};
pub use record::{Kind, Mode, Record, Recorder, Target};

use ops::{Acquired, Client};

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct Config {
    /// The KV keys the workers share (3-5).
    pub keys: Vec<String>,
    /// The lock key of the fenced-write workers.
    pub lock_key: String,
    /// The key the lock holders write to.
    pub fenced_key: String,
    /// KV workers, each open-loop.
    pub kv_workers: usize,
    /// Operations a KV worker starts per second.
    pub kv_rate: u32,
    /// Most operations of one KV worker in flight.
    pub kv_in_flight: usize,
    /// Sequential lock workers.
    pub lock_workers: usize,
    /// Most requests per second of a lock worker.
    pub lock_rate: u32,
    /// Timeout of a read.
    pub read_timeout: Duration,
    /// Timeout of a write, CAS or txn (client agents retry across servers
    /// for up to 7 s before they answer).
    pub write_timeout: Duration,
    /// Seeds the choices.
    pub seed: u64,
}

impl Config {
    /// Three keys under `prefix`; 6 KV workers starting 20 operations per
    /// second each (at most 16 in flight each); 2 lock workers; timeouts of
    /// 3 s (reads) and 6 s (writes).
    pub fn new(prefix: &str, seed: u64) -> Config {
        Config {
            keys: (0..3).map(|i| format!("{prefix}/k{i}")).collect(),
            lock_key: format!("{prefix}/lock"),
            fenced_key: format!("{prefix}/fenced"),
            kv_workers: 6,
            kv_rate: 20,
            kv_in_flight: 16,
            lock_workers: 2,
            lock_rate: 10,
            read_timeout: Duration::from_secs(3),
            write_timeout: Duration::from_secs(6),
            seed,
        }
    }
}

/// A small seeded generator (xorshift64*): the workload's choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        if n == 0 {
            0
        } else {
            (x % n as u64) as usize
        }
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The running load.
pub struct Workload {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workload {
    /// Starts the KV and lock workers against `targets`.
    pub fn start(cfg: &Config, targets: Vec<Target>, recorder: Arc<Recorder>) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let targets = Arc::new(targets);
        let mut tasks = Vec::new();
        for w in 0..cfg.kv_workers {
            let worker = Worker {
                client: Client::new(&format!("kv{w}"), recorder.clone()),
                targets: targets.clone(),
                stop: stop.clone(),
                rng: Rng::new(cfg.seed ^ (w as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)),
                seq: 0,
            };
            tasks.push(tokio::spawn(worker.run_kv(cfg.clone())));
        }
        for w in 0..cfg.lock_workers {
            let worker = Worker {
                client: Client::new(&format!("lock{w}"), recorder.clone()),
                targets: targets.clone(),
                stop: stop.clone(),
                rng: Rng::new(cfg.seed ^ (w as u64 + 101).wrapping_mul(0xD6E8_FEB8_6659_FD93)),
                seq: 0,
            };
            tasks.push(tokio::spawn(worker.run_lock(cfg.clone())));
        }
        Workload { stop, tasks }
    }

    /// Stops every worker from starting operations and waits for those in
    /// flight (each ends within its timeout).
    ///
    /// # Errors
    /// A worker that panicked, or one still running after `within`.
    pub async fn stop(self, within: Duration) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + within;
        for t in self.tasks {
            match tokio::time::timeout_at(deadline, t).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("a worker failed: {e}")),
                Err(_) => return Err(format!("a worker still ran {within:?} after stop")),
            }
        }
        Ok(())
    }
}

/// One worker: its client, its generator, the nodes.
struct Worker {
    client: Client,
    targets: Arc<Vec<Target>>,
    stop: Arc<AtomicBool>,
    rng: Rng,
    seq: u64,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn unique_value(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.client.worker(), self.seq)
    }

    fn target(&mut self) -> Target {
        self.rng.pick(&self.targets).clone()
    }

    /// Starts reads, writes and CAS on random keys through random nodes,
    /// `kv_rate` a second, until stopped; then waits for those in flight.
    async fn run_kv(mut self, cfg: Config) {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / cfg.kv_rate.max(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let slots = Arc::new(Semaphore::new(cfg.kv_in_flight.max(1)));
        let mut in_flight = JoinSet::new();
        while !self.stopped() {
            tick.tick().await;
            while in_flight.try_join_next().is_some() {}
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Every slot hangs on a node that does not answer: skip
                // this tick rather than queue.
                continue;
            };
            let key = self.rng.pick(&cfg.keys).clone();
            let t = self.target();
            let client = self.client.clone();
            let cfg2 = cfg.clone();
            let pick = self.rng.below(100);
            let value = self.unique_value();
            // The CAS reads through one node and swaps through another.
            let cas_target = self.target();
            let cas_mode = if self.rng.below(2) == 0 {
                Mode::Default
            } else {
                Mode::Consistent
            };
            in_flight.spawn(async move {
                let (rt, wt) = (cfg2.read_timeout, cfg2.write_timeout);
                match pick {
                    0..=24 => read(&client, &t, &key, Mode::Default, rt).await,
                    25..=39 => read(&client, &t, &key, Mode::Consistent, rt).await,
                    40..=49 => read(&client, &t, &key, Mode::Stale, rt).await,
                    50..=74 => client.write(&t, &key, value, None, wt).await,
                    _ => {
                        // CAS from what a (recorded) read returned: the
                        // index it answered names the value it returned.
                        let found = client
                            .read(&t, &key, cas_mode, rt, Kind::Read(cas_mode))
                            .await;
                        if let Some(f) = found {
                            let index = match f.value {
                                Some(_) => f.index.unwrap_or(0),
                                None => 0,
                            };
                            client
                                .write(&cas_target, &key, value, Some((f.value, index)), wt)
                                .await;
                        }
                    }
                }
                drop(slot);
            });
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Creates sessions, acquires the lock, makes fenced writes while
    /// holding it, releases; until stopped.
    async fn run_lock(mut self, cfg: Config) {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / cfg.lock_rate.max(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wt = cfg.write_timeout;
        while !self.stopped() {
            tick.tick().await;
            let t = self.target();
            let Some(session) = self.client.create_session(&t, wt).await else {
                continue;
            };
            if let Some(token) = self.acquire(&cfg, &t, &session, &mut tick).await {
                for _ in 0..8 {
                    if self.stopped() {
                        break;
                    }
                    tick.tick().await;
                    let (w, value) = (self.target(), self.unique_value());
                    let value = format!("{value}-t{token}-s{}", self.seq);
                    let (lock, fenced) = (&cfg.lock_key, &cfg.fenced_key);
                    let c = &self.client;
                    if !c
                        .fenced_write(&w, lock, fenced, &session, token, value, wt)
                        .await
                    {
                        break;
                    }
                }
                let path = format!("/v1/kv/{}?release={session}", cfg.lock_key);
                self.put_anywhere(&t, &path, wt).await;
            }
            // Through any node that answers, so a hold does not outlive its
            // holder's node by a session TTL.
            let path = format!("/v1/session/destroy/{session}");
            self.put_anywhere(&t, &path, wt).await;
        }
    }

    /// `PUT path` on `first`, then on every other node, until one answers
    /// 200.
    async fn put_anywhere(&self, first: &Target, path: &str, within: Duration) {
        let others = self.targets.iter().filter(|t| t.name != first.name);
        for t in std::iter::once(first).chain(others) {
            if self
                .client
                .put_ok(&format!("{}{path}", t.url), within)
                .await
            {
                return;
            }
        }
    }

    /// Tries (20 times at most) to acquire the lock with `session`; the
    /// fencing token (the lock key's ModifyIndex, read with `?consistent`
    /// and naming our session) once held.
    async fn acquire(
        &mut self,
        cfg: &Config,
        t: &Target,
        session: &str,
        tick: &mut tokio::time::Interval,
    ) -> Option<u64> {
        for _ in 0..20 {
            if self.stopped() {
                return None;
            }
            tick.tick().await;
            let c = &self.client;
            match c
                .acquire(t, &cfg.lock_key, session, cfg.write_timeout)
                .await
            {
                Acquired::SessionGone => return None,
                Acquired::No => continue,
                Acquired::Maybe => {}
            }
            let (key, rt) = (&cfg.lock_key, cfg.read_timeout);
            let found = c.read(t, key, Mode::Consistent, rt, Kind::LockRead).await;
            if let Some(f) = found.filter(|f| f.session.as_deref() == Some(session)) {
                return f.index;
            }
        }
        None
    }
}

async fn read(client: &Client, t: &Target, key: &str, mode: Mode, within: Duration) {
    client.read(t, key, mode, within, Kind::Read(mode)).await;
}

/// Reads every key with `?consistent` through each of `targets`, recorded
/// as worker `final` (these reads enter the linearizability check, so an
/// acknowledged write lost at the end shows there).
///
/// # Errors
/// When no read was answered at all.
pub async fn final_reads(
    cfg: &Config,
    targets: &[Target],
    recorder: Arc<Recorder>,
) -> Result<usize, String> {
    let client = Client::new("final", recorder);
    let mut answered = 0;
    for t in targets {
        for key in cfg.keys.iter().chain([&cfg.fenced_key]) {
            let mode = Mode::Consistent;
            let found = client
                .read(t, key, mode, cfg.read_timeout, Kind::Read(mode))
                .await;
            answered += usize::from(found.is_some());
        }
    }
    if answered == 0 {
        return Err("no final read was answered".into());
    }
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..1000 {
            let x = a.below(7);
            assert_eq!(x, b.below(7));
            assert!(x < 7);
        }
        assert_eq!(Rng::new(1).below(0), 0);
    }
}
