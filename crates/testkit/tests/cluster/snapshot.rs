//! `praetor snapshot save` and `restore` of a state larger than one piece
//! (4 MiB), through a client agent: the state crosses RPC piece by piece
//! from the leader (and from the client's own server with `-stale`), and
//! the restore reaches every server as pieces and one commit.

use std::collections::BTreeMap;

use praetor_testkit::{init_tracing, Cluster, Spec};
use tracing::info;

use crate::wait_converged;

#[tokio::test]
async fn a_snapshot_of_many_pieces_saves_and_restores_through_a_client_agent() -> anyhow::Result<()>
{
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).clients(1)).await?;

    info!("--- about 10 MiB of keys: more than two pieces");
    let mut written = BTreeMap::new();
    for i in 0..160 {
        let key = format!("big/{i:03}");
        let value = format!("{i:03}").repeat(64 * 1024 / 3);
        cluster.put_acked("c1", &key, &value).await?;
        written.insert(key, value);
    }

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("backup.snap");
    let stale = dir.path().join("stale.snap");
    let (file_arg, stale_arg) = (file.display().to_string(), stale.display().to_string());
    let out = cluster.cli("c1", &["snapshot", "save", &file_arg])?.run()?;
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("Saved and verified snapshot to index "),
        "{out:?}"
    );
    let size = std::fs::metadata(&file)?.len();
    assert!(
        size > 9 * 1024 * 1024,
        "the snapshot holds every value: {size} bytes"
    );
    cluster
        .cli("c1", &["snapshot", "save", "-stale", &stale_arg])?
        .run()?
        .assert_success();
    assert!(std::fs::metadata(&stale)?.len() > 9 * 1024 * 1024);

    info!("--- change everything, then restore through the client agent");
    cluster
        .cli("c1", &["kv", "delete", "-recurse", "big/"])?
        .run()?
        .assert_success();
    cluster
        .put_acked("c1", "big/after", "gone after the restore")
        .await?;
    let out = cluster
        .cli("c1", &["snapshot", "restore", &file_arg])?
        .run()?;
    out.assert_success();
    assert_eq!(out.stdout, "Restored snapshot\n");
    wait_converged(&cluster, &cluster.server_names(), "big/", &written).await?;

    info!("--- a truncated file is refused before anything is sent");
    let bytes = std::fs::read(&file)?;
    std::fs::write(&file, &bytes[..bytes.len() - 5 * 1024 * 1024])?;
    let out = cluster
        .cli("c1", &["snapshot", "restore", &file_arg])?
        .run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("truncated"), "{out:?}");

    info!("--- and writes go on after the restore");
    cluster.put_acked("c1", "big/later", "yes").await?;
    cluster.shutdown().await?;
    Ok(())
}
