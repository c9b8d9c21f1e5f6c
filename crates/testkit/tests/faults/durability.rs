//! A durable server keeps every write it acknowledged, whatever moment it is
//! killed at: 16 clients write distinct keys, the server gets SIGKILL in the
//! middle of the load, and after a restart on the same data dir every key
//! whose PUT answered `200 true` is there with its value, and the index has
//! not gone back. Once with Consul's snapshot settings, once with snapshots
//! and log compaction every few dozen entries, across two kills.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use praetor_testkit::{init_tracing, secs, wait_for, AgentProcess, Loopback};
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::info;

const WRITERS: usize = 16;

/// A write the server acknowledged: key, value, and the index it answered.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    value: String,
    index: u64,
}

/// Sixteen clients writing distinct keys as fast as the server answers.
struct Writers {
    acked: Arc<Mutex<Vec<Acked>>>,
    /// Set just before SIGKILL: failures after it are the kill's doing.
    kill_sent: Arc<AtomicBool>,
    /// Set once the server is dead: writers stop.
    stop: Arc<AtomicBool>,
    failed_before_kill: Arc<AtomicU64>,
    failed_after_kill: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Writers {
    fn start(base_url: &str, prefix: &str) -> Writers {
        let client = praetor_testkit::http_client_builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            // Generous: a PUT in flight at the kill fails at once anyway.
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let w = Writers {
            acked: Arc::default(),
            kill_sent: Arc::default(),
            stop: Arc::default(),
            failed_before_kill: Arc::default(),
            failed_after_kill: Arc::default(),
            tasks: Vec::new(),
            started: Instant::now(),
        };
        let tasks = (0..WRITERS)
            .map(|n| {
                let (client, acked) = (client.clone(), w.acked.clone());
                let (kill_sent, stop) = (w.kill_sent.clone(), w.stop.clone());
                let (before, after) = (w.failed_before_kill.clone(), w.failed_after_kill.clone());
                let (base, prefix) = (base_url.to_owned(), prefix.to_owned());
                tokio::spawn(async move {
                    for seq in 0u64.. {
                        if stop.load(Ordering::SeqCst) || before.load(Ordering::SeqCst) > 100 {
                            return;
                        }
                        let key = format!("{prefix}/w{n:02}/{seq:06}");
                        let value = format!("value {n}/{seq} of {prefix}");
                        let sent = client
                            .put(format!("{base}/v1/kv/{key}"))
                            .body(value.clone())
                            .send()
                            .await;
                        let answer = match sent {
                            Ok(r) if r.status() == 200 => {
                                let index = r
                                    .headers()
                                    .get("x-consul-index")
                                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                                    .unwrap_or(0);
                                r.text().await.map(|body| (body, index))
                            }
                            Ok(r) => Ok((format!("status {}", r.status()), 0)),
                            Err(e) => Err(e),
                        };
                        match answer {
                            Ok((body, index)) if body.trim() == "true" => {
                                acked.lock().unwrap().push(Acked { key, value, index });
                            }
                            _ if kill_sent.load(Ordering::SeqCst) => {
                                after.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            _ => {
                                before.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        Writers { tasks, ..w }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until the load has run `min_load` and `min_acked` writes were
    /// acknowledged.
    async fn wait_for_load(&self, min_load: Duration, min_acked: usize) -> anyhow::Result<()> {
        let reason = format!("{min_load:?} of load and {min_acked} acknowledged writes");
        wait_for(secs(20), &reason, || {
            let (elapsed, acked) = (self.started.elapsed(), self.acked_count());
            let failed = self.failed_before_kill.load(Ordering::SeqCst);
            async move {
                if elapsed >= min_load && acked >= min_acked {
                    Ok(())
                } else {
                    Err(format!(
                        "{acked} acknowledged, {failed} failed, after {elapsed:?}"
                    ))
                }
            }
        })
        .await?;
        Ok(())
    }

    /// SIGKILLs the server with the writers still writing, then collects
    /// what they saw.
    async fn kill_server(self, server: &mut AgentProcess) -> anyhow::Result<Load> {
        let load_time = self.started.elapsed();
        self.kill_sent.store(true, Ordering::SeqCst);
        let status = server.kill9()?;
        self.stop.store(true, Ordering::SeqCst);
        anyhow::ensure!(
            status.code().is_none(),
            "the server died of SIGKILL, not {status}"
        );
        for t in self.tasks {
            // A writer ends at its next answer; its client times out in 10 s.
            tokio::time::timeout(secs(15), t).await??;
        }
        let acked = std::mem::take(&mut *self.acked.lock().unwrap());
        Ok(Load {
            acked,
            load_time,
            failed_before_kill: self.failed_before_kill.load(Ordering::SeqCst),
            failed_after_kill: self.failed_after_kill.load(Ordering::SeqCst),
        })
    }
}

/// What one round of load saw.
struct Load {
    acked: Vec<Acked>,
    load_time: Duration,
    failed_before_kill: u64,
    failed_after_kill: u64,
}

impl Load {
    fn check_and_log(&self) {
        info!(
            acked = self.acked.len(),
            per_sec = (self.acked.len() as f64 / self.load_time.as_secs_f64()) as u64,
            failed_before_kill = self.failed_before_kill,
            failed_after_kill = self.failed_after_kill,
            "load ended by SIGKILL"
        );
        assert_eq!(
            self.failed_before_kill, 0,
            "writes failed while the server was up"
        );
        assert!(
            self.failed_after_kill >= 1,
            "no write was in flight when the server was killed"
        );
    }
}

/// Every key under `prefix` with its decoded value, and the response's index.
async fn read_all(
    server: &AgentProcess,
    prefix: &str,
) -> anyhow::Result<(BTreeMap<String, String>, u64)> {
    let r = server
        .http()
        .get(server.url(&format!("/v1/kv/{prefix}/?recurse")))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == 200,
        "GET {prefix}/?recurse answered {}",
        r.status()
    );
    let index: u64 = r.headers()["x-consul-index"].to_str()?.parse()?;
    let entries: Vec<Value> = r.json().await?;
    let mut all = BTreeMap::new();
    for e in entries {
        let key = e["Key"].as_str().unwrap_or_default().to_owned();
        let value = e["Value"]
            .as_str()
            .map(|v| base64::engine::general_purpose::STANDARD.decode(v))
            .transpose()?;
        all.insert(key, String::from_utf8(value.unwrap_or_default())?);
    }
    Ok((all, index))
}

/// Every acknowledged write is present with its value, and the store's
/// index is at least the highest index any of them was acknowledged at.
async fn check_acknowledged(
    server: &AgentProcess,
    prefix: &str,
    acked: &[Acked],
) -> anyhow::Result<()> {
    let (all, index) = read_all(server, prefix).await?;
    let missing: Vec<&Acked> = acked
        .iter()
        .filter(|a| all.get(&a.key) != Some(&a.value))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing or changed after the restart, e.g. {:?} (found {:?})",
        missing.len(),
        acked.len(),
        missing[0],
        all.get(&missing[0].key)
    );
    let max_acked = acked.iter().map(|a| a.index).max().unwrap_or(0);
    assert!(
        index >= max_acked,
        "the index went back: {index} after restart, {max_acked} acknowledged before"
    );
    info!(
        acked = acked.len(),
        stored = all.len(),
        index,
        "every acknowledged write survived"
    );
    Ok(())
}

/// The node's `NodeID`, from `/v1/agent/self`.
async fn node_id(server: &AgentProcess) -> anyhow::Result<String> {
    let me: Value = server
        .http()
        .get(server.url("/v1/agent/self"))
        .send()
        .await?
        .json()
        .await?;
    Ok(me["Config"]["NodeID"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The server's `last_snapshot_index`, from `/v1/agent/self`.
async fn last_snapshot_index(server: &AgentProcess) -> Result<u64, String> {
    let r = server
        .http()
        .get(server.url("/v1/agent/self"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    body["Stats"]["raft"]["last_snapshot_index"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no Stats.raft.last_snapshot_index in {}", body["Stats"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_under_load() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let mut server = AgentProcess::server(&lo)?.name("durable").start().await?;
    let id_before = node_id(&server).await?;

    info!("--- 16 writers for two seconds, then kill the server under load");
    let writers = Writers::start(&server.http_url(), "load");
    writers.wait_for_load(Duration::from_secs(2), 300).await?;
    let load = writers.kill_server(&mut server).await?;
    load.check_and_log();

    info!("--- restart on the same data dir; every acknowledged write is there");
    let ready = server.restart().await?;
    info!(?ready, "restarted");
    check_acknowledged(&server, "load", &load.acked).await?;
    assert_eq!(
        node_id(&server).await?,
        id_before,
        "the node keeps its id across the kill"
    );

    info!("--- the restarted server takes writes");
    let r = server
        .http()
        .put(server.url("/v1/kv/after-restart"))
        .body("yes")
        .send()
        .await?;
    assert_eq!(r.text().await?.trim(), "true");
    server.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_across_snapshots_and_compaction() -> anyhow::Result<()>
{
    init_tracing();
    let lo = Loopback::allocate()?;
    let config = r#"{
  // Snapshot every 32 log entries and keep only 8 behind each snapshot, so
  // snapshots and log compaction run all through the load.
  "raft_snapshot_threshold": 32,
  "raft_trailing_logs": 8
}"#;
    let mut server = AgentProcess::server(&lo)?
        .name("durable-snap")
        .config_file("snapshots.json", config)
        .start()
        .await?;
    let mut acked = Vec::new();
    let mut snapshot_at = 0;
    for round in 1..=2 {
        let prefix = format!("round{round}");
        info!(
            round,
            "--- 16 writers until a new snapshot is taken, then kill the server under load"
        );
        let writers = Writers::start(&server.http_url(), &prefix);
        writers.wait_for_load(Duration::from_secs(1), 300).await?;
        let before = snapshot_at;
        snapshot_at = wait_for(
            secs(20),
            "a snapshot taken during this round's load",
            || async {
                let at = last_snapshot_index(&server).await?;
                if at > before {
                    Ok(at)
                } else {
                    Err(format!("last_snapshot_index = {at}"))
                }
            },
        )
        .await?;
        let load = writers.kill_server(&mut server).await?;
        load.check_and_log();
        info!(snapshot_at, "a snapshot was taken during the load");
        acked.extend(load.acked);

        info!(round, "--- restart from the snapshot and the log behind it; every acknowledged write is there");
        let ready = server.restart().await?;
        info!(?ready, "restarted");
        for r in 1..=round {
            let in_round: Vec<Acked> = acked
                .iter()
                .filter(|a| a.key.starts_with(&format!("round{r}/")))
                .cloned()
                .collect();
            check_acknowledged(&server, &format!("round{r}"), &in_round).await?;
        }
    }
    assert!(
        server.data_dir().join("raft/snapshots").is_dir(),
        "snapshots are kept in the data dir"
    );
    server.shutdown().await?;
    Ok(())
}
