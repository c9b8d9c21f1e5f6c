//! `praetor lock` (Consul's `consul lock`) and `praetor elect` (Praetor's
//! addition): hold a lock, or one slot of a semaphore, while a child
//! process runs, and stop the child when the hold is lost.
//!
//! The on-disk format is that of Consul's `api` package, so a Consul
//! client's `api.Lock` or `api.Semaphore` on the same prefix contends
//! correctly with these commands:
//! - lock: the key (`PREFIX/.lock` for `lock`, `-key` for `elect`) is
//!   acquired with a session, `Flags` = `LOCK_FLAG_VALUE`;
//! - semaphore (`lock -n=N`, N > 1): each contender acquires
//!   `PREFIX/<session>` with its session (Behavior delete); the holders are
//!   listed in `PREFIX/.lock` as `{"Limit":N,"Holders":{"<session>":true}}`,
//!   changed only by check-and-set, `Flags` = `SEMAPHORE_FLAG_VALUE`.
//!
//! The hold is lost when the key (or the holder entry) no longer names our
//! session, when the agent stays unreachable for `-monitor-retry` attempts,
//! or when the session could not be renewed for a whole TTL (the servers
//! expire it only after twice that). A lost hold stops the child: SIGTERM to
//! its process group, SIGKILL after a grace period.

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{bail, Context};
use praetor_api::session::{LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE};
use praetor_api::KvPair;
use praetor_client::{Client, ClientError, QueryOptions};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::HttpArgs;

/// Session TTL of `lock` (Consul's `api` default).
const LOCK_TTL: Duration = Duration::from_secs(15);
/// Pause after an acquire that was refused (a lock-delay, a lost race).
const RETRY_ACQUIRE: Duration = Duration::from_secs(1);
/// Pause between two monitoring attempts after an error.
const MONITOR_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Wait of the blocking reads that watch the lock.
const BLOCK_WAIT: Duration = Duration::from_secs(30);
/// How long a stopped child gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

fn parse_duration(s: &str) -> Result<Duration, String> {
    praetor_api::duration::parse(s).map_err(|e| e.to_string())
}

/// `praetor lock [-n=N] PREFIX CHILD…`.
#[derive(clap::Args, Debug)]
pub struct LockArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// How many may hold it at once; above 1, a semaphore.
    #[arg(short = 'n', long = "n", default_value_t = 1)]
    limit: usize,
    /// The session's name (default: "Praetor lock for CHILD at PREFIX").
    #[arg(long)]
    name: Option<String>,
    /// Longest wait to acquire (default: forever).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// How many times to retry watching the lock after an error.
    #[arg(long = "monitor-retry", default_value_t = 3)]
    monitor_retry: u32,
    /// Exit with 2 when the child fails (otherwise 0 once it ran).
    #[arg(long = "child-exit-code")]
    child_exit_code: bool,
    /// Run the child through `sh -c` (Consul's default); `-shell=false` runs it directly.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    shell: bool,
    /// Print what happens.
    #[arg(long)]
    verbose: bool,
    /// The KV prefix of the lock or semaphore.
    prefix: String,
    /// The command to run while holding it.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    child: Vec<String>,
}

/// `praetor elect -key=K -- CHILD…`.
#[derive(clap::Args, Debug)]
pub struct ElectArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The election's key: whoever holds it leads.
    #[arg(long)]
    key: String,
    /// The session's name.
    #[arg(long)]
    name: Option<String>,
    /// Longest wait to become leader (default: forever).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// How many times to retry watching the lock after an error.
    #[arg(long = "monitor-retry", default_value_t = 3)]
    monitor_retry: u32,
    /// Exit with 2 when the child fails.
    #[arg(long = "child-exit-code")]
    child_exit_code: bool,
    /// The session's TTL (10s to 24h).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    ttl: Duration,
    /// How long the key stays unacquirable after a leader's session is invalidated.
    #[arg(long = "lock-delay", default_value = "15s", value_parser = parse_duration)]
    lock_delay: Duration,
    /// Print what happens.
    #[arg(long)]
    verbose: bool,
    /// The command to run while leader (its arguments as given; no shell).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    child: Vec<String>,
}

