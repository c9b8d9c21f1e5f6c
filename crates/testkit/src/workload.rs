//! The load of a fault-injection run: concurrent clients doing reads (each
//! consistency mode), writes and check-and-sets on a few keys, and lock
//! holders doing fenced writes, every operation through the HTTP API of a
//! node drawn at random (servers and client agents alike), each with a
//! bounded timeout, and every one recorded with its invoke and complete
//! times on one monotonic clock and what its answer says about its effect.
//!
//! Outcomes are classified as the checker needs them: an answer that says
//! what happened is `Ok`; a 4xx or a refused connection (the request never
//! reached a server) is `Failed`; a timeout, a lost connection or a 5xx is
//! `Unknown` (Praetor answers 500 to a write whose proposal timed out, which
//! may still be applied). Every value written is unique (`w<worker>-<seq>`),
//! which is what lets the checker reason about CAS by value (see
//! [`linearizability`](crate::linearizability)).
//!
//! Workers stop at the next operation after [`Workload::stop`]; each
//! operation ends within its timeout, so stopping is bounded. The choices
//! come from a seeded generator, so a run's sequence of choices can be
//! replayed (not its timing). Never signals a process or sleeps without a
//! bound; talks only to the nodes it was given.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::linearizability::{Call, Op, Outcome};

/// A node to send requests to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its node name (`s1`, `c1`).
    pub name: String,
    /// `http://ip:8500`.
    pub url: String,
}

/// Read consistency, as Consul's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Default,
    Consistent,
    Stale,
}

impl Mode {
    fn param(self) -> &'static str {
        match self {
            Mode::Default => "",
            Mode::Consistent => "?consistent",
            Mode::Stale => "?stale",
        }
    }

    /// `default`, `consistent`, `stale`.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::Consistent => "consistent",
            Mode::Stale => "stale",
        }
    }
}

/// What kind of operation a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Read(Mode),
    Write,
    Cas,
    /// `?acquire` of the lock key.
    Acquire,
    /// A `?consistent` read of the lock key (its session and index).
    LockRead,
    /// A txn that writes the shared key only while the lock key is still at
    /// the holder's fencing token.
    Fenced,
}

impl Kind {
    /// `read-default`, `write`, `fenced-write`, ...
    pub fn word(self) -> String {
        match self {
            Kind::Read(m) => format!("read-{}", m.word()),
            Kind::Write => "write".into(),
            Kind::Cas => "cas".into(),
            Kind::Acquire => "acquire".into(),
            Kind::LockRead => "lock-read".into(),
            Kind::Fenced => "fenced-write".into(),
        }
    }

    /// Whether the linearizability check takes it: every KV write, CAS and
    /// fenced write, default and consistent reads (stale reads promise no
    /// recency). Acquires and lock reads are the lock's business.
    pub fn checked(self) -> bool {
        matches!(
            self,
            Kind::Read(Mode::Default | Mode::Consistent) | Kind::Write | Kind::Cas | Kind::Fenced
        )
    }
}

/// One recorded operation: what the checker needs, and what a report shows.
#[derive(Debug, Clone)]
pub struct Record {
    pub op: Op,
    pub kind: Kind,
    /// The node asked.
    pub node: String,
    /// The worker that sent it (`kv3`, `lock1`, `final`).
    pub worker: String,
    /// For a read: the entry's ModifyIndex; for an acknowledged write, CAS
    /// or txn: the `X-Consul-Index` answered (the index it was applied at).
    pub index: Option<u64>,
    /// `X-Consul-KnownLeader` of a read's answer.
    pub known_leader: Option<bool>,
    /// `X-Consul-LastContact` of a read's answer (ms).
    pub last_contact_ms: Option<u64>,
    /// The status, or what went wrong (`500 No cluster leader`, `timeout`).
    pub answer: String,
    /// For a fenced write or an acquire: the holder's fencing token.
    pub token: Option<u64>,
}

impl Record {
    /// Whether the answer said what happened (a read's value, a write's or
    /// a CAS's result).
    pub fn is_ok(&self) -> bool {
        !matches!(self.op.outcome, Outcome::Failed | Outcome::Unknown)
    }
}

