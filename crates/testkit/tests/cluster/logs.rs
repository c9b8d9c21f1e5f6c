//! Issue 16: logs a new user can read. A healthy three-server cluster,
//! through its election and some writes, logs nothing above INFO, and no
//! line at INFO or above carries a Rust type path or a Debug dump.

use praetor_testkit::{init_tracing, secs, Cluster, Spec};
use tracing::info;

/// The lines of `log` an operator should not see from a healthy cluster.
fn unreadable(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            let loud = l.contains(" [WARN]") || l.contains(" [ERROR]");
            let shown = loud || l.contains(" [INFO]");
            loud || (shown && (l.contains("::") || l.contains("Some(")))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_a_healthy_three_server_cluster_logs_nothing_above_info_and_no_rust_paths(
) -> anyhow::Result<()> {
    init_tracing();
    info!("--- three servers elect a leader");
    let cluster = Cluster::start(Spec::servers(3)).await?;
    cluster.wait_for_leader(secs(10)).await?;

    info!("--- writes through every server");
    for (i, server) in cluster.server_names().iter().enumerate() {
        for n in 0..5 {
            cluster
                .put_acked(server, &format!("logs/{i}/{n}"), "value")
                .await?;
        }
    }

    info!("--- every server's output: INFO and below, no type paths");
    for node in cluster.nodes() {
        let log = node.agent().log();
        assert!(
            log.contains(" [INFO]  agent: starting Praetor agent"),
            "{} logs in Consul's format:\n{log}",
            node.name()
        );
        let bad = unreadable(&log);
        assert!(
            bad.is_empty(),
            "{} logged lines a healthy cluster must not:\n{}\n--- whole log ---\n{log}",
            node.name(),
            bad.join("\n")
        );
    }
    cluster.shutdown().await?;
    Ok(())
}

#[test]
fn warnings_type_paths_and_debug_dumps_are_unreadable() {
    let log = "\
2026-12-03T19:09:09.430Z [INFO]  server: bootstrapped a new cluster: id=7
2026-12-03T19:09:09.431Z [WARN]  openraft: A message will be ignored because vote changed
2026-12-03T19:09:09.432Z [INFO]  server: apply: kind=praetor_store::Command
2026-12-03T19:09:09.433Z [INFO]  agent.http: listening: addr=Some(1)
2026-12-03T19:09:09.434Z [DEBUG] openraft: praetor_server::raft is fine at DEBUG";
    assert_eq!(unreadable(log).len(), 3, "{:?}", unreadable(log));
}
