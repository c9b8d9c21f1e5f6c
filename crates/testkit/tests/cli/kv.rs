//! `praetor kv …` round trips: put/get/delete, `-recurse`, `-keys`,
//! `-detailed`, `-flags`, `-base64`, `-cas -modify-index`, values from
//! `@file` and stdin, export → delete → import, and `kv watch`.

use base64::Engine as _;
use praetor_testkit::{init_tracing, secs, wait_for};
use serde_json::Value;
use tracing::info;

use crate::{cli, dev_agent, modify_index, praetor, praetor_stdin, raw};

#[tokio::test]
async fn put_get_delete_recurse_keys_and_detailed_in_consuls_formats() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    info!("--- put and get");
    let out = praetor(&a, &["kv", "put", "app/db", "pg://db:5432"]);
    out.assert_success();
    assert_eq!(out.stdout, "Success! Data written to: app/db\n");
    assert_eq!(
        praetor(&a, &["kv", "get", "app/db"])
            .assert_success()
            .stdout,
        "pg://db:5432\n"
    );
    assert_eq!(
        raw(&a, "app/db").await?.as_deref(),
        Some(&b"pg://db:5432"[..]),
        "no newline is stored"
    );

    info!("--- -flags and -detailed");
    praetor(&a, &["kv", "put", "-flags=42", "app/port", "5432"]).assert_success();
    let detailed = praetor(&a, &["kv", "get", "-detailed", "app/port"])
        .assert_success()
        .stdout
        .clone();
    let idx = modify_index(&detailed);
    let expected = format!(
        "CreateIndex  {idx}\nFlags        42\nKey          app/port\nLockIndex    0\nModifyIndex  {idx}\nSession      -\nValue        5432\n"
    );
    assert_eq!(detailed, expected);

    info!("--- -recurse and -keys");
    praetor(&a, &["kv", "put", "apple", "red"]).assert_success();
    assert_eq!(
        praetor(&a, &["kv", "get", "-recurse", "app/"]).stdout,
        "app/db:pg://db:5432\napp/port:5432\n"
    );
    assert_eq!(
        praetor(&a, &["kv", "get", "-recurse", "app"]).stdout,
        "app/db:pg://db:5432\napp/port:5432\napple:red\n"
    );
    assert_eq!(praetor(&a, &["kv", "get", "-keys"]).stdout, "app/\napple\n");
    assert_eq!(
        praetor(&a, &["kv", "get", "-keys", "app/"]).stdout,
        "app/db\napp/port\n"
    );
    let empty = praetor(&a, &["kv", "get", "-recurse", "nothing/"]);
    empty.assert_success();
    assert_eq!(
        empty.stdout, "",
        "an empty prefix prints nothing, as Consul"
    );

    info!("--- delete and delete -recurse");
    assert_eq!(
        praetor(&a, &["kv", "delete", "app/db"])
            .assert_success()
            .stdout,
        "Success! Deleted key: app/db\n"
    );
    let gone = praetor(&a, &["kv", "get", "app/db"]);
    gone.assert_code(1);
    assert_eq!(gone.stderr, "Error! No key exists at: app/db\n");
    assert_eq!(gone.stdout, "");
    let out = praetor(&a, &["kv", "delete", "-recurse", "app/"]);
    assert_eq!(
        out.assert_success().stdout,
        "Success! Deleted keys with prefix: app/\n"
    );
    assert_eq!(raw(&a, "app/port").await?, None);
    assert_eq!(
        raw(&a, "apple").await?.as_deref(),
        Some(&b"red"[..]),
        "-recurse app/ spares apple"
    );
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn values_from_stdin_files_and_base64_and_cas_writes() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    info!("--- `-` reads the value from stdin, byte for byte");
    praetor_stdin(&a, &["kv", "put", "from/stdin", "-"], b"line1\nline2").assert_success();
    assert_eq!(
        raw(&a, "from/stdin").await?.as_deref(),
        Some(&b"line1\nline2"[..])
    );
    assert_eq!(
        praetor(&a, &["kv", "get", "from/stdin"]).stdout,
        "line1\nline2\n"
    );

    info!("--- @file reads a file, binary included");
    let dir = tempfile::tempdir()?;
    let bytes: Vec<u8> = (0..=255u8).collect();
    std::fs::write(dir.path().join("v.bin"), &bytes)?;
    let at = format!("@{}", dir.path().join("v.bin").display());
    praetor(&a, &["kv", "put", "from/file", &at]).assert_success();
    assert_eq!(raw(&a, "from/file").await?, Some(bytes.clone()));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert_eq!(
        praetor(&a, &["kv", "get", "-base64", "from/file"]).stdout,
        format!("{b64}\n")
    );
    let missing = praetor(&a, &["kv", "put", "from/nofile", "@/nonexistent/value"]);
    missing.assert_code(1);
    assert!(
        missing.stderr.starts_with("Error! ") && missing.stderr.contains("/nonexistent/value"),
        "{missing:?}"
    );

    info!("--- -base64 decodes the value before writing");
    praetor(&a, &["kv", "put", "-base64", "from/b64", "aGVsbG8="]).assert_success();
    assert_eq!(praetor(&a, &["kv", "get", "from/b64"]).stdout, "hello\n");
    assert_eq!(
        praetor(&a, &["kv", "get", "-base64", "from/b64"]).stdout,
        "aGVsbG8=\n"
    );

    info!("--- -cas -modify-index: 0 creates only, a stale index changes nothing");
    praetor(&a, &["kv", "put", "-cas", "-modify-index=0", "cas/k", "1"]).assert_success();
    let lost = praetor(&a, &["kv", "put", "-cas", "-modify-index=0", "cas/k", "2"]);
    lost.assert_code(1);
    assert_eq!(lost.stderr, "Error! Did not write to cas/k: CAS failed\n");
    assert_eq!(raw(&a, "cas/k").await?.as_deref(), Some(&b"1"[..]));
    let idx = modify_index(&praetor(&a, &["kv", "get", "-detailed", "cas/k"]).stdout);
    let at_idx = format!("-modify-index={idx}");
    praetor(&a, &["kv", "put", "-cas", &at_idx, "cas/k", "3"]).assert_success();
    assert_eq!(raw(&a, "cas/k").await?.as_deref(), Some(&b"3"[..]));
    let stale = praetor(&a, &["kv", "delete", "-cas", &at_idx, "cas/k"]);
    stale.assert_code(1);
    assert!(stale.stderr.contains("CAS failed"), "{stale:?}");
    let now = format!(
        "-modify-index={}",
        modify_index(&praetor(&a, &["kv", "get", "-detailed", "cas/k"]).stdout)
    );
    praetor(&a, &["kv", "delete", "-cas", &now, "cas/k"]).assert_success();
    assert_eq!(raw(&a, "cas/k").await?, None);
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn export_delete_import_round_trip_restores_keys_and_flags() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    praetor(&a, &["kv", "put", "-flags=7", "cfg/a", "1"]).assert_success();
    praetor(&a, &["kv", "put", "cfg/b/c", "two words"]).assert_success();
    praetor(&a, &["kv", "put", "cfg/empty", ""]).assert_success();

    info!("--- export in Consul's format");
    let exported = praetor(&a, &["kv", "export", "cfg/"]);
    exported.assert_success();
    let json: Value = serde_json::from_str(&exported.stdout)?;
    assert_eq!(
        json[0],
        serde_json::json!({ "key": "cfg/a", "flags": 7, "value": "MQ==" })
    );
    assert_eq!(json[1]["key"], "cfg/b/c");
    assert_eq!(json.as_array().map(Vec::len), Some(3));

    info!("--- delete everything, import from stdin: keys, values and flags are back");
    praetor(&a, &["kv", "delete", "-recurse", "cfg/"]).assert_success();
    assert_eq!(raw(&a, "cfg/a").await?, None);
    let out = praetor_stdin(&a, &["kv", "import", "-"], exported.stdout.as_bytes());
    assert_eq!(
        out.assert_success().stdout,
        "Imported: cfg/a\nImported: cfg/b/c\nImported: cfg/empty\n"
    );
    assert_eq!(
        praetor(&a, &["kv", "export", "cfg/"]).stdout,
        exported.stdout,
        "the same export again"
    );
    let r: Value = a
        .http()
        .get(a.url("/v1/kv/cfg/a"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r[0]["Flags"], 7);

    info!("--- import from @file with -prefix");
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("export.json"), &exported.stdout)?;
    let at = format!("@{}", dir.path().join("export.json").display());
    praetor(&a, &["kv", "import", "-prefix=copy/", &at]).assert_success();
    assert_eq!(
        raw(&a, "copy/cfg/b/c").await?.as_deref(),
        Some(&b"two words"[..])
    );

    info!("--- bad import data: exit 1, nothing written");
    let bad = praetor_stdin(&a, &["kv", "import", "-"], b"not json");
    bad.assert_code(1);
    assert!(bad.stderr.starts_with("Error! "), "{bad:?}");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_watch_prints_every_change_with_its_previous_value() -> anyhow::Result<()> {
    init_tracing();
    let (a, _lo) = dev_agent().await?;
    praetor(&a, &["kv", "put", "-flags=3", "w/a", "1"]).assert_success();
    let start = modify_index(&praetor(&a, &["kv", "get", "-detailed", "w/a"]).stdout);
    praetor(&a, &["kv", "put", "w/a", "2"]).assert_success();
    praetor(&a, &["kv", "delete", "w/a"]).assert_success();
    praetor(&a, &["kv", "put", "other", "x"]).assert_success();

    info!("--- from an index: every change under the prefix since, in order, with Prev");
    let from = format!("-index={start}");
    let mut watch = cli(&a, &["kv", "watch", &from, "w/"]).spawn()?;
    let out = watch
        .wait_for_stdout(secs(10), "three events", |s| s.lines().count() >= 3)
        .await?;
    let events: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let ops: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["Op"].as_str().unwrap_or("?"),
                e["Key"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [("set", "w/a"), ("set", "w/a"), ("delete", "w/a")],
        "{out}"
    );
    assert_eq!(events[0]["Value"], "MQ==");
    assert_eq!(events[0]["Flags"], 3);
    assert_eq!(
        events[1]["Prev"]["Value"], "MQ==",
        "the previous value comes with the change"
    );
    assert_eq!(events[2]["Prev"]["Value"], "Mg==");

    info!("--- it keeps streaming new changes");
    praetor(&a, &["kv", "put", "w/b", "live"]).assert_success();
    let out = watch
        .wait_for_stdout(secs(10), "the new change", |s| s.lines().count() >= 4)
        .await?;
    let last: Value = serde_json::from_str(out.lines().nth(3).unwrap_or_default())?;
    assert_eq!(
        (last["Key"].as_str(), last["Value"].as_str()),
        (Some("w/b"), Some("bGl2ZQ=="))
    );
    drop(watch);

    info!("--- without -index: only changes made after it started");
    let fresh = cli(&a, &["kv", "watch", "w/"]).spawn()?;
    let mut tick = 0;
    wait_for(secs(10), "the fresh watch to print a change", || {
        tick += 1;
        let put = praetor(&a, &["kv", "put", "w/tick", &tick.to_string()]);
        let printed = fresh.stdout();
        async move {
            put.assert_success();
            if printed.is_empty() {
                Err("nothing printed yet".to_owned())
            } else {
                Ok(())
            }
        }
    })
    .await?;
    let first: Value = serde_json::from_str(fresh.stdout().lines().next().unwrap_or_default())?;
    assert_eq!(
        first["Key"],
        "w/tick",
        "no old change was replayed: {}",
        fresh.stdout()
    );
    let stopped = fresh.stop(secs(5))?;
    assert!(stopped.stderr.is_empty(), "{stopped:?}");
    a.shutdown().await?;
    Ok(())
}