/// Every operation of a run, on one clock.
pub struct Recorder {
    epoch: Instant,
    next_id: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            records: Mutex::new(Vec::new()),
        })
    }

    /// The time since the epoch.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The epoch (for others' times on the same clock).
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn push(&self, r: Record) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }

    /// How many operations were recorded so far.
    pub fn len(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every record so far, in the order they completed.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct Config {
    /// The KV keys the workers share (3-5).
    pub keys: Vec<String>,
    /// The lock key of the fenced-write workers.
    pub lock_key: String,
    /// The key the lock holders write to.
    pub fenced_key: String,
    /// Concurrent KV workers.
    pub kv_workers: usize,
    /// Concurrent lock workers.
    pub lock_workers: usize,
    /// Most operations per second per worker.
    pub rate: u32,
    /// Timeout of a read.
    pub read_timeout: Duration,
    /// Timeout of a write, CAS or txn (client agents retry across servers
    /// for up to 7 s).
    pub write_timeout: Duration,
    /// Seeds the choices.
    pub seed: u64,
}

impl Config {
    /// Three keys under `prefix`, 6 KV workers and 2 lock workers at 20
    /// operations per second each, timeouts of 4 s (reads) and 10 s.
    pub fn new(prefix: &str, seed: u64) -> Config {
        Config {
            keys: (0..3).map(|i| format!("{prefix}/k{i}")).collect(),
            lock_key: format!("{prefix}/lock"),
            fenced_key: format!("{prefix}/fenced"),
            kv_workers: 6,
            lock_workers: 2,
            rate: 20,
            read_timeout: Duration::from_secs(4),
            write_timeout: Duration::from_secs(10),
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
    recorder: Arc<Recorder>,
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
            let worker = Worker::new(
                format!("kv{w}"),
                cfg,
                targets.clone(),
                recorder.clone(),
                stop.clone(),
                w as u64,
            );
            tasks.push(tokio::spawn(worker.run_kv(cfg.clone())));
        }
        for w in 0..cfg.lock_workers {
            let worker = Worker::new(
                format!("lock{w}"),
                cfg,
                targets.clone(),
                recorder.clone(),
                stop.clone(),
                1000 + w as u64,
            );
            tasks.push(tokio::spawn(worker.run_lock(cfg.clone())));
        }
        Workload {
            recorder,
            stop,
            tasks,
        }
    }

    /// The recorder the workers write to.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Stops every worker at its next operation and waits for them (each
    /// operation ends within its timeout).
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

/// What an HTTP exchange gave.
enum Reply {
    Answer {
        status: u16,
        body: String,
        index: Option<u64>,
        known_leader: Option<bool>,
        last_contact_ms: Option<u64>,
    },
    /// The request never reached the node (connection refused).
    Refused(String),
    /// Sent, but no (complete) answer: a timeout or a lost connection.
    NoAnswer(String),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Reply::Answer { status, body, .. } => {
                let body = body.trim();
                if *status == 200 || body.is_empty() {
                    status.to_string()
                } else {
                    format!("{status} {}", body.chars().take(80).collect::<String>())
                }
            }
            Reply::Refused(e) => format!("refused: {e}"),
            Reply::NoAnswer(e) => format!("no answer: {e}"),
        }
    }
}

fn error_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

/// One worker: its HTTP client, its generator, where it records.
struct Worker {
    name: String,
    http: reqwest::Client,
    targets: Arc<Vec<Target>>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    rng: Rng,
    seq: u64,
    pace: Duration,
}

/// What a read found: the value and its ModifyIndex, plus the session
/// holding the key.
struct Found {
    value: Option<String>,
    index: Option<u64>,
    session: Option<String>,
}

impl Worker {
    fn new(
        name: String,
        cfg: &Config,
        targets: Arc<Vec<Target>>,
        recorder: Arc<Recorder>,
        stop: Arc<AtomicBool>,
        salt: u64,
    ) -> Worker {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Worker {
            name,
            http,
            targets,
            recorder,
            stop,
            rng: Rng::new(cfg.seed ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93)),
            seq: 0,
            pace: Duration::from_secs(1) / cfg.rate.max(1),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn unique_value(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.name, self.seq)
    }

