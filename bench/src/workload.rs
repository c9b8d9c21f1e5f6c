//! The workloads, written once against [`Target`]: closed-loop puts and gets,
//! a bulk load, and watch notification latency. Every loop is bounded by a
//! count or a deadline, every request by [`crate::target::OP_TIMEOUT`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::stats::{Notify, Samples, Throughput};
use crate::target::{Conn, Read, Target};

/// Size of every value written.
pub const VALUE_SIZE: usize = 256;

/// The value every put writes: printable, so both APIs carry it unchanged.
pub fn value() -> Vec<u8> {
    (0..VALUE_SIZE).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The key of the `i`th bulk-loaded key.
pub fn load_key(i: u64) -> String {
    format!("bench/load/{i:07}")
}

/// What each closed-loop client does, over and over.
#[derive(Debug, Clone)]
pub enum Op {
    /// Puts distinct keys under `bench/put/<tag>/`.
    Put { tag: String },
    /// Reads random keys among the first `keys` bulk-loaded ones.
    Get { keys: u64, read: Read },
}

/// `clients` clients, each on its own connection, each doing `op` one request
/// at a time for `duration`; ops/s and latency over the whole run.
///
/// # Errors
/// When a client cannot connect or its warm-up request fails.
pub async fn closed_loop(
    target: &Target,
    clients: usize,
    duration: Duration,
    op: Op,
) -> anyhow::Result<Throughput> {
    let run = closed_loop_samples(target, clients, duration, op).await?;
    Ok(Throughput::new(
        clients,
        run.samples,
        run.errors,
        run.elapsed,
    ))
}

/// What one closed-loop run measured, every latency kept (so that runs can
/// be merged before percentiles are taken).
pub struct LoopRun {
    pub samples: Samples,
    pub errors: u64,
    pub elapsed: Duration,
}

/// As [`closed_loop`], the latencies returned rather than summarised.
///
/// # Errors
/// When a client cannot connect or its warm-up request fails.
pub async fn closed_loop_samples(
    target: &Target,
    clients: usize,
    duration: Duration,
    op: Op,
) -> anyhow::Result<LoopRun> {
    let value = Arc::new(value());
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let mut conn = target.connect(w).await?;
        // Warm up outside the timed window: opens the connection.
        run_op(
            &mut conn,
            &op,
            w,
            u64::MAX,
            &value,
            &mut StdRng::seed_from_u64(0),
        )
        .await
        .with_context(|| format!("{} client {w}: warm-up request", target.side))?;
        let (op, value, barrier) = (op.clone(), value.clone(), barrier.clone());
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(w as u64);
            let mut samples = Samples::default();
            let mut errors = 0u64;
            barrier.wait().await;
            let end = Instant::now() + duration;
            let mut seq = 0u64;
            while Instant::now() < end {
                let t0 = Instant::now();
                match run_op(&mut conn, &op, w, seq, &value, &mut rng).await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
                seq += 1;
            }
            (samples, errors)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let (samples, errors) = join(tasks).await?;
    Ok(LoopRun {
        samples,
        errors,
        elapsed: start.elapsed(),
    })
}

async fn run_op(
    conn: &mut Conn,
    op: &Op,
    worker: usize,
    seq: u64,
    value: &[u8],
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    match op {
        Op::Put { tag } => {
            conn.put(&format!("bench/put/{tag}/{worker}/{seq}"), value)
                .await
        }
        Op::Get { keys, read } => conn.get(&load_key(rng.gen_range(0..*keys)), *read).await,
    }
}

async fn join(mut tasks: JoinSet<(Samples, u64)>) -> anyhow::Result<(Samples, u64)> {
    let mut all = Samples::default();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (s, e) = r.context("a client task panicked")?;
        all.extend(s);
        errors += e;
    }
    Ok((all, errors))
}

/// Puts `keys` keys ([`load_key`]) with `clients` concurrent clients, giving
/// up at `deadline`; returns how many puts succeeded and how long it took.
///
/// # Errors
/// When a client cannot connect.
pub async fn load(
    target: &Target,
    clients: usize,
    keys: u64,
    deadline: Duration,
) -> anyhow::Result<Throughput> {
    let value = Arc::new(value());
    let end = Instant::now() + deadline;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let mut conn = target.connect(w).await?;
        let value = value.clone();
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0;
            for i in (w as u64..keys).step_by(clients) {
                if Instant::now() >= end {
                    break;
                }
                let t0 = Instant::now();
                match conn.put(&load_key(i), &value).await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let (samples, errors) = join(tasks).await?;
    Ok(Throughput::new(clients, samples, errors, start.elapsed()))
}

/// `watchers` watches on a fresh prefix, each on its own connection; one
/// writer puts `puts` keys under it, one every `spacing`; each watcher records
/// the time from a put's start to the event reaching it.
///
/// # Errors
/// When a watch cannot be opened or a stream breaks.
pub async fn notify(
    target: &Target,
    watchers: usize,
    puts: u64,
    spacing: Duration,
    tag: &str,
) -> anyhow::Result<Notify> {
    let prefix = format!("bench/watch/{tag}/");
    let mut watches = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        watches.push(
            target
                .watch(&prefix)
                .await
                .with_context(|| format!("opening a {} watch", target.side))?,
        );
    }
    let base = Instant::now();
    // Put start times in nanoseconds after `base`, plus one; 0 = not started.
    let started: Arc<Vec<AtomicU64>> = Arc::new((0..puts).map(|_| AtomicU64::new(0)).collect());
    let deadline =
        tokio::time::Instant::now() + spacing * u32::try_from(puts)? + Duration::from_secs(15);
    let mut tasks = JoinSet::new();
    for mut watch in watches {
        let (started, prefix) = (started.clone(), prefix.clone());
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut seen = 0u64;
            while seen < puts {
                let keys = match tokio::time::timeout_at(deadline, watch.next_keys()).await {
                    Ok(keys) => keys?,
                    Err(_) => break,
                };
                let now = base.elapsed();
                for key in keys {
                    seen += 1;
                    let Some(i) = key
                        .strip_prefix(&prefix)
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some(t) = started.get(i).map(|t| t.load(Ordering::SeqCst)) else {
                        continue;
                    };
                    if t > 0 {
                        samples.push(now.saturating_sub(Duration::from_nanos(t - 1)));
                    }
                }
            }
            anyhow::Ok(samples)
        });
    }
    let mut writer = target.connect(0).await?;
    let value = value();
    let mut put_errors = 0;
    let mut tick = tokio::time::interval(spacing);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..puts {
        tick.tick().await;
        started[i as usize].store(
            u64::try_from(base.elapsed().as_nanos())? + 1,
            Ordering::SeqCst,
        );
        if writer
            .put(&format!("{prefix}{i:05}"), &value)
            .await
            .is_err()
        {
            put_errors += 1;
        }
    }
    let mut all = Samples::default();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.context("a watcher task panicked")??);
    }
    Ok(Notify::new(watchers, puts, all, put_errors))
}
