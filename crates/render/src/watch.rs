//! The data a renderer waits on: one chain of blocking queries per
//! endpoint (a key, a prefix, a service's health, the catalog's services
//! or nodes), each running in its own task and reporting every change of
//! its result, and every failed read with the pause before the next try
//! (the back-off of `praetor_client::watch`). A renderer keeps the last
//! good data of every endpoint, so an agent that goes away leaves its
//! output as it was. Bounded: at most [`MAX_WATCHES`] endpoints, and a
//! bounded queue of updates (a slow renderer slows the reads, never grows
//! memory).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use praetor_client::watch::{Backoff, Plan};
use praetor_client::{Client, QueryOptions};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The most endpoints one renderer watches.
pub const MAX_WATCHES: usize = 4096;
/// Updates queued between the reads and the renderer.
const QUEUE: usize = 256;
/// The pause after a failed read, doubled after each further failure in a
/// row up to [`MAX_RETRY`]; a successful read starts over.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest pause between reads of an agent that does not answer.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// An endpoint path and its query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl Endpoint {
    /// The endpoint of a URL path with its query (`/v1/kv/a?recurse&dc=x`),
    /// percent-encoded as given.
    pub fn from_path_and_query(url: &str) -> Endpoint {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Endpoint {
            path: path.to_owned(),
            params: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        }
    }
}

/// What a watched endpoint reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Update<K> {
    /// Its result changed (the first result always does); `Null` for a
    /// missing key.
    Data { key: K, value: Value, index: u64 },
    /// A read failed; the next try comes after `retry`.
    Failed {
        key: K,
        error: String,
        retry: Duration,
    },
}

/// Why an endpoint cannot be watched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("more than {MAX_WATCHES} data sources in one renderer")]
    TooMany,
}

/// The endpoints being watched, by the renderer's key for each.
pub struct Watcher<K> {
    client: Client,
    opts: QueryOptions,
    tasks: HashMap<K, JoinHandle<()>>,
    tx: mpsc::Sender<Update<K>>,
    /// The pause after an endpoint's first failed read in a row, doubling
    /// with each further failure up to `max_retry`.
    first_retry: Duration,
    max_retry: Duration,
}

impl<K: Clone + Eq + Hash + Send + Sync + 'static> Watcher<K> {
    /// A watcher reading through `client` with `opts` (its datacenter,
    /// consistency and wait); updates arrive on the receiver.
    pub fn new(client: Client, opts: QueryOptions) -> (Self, mpsc::Receiver<Update<K>>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Watcher {
                client,
                opts,
                tasks: HashMap::new(),
                tx,
                first_retry: FIRST_RETRY,
                max_retry: MAX_RETRY,
            },
            rx,
        )
    }

    /// The same watcher with another back-off (`first` doubling to `max`)
    /// for the endpoints watched from now on.
    #[must_use]
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_retry = first;
        self.max_retry = max.max(first);
        self
    }

    /// Whether `key` is watched.
    pub fn contains(&self, key: &K) -> bool {
        self.tasks.contains_key(key)
    }

    /// How many endpoints are watched.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// `true` when nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts watching `endpoint` as `key` (nothing new if it is watched).
    ///
    /// # Errors
    /// `TooMany` beyond [`MAX_WATCHES`].
    pub fn watch(&mut self, key: K, endpoint: Endpoint) -> Result<(), WatchError> {
        if self.tasks.contains_key(&key) {
            return Ok(());
        }
        if self.tasks.len() >= MAX_WATCHES {
            return Err(WatchError::TooMany);
        }
        let plan = Plan::new(endpoint.path, endpoint.params, self.opts.clone());
        let task = tokio::spawn(follow(
            self.client.clone(),
            plan,
            key.clone(),
            self.tx.clone(),
            Backoff::new(self.first_retry, self.max_retry),
        ));
        self.tasks.insert(key, task);
        Ok(())
    }

    /// Stops watching every key `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.tasks.retain(|k, task| {
            let kept = keep(k);
            if !kept {
                task.abort();
            }
            kept
        });
    }
}