/// Consul's semaphore record, `PREFIX/.lock`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SemaphoreLock {
    limit: usize,
    holders: BTreeMap<String, bool>,
}

/// What is held.
#[derive(Debug, Clone)]
enum Mode {
    Lock { key: String },
    Semaphore { prefix: String, limit: usize },
}

/// A hold we have: the session and what the child is told about it.
struct Held {
    session: String,
    key: String,
    lock_index: u64,
    /// The key's ModifyIndex right after our acquire: the Raft index of
    /// the acquisition, larger for every later term.
    fencing_token: u64,
}

/// How to run the child and what to do around it.
struct Plan {
    mode: Mode,
    session_body: serde_json::Value,
    ttl: Duration,
    timeout: Option<Duration>,
    monitor_retry: u32,
    child_exit_code: bool,
    argv: Vec<String>,
    verbose: bool,
}

pub async fn lock(a: LockArgs) -> anyhow::Result<()> {
    if a.limit == 0 {
        bail!("-n must be at least 1");
    }
    let prefix = a.prefix.trim_end_matches('/').to_owned();
    if prefix.is_empty() {
        bail!("the prefix must not be empty");
    }
    let joined = a.child.join(" ");
    let name = a
        .name
        .unwrap_or_else(|| format!("Praetor lock for {joined} at {prefix}"));
    let (mode, behavior) = if a.limit == 1 {
        (
            Mode::Lock {
                key: format!("{prefix}/.lock"),
            },
            "release",
        )
    } else {
        (
            Mode::Semaphore {
                prefix,
                limit: a.limit,
            },
            "delete",
        )
    };
    let argv = if a.shell {
        vec!["/bin/sh".to_owned(), "-c".to_owned(), joined]
    } else {
        a.child
    };
    let plan = Plan {
        mode,
        session_body: serde_json::json!({
            "Name": name,
            "TTL": format!("{}s", LOCK_TTL.as_secs()),
            "Behavior": behavior,
        }),
        ttl: LOCK_TTL,
        timeout: a.timeout,
        monitor_retry: a.monitor_retry,
        child_exit_code: a.child_exit_code,
        argv,
        verbose: a.verbose,
    };
    run(a.http.client()?, plan).await
}

pub async fn elect(a: ElectArgs) -> anyhow::Result<()> {
    let key = a.key.trim_matches('/').to_owned();
    if key.is_empty() {
        bail!("-key is required");
    }
    let name = a
        .name
        .unwrap_or_else(|| format!("Praetor election at {key}"));
    let plan = Plan {
        mode: Mode::Lock { key },
        session_body: serde_json::json!({
            "Name": name,
            "TTL": format!("{}ms", a.ttl.as_millis()),
            "LockDelay": format!("{}ms", a.lock_delay.as_millis()),
            "Behavior": "release",
        }),
        ttl: a.ttl,
        timeout: a.timeout,
        monitor_retry: a.monitor_retry,
        child_exit_code: a.child_exit_code,
        argv: a.child,
        verbose: a.verbose,
    };
    run(a.http.client()?, plan).await
}

