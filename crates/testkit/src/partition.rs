//! Network partitions between agents that share the loopback device: packet
//! filter rules that drop what one side's processes send to the other
//! side's addresses, removed again when the [`Partition`] is healed or
//! dropped (so a failing test never leaves a machine cut up).
//!
//! Why by owner and not by source address: an agent binds its listeners
//! and its gossip socket to its own 127.0.0.x, but the TCP connections it
//! opens (Raft, RPC, gossip push/pull) leave from 127.0.0.1, the loopback
//! route's source, so `-s 127.0.0.x` would miss them. Every agent of a
//! partitionable cluster runs under a uid of its own instead, and every
//! packet a socket sends carries its owner: `OUTPUT -m owner --uid-owner
//! <a> -d <b> -j DROP`, for each pair across the cut, in both directions.
//! Any connection between the sides then loses the packets its initiator
//! sends, whichever side that is. The test's own requests (root's) pass, so
//! both sides can still be asked what they think.
//!
//! iptables is tried first, nftables (`nft`) when iptables is missing or
//! does not work; both need root. Nothing here touches a rule it did not add.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::KitError;

/// A one-way cut: what the process running as `uid` sends to `to` is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub uid: u32,
    pub to: Ipv4Addr,
}

/// The packet filter a partition was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `iptables` rules in the filter table's OUTPUT chain.
    Iptables,
    /// An `nft` table of our own, hooked on output.
    Nftables { table: String },
}

/// Installed cuts; healed (every rule removed) by [`heal`](Self::heal) or
/// on drop.
#[derive(Debug)]
pub struct Partition {
    mechanism: Mechanism,
    /// What was installed, in order; healing removes these and only these.
    installed: Vec<Cut>,
    healed: bool,
}

