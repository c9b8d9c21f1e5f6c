//! Members leaving and failing: `praetor leave` makes a client `left` (and
//! its process exit 0); a killed client becomes `failed` within seconds;
//! `praetor force-leave` moves it to `left`; a frozen (SIGSTOP) server is
//! `failed` until it resumes, then alive and up to date again.

use std::time::Instant;

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Consistency, Spec};
use tracing::info;

use crate::members_table;

#[tokio::test]
async fn a_client_that_leaves_is_left_a_killed_one_failed_until_force_leave() -> anyhow::Result<()>
{
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(1).clients(3)).await?;

    info!("--- praetor leave on c1: it exits 0 and the others see it left");
    let out = cluster.cli("c1", &["leave"])?.run()?;
    out.assert_success();
    let status = cluster.wait_exit("c1", secs(15)).await?;
    assert!(status.success(), "c1 exited with {status} after leave");
    let others = ["s1", "c2", "c3"].map(str::to_owned);
    cluster
        .wait_member_status(&others, "c1", "left", secs(15))
        .await?;

    info!("--- SIGKILL c2: the others see it failed within seconds");
    let killed_at = Instant::now();
    cluster.kill9("c2")?;
    let observers = ["s1", "c3"].map(str::to_owned);
    cluster
        .wait_member_status(&observers, "c2", "failed", secs(30))
        .await?;
    info!(after = ?killed_at.elapsed(), "c2 seen failed");
    for name in &observers {
        let members = cluster.members(name).await?;
        let c1 = members.iter().find(|m| m.name == "c1");
        assert_eq!(
            c1.map(|m| m.status.as_str()),
            Some("left"),
            "c1 left, never failed, as {name} sees it: {members:?}"
        );
    }

    info!("--- praetor force-leave c2 moves it to left");
    let out = cluster.cli("s1", &["force-leave", "c2"])?.run()?;
    out.assert_success();
    cluster
        .wait_member_status(&observers, "c2", "left", secs(15))
        .await?;
    let out = cluster.cli("c3", &["members"])?.run()?;
    out.assert_success();
    let rows = members_table(&out.stdout);
    for (name, status) in [
        ("s1", "alive"),
        ("c1", "left"),
        ("c2", "left"),
        ("c3", "alive"),
    ] {
        assert_eq!(
            rows.get(name).map(|r| r[2].as_str()),
            Some(status),
            "{name} in praetor members: {out:?}"
        );
    }

    info!("--- force-leave of an unknown node fails with a reason; an alive one refutes it");
    let out = cluster.cli("s1", &["force-leave", "nobody"])?.run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("nobody"), "{out:?}");
    cluster
        .cli("s1", &["force-leave", "c3"])?
        .run()?
        .assert_success();
    cluster
        .wait_member_status(&observers, "c3", "alive", secs(15))
        .await?;

    info!("--- force-leave -prune c2 removes it from the member list");
    cluster
        .cli("s1", &["force-leave", "-prune", "c2"])?
        .run()?
        .assert_success();
    wait_for(secs(15), "c2 pruned from s1 and c3", || async {
        for name in &observers {
            let members = cluster.members(name).await.map_err(|e| e.to_string())?;
            if let Some(m) = members.iter().find(|m| m.name == "c2") {
                return Err(format!("{name} still lists c2 as {}", m.status));
            }
        }
        Ok(())
    })
    .await?;

    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_frozen_server_is_failed_until_it_resumes_then_catches_up() -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3)).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let frozen = cluster
        .server_names()
        .into_iter()
        .find(|s| *s != leader)
        .expect("a follower");

    info!("--- SIGSTOP {frozen}: the others see it failed and keep taking writes");
    cluster.pause(&frozen)?;
    let others = cluster.up_names();
    let took = cluster
        .wait_member_status(&others, &frozen, "failed", secs(30))
        .await?;
    info!(after = ?took, "{frozen} seen failed");
    cluster
        .put_acked(&leader, "frozen/during", "written")
        .await?;

    info!("--- SIGCONT {frozen}: alive again, and it has the write");
    cluster.resume(&frozen)?;
    let resumed_at = Instant::now();
    // As with a healed partition: Serf's reconnect interval (30 s) bounds it.
    cluster.wait_all_alive(secs(30)).await?;
    info!(
        "{frozen} alive again {:?} after SIGCONT",
        resumed_at.elapsed()
    );
    wait_for(secs(15), &format!("{frozen} to have the write"), || {
        let (cluster, frozen) = (&cluster, &frozen);
        async move {
            match cluster
                .get(frozen, "frozen/during", Consistency::Stale)
                .await
            {
                Ok(Some(v)) if v == "written" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;

    cluster.shutdown().await?;
    Ok(())
}
