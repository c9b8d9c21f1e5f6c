//! Flags parsed as Go's `flag` package parses them (issue 12): flags only
//! before the first argument, `--` ends them, and from the first argument on
//! every value and child argument reaches its command byte for byte.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use praetor_testkit::{secs, wait_for, Cli};
use tracing::info;

use crate::{cli, dev_agent, praetor, raw};

/// A shell script that writes its arguments, each ended by a NUL, to
/// `DIR/NAME.argv` (whole, through a rename) and exits 0.
fn argv_child(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let script = dir.join(format!("{name}.sh"));
    let out = dir.join(format!("{name}.argv"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{out}.tmp' && mv '{out}.tmp' '{out}'\n",
            out = out.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok((script, out))
}

/// The arguments an [`argv_child`] wrote.
fn argv_of(file: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(file)?;
    Ok(String::from_utf8(bytes)?
        .split_terminator('\0')
        .map(str::to_owned)
        .collect())
}

#[tokio::test]
async fn kv_put_stores_values_that_look_like_flags_verbatim() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;

    info!("--- a value after the key is a value, whatever it looks like");
    for (key, value) in [
        ("dash", "-abc"),
        ("double-dash", "--abc"),
        ("addr", "-http-addr=evil"),
        ("number", "-1"),
        ("cas", "-cas"),
    ] {
        praetor(&a, &["kv", "put", key, value]).assert_success();
        assert_eq!(
            raw(&a, key).await?.as_deref(),
            Some(value.as_bytes()),
            "{key}"
        );
        let got = praetor(&a, &["kv", "get", key]);
        got.assert_success();
        assert_eq!(got.stdout, format!("{value}\n"), "{key}");
    }

    info!("--- `--` before the key ends the flags: the key and value may start with a dash");
    praetor(&a, &["kv", "put", "--", "-k", "-x"]).assert_success();
    assert_eq!(raw(&a, "-k").await?.as_deref(), Some(&b"-x"[..]));
    assert_eq!(
        praetor(&a, &["kv", "get", "--", "-k"])
            .assert_success()
            .stdout,
        "-x\n"
    );

    info!("--- flags before the key still work, with a value in the next argument");
    praetor(
        &a,
        &[
            "kv",
            "put",
            "-flags",
            "9",
            "-http-addr",
            &a.http_addr(),
            "f",
            "-v",
        ],
    )
    .assert_success();
    let detailed = praetor(&a, &["kv", "get", "-detailed", "f"]);
    assert!(detailed.stdout.contains("Flags        9\n"), "{detailed:?}");
    assert!(
        detailed.stdout.contains("Value        -v\n"),
        "{detailed:?}"
    );
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn flags_after_the_first_argument_are_arguments_and_unknown_flags_are_refused(
) -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    praetor(&a, &["kv", "put", "app/x", "1"]).assert_success();

    info!("--- `kv get KEY -recurse`: -recurse is a second argument, refused as in Consul");
    let out = praetor(&a, &["kv", "get", "app/", "-recurse"]);
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains("-recurse"), "{out:?}");

    info!("--- `kv put k -- -x`: after the key, `--` is an argument too (three: refused)");
    let out = praetor(&a, &["kv", "put", "k", "--", "-x"]);
    out.assert_code(1);
    assert_eq!(raw(&a, "k").await?, None, "nothing was written");

    info!("--- an unknown flag before the key: Go's message, exit 1, nothing written");
    for args in [
        &["kv", "put", "-abc", "k", "v"][..],
        &["lock", "-abc", "p", "true"],
        &["watch", "-type=key", "-key=k", "-abc", "true"],
    ] {
        let out = praetor(&a, args);
        out.assert_code(1);
        assert!(
            out.stderr.contains("flag provided but not defined: -abc"),
            "{args:?}: {out:?}"
        );
    }
    assert_eq!(raw(&a, "k").await?, None, "nothing was written");

    info!("--- a flag that takes a value, given none");
    let out = praetor(&a, &["kv", "get", "-http-addr"]);
    out.assert_code(1);
    assert!(out.stderr.contains("http-addr"), "{out:?}");

    info!("--- help is not an error");
    praetor(&a, &["kv", "put", "-help"]).assert_success();
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn lock_elect_and_watch_children_get_their_arguments_unchanged() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;

    info!("--- `lock prefix CHILD -jar app.jar ...` (through sh -c, as Consul)");
    let (child, out) = argv_child(dir.path(), "lock")?;
    let child = child.to_string_lossy().into_owned();
    praetor(
        &a,
        &[
            "lock",
            "jobs",
            &child,
            "-jar",
            "app.jar",
            "-n",
            "5",
            "--",
            "-shell=false",
        ],
    )
    .assert_success();
    assert_eq!(
        argv_of(&out)?,
        ["-jar", "app.jar", "-n", "5", "--", "-shell=false"]
    );

    info!("--- `lock -shell=false`: the child's arguments exactly, spaces kept");
    let (child, out) = argv_child(dir.path(), "direct")?;
    let child = child.to_string_lossy().into_owned();
    praetor(
        &a,
        &[
            "lock",
            "-shell=false",
            "-n",
            "2",
            "sem",
            &child,
            "-a b",
            "-",
            "-verbose",
        ],
    )
    .assert_success();
    assert_eq!(argv_of(&out)?, ["-a b", "-", "-verbose"]);

    info!("--- `elect -key K CHILD ...`: the child's flags are not elect's");
    let (child, out) = argv_child(dir.path(), "elect")?;
    let child = child.to_string_lossy().into_owned();
    praetor(
        &a,
        &[
            "elect",
            "-key",
            "leader",
            &child,
            "-key=other",
            "-ttl=1s",
            "--",
        ],
    )
    .assert_success();
    assert_eq!(argv_of(&out)?, ["-key=other", "-ttl=1s", "--"]);

    info!("--- `watch -type=key -key=K HANDLER -x`: the handler's arguments are its own");
    praetor(&a, &["kv", "put", "watched", "v"]).assert_success();
    let (child, out) = argv_child(dir.path(), "watch")?;
    let child = child.to_string_lossy().into_owned();
    let watch = cli(
        &a,
        &[
            "watch",
            "-type=key",
            "-key=watched",
            &child,
            "-type=event",
            "-x",
        ],
    )
    .spawn()?;
    wait_for(secs(10), "the watch handler ran", || async {
        if out.exists() {
            Ok(())
        } else {
            Err("no argv file yet".to_owned())
        }
    })
    .await?;
    watch.stop(secs(5))?;
    assert_eq!(argv_of(&out)?, ["-type=event", "-x"]);

    info!("--- a child argument that is not a flag of ours is not refused");
    let out = Cli::new(["lock", "p", "true", "-bogus"])
        .env("CONSUL_HTTP_ADDR", &a.http_addr())
        .run()?;
    out.assert_success();
    a.shutdown().await?;
    Ok(())
}