    fn target(&mut self) -> Target {
        let t = self.rng.pick(&self.targets);
        t.clone()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<String>,
        within: Duration,
    ) -> Reply {
        let mut req = self.http.request(method, url).timeout(within);
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Reply::Refused(error_text(&e)),
            Err(e) => return Reply::NoAnswer(error_text(&e)),
        };
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let index = header("x-consul-index").and_then(|v| v.parse().ok());
        let known_leader = header("x-consul-knownleader").map(|v| v == "true");
        let last_contact_ms = header("x-consul-lastcontact").and_then(|v| v.parse().ok());
        let status = r.status().as_u16();
        match r.text().await {
            Ok(body) => Reply::Answer {
                status,
                body,
                index,
                known_leader,
                last_contact_ms,
            },
            Err(e) => Reply::NoAnswer(error_text(&e)),
        }
    }

    fn record(
        &self,
        op: Op,
        kind: Kind,
        node: &str,
        reply: &Reply,
        index: Option<u64>,
        token: Option<u64>,
    ) {
        let (known_leader, last_contact_ms) = match reply {
            Reply::Answer {
                known_leader,
                last_contact_ms,
                ..
            } => (*known_leader, *last_contact_ms),
            _ => (None, None),
        };
        self.recorder.push(Record {
            op,
            kind,
            node: node.to_owned(),
            worker: self.name.clone(),
            index,
            known_leader,
            last_contact_ms,
            answer: reply.describe(),
            token,
        });
    }

    fn op(&self, key: &str, call: Call, outcome: Outcome, invoke: Duration, label: String) -> Op {
        Op {
            id: self.recorder.next_id(),
            key: key.to_owned(),
            call,
            outcome,
            invoke,
            complete: self.recorder.now(),
            label,
        }
    }

    /// `GET /v1/kv/<key>` in `mode`, recorded; what it found when it
    /// answered 200 or 404.
    async fn read(
        &mut self,
        key: &str,
        mode: Mode,
        within: Duration,
        record_as: Kind,
    ) -> Option<Found> {
        let t = self.target();
        let url = format!("{}/v1/kv/{key}{}", t.url, mode.param());
        let invoke = self.recorder.now();
        let reply = self.send(reqwest::Method::GET, url, None, within).await;
        let found = match &reply {
            Reply::Answer {
                status: 404, index, ..
            } => Ok(Found {
                value: None,
                index: *index,
                session: None,
            }),
            Reply::Answer {
                status: 200, body, ..
            } => parse_entry(body),
            Reply::Answer { status, .. } if *status < 500 => Err(Outcome::Failed),
            Reply::Refused(_) => Err(Outcome::Failed),
            _ => Err(Outcome::Unknown),
        };
        let outcome = match &found {
            Ok(f) => Outcome::Read(f.value.clone()),
            Err(o) => o.clone(),
        };
        let entry_index = match (&reply, &found) {
            (Reply::Answer { status: 200, .. }, Ok(f)) => f.index,
            _ => None,
        };
        let label = format!(
            "{} via {} {}: {}{}",
            self.name,
            t.name,
            mode.word(),
            reply.describe(),
            headers_note(&reply, entry_index)
        );
        let op = self.op(key, Call::Read, outcome, invoke, label);
        self.record(op, record_as, &t.name, &reply, entry_index, None);
        found.ok()
    }

    /// `PUT /v1/kv/<key>` (with `?cas=` when `cas` is set), recorded.
    async fn write(&mut self, key: &str, cas: Option<(Option<String>, u64)>, within: Duration) {
        let t = self.target();
        let value = self.unique_value();
        let (url, call, kind) = match &cas {
            None => (
                format!("{}/v1/kv/{key}", t.url),
                Call::Write {
                    value: value.clone(),
                },
                Kind::Write,
            ),
            Some((expect, index)) => (
                format!("{}/v1/kv/{key}?cas={index}", t.url),
                Call::Cas {
                    expect: expect.clone(),
                    new: value.clone(),
                },
                Kind::Cas,
            ),
        };
        let invoke = self.recorder.now();
        let reply = self
            .send(reqwest::Method::PUT, url, Some(value), within)
            .await;
        let (outcome, index) = match &reply {
            Reply::Answer {
                status: 200,
                body,
                index,
                ..
            } => match (body.trim(), kind) {
                ("true", Kind::Write) => (Outcome::Written, *index),
                ("true", _) => (Outcome::Swapped(true), *index),
                ("false", Kind::Cas) => (Outcome::Swapped(false), None),
                _ => (Outcome::Unknown, None),
            },
            Reply::Answer { status, .. } if *status < 500 => (Outcome::Failed, None),
            Reply::Refused(_) => (Outcome::Failed, None),
            _ => (Outcome::Unknown, None),
        };
        let label = format!(
            "{} via {}: {}{}",
            self.name,
            t.name,
            reply.describe(),
            index.map(|i| format!(" at index {i}")).unwrap_or_default()
        );
        let op = self.op(key, call, outcome, invoke, label);
        self.record(op, kind, &t.name, &reply, index, None);
    }

    /// Reads, writes and CAS on random keys through random nodes until
    /// stopped.
    async fn run_kv(mut self, cfg: Config) {
        let mut tick = tokio::time::interval(self.pace);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stopped() {
            tick.tick().await;
            let key = self.rng.pick(&cfg.keys).clone();
            match self.rng.below(100) {
                0..=24 => {
                    self.read(
                        &key,
                        Mode::Default,
                        cfg.read_timeout,
                        Kind::Read(Mode::Default),
                    )
                    .await;
                }
                25..=39 => {
                    let m = Mode::Consistent;
                    self.read(&key, m, cfg.read_timeout, Kind::Read(m)).await;
                }
                40..=49 => {
                    let m = Mode::Stale;
                    self.read(&key, m, cfg.read_timeout, Kind::Read(m)).await;
                }
                50..=74 => self.write(&key, None, cfg.write_timeout).await,
                _ => {
                    // CAS from what a (recorded) read returned: the index it
                    // answered names the value it returned.
                    let mode = if self.rng.below(2) == 0 {
                        Mode::Default
                    } else {
                        Mode::Consistent
                    };
                    let found = self
                        .read(&key, mode, cfg.read_timeout, Kind::Read(mode))
                        .await;
                    if let Some(f) = found {
                        let index = if f.value.is_some() {
                            f.index.unwrap_or(0)
                        } else {
                            0
                        };
                        self.write(&key, Some((f.value, index)), cfg.write_timeout)
                            .await;
                    }
                }
            }
        }
    }

    /// Creates sessions, acquires the lock, makes fenced writes while
    /// holding it, releases; until stopped.
    async fn run_lock(mut self, cfg: Config) {
        let mut tick = tokio::time::interval(self.pace);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stopped() {
            tick.tick().await;
            let t = self.target();
            let Some(session) = self.create_session(&t, &cfg).await else {
                continue;
            };
            if let Some(token) = self.acquire(&t, &cfg, &session, &mut tick).await {
                for seq in 0..8 {
                    if self.stopped() {
                        break;
                    }
                    tick.tick().await;
                    if !self.fenced_write(&cfg, &session, token, seq).await {
                        break;
                    }
                }
                let url = format!("{}/v1/kv/{}?release={session}", t.url, cfg.lock_key);
                self.send(reqwest::Method::PUT, url, None, cfg.write_timeout)
                    .await;
            }
            let url = format!("{}/v1/session/destroy/{session}", t.url);
            self.send(reqwest::Method::PUT, url, None, cfg.write_timeout)
                .await;
        }
    }

    async fn create_session(&mut self, t: &Target, cfg: &Config) -> Option<String> {
        let body = json!({
            "Name": format!("faults {}", self.name),
            "TTL": "10s",
            "LockDelay": "1s",
            "Behavior": "release",
        });
        let url = format!("{}/v1/session/create", t.url);
        let reply = self
            .send(
                reqwest::Method::PUT,
                url,
                Some(body.to_string()),
                cfg.write_timeout,
            )
            .await;
        match reply {
            Reply::Answer {
                status: 200, body, ..
            } => serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["ID"].as_str().map(str::to_owned)),
            _ => None,
        }
    }

    /// Tries (a bounded number of times) to acquire the lock with
    /// `session`; the fencing token (the lock key's ModifyIndex, read with
    /// `?consistent` and naming our session) when held.
    async fn acquire(
        &mut self,
        t: &Target,
        cfg: &Config,
        session: &str,
        tick: &mut tokio::time::Interval,
    ) -> Option<u64> {
        for _ in 0..20 {
            if self.stopped() {
                return None;
            }
            tick.tick().await;
            let url = format!("{}/v1/kv/{}?acquire={session}", t.url, cfg.lock_key);
            let invoke = self.recorder.now();
            let reply = self
                .send(
                    reqwest::Method::PUT,
                    url,
                    Some(self.name.clone()),
                    cfg.write_timeout,
                )
                .await;
            let (outcome, maybe_held) = match &reply {
                Reply::Answer {
                    status: 200, body, ..
                } if body.trim() == "true" => (Outcome::Swapped(true), true),
                Reply::Answer {
                    status: 200, body, ..
                } if body.trim() == "false" => (Outcome::Swapped(false), false),
                Reply::Answer { status, .. } if *status < 500 => (Outcome::Failed, false),
                Reply::Refused(_) => (Outcome::Failed, false),
                _ => (Outcome::Unknown, true),
            };
            let label = format!("{} via {}: {}", self.name, t.name, reply.describe());
            let call = Call::Cas {
                expect: None,
                new: session.to_owned(),
            };
            let op = self.op(&cfg.lock_key, call, outcome, invoke, label);
            self.record(op, Kind::Acquire, &t.name, &reply, None, None);
            match &reply {
                // The session is gone (its node failed, a restart): start over.
                Reply::Answer { status, .. } if (400..500).contains(status) => return None,
                _ => {}
            }
            if !maybe_held {
                continue;
            }
            let found = self
                .read(
                    &cfg.lock_key,
                    Mode::Consistent,
                    cfg.read_timeout,
                    Kind::LockRead,
                )
                .await;
            match found {
                Some(f) if f.session.as_deref() == Some(session) => return f.index,
                _ => continue,
            }
        }
        None
    }

    /// One fenced write: a txn that sets the fenced key only if the lock
    /// key is still held by `session` at ModifyIndex `token`. `false` when
    /// the hold is over (the txn was refused).
    async fn fenced_write(&mut self, cfg: &Config, session: &str, token: u64, seq: u64) -> bool {
        let t = self.target();
        let value = format!("{}-t{token}-s{seq}", self.name);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
        let body = json!([
            {"KV": {"Verb": "check-session", "Key": cfg.lock_key, "Session": session}},
            {"KV": {"Verb": "check-index", "Key": cfg.lock_key, "Index": token}},
            {"KV": {"Verb": "set", "Key": cfg.fenced_key, "Value": b64}},
        ]);
        let url = format!("{}/v1/txn", t.url);
        let invoke = self.recorder.now();
        let reply = self
            .send(
                reqwest::Method::PUT,
                url,
                Some(body.to_string()),
                cfg.write_timeout,
            )
            .await;
        let (outcome, index, go_on) = match &reply {
            Reply::Answer {
                status: 200, index, ..
            } => (Outcome::Written, *index, true),
            Reply::Answer { status, .. } if *status < 500 => (Outcome::Failed, None, false),
            Reply::Refused(_) => (Outcome::Failed, None, true),
            _ => (Outcome::Unknown, None, true),
        };
        let label = format!(
            "{} token {token} via {}: {}{}",
            self.name,
            t.name,
            reply.describe(),
            index.map(|i| format!(" at index {i}")).unwrap_or_default()
        );
        let op = self.op(
            &cfg.fenced_key,
            Call::Write { value },
            outcome,
            invoke,
            label,
        );
        self.record(op, Kind::Fenced, &t.name, &reply, index, Some(token));
        go_on
    }
}

