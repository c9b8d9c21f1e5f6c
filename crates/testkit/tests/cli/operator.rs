//! `praetor operator autopilot get-config|set-config|state` and `operator
//! raft transfer-leader` against a dev agent, with Consul's output; bad
//! flags exit 1 and change nothing.

use crate::{dev_agent, praetor};

#[tokio::test]
async fn autopilot_config_is_shown_set_and_kept_as_consul_prints_it() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let out = praetor(&a, &["operator", "autopilot", "get-config"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "CleanupDeadServers = true\nLastContactThreshold = 200ms\nMaxTrailingLogs = 250\n\
         MinQuorum = 0\nServerStabilizationTime = 10s\nRedundancyZoneTag = \"\"\n\
         DisableUpgradeMigration = false\nUpgradeVersionTag = \"\"\n"
    );

    let out = praetor(
        &a,
        &[
            "operator",
            "autopilot",
            "set-config",
            "-cleanup-dead-servers=false",
            "-min-quorum=3",
            "-last-contact-threshold=1s",
        ],
    );
    out.assert_success();
    assert_eq!(out.stdout, "Configuration updated!\n");
    let out = praetor(&a, &["operator", "autopilot", "get-config"]);
    assert!(
        out.stdout.contains("CleanupDeadServers = false\n"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("LastContactThreshold = 1s\n"),
        "{out:?}"
    );
    assert!(out.stdout.contains("MinQuorum = 3\n"), "{out:?}");
    assert!(out.stdout.contains("MaxTrailingLogs = 250\n"), "{out:?}");

    let bad = praetor(
        &a,
        &[
            "operator",
            "autopilot",
            "set-config",
            "-last-contact-threshold=soon",
        ],
    );
    bad.assert_code(1);
    let out = praetor(&a, &["operator", "autopilot", "get-config"]);
    assert!(
        out.stdout.contains("LastContactThreshold = 1s\n"),
        "{out:?}"
    );
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn autopilot_state_in_text_and_json_and_a_lone_server_cannot_transfer() -> anyhow::Result<()>
{
    let (a, _lo) = dev_agent().await?;
    let out = praetor(&a, &["operator", "autopilot", "state"]);
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("Healthy:                      true\n"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("Failure Tolerance:            0\n"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("      Status:          leader\n"),
        "{out:?}"
    );
    let json = praetor(&a, &["operator", "autopilot", "state", "-format=json"]);
    json.assert_success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(v["Healthy"], true, "{v}");
    assert_eq!(v["Voters"].as_array().map(Vec::len), Some(1), "{v}");

    let out = praetor(&a, &["operator", "raft", "transfer-leader"]);
    out.assert_code(1);
    assert!(out.stderr.contains("no other voter"), "{out:?}");
    a.shutdown().await?;
    Ok(())
}