fn say(verbose: bool, msg: &str) {
    if verbose {
        crate::output::info(msg);
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

async fn run(client: Client, plan: Plan) -> anyhow::Result<()> {
    let session = client
        .session_create(&plan.session_body)
        .await
        .context("creating a session")?;
    say(plan.verbose, &format!("Session {session} created"));
    let lost = CancellationToken::new();
    let done = CancellationToken::new();
    let renewer = tokio::spawn(renew(
        client.clone(),
        session.clone(),
        plan.ttl,
        lost.clone(),
        done.clone(),
    ));
    let acquired = tokio::select! {
        r = acquire(&client, &plan.mode, &session) => Some(r),
        () = sleep_or_forever(plan.timeout) => None,
        () = shutdown_signal() => {
            finish(&client, &plan.mode, &session, &done).await;
            bail!("Shutdown triggered during lock acquisition");
        }
        () = lost.cancelled() => Some(Err(anyhow::anyhow!("the session was lost while waiting"))),
    };
    let held = match acquired {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            finish(&client, &plan.mode, &session, &done).await;
            return Err(e.context("Lock acquisition failed"));
        }
        None => {
            finish(&client, &plan.mode, &session, &done).await;
            bail!("Lock acquisition failed: timeout");
        }
    };
    say(
        plan.verbose,
        &format!("Lock acquired: {} (token {})", held.key, held.fencing_token),
    );
    let monitor_task = tokio::spawn(monitor(
        client.clone(),
        plan.mode.clone(),
        session.clone(),
        plan.monitor_retry,
        lost.clone(),
        done.clone(),
    ));
    let outcome = supervise(&plan, &held, &lost).await;
    finish(&client, &plan.mode, &session, &done).await;
    monitor_task.abort();
    renewer.abort();
    match outcome? {
        Outcome::Exited(status) => {
            say(plan.verbose, &format!("Child exited: {status}"));
            if plan.child_exit_code && !status.success() {
                std::process::exit(2);
            }
            Ok(())
        }
        Outcome::Lost => bail!("Lock lost; the child was stopped"),
        Outcome::Shutdown => bail!("Shutdown triggered; the child was stopped"),
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d.filter(|d| !d.is_zero()) {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Attempts at releasing and at destroying the session, 1 s apart.
const FINISH_ATTEMPTS: u32 = 8;

/// Releases what we hold and destroys the session, retrying transient
/// errors a bounded number of times (if all fail, the session's TTL or
/// checks end the hold on the servers).
async fn finish(client: &Client, mode: &Mode, session: &str, done: &CancellationToken) {
    done.cancel();
    for _ in 0..FINISH_ATTEMPTS {
        let r = match mode {
            Mode::Lock { key } => client
                .kv_release(key, Vec::new(), LOCK_FLAG_VALUE, session)
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from),
            Mode::Semaphore { prefix, .. } => leave_semaphore(client, prefix, session).await,
        };
        match r {
            Err(e) if transient(&e) => tokio::time::sleep(RETRY_ACQUIRE).await,
            _ => break,
        }
    }
    for _ in 0..FINISH_ATTEMPTS {
        match client.session_destroy(session).await {
            Err(ClientError::Connect { .. }) | Err(ClientError::Http { status: 500.., .. }) => {
                tokio::time::sleep(RETRY_ACQUIRE).await
            }
            _ => break,
        }
    }
}

/// Renews the session every TTL/2 until `done`; cancels `lost` when the
/// session is gone or no renewal succeeded for a whole TTL.
async fn renew(
    client: Client,
    session: String,
    ttl: Duration,
    lost: CancellationToken,
    done: CancellationToken,
) {
    let mut last_ok = Instant::now();
    loop {
        let pause = if last_ok.elapsed() < ttl / 2 {
            ttl / 2
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = done.cancelled() => return,
        }
        let sent = Instant::now();
        match tokio::time::timeout(ttl / 3, client.session_renew(&session)).await {
            Ok(Ok(Some(_))) => last_ok = sent,
            Ok(Ok(None)) => {
                lost.cancel();
                return;
            }
            Ok(Err(_)) | Err(_) => {
                if last_ok.elapsed() >= ttl {
                    lost.cancel();
                    return;
                }
            }
        }
    }
}

fn consistent() -> QueryOptions {
    QueryOptions {
        consistent: true,
        ..QueryOptions::default()
    }
}

fn blocking(index: u64) -> QueryOptions {
    QueryOptions {
        index: Some(index),
        wait: Some(BLOCK_WAIT),
        ..QueryOptions::default()
    }
}

/// `true` for errors worth retrying: the agent unreachable, or a 5xx (no
/// leader during an election, a server restarting).
fn transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<ClientError>() {
        Some(ClientError::Connect { .. }) => true,
        Some(ClientError::Http { status, .. }) => *status >= 500,
        _ => false,
    })
}

/// Tries to acquire until it succeeds or fails for good; transient errors
/// (an election under way, the agent restarting) are retried.
async fn acquire(client: &Client, mode: &Mode, session: &str) -> anyhow::Result<Held> {
    loop {
        let r = match mode {
            Mode::Lock { key } => acquire_lock(client, key, session).await,
            Mode::Semaphore { prefix, limit } => {
                acquire_semaphore(client, prefix, *limit, session).await
            }
        };
        match r {
            Err(e) if transient(&e) => tokio::time::sleep(RETRY_ACQUIRE).await,
            other => return other,
        }
    }
}

async fn acquire_lock(client: &Client, key: &str, session: &str) -> anyhow::Result<Held> {
    let mut index = 0;
    loop {
        let (pair, meta) = client
            .kv_get(key, &blocking(index))
            .await
            .context("reading the lock")?;
        if let Some(p) = &pair {
            if p.flags != LOCK_FLAG_VALUE {
                bail!("Existing key does not match lock use");
            }
            if p.session.as_deref().is_some_and(|s| s != session) {
                index = meta.last_index;
                continue;
            }
        }
        if client
            .kv_acquire(key, Vec::new(), LOCK_FLAG_VALUE, session)
            .await
            .context("acquiring the lock")?
        {
            let (pair, _) = client.kv_get(key, &consistent()).await?;
            match pair {
                Some(p) if p.session.as_deref() == Some(session) => {
                    return Ok(Held {
                        session: session.to_owned(),
                        key: key.to_owned(),
                        lock_index: p.lock_index,
                        fencing_token: p.modify_index,
                    })
                }
                _ => {}
            }
        }
        index = 0;
        tokio::time::sleep(RETRY_ACQUIRE).await;
    }
}

/// The semaphore record among `pairs` (or a new one), with the holders
/// whose contender key no longer has a session removed.
fn semaphore_state(
    pairs: &[KvPair],
    prefix: &str,
    limit: usize,
) -> anyhow::Result<(SemaphoreLock, u64)> {
    let lock_key = format!("{prefix}/.lock");
    let (mut lock, cas) = match pairs.iter().find(|p| p.key == lock_key) {
        Some(p) => {
            if p.flags != SEMAPHORE_FLAG_VALUE {
                bail!("Existing key does not match semaphore use");
            }
            let lock: SemaphoreLock = serde_json::from_slice(&p.decoded_value())
                .context("decoding the semaphore's .lock key")?;
            (lock, p.modify_index)
        }
        None => (
            SemaphoreLock {
                limit,
                holders: BTreeMap::new(),
            },
            0,
        ),
    };
    if lock.limit != limit {
        bail!(
            "semaphore limit conflict (lock: {}, local: {limit})",
            lock.limit
        );
    }
    let alive: Vec<&str> = pairs
        .iter()
        .filter(|p| p.session.is_some())
        .filter_map(|p| {
            p.key
                .strip_prefix(&format!("{prefix}/"))
                .map(|_| p.key.as_str())
        })
        .collect();
    lock.holders
        .retain(|s, _| alive.contains(&format!("{prefix}/{s}").as_str()));
    Ok((lock, cas))
}

async fn acquire_semaphore(
    client: &Client,
    prefix: &str,
    limit: usize,
    session: &str,
) -> anyhow::Result<Held> {
    let contender = format!("{prefix}/{session}");
    if !client
        .kv_acquire(&contender, Vec::new(), SEMAPHORE_FLAG_VALUE, session)
        .await
        .context("creating the contender key")?
    {
        bail!("failed to make contender entry");
    }
    let lock_key = format!("{prefix}/.lock");
    let mut index = 0;
    loop {
        let (pairs, meta) = client
            .kv_list(&format!("{prefix}/"), &blocking(index))
            .await
            .context("reading the semaphore")?;
        let (mut lock, cas) = semaphore_state(&pairs, prefix, limit)?;
        if lock.holders.contains_key(session) {
            let (pair, _) = client.kv_get(&lock_key, &consistent()).await?;
            let token = pair.map_or(0, |p| p.modify_index);
            return Ok(Held {
                session: session.to_owned(),
                key: contender,
                lock_index: 0,
                fencing_token: token,
            });
        }
        if lock.holders.len() >= limit {
            index = meta.last_index;
            continue;
        }
        lock.holders.insert(session.to_owned(), true);
        let value = serde_json::to_vec(&lock)?;
        let set = client
            .kv_put(&lock_key, value, Some(SEMAPHORE_FLAG_VALUE), Some(cas))
            .await
            .context("updating the semaphore")?;
        if !set {
            index = 0;
        }
        // On success the next round finds us among the holders.
    }
}

/// Takes us out of the semaphore's holders (check-and-set, a few tries)
/// and deletes our contender key.
async fn leave_semaphore(client: &Client, prefix: &str, session: &str) -> anyhow::Result<()> {
    let lock_key = format!("{prefix}/.lock");
    for _ in 0..10 {
        let (pair, _) = client.kv_get(&lock_key, &consistent()).await?;
        let Some(pair) = pair else { break };
        let Ok(mut lock) = serde_json::from_slice::<SemaphoreLock>(&pair.decoded_value()) else {
            break;
        };
        if lock.holders.remove(session).is_none() {
            break;
        }
        let value = serde_json::to_vec(&lock)?;
        if client
            .kv_put(
                &lock_key,
                value,
                Some(SEMAPHORE_FLAG_VALUE),
                Some(pair.modify_index),
            )
            .await?
        {
            break;
        }
    }
    client
        .kv_delete(&format!("{prefix}/{session}"), false, None)
        .await?;
    Ok(())
}

/// Whether we still hold it, from one read; `Err` when the agent could not
/// answer. Returns the index to block on next.
async fn still_held(
    client: &Client,
    mode: &Mode,
    session: &str,
    index: u64,
) -> Result<(bool, u64), ClientError> {
    match mode {
        Mode::Lock { key } => {
            let (pair, meta) = client.kv_get(key, &blocking(index)).await?;
            let held = pair.is_some_and(|p| p.session.as_deref() == Some(session));
            Ok((held, meta.last_index))
        }
        Mode::Semaphore { prefix, limit } => {
            let (pairs, meta) = client
                .kv_list(&format!("{prefix}/"), &blocking(index))
                .await?;
            let contender = format!("{prefix}/{session}");
            let mine = pairs
                .iter()
                .any(|p| p.key == contender && p.session.as_deref() == Some(session));
            let listed = semaphore_state(&pairs, prefix, *limit)
                .is_ok_and(|(l, _)| l.holders.contains_key(session));
            Ok((mine && listed, meta.last_index))
        }
    }
}

/// Watches the hold until it is lost (then cancels `lost`) or `done`.
async fn monitor(
    client: Client,
    mode: Mode,
    session: String,
    retries: u32,
    lost: CancellationToken,
    done: CancellationToken,
) {
    let mut index = 0;
    let mut failures = 0;
    loop {
        let read = tokio::select! {
            r = still_held(&client, &mode, &session, index) => r,
            () = done.cancelled() => return,
        };
        match read {
            Ok((true, i)) => {
                failures = 0;
                index = i;
            }
            Ok((false, _)) => {
                lost.cancel();
                return;
            }
            Err(_) if failures < retries => {
                failures += 1;
                index = 0;
                tokio::time::sleep(MONITOR_RETRY_PAUSE).await;
            }
            Err(_) => {
                lost.cancel();
                return;
            }
        }
    }
}

enum Outcome {
    Exited(ExitStatus),
    Lost,
    Shutdown,
}

/// Runs the child until it exits, the hold is lost, or we are told to stop.
async fn supervise(plan: &Plan, held: &Held, lost: &CancellationToken) -> anyhow::Result<Outcome> {
    let (program, args) = plan.argv.split_first().context("no child command given")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("PRAETOR_SESSION", &held.session)
        .env("PRAETOR_LOCK_KEY", &held.key)
        .env("PRAETOR_LOCK_INDEX", held.lock_index.to_string())
        .env("PRAETOR_FENCING_TOKEN", held.fencing_token.to_string())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting the child {program:?}"))?;
    let outcome = tokio::select! {
        status = child.wait() => return Ok(Outcome::Exited(status.context("waiting for the child")?)),
        () = lost.cancelled() => Outcome::Lost,
        () = shutdown_signal() => Outcome::Shutdown,
    };
    if matches!(outcome, Outcome::Lost) {
        crate::output::error("Lock lost, killing child");
    }
    stop_child(&mut child).await;
    Ok(outcome)
}

/// SIGTERM to the child's process group; SIGKILL after the grace period.
async fn stop_child(child: &mut tokio::process::Child) {
    let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; -pid names the child's own
    // process group (it was started with process_group(0)), never ours.
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        // SAFETY: as above.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.wait().await;
    }
}