/// ` (ModifyIndex 12, KnownLeader true, LastContact 0ms)` for a read.
fn headers_note(reply: &Reply, entry_index: Option<u64>) -> String {
    let Reply::Answer {
        known_leader,
        last_contact_ms,
        ..
    } = reply
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(i) = entry_index {
        parts.push(format!("ModifyIndex {i}"));
    }
    if let Some(k) = known_leader {
        parts.push(format!("KnownLeader {k}"));
    }
    if let Some(c) = last_contact_ms {
        parts.push(format!("LastContact {c}ms"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The value, ModifyIndex and session of the one entry of a `GET
/// /v1/kv/<key>` answer; `Unknown` when the body cannot be read.
fn parse_entry(body: &str) -> Result<Found, Outcome> {
    let v: Value = serde_json::from_str(body).map_err(|_| Outcome::Unknown)?;
    let e = v.get(0).ok_or(Outcome::Unknown)?;
    let value = match e["Value"].as_str() {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|_| Outcome::Unknown)?,
        None => String::new(),
    };
    Ok(Found {
        value: Some(value),
        index: e["ModifyIndex"].as_u64(),
        session: e["Session"].as_str().map(str::to_owned),
    })
}

/// Reads every key with `?consistent` through each of `targets`, recorded
/// as worker `final` (these reads enter the linearizability check, so an
/// acknowledged write lost at the end shows there), and returns how many
/// answered.
pub async fn final_reads(
    cfg: &Config,
    targets: Vec<Target>,
    recorder: Arc<Recorder>,
) -> Result<usize, String> {
    let mut w = Worker::new(
        "final".into(),
        cfg,
        Arc::new(targets.clone()),
        recorder,
        Arc::new(AtomicBool::new(false)),
        7,
    );
    let mut answered = 0;
    for t in &targets {
        w.targets = Arc::new(vec![t.clone()]);
        for key in cfg.keys.iter().chain([&cfg.fenced_key]) {
            if w.read(
                key,
                Mode::Consistent,
                cfg.read_timeout,
                Kind::Read(Mode::Consistent),
            )
            .await
            .is_some()
            {
                answered += 1;
            }
        }
    }
    if answered == 0 {
        return Err("no final read was answered".into());
    }
    Ok(answered)
}

/// One version of a key, from `GET /v1/history/kv/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The index it was written at.
    pub index: u64,
    /// `None` for a delete.
    pub value: Option<String>,
}

/// Every kept version of `key` (oldest first), read with `?consistent`
/// from `target`: Praetor's KV history, the order in which writes were
/// applied, including those whose client never learned the outcome.
///
/// # Errors
/// No answer, or not a list of versions.
pub async fn history(target: &Target, key: &str) -> Result<Vec<Version>, String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/v1/history/kv/{key}?consistent&limit=10000", target.url);
    let r = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", error_text(&e)))?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| error_text(&e))?;
    match status {
        404 => return Ok(Vec::new()),
        200 => {}
        other => return Err(format!("GET {url} answered {other}: {}", body.trim())),
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let mut out = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        let value = match e["Value"].as_str() {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| e.to_string())?,
            ),
            None if e["Op"].as_str() == Some("delete") => None,
            None => Some(String::new()),
        };
        out.push(Version {
            index: e["Index"].as_u64().unwrap_or(0),
            value,
        });
    }
    out.sort_by_key(|v| v.index);
    Ok(out)
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

    #[test]
    fn an_entry_gives_its_value_index_and_session() {
        let body = r#"[{"Key":"k","Value":"YWJj","ModifyIndex":12,"Session":"s"}]"#;
        let f = parse_entry(body).unwrap();
        assert_eq!(f.value.as_deref(), Some("abc"));
        assert_eq!(f.index, Some(12));
        assert_eq!(f.session.as_deref(), Some("s"));
        assert!(parse_entry("not json").is_err());
    }

    #[test]
    fn only_writes_and_default_or_consistent_reads_are_checked() {
        assert!(Kind::Read(Mode::Default).checked());
        assert!(Kind::Read(Mode::Consistent).checked());
        assert!(!Kind::Read(Mode::Stale).checked());
        assert!(Kind::Cas.checked());
        assert!(Kind::Fenced.checked());
        assert!(!Kind::Acquire.checked());
        assert!(!Kind::LockRead.checked());
    }
}
