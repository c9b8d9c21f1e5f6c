//! `praetor keygen` and `praetor keyring` against a server agent started
//! with `encrypt`: Consul's output, a rotation through the CLI persisted in
//! `<data_dir>/serf/local.keyring`, refusals and usage errors on stderr with
//! exit code 1.

use base64::Engine as _;
use praetor_testkit::{AgentProcess, Cli, Loopback};

use crate::praetor;

const K1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const K2: &str = "5Cm8A0jZoaFXX3GWyvD47g==";

#[test]
fn keygen_prints_a_new_32_byte_base64_key() -> anyhow::Result<()> {
    let first = Cli::new(["keygen"]).run()?;
    first.assert_success();
    let key = first.stdout.trim_end_matches('\n');
    assert_eq!(first.stdout, format!("{key}\n"), "{first:?}");
    let raw = base64::engine::general_purpose::STANDARD.decode(key)?;
    assert_eq!(raw.len(), 32);
    let second = Cli::new(["keygen"]).run()?;
    assert_ne!(second.stdout, first.stdout, "keys are random");
    Ok(())
}

#[tokio::test]
async fn keyring_lists_installs_uses_and_removes_keys_with_consuls_output() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let a = AgentProcess::server(&lo)?
        .config_file("encrypt.hcl", &format!("encrypt = \"{K1}\"\n"))
        .start()
        .await?;
    let file = a.data_dir().join("serf/local.keyring");
    let on_disk = || -> Vec<String> {
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    };
    assert_eq!(on_disk(), [K1]);

    let out = praetor(&a, &["keyring", "-list"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        format!("==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  {K1} [1/1]\n")
    );

    let out = praetor(&a, &["keyring", "-install", K2]);
    out.assert_success();
    assert_eq!(out.stdout, "==> Installing new gossip encryption key...\n");
    let out = praetor(&a, &["keyring", "-list"]);
    assert!(out.stdout.contains(&format!("  {K2} [1/1]\n")), "{out:?}");
    assert_eq!(on_disk(), [K1, K2]);

    let out = praetor(&a, &["keyring", &format!("-use={K2}")]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "==> Changing primary gossip encryption key...\n"
    );
    let out = praetor(&a, &["keyring", "-list-primary"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        format!("==> Gathering primary encryption keys...\n\ndc1 (LAN):\n  {K2} [1/1]\n")
    );

    let out = praetor(&a, &["keyring", "-remove", K1]);
    out.assert_success();
    assert_eq!(out.stdout, "==> Removing gossip encryption key...\n");
    assert_eq!(on_disk(), [K2]);

    // Refused: the primary key, a key not installed, a malformed key.
    for (args, said) in [
        (
            vec!["keyring", "-remove", K2],
            "Removing the primary key is not allowed",
        ),
        (
            vec!["keyring", "-use", K1],
            "Requested key is not in the keyring",
        ),
        (
            vec!["keyring", "-install", "c2hvcnQ="],
            "16, 24 or 32 bytes",
        ),
    ] {
        let out = praetor(&a, &args);
        out.assert_code(1);
        assert!(out.stderr.starts_with("error: "), "{out:?}");
        assert!(out.stderr.contains(said), "{out:?}");
    }
    assert_eq!(on_disk(), [K2], "a refused operation changed nothing");

    // Usage errors.
    let out = praetor(&a, &["keyring"]);
    out.assert_code(1);
    assert!(out.stderr.starts_with("Usage: praetor keyring"), "{out:?}");
    let out = praetor(&a, &["keyring", "-list", "-remove", K2]);
    out.assert_code(1);
    assert_eq!(out.stderr, "Only a single action is allowed\n");
    let out = praetor(&a, &["keyring", "-install", K1, "-local-only"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("local-only can only be set for list requests"),
        "{out:?}"
    );
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn keyring_without_encryption_fails_in_serfs_words() -> anyhow::Result<()> {
    let (a, _lo) = crate::dev_agent().await?;
    let out = praetor(&a, &["keyring", "-list"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("Keyring is empty (encryption not enabled)"),
        "{out:?}"
    );
    a.shutdown().await?;
    Ok(())
}
