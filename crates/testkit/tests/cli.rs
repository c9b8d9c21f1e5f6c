//! The `praetor` CLI end to end against a running dev agent: Consul's
//! commands, flags and output formats, and errors with exit code 1.

use std::time::Duration;

use praetor_testkit::{cli, write_file, AgentProcess};

fn agent() -> AgentProcess {
    let mut a = AgentProcess::spawn(&["-dev"]);
    a.wait_for_leader(Duration::from_secs(10));
    a
}

#[test]
fn kv_put_get_delete_round_trip() {
    let a = agent();
    let out = a.cli(&["kv", "put", "app/db", "pg://db:5432"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "Success! Data written to: app/db\n"));
    assert_eq!(a.cli(&["kv", "get", "app/db"]).stdout, "pg://db:5432\n");
    a.cli(&["kv", "put", "-flags=42", "app/port", "5432"]);
    let out = a.cli(&["kv", "get", "-detailed", "app/port"]);
    assert!(out.stdout.contains("Flags        42\n") && out.stdout.contains("Value        5432\n"), "{}", out.stdout);
    assert_eq!(a.cli(&["kv", "get", "-recurse", "app"]).stdout, "app/db:pg://db:5432\napp/port:5432\n");
    assert_eq!(a.cli(&["kv", "get", "-keys", ""]).stdout, "app/\n");
    assert_eq!(a.cli(&["kv", "get", "-keys", "app/"]).stdout, "app/db\napp/port\n");
    let out = a.cli(&["kv", "delete", "app/db"]);
    assert_eq!(out.stdout, "Success! Deleted key: app/db\n");
    let out = a.cli(&["kv", "get", "app/db"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "Error! No key exists at: app/db\n");
    let out = a.cli(&["kv", "delete", "-recurse", "app"]);
    assert_eq!(out.stdout, "Success! Deleted keys with prefix: app\n");
}

#[test]
fn kv_put_reads_stdin_files_and_base64_and_honours_cas() {
    let a = agent();
    let out = cli(&a.http_addr(), &["kv", "put", "from/stdin", "-"], Some(b"line1\nline2"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(a.cli(&["kv", "get", "from/stdin"]).stdout, "line1\nline2\n");
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "v.txt", "from a file");
    a.cli(&["kv", "put", "from/file", &format!("@{}", f.display())]);
    assert_eq!(a.cli(&["kv", "get", "from/file"]).stdout, "from a file\n");
    a.cli(&["kv", "put", "-base64", "from/b64", "aGVsbG8="]);
    assert_eq!(a.cli(&["kv", "get", "from/b64"]).stdout, "hello\n");
    assert_eq!(a.cli(&["kv", "get", "-base64", "from/b64"]).stdout, "aGVsbG8=\n");

    let out = a.cli(&["kv", "put", "-cas", "-modify-index=0", "cas/k", "1"]);
    assert_eq!(out.code, 0);
    let out = a.cli(&["kv", "put", "-cas", "-modify-index=0", "cas/k", "2"]);
    assert_eq!((out.code, out.stderr.as_str()), (1, "Error! Did not write to cas/k: CAS failed\n"));
    let detailed = a.cli(&["kv", "get", "-detailed", "cas/k"]).stdout;
    let idx = detailed.lines().find(|l| l.starts_with("ModifyIndex")).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(a.cli(&["kv", "put", "-cas", &format!("-modify-index={idx}"), "cas/k", "3"]).code, 0);
    assert_eq!(a.cli(&["kv", "delete", "-cas", &format!("-modify-index={idx}"), "cas/k"]).code, 1);
}

#[test]
fn export_then_import_restores_keys_and_flags() {
    let a = agent();
    a.cli(&["kv", "put", "-flags=7", "cfg/a", "1"]);
    a.cli(&["kv", "put", "cfg/b/c", "two words"]);
    let exported = a.cli(&["kv", "export", "cfg/"]);
    assert_eq!(exported.code, 0);
    let json: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    assert_eq!(json[0]["key"], "cfg/a");
    assert_eq!(json[0]["flags"], 7);
    assert_eq!(json[0]["value"], "MQ==");
    a.cli(&["kv", "delete", "-recurse", "cfg/"]);
    let out = cli(&a.http_addr(), &["kv", "import", "-"], Some(exported.stdout.as_bytes()));
    assert_eq!(out.stdout, "Imported: cfg/a\nImported: cfg/b/c\n");
    assert_eq!(a.cli(&["kv", "export", "cfg/"]).stdout, exported.stdout);
    let out = cli(&a.http_addr(), &["kv", "import", "-"], Some(b"not json"));
    assert_eq!(out.code, 1);
}

#[test]
fn members_info_version_and_watch() {
    let a = agent();
    let out = a.cli(&["members"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("Node") && lines[0].contains("Address") && lines[0].ends_with("Segment"), "{}", out.stdout);
    assert!(lines[1].contains("alive") && lines[1].contains("server") && lines[1].contains("dc1"), "{}", out.stdout);
    assert!(a.cli(&["info"]).stdout.contains("raft:\n"));
    assert!(a.cli(&["version"]).stdout.starts_with("Praetor v"));

    a.cli(&["kv", "put", "w/a", "1"]);
    a.cli(&["kv", "put", "w/a", "2"]);
    let first = a.cli(&["kv", "get", "-detailed", "w/a"]).stdout;
    let idx: u64 = first.lines().find(|l| l.starts_with("CreateIndex")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    // `kv watch` runs until stopped; read its first two lines through a pipe.
    let mut child = std::process::Command::new(praetor_testkit::praetor_bin())
        .args(["kv", "watch", &format!("-index={idx}"), &format!("-http-addr={}", a.http_addr()), "w/"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
        lines.push(serde_json::from_str::<serde_json::Value>(&l).unwrap());
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(lines[0]["Op"], "set");
    assert_eq!(lines[1]["Prev"]["Value"], "MQ==");
}

#[test]
fn errors_go_to_stderr_with_exit_code_1() {
    // Nothing listens on port 1.
    let out = cli("127.0.0.1:1", &["kv", "get", "x"], None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("Error! ") && out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let out = cli("127.0.0.1:1", &["kv", "put", "-cas", "k", "v"], None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("-modify-index"));
    // -http-addr overrides the environment.
    let a = agent();
    let out = cli("127.0.0.1:1", &["kv", "put", &format!("-http-addr={}", a.http_addr()), "k", "v"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
}
