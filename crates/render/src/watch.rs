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
            },
            rx,
        )
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
async fn follow<K: Clone>(client: Client, mut plan: Plan, key: K, tx: mpsc::Sender<Update<K>>) {
    let mut backoff = Backoff::default();
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
