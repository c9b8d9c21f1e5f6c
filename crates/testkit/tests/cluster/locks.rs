//! Locks, semaphores and fenced leader election across a real cluster
//! (three servers, client agents, `praetor lock` and `praetor elect`
//! processes): one holder at a time while agents die, servers change
//! leader and holders pause; a deposed leader's fenced writes are refused.
//!
//! The children are shell scripts that share a directory: a holder takes
//! `held/` with `mkdir` (atomic) when it starts and removes it when it
//! stops, so a second holder at the same time is recorded as a VIOLATION.
//! Each child loop is bounded (it ends by itself within two minutes) so
//! none outlives a failed test.

use std::path::Path;

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Signal, Spec};
use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

/// A child that holds the mutex directory while it runs: logs `start NAME`
/// (or `VIOLATION NAME` when another holds it), then runs for `run` tenths
/// of a second (bounded), then logs `stop NAME` and frees the directory; a
/// SIGTERM stops it early the same way.
fn mutex_child(dir: &Path, name: &str, tenths: u32) -> String {
    let d = dir.display();
    format!(
        "if mkdir {d}/held 2>/dev/null; then echo start {name} >> {d}/log; \
         else echo VIOLATION {name} >> {d}/log; fi; \
         trap 'echo stop {name} >> {d}/log; rmdir {d}/held; exit 0' TERM; \
         i=0; while [ $i -lt {tenths} ]; do sleep 0.1; i=$((i+1)); done; \
         echo stop {name} >> {d}/log; rmdir {d}/held"
    )
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn wait_log(
    dir: &Path,
    within: u64,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> anyhow::Result<Vec<String>> {
    Ok(wait_for(secs(within), what, || {
        let l = log(dir);
        let r = if done(&l) { Ok(l) } else { Err(l.join(" | ")) };
        async move { r }
    })
    .await?)
}

/// Waits until the leader has put `nodes` in the catalog (sessions need
/// their node there), seen through `via`.
async fn wait_registered(cluster: &Cluster, nodes: &[&str]) -> anyhow::Result<()> {
    wait_for(secs(60), "the client nodes in the catalog", || async {
        let v = cluster
            .get_json(nodes[0], "/v1/catalog/nodes")
            .await
            .map_err(|e| e.to_string())?;
        let names: Vec<&str> = v
            .as_array()
            .map(|l| l.iter().filter_map(|n| n["Node"].as_str()).collect())
            .unwrap_or_default();
        if nodes.iter().all(|n| names.contains(n)) {
            Ok(())
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await?;
    Ok(())
}

/// Waits until the servers hold at least `n` blocking queries in all
/// (Consul's `consul.rpc.queries_blocking` gauge), so a check that a
/// contender is *still waiting* runs once it is.
async fn wait_blocking(cluster: &Cluster, n: f64) -> anyhow::Result<()> {
    wait_for(
        secs(30),
        &format!("{n} blocking queries on the servers"),
        || async {
            let mut total = 0.0;
            for name in cluster.server_names() {
                let m = cluster
                    .get_json(&name, "/v1/agent/metrics")
                    .await
                    .map_err(|e| e.to_string())?;
                total += m["Gauges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|g| g["Name"] == "consul.rpc.queries_blocking")
                    .and_then(|g| g["Value"].as_f64())
                    .unwrap_or(0.0);
            }
            if total >= n {
                Ok(())
            } else {
                Err(format!("{total} open"))
            }
        },
    )
    .await?;
    Ok(())
}

fn no_violation(lines: &[String]) {
    assert!(
        !lines.iter().any(|l| l.starts_with("VIOLATION")),
        "two holders at once: {lines:?}"
    );
}

#[tokio::test]
async fn a_lock_has_one_holder_and_passes_on_when_the_holders_agent_dies() -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(2)).await?;
    cluster.wait_formed(secs(30)).await?;
    wait_registered(&cluster, &["c1", "c2"]).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    info!("--- A takes the lock through c1; B waits through c2");
    let a = cluster
        .cli("c1", &["lock", "job", &mutex_child(d, "A", 1200)])?
        .spawn()?;
    wait_log(d, 30, "A to start", |l| l.iter().any(|x| x == "start A")).await?;
    let b = cluster
        .cli("c2", &["lock", "job", &mutex_child(d, "B", 20)])?
        .spawn()?;
    // A's monitor and B's wait for the lock.
    wait_blocking(&cluster, 2.0).await?;
    assert_eq!(log(d), ["start A"], "B must wait while A holds the lock");
    let kv = cluster.get_json("c2", "/v1/kv/job/.lock").await?;
    assert_eq!(
        kv[0]["Flags"],
        json!(praetor_api_lock_flag()),
        "Consul's lock flag"
    );

    info!("--- c1 dies: A loses the lock and stops its child; B takes over");
    let killed = std::time::Instant::now();
    cluster.kill9("c1")?;
    let lines = wait_log(d, 90, "B to take over and finish", |l| {
        l.iter().any(|x| x == "stop B")
    })
    .await?;
    info!(after = ?killed.elapsed(), ?lines, "hand-over done");
    no_violation(&lines);
    let pos = |s: &str| lines.iter().position(|x| x == s).unwrap_or(usize::MAX);
    assert!(
        pos("stop A") < pos("start B"),
        "A stopped before B started: {lines:?}"
    );
    let out = a.wait_exit(secs(30))?;
    assert_eq!(out.code(), Some(1), "A reports the lost lock: {out:?}");
    assert!(out.stderr.contains("Lock lost"), "{out:?}");
    let out = b.wait_exit(secs(30))?;
    out.assert_success();
    cluster.shutdown().await?;
    Ok(())
}

fn praetor_api_lock_flag() -> u64 {
    0x2ddc_cbc0_58a5_0c18
}

/// Each child logs `start <ns>` and `end <ns>`; the most at once.
fn max_overlap(lines: &[String]) -> usize {
    let mut events: Vec<(u128, i32)> = lines
        .iter()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let kind = it.next()?;
            let t: u128 = it.next()?.parse().ok()?;
            Some((t, if kind == "start" { 1 } else { -1 }))
        })
        .collect();
    events.sort_by_key(|(t, d)| (*t, *d));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

#[tokio::test]
async fn a_three_slot_semaphore_runs_at_most_three_of_six_children() -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(1).clients(2)).await?;
    cluster.wait_formed(secs(30)).await?;
    wait_registered(&cluster, &["c1", "c2"]).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    let child = format!(
        "echo start $(date +%s%N) >> {d}/log; sleep 1.5; echo end $(date +%s%N) >> {d}/log"
    );
    let mut contenders = Vec::new();
    for i in 0..6 {
        let via = if i % 2 == 0 { "c1" } else { "c2" };
        contenders.push(
            cluster
                .cli(via, &["lock", "-n=3", "sem", &child])?
                .spawn()?,
        );
    }
    let p = dir.path().to_owned();
    let lines = wait_log(&p, 90, "six children to finish", |l| {
        l.iter().filter(|x| x.starts_with("end")).count() == 6
    })
    .await?;
    for c in contenders {
        c.wait_exit(secs(30))?.assert_success();
    }
    let most = max_overlap(&lines);
    info!(most, ?lines, "semaphore children");
    assert!(most <= 3, "more than three children at once: {lines:?}");
    assert_eq!(most, 3, "the three slots were used together: {lines:?}");
    let lock = cluster.get_json("c1", "/v1/kv/sem/.lock").await?;
    let value = lock[0]["Value"].as_str().unwrap_or_default();
    let decoded = base64_decode(value);
    let record: Value = serde_json::from_slice(&decoded)?;
    assert_eq!(
        record,
        json!({"Limit": 3, "Holders": {}}),
        "Consul's semaphore record, emptied"
    );
    cluster.shutdown().await?;
    Ok(())
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

/// A child of `praetor elect`: saves its session, token and PID, then every
/// 0.3 s (bounded) writes `data` = `NAME-<token>` through a fenced txn
/// (check-session on the election key first) and logs the HTTP status.
fn fenced_writer(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!(
        r#"echo $$ > {d}/{name}.pid; echo "$PRAETOR_SESSION $PRAETOR_FENCING_TOKEN" > {d}/{name}.env
i=0; while [ $i -lt 400 ]; do
  v=$(printf '{name}-%s' "$PRAETOR_FENCING_TOKEN" | base64)
  body="[{{\"KV\":{{\"Verb\":\"check-session\",\"Key\":\"$PRAETOR_LOCK_KEY\",\"Session\":\"$PRAETOR_SESSION\"}}}},{{\"KV\":{{\"Verb\":\"set\",\"Key\":\"fenced/data\",\"Value\":\"$v\"}}}}]"
  code=$(curl -s -m 5 -o /dev/null -w '%{{http_code}}' -X PUT "http://$CONSUL_HTTP_ADDR/v1/txn" -d "$body")
  echo "$code" >> {d}/{name}.codes
  sleep 0.3; i=$((i+1))
done"#
    )
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn codes(dir: &Path, name: &str) -> Vec<String> {
    read(dir, &format!("{name}.codes"))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn signal_pid(pid: &str, sig: libc::c_int) {
    let pid: libc::pid_t = pid.trim().parse().expect("a PID");
    assert!(pid > 0);
    // SAFETY: kill(2) on a positive PID the test's own child wrote.
    unsafe { libc::kill(pid, sig) };
}

#[tokio::test]
async fn a_paused_leader_cannot_make_a_fenced_write_after_it_is_replaced() -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).clients(2)).await?;
    cluster.wait_formed(secs(30)).await?;
    wait_registered(&cluster, &["c1", "c2"]).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let elect = |via: &str, name: &str| {
        let script = fenced_writer(d, name);
        cluster.cli(
            via,
            &[
                "elect",
                "-key=fenced/leader",
                "-ttl=10s",
                "-lock-delay=1s",
                "--",
                "sh",
                "-c",
                &script,
            ],
        )
    };

    info!("--- A leads and writes; B waits");
    let mut a = elect("c1", "A")?.spawn()?;
    wait_for(secs(30), "A's fenced writes to succeed", || {
        let ok = codes(d, "A").iter().any(|c| c == "200");
        async move {
            if ok {
                Ok(())
            } else {
                Err(codes(d, "A").join(","))
            }
        }
    })
    .await?;
    let b = elect("c2", "B")?.spawn()?;
    // A's monitor and B's wait for the lead.
    wait_blocking(&cluster, 2.0).await?;
    assert!(read(d, "B.env").is_empty(), "B does not run while A leads");
    let a_env = read(d, "A.env");
    let (a_session, a_token) = a_env.trim().split_once(' ').expect("A's env");
    let a_pid = read(d, "A.pid");

    info!("--- A (supervisor and child) is paused; its session expires; B takes over");
    a.signal(Signal::Stop)?;
    signal_pid(&a_pid, libc::SIGSTOP);
    let paused_at = codes(d, "A").len();
    wait_for(secs(60), "B to lead and make a fenced write", || {
        let ok = codes(d, "B").iter().any(|c| c == "200");
        async move {
            if ok {
                Ok(())
            } else {
                Err(codes(d, "B").join(","))
            }
        }
    })
    .await?;
    let b_env = read(d, "B.env");
    let (b_session, b_token) = b_env.trim().split_once(' ').expect("B's env");
    assert_ne!(a_session, b_session);
    assert!(
        b_token.parse::<u64>()? > a_token.parse::<u64>()?,
        "the token grows: {a_token} then {b_token}"
    );

    info!("--- A resumes: its fenced writes are refused with 409");
    signal_pid(&a_pid, libc::SIGCONT);
    a.signal(Signal::Cont)?;
    let body = json!([
        {"KV": {"Verb": "check-session", "Key": "fenced/leader", "Session": a_session}},
        {"KV": {"Verb": "set", "Key": "fenced/data", "Value": "QS1sYXRl"}},
    ]);
    let r = cluster
        .request(
            "c1",
            Method::PUT,
            "/v1/txn",
            Some(&body.to_string()),
            secs(10),
        )
        .await?;
    assert_eq!(r.status, 409, "the deposed leader's fenced write: {r:?}");
    let out = a.wait_exit(secs(30))?;
    assert_eq!(out.code(), Some(1), "A learns it lost: {out:?}");
    let after: Vec<String> = codes(d, "A")[paused_at..].to_vec();
    assert!(
        after.iter().all(|c| c != "200"),
        "no write of A succeeded after it was replaced: {after:?}"
    );
    let data = cluster.get_json("c2", "/v1/kv/fenced/data").await?;
    let value = String::from_utf8(base64_decode(data[0]["Value"].as_str().unwrap_or_default()))?;
    assert!(
        value.starts_with("B-"),
        "the data is the new leader's: {value}"
    );
    drop(b);
    if let Ok(pid) = std::fs::read_to_string(d.join("B.pid")) {
        signal_pid(&pid, libc::SIGKILL);
    }
    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_raft_leader_change_during_hand_overs_loses_no_lock_and_makes_no_second_holder(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(2)).await?;
    cluster.wait_formed(secs(30)).await?;
    wait_registered(&cluster, &["c1", "c2"]).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let mut contenders = Vec::new();
    for (i, name) in ["A", "B", "C", "D"].iter().enumerate() {
        let via = if i % 2 == 0 { "c1" } else { "c2" };
        contenders.push(
            cluster
                .cli(via, &["lock", "handover", &mutex_child(d, name, 25)])?
                .spawn()?,
        );
    }
    info!("--- the first holder runs; the Raft leader is killed near its hand-over");
    wait_log(d, 30, "a first holder", |l| {
        l.iter().any(|x| x.starts_with("start"))
    })
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    cluster.kill9(&leader)?;
    info!(%leader, "killed the raft leader");
    let lines = wait_log(d, 120, "all four children to run", |l| {
        l.iter().filter(|x| x.starts_with("stop")).count() == 4
    })
    .await?;
    info!(?lines, "hand-overs");
    no_violation(&lines);
    for pair in lines.chunks(2) {
        let (s, e) = (&pair[0], &pair[1]);
        assert!(
            s.starts_with("start") && e.starts_with("stop") && s[6..] == e[5..],
            "each child ran alone, start to stop: {lines:?}"
        );
    }
    for c in contenders {
        c.wait_exit(secs(30))?.assert_success();
    }
    cluster.shutdown().await?;
    Ok(())
}
