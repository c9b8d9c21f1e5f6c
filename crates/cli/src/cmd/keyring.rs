//! `praetor keygen` and `praetor keyring`: gossip encryption keys, with
//! Consul's flags and output. `keygen` needs no agent; `keyring` asks one
//! (a server) through `/v1/operator/keyring`.

use clap::Args;
use praetor_api::operator::KeyringResponse;
use praetor_client::KeyringOp;

use super::{Failed, HttpArgs};
use crate::output;

/// Consul's `keyring` help, printed when no action is given.
const HELP: &str = "Usage: praetor keyring [options]

  Manages encryption keys used for gossip messages. Gossip encryption is
  optional. When enabled, this command may be used to examine active encryption
  keys in the cluster, add new keys, and remove old ones. When combined, this
  functionality provides the ability to perform key rotation cluster-wide,
  without disrupting the cluster.

  All operations performed by this command can only be run against server nodes.

  All variations of the keyring command return 0 if all nodes reply and there
  are no errors. If any node fails to reply or reports failure, the exit code
  will be 1.

  Options: -list, -list-primary, -install=<key>, -use=<key>, -remove=<key>,
  -local-only, -relay-factor=<n>";

#[derive(Args, Debug)]
pub struct KeygenArgs {}

/// `praetor keygen`: prints a new random 32-byte key in base64.
pub fn keygen(_: &KeygenArgs) {
    output::line(&praetor_gossip::generate_key());
}

#[derive(Args, Debug)]
pub struct KeyringArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// List all keys currently in use within the cluster.
    #[arg(long)]
    list: bool,
    /// List all primary keys currently in use within the cluster.
    #[arg(long = "list-primary")]
    list_primary: bool,
    /// Install a new encryption key. This will broadcast the new key to all
    /// members in the cluster.
    #[arg(long)]
    install: Option<String>,
    /// Change the primary encryption key, which is used to encrypt messages.
    /// The key must already be installed before this operation can succeed.
    #[arg(long = "use")]
    use_key: Option<String>,
    /// Remove the given key from the cluster. This operation may only be
    /// performed on keys which are not currently the primary key.
    #[arg(long)]
    remove: Option<String>,
    /// Setting this to true will force the keyring query to only hit local
    /// servers (no WAN traffic). This flag can only be set for list queries.
    #[arg(long = "local-only")]
    local_only: bool,
    /// Setting this to a non-zero value will cause nodes to relay their
    /// response to the operation through this many randomly-chosen other
    /// nodes in the cluster. The maximum allowed value is 5.
    #[arg(
        long = "relay-factor",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    relay_factor: i64,
}

/// What one `keyring` invocation does.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    List { primary: bool },
    Change(KeyringOp, String),
}

/// Consul's checks, in Consul's order and words.
fn action(a: &KeyringArgs) -> Result<(Action, u8), Failed> {
    let mut found = 0;
    let mut chosen = None;
    if a.list {
        found += 1;
        chosen = Some(Action::List { primary: false });
    }
    if a.list_primary {
        found += 1;
        chosen = Some(Action::List { primary: true });
    }
    for (op, key) in [
        (KeyringOp::Install, &a.install),
        (KeyringOp::Use, &a.use_key),
        (KeyringOp::Remove, &a.remove),
    ] {
        if let Some(key) = key.as_ref().filter(|k| !k.is_empty()) {
            found += 1;
            chosen = Some(Action::Change(op, key.clone()));
        }
    }
    if found > 1 {
        return Err(Failed("Only a single action is allowed".into()));
    }
    let Some(chosen) = chosen else {
        return Err(Failed(HELP.into()));
    };
    let relay = u8::try_from(a.relay_factor)
        .ok()
        .filter(|n| *n <= 5)
        .ok_or_else(|| {
            Failed("Error parsing relay factor: Relay factor must be in range: [0, 5]".into())
        })?;
    if a.local_only && !matches!(chosen, Action::List { .. }) {
        return Err(Failed(
            "Error validating local-only: local-only can only be set for list requests".into(),
        ));
    }
    Ok((chosen, relay))
}

