//! Records what this build is made from, for `/v1/agent/self`,
//! `/v1/agent/version` and `praetor version`: the git revision and its
//! commit date (`unknown` and Consul's placeholder date outside a git
//! checkout, or from `PRAETOR_REVISION` / `PRAETOR_BUILD_DATE` when a
//! packager sets them), and the compiler's version. Reruns only when HEAD
//! or the branch it names moves, so an unchanged checkout never rebuilds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Consul's build date when none is known.
const NO_DATE: &str = "1970-01-01T00:00:01Z";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PRAETOR_REVISION");
    println!("cargo:rerun-if-env-changed=PRAETOR_BUILD_DATE");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let from_git = git(&dir, &["rev-parse", "HEAD"]);
    if from_git.is_some() {
        watch_head(&dir);
    }
    let revision = std::env::var("PRAETOR_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or(from_git)
        .unwrap_or_else(|| "unknown".into());
    let date = std::env::var("PRAETOR_BUILD_DATE")
        .ok()
        .filter(|d| !d.is_empty())
        .or_else(|| {
            git(
                &dir,
                &[
                    "show",
                    "-s",
                    "--format=%cd",
                    "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
                    "HEAD",
                ],
            )
        })
        .unwrap_or_else(|| NO_DATE.into());
    let rustc = std::env::var_os("RUSTC")
        .and_then(|rustc| Command::new(rustc).arg("--version").output().ok())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rustc".into());
    println!("cargo:rustc-env=PRAETOR_REVISION={revision}");
    println!("cargo:rustc-env=PRAETOR_BUILD_DATE={date}");
    println!("cargo:rustc-env=PRAETOR_RUSTC={rustc}");
}

/// `git <args>` in `dir` (UTC times), its trimmed output; `None` without
/// git, outside a checkout, or on failure.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Reruns the script when HEAD, the branch it names, or the packed refs
/// change (a worktree's HEAD and the shared refs live in different
/// directories: git says where). Only files that exist are named: cargo
/// reruns every build for a missing one.
fn watch_head(dir: &Path) {
    let mut files = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        files.push(branch);
    }
    for f in files {
        let Some(path) = git(dir, &["rev-parse", "--git-path", &f]) else {
            continue;
        };
        let path = dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