impl Partition {
    /// Installs `cuts`. On any failure, removes what it had installed.
    ///
    /// # Errors
    /// `Partition` when not root, or neither iptables nor nftables works
    /// here (the message says what each answered).
    pub fn install(cuts: &[Cut]) -> Result<Partition, KitError> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return Err(KitError::Partition(
                "cutting links needs root (iptables/nftables rules); run the tests as root".into(),
            ));
        }
        let iptables = match Self::install_with(Mechanism::Iptables, cuts) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        static TABLES: AtomicU32 = AtomicU32::new(0);
        let table = format!(
            "praetor_testkit_{}_{}",
            std::process::id(),
            TABLES.fetch_add(1, Ordering::Relaxed)
        );
        match Self::install_with(Mechanism::Nftables { table }, cuts) {
            Ok(p) => {
                tracing::warn!(%iptables, "iptables did not work; cut links with nftables");
                Ok(p)
            }
            Err(nft) => Err(KitError::Partition(format!(
                "neither iptables nor nftables could drop packets here: iptables: {iptables}; nft: {nft}"
            ))),
        }
    }

    fn install_with(mechanism: Mechanism, cuts: &[Cut]) -> Result<Partition, String> {
        let mut p = Partition {
            mechanism,
            installed: Vec::new(),
            healed: false,
        };
        if let Mechanism::Nftables { table } = &p.mechanism {
            run(
                "nft",
                &[],
                Some(&format!(
                    "add table inet {table}\nadd chain inet {table} out {{ type filter hook output priority 0; policy accept; }}\n"
                )),
            )?;
        }
        for &cut in cuts {
            let added = match &p.mechanism {
                Mechanism::Iptables => run("iptables", &iptables_rule("-I", cut), None),
                Mechanism::Nftables { table } => run(
                    "nft",
                    &[],
                    Some(&format!(
                        "add rule inet {table} out meta skuid {} ip daddr {} drop\n",
                        cut.uid, cut.to
                    )),
                ),
            };
            // On failure, dropping `p` removes what was installed so far.
            added?;
            p.installed.push(cut);
        }
        tracing::info!(mechanism = ?p.mechanism, cuts = p.installed.len(), "links cut");
        Ok(p)
    }

    /// The packet filter in use.
    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// The cuts in force.
    pub fn cuts(&self) -> &[Cut] {
        &self.installed
    }

    /// Removes every rule this partition added.
    ///
    /// # Errors
    /// `Partition` naming the rules that could not be removed.
    pub fn heal(mut self) -> Result<(), KitError> {
        self.remove().map_err(KitError::Partition)
    }

    fn remove(&mut self) -> Result<(), String> {
        if self.healed {
            return Ok(());
        }
        self.healed = true;
        let mut errors = Vec::new();
        match &self.mechanism {
            Mechanism::Iptables => {
                for &cut in self.installed.iter().rev() {
                    if let Err(e) = run("iptables", &iptables_rule("-D", cut), None) {
                        errors.push(e);
                    }
                }
            }
            Mechanism::Nftables { table } => {
                let args = ["delete", "table", "inet", table].map(str::to_owned);
                if let Err(e) = run("nft", &args, None) {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            tracing::info!(mechanism = ?self.mechanism, "links healed");
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("--- praetor-testkit: could not remove every partition rule: {e}");
        }
    }
}

/// `iptables -w 10 <op> OUTPUT <match> -j DROP` for `cut`; the comment
/// names this test process, so a stray rule says whose it was.
fn iptables_rule(op: &str, cut: Cut) -> Vec<String> {
    [
        "-w",
        "10",
        op,
        "OUTPUT",
        "-m",
        "owner",
        "--uid-owner",
        &cut.uid.to_string(),
        "-d",
        &format!("{}/32", cut.to),
        "-m",
        "comment",
        "--comment",
        &format!("praetor-testkit pid {}", std::process::id()),
        "-j",
        "DROP",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `program` from `PATH`, or from the sbin directories a non-login root
/// shell may leave out of it (where Debian installs iptables and nft).
fn locate(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Runs `program args` (with `script` on stdin as `-f -`), bounded in time
/// by the tools themselves (`-w` for iptables; nft does not wait).
fn run(program: &str, args: &[String], script: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(locate(program));
    if script.is_some() {
        cmd.args(["-f", "-"]);
    }
    cmd.args(args)
        .stdin(if script.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("running {program}: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (script, child.stdin.take()) {
        use std::io::Write as _;
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules each mechanism lists, as text.
    fn listed(mechanism: &Mechanism) -> String {
        let out = match mechanism {
            Mechanism::Iptables => Command::new(locate("iptables"))
                .args(["-w", "10", "-S", "OUTPUT"])
                .output(),
            Mechanism::Nftables { .. } => Command::new(locate("nft"))
                .args(["list", "ruleset"])
                .output(),
        };
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Installs a cut for a uid no process has, checks the filter lists it,
    /// heals, and checks it is gone. Needs root and the tool: without them
    /// it fails, unless `PRAETOR_TEST_ALLOW_SKIP=1` says a skip is fine
    /// (then it says it skipped), so CI cannot go green without running it.
    fn round_trip(mechanism: Mechanism, tool: &str) {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root || !locate(tool).is_absolute() {
            let why = if root {
                format!("{tool} is not installed")
            } else {
                "not running as root".to_owned()
            };
            assert!(
                std::env::var("PRAETOR_TEST_ALLOW_SKIP").as_deref() == Ok("1"),
                "this test needs root and {tool}, but {why}; run it as root \
                 or set PRAETOR_TEST_ALLOW_SKIP=1 to skip it"
            );
            eprintln!("SKIPPED (PRAETOR_TEST_ALLOW_SKIP=1): needs root and {tool}; {why}");
            return;
        }
        let cut = Cut {
            uid: 39_999,
            to: Ipv4Addr::new(127, 0, 0, 254),
        };
        let p = Partition::install_with(mechanism.clone(), &[cut]).unwrap();
        let during = listed(&mechanism);
        assert!(during.contains("39999"), "{during}");
        assert!(during.contains("127.0.0.254"), "{during}");
        p.heal().unwrap();
        let after = listed(&mechanism);
        assert!(!after.contains("39999"), "{after}");
    }

    #[test]
    fn iptables_cuts_are_removed_on_heal() {
        round_trip(Mechanism::Iptables, "iptables");
    }

    #[test]
    fn nftables_cuts_are_removed_on_heal() {
        let table = format!("praetor_testkit_unit_{}", std::process::id());
        round_trip(Mechanism::Nftables { table }, "nft");
    }
}