/// `praetor keyring`.
///
/// # Errors
/// A usage error, an unreachable agent or an operation a member refused
/// (printed as Consul does, `error: …`), exit code 1.
pub async fn keyring(a: KeyringArgs) -> anyhow::Result<()> {
    let (action, relay) = action(&a)?;
    let client = a.http.client()?;
    match action {
        Action::List { primary } => {
            output::line(if primary {
                "==> Gathering primary encryption keys..."
            } else {
                "==> Gathering installed encryption keys..."
            });
            let pools = client
                .operator_keyring_list(relay, a.local_only)
                .await
                .map_err(|e| Failed(format!("error: {e}")))?;
            for pool in &pools {
                output::text(&format_pool(pool, primary));
            }
        }
        Action::Change(op, key) => {
            output::line(match op {
                KeyringOp::Install => "==> Installing new gossip encryption key...",
                KeyringOp::Use => "==> Changing primary gossip encryption key...",
                KeyringOp::Remove => "==> Removing gossip encryption key...",
            });
            client
                .operator_keyring(op, &key, relay)
                .await
                .map_err(|e| Failed(format!("error: {e}")))?;
        }
    }
    Ok(())
}

/// One pool as Consul prints it: a blank line, `dc1 (LAN):`, each member's
/// message, then each key with how many of the members hold it.
fn format_pool(pool: &KeyringResponse, primary: bool) -> String {
    let name = if pool.wan {
        "WAN".to_owned()
    } else if pool.segment.is_empty() {
        format!("{} (LAN)", pool.datacenter)
    } else {
        format!("{} (LAN) [segment: {}]", pool.datacenter, pool.segment)
    };
    let mut out = format!("\n{name}:\n");
    for (node, message) in &pool.messages {
        out.push_str(&format!("  ===> {node}: {message}\n"));
    }
    let keys = if primary {
        &pool.primary_keys
    } else {
        &pool.keys
    };
    for (key, count) in keys {
        out.push_str(&format!("  {key} [{count}/{}]\n", pool.num_nodes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut KeyringArgs)) -> KeyringArgs {
        let mut a = KeyringArgs {
            http: HttpArgs::default(),
            list: false,
            list_primary: false,
            install: None,
            use_key: None,
            remove: None,
            local_only: false,
            relay_factor: 0,
        };
        f(&mut a);
        a
    }

    #[test]
    fn exactly_one_action_with_consuls_checks() {
        assert_eq!(
            action(&args(|a| a.list = true)).unwrap(),
            (Action::List { primary: false }, 0)
        );
        let two = action(&args(|a| {
            a.list = true;
            a.remove = Some("k".into());
        }));
        assert_eq!(two.unwrap_err().0, "Only a single action is allowed");
        let none = action(&args(|_| {})).unwrap_err().0;
        assert!(none.starts_with("Usage: praetor keyring"), "{none}");
        let relay = action(&args(|a| {
            a.list = true;
            a.relay_factor = 6;
        }));
        assert!(relay.unwrap_err().0.contains("[0, 5]"));
        let local = action(&args(|a| {
            a.install = Some("k".into());
            a.local_only = true;
        }));
        assert!(local
            .unwrap_err()
            .0
            .contains("only be set for list requests"));
    }

    #[test]
    fn a_pool_prints_as_consuls() {
        let mut pool = KeyringResponse {
            datacenter: "dc1".into(),
            num_nodes: 3,
            ..Default::default()
        };
        pool.keys.insert("K1".into(), 3);
        pool.keys.insert("K2".into(), 2);
        pool.primary_keys.insert("K1".into(), 3);
        pool.messages.insert("n3".into(), "no answer".into());
        assert_eq!(
            format_pool(&pool, false),
            "\ndc1 (LAN):\n  ===> n3: no answer\n  K1 [3/3]\n  K2 [2/3]\n"
        );
        assert_eq!(
            format_pool(&pool, true),
            "\ndc1 (LAN):\n  ===> n3: no answer\n  K1 [3/3]\n"
        );
    }
}