impl<K> Drop for Watcher<K> {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Follows one endpoint until the renderer is gone.
async fn follow<K: Clone>(
    client: Client,
    mut plan: Plan,
    key: K,
    tx: mpsc::Sender<Update<K>>,
    mut backoff: Backoff,
) {
    loop {
        let update = match plan.next(&client).await {
            Ok((value, index)) => {
                backoff.succeeded();
                Update::Data {
                    key: key.clone(),
                    value,
                    index,
                }
            }
            Err(e) => Update::Failed {
                key: key.clone(),
                error: e.to_string(),
                retry: backoff.failed(),
            },
        };
        let pause = match &update {
            Update::Failed { retry, .. } => Some(*retry),
            Update::Data { .. } => None,
        };
        if tx.send(update).await.is_err() {
            return;
        }
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};

    proptest! {
        /// Any URL text splits without a panic, and parameters encoded
        /// with the client's rules decode back to what was given.
        #[test]
        fn any_url_splits_and_encoded_parameters_read_back(
            url in ".{0,60}",
            params in proptest::collection::vec(("[a-z]{1,6}", ".{0,10}"), 0..5),
        ) {
            let _ = Endpoint::from_path_and_query(&url);
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", enc(v)))
                .collect();
            let e = Endpoint::from_path_and_query(&format!("/v1/kv/x?{}", query.join("&")));
            prop_assert_eq!(e.path, "/v1/kv/x");
            prop_assert_eq!(e.params, params);
        }
    }

    /// A stand-in for an agent's `/v1/kv/k`: answers a read with `value`
    /// at `index`, and holds a blocking read that asks past it until the
    /// server is aborted (which closes every connection it holds).
    /// Every request line it is sent goes to `log`.
    fn fake_agent(
        listener: tokio::net::TcpListener,
        value: Value,
        index: u64,
        log: Arc<Mutex<Vec<String>>>,
    ) -> JoinHandle<()> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        tokio::spawn(async move {
            let mut held = tokio::task::JoinSet::new();
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = value.to_string();
                let log = log.clone();
                held.spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    log.lock().unwrap().push(line.clone());
                    let asked = line
                        .split(['?', '&', ' '])
                        .find_map(|p| p.strip_prefix("index="))
                        .and_then(|i| i.parse::<u64>().ok())
                        .unwrap_or(0);
                    if asked >= index {
                        // Nothing newer: the blocking read waits.
                        std::future::pending::<()>().await;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         X-Consul-Index: {index}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        })
    }

    /// The next update within 10 s.
    async fn next_update(rx: &mut mpsc::Receiver<Update<&'static str>>) -> Update<&'static str> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an update within 10 s")
            .expect("the watcher is alive")
    }

    /// A datum is read once, then only by blocking queries at the index
    /// of its last answer: nothing polls, and a change is seen as soon as
    /// the agent answers.
    #[tokio::test]
    async fn after_the_first_read_a_datum_is_a_blocking_query_at_its_last_index() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let value = serde_json::json!([{"Key": "app/a", "Value": "MQ=="}]);
        let agent = fake_agent(listener, value.clone(), 7, log.clone());
        let client = Client::new(&addr.to_string(), None);
        let (mut watcher, mut rx) = Watcher::<&'static str>::new(client, QueryOptions::default());
        watcher
            .watch("app", Endpoint::from_path_and_query("/v1/kv/app?recurse"))
            .unwrap();
        assert_eq!(
            next_update(&mut rx).await,
            Update::Data {
                key: "app",
                value,
                index: 7
            }
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while log.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A poller would have asked again many times by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lines = log.lock().unwrap().clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("GET /v1/kv/app?"), "{lines:?}");
        assert!(lines[0].contains("recurse"), "{lines:?}");
        assert!(lines[1].contains("index=7"), "{lines:?}");
        assert!(
            rx.try_recv().is_err(),
            "no update without a change: {lines:?}"
        );
        agent.abort();
    }

    #[tokio::test]
    async fn an_agent_that_goes_away_is_retried_with_a_growing_capped_back_off_until_it_answers() {
        let (first, max) = (Duration::from_millis(40), Duration::from_millis(200));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let one = serde_json::json!([{"Key": "k", "Value": "MQ=="}]);
        let agent = fake_agent(listener, one.clone(), 5, Arc::default());
        let client = Client::new(&addr.to_string(), None);
        let (watcher, mut rx) = Watcher::<&'static str>::new(client, QueryOptions::default());
        let mut watcher = watcher.with_backoff(first, max);
        watcher
            .watch("k", Endpoint::from_path_and_query("/v1/kv/k"))
            .unwrap();
        assert_eq!(
            next_update(&mut rx).await,
            Update::Data {
                key: "k",
                value: one,
                index: 5
            }
        );

        // The agent goes away: its held read fails, and so does every
        // connection after it. Each failure announces the pause before the
        // next try, and the next failure comes no sooner than that.
        agent.abort();
        let _ = agent.await;
        let mut retries = Vec::new();
        let mut last = std::time::Instant::now();
        for _ in 0..7 {
            match next_update(&mut rx).await {
                Update::Failed { key, retry, .. } => {
                    assert_eq!(key, "k");
                    // (A tenth off for when this task saw the last one late.)
                    if let Some(prev) = retries.last() {
                        let gap = last.elapsed();
                        assert!(
                            gap >= *prev * 9 / 10,
                            "retried {gap:?} after a pause of {prev:?}"
                        );
                    }
                    last = std::time::Instant::now();
                    retries.push(retry);
                }
                other => panic!("a failure while the agent is away, not {other:?}"),
            }
        }
        // 40, 80, 160, then 200 ms and no more (each up to a fifth less).
        for (i, r) in retries.iter().enumerate() {
            let full = (first * (1 << i.min(8))).min(max);
            assert!(*r <= full && *r >= full * 4 / 5, "pause {i}: {retries:?}");
        }
        assert!(
            retries[0] < retries[1] && retries[1] < retries[2],
            "{retries:?}"
        );

        // It comes back on the same address with new data: the next read
        // hands it over, and the back-off starts over.
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let two = serde_json::json!([{"Key": "k", "Value": "Mg=="}]);
        let agent = fake_agent(listener, two.clone(), 9, Arc::default());
        let got = loop {
            match next_update(&mut rx).await {
                Update::Failed { retry, .. } => assert!(retry <= max, "{retry:?}"),
                data => break data,
            }
        };
        assert_eq!(
            got,
            Update::Data {
                key: "k",
                value: two,
                index: 9
            }
        );
        agent.abort();
        let _ = agent.await;
        match next_update(&mut rx).await {
            Update::Failed { retry, .. } => assert!(retry <= first, "starts over: {retry:?}"),
            other => panic!("a failure, not {other:?}"),
        }
    }

    #[test]
    fn an_endpoint_keeps_its_path_encoded_and_decodes_its_parameters() {
        let e = Endpoint::from_path_and_query("/v1/kv/a%20b?recurse&dc=east%2D1&tag=x%3Dy");
        assert_eq!(e.path, "/v1/kv/a%20b");
        assert_eq!(
            e.params,
            [
                ("recurse".to_owned(), String::new()),
                ("dc".to_owned(), "east-1".to_owned()),
                ("tag".to_owned(), "x=y".to_owned()),
            ]
        );
        let e = Endpoint::from_path_and_query("/v1/catalog/nodes");
        assert!(e.params.is_empty());
    }
}
