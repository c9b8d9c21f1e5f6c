//! Installing and running Praetor as the README's first section says
//! (issue 16): the `praetor` binary `cargo install --path crates/cli`
//! installs reports the revision it was built from, and the systemd unit in
//! `docs/` runs it the way Consul's unit runs Consul.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_installed_binary_is_praetor_and_prints_the_revision_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_praetor"))
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("Praetor v{}", env!("CARGO_PKG_VERSION")));
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let want = std::env::var("PRAETOR_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or(head)
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(lines[1], format!("Revision {want}"), "{text}");
    assert!(lines[2].starts_with("Build Date "), "{text}");
    assert!(lines[3].starts_with("Consul API v"), "{text}");
}

#[test]
fn the_systemd_unit_runs_the_installed_agent_as_consuls_unit_does() {
    let unit = read("docs/praetor.service");
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "User=praetor",
        "ExecStart=/usr/local/bin/praetor agent -config-dir=/etc/praetor.d/",
        "ExecReload=/bin/kill --signal HUP $MAINPID",
        "KillMode=process",
        "KillSignal=SIGTERM",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        "WantedBy=multi-user.target",
        // The agent does not speak sd_notify: systemd must not wait for it.
        "Type=exec",
    ] {
        assert!(has(line), "{line} in docs/praetor.service");
    }
}

#[test]
fn the_readme_set_up_says_how_to_install_and_run_as_a_service() {
    let readme = read("README.md");
    let setup = readme
        .split("\n## ")
        .find(|s| s.starts_with("Set-up"))
        .expect("a Set-up section");
    for needle in [
        "cargo run --release -p praetor -- agent -dev",
        "./scripts/test.sh",
        "cargo install --path crates/cli",
        "docs/praetor.service",
        "praetor version",
    ] {
        assert!(setup.contains(needle), "{needle} in the README's set-up");
    }
}

/// `praetor version | head -0` (a reader that has gone): the command ends
/// quietly on the broken pipe, as a Unix tool does, instead of panicking.
#[test]
fn a_command_whose_reader_has_gone_ends_quietly_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_praetor"))
        .arg("version")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
}
