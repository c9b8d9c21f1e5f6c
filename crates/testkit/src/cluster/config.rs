//! Each node's config file: JSON in Consul's shape, with comments, as an
//! operator would write it. Renders text only; writes nothing.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;

use super::{Role, Spec};

/// One node's config file: JSON in Consul's shape, with comments.
pub(super) fn config_text(
    spec: &Spec,
    name: &str,
    role: Role,
    ip: Ipv4Addr,
    data_dir: &Path,
    join: &[Ipv4Addr],
) -> String {
    let q = |s: &str| Value::from(s).to_string();
    let join: Vec<String> = join.iter().map(|ip| q(&ip.to_string())).collect();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{{\n  // {name}: a {} of a {}-server, {}-client cluster started by praetor-testkit",
        role.word(),
        spec.servers,
        spec.clients
    );
    let _ = writeln!(t, "  \"datacenter\": {},", q(&spec.datacenter));
    let _ = writeln!(t, "  \"node_name\": {},", q(name));
    match role {
        Role::Server => {
            let _ = writeln!(t, "  \"server\": true,");
            let _ = writeln!(
                t,
                "  // no server acts before this many have found each other"
            );
            let expect = match (spec.one_bootstraps, name == "s1") {
                (false, _) => spec.servers,
                (true, true) => 1,
                (true, false) => 0,
            };
            let _ = writeln!(t, "  \"bootstrap_expect\": {expect},");
        }
        Role::Client => {
            let _ = writeln!(
                t,
                "  \"server\": false, // a client agent: it forwards to servers"
            );
        }
    }
    let _ = writeln!(t, "  // every listener on this node's own loopback address");
    let _ = writeln!(t, "  \"bind_addr\": {},", q(&ip.to_string()));
    let _ = writeln!(t, "  \"client_addr\": {},", q(&ip.to_string()));
    let _ = writeln!(t, "  \"data_dir\": {},", q(&data_dir.to_string_lossy()));
    let _ = writeln!(t, "  // the servers, on the default gossip port (8301)");
    let _ = writeln!(t, "  \"retry_join\": [{}],", join.join(", "));
    let _ = writeln!(t, "  \"retry_interval\": {},", q(&spec.retry_interval));
    if let (Role::Server, Some(d)) = (role, &spec.dead_server_timeout) {
        let _ = writeln!(
            t,
            "  \"autopilot\": {{ \"dead_server_timeout\": {} }},",
            q(d)
        );
    }
    for (key, json) in &spec.extra {
        let _ = writeln!(t, "  {}: {json},", q(key));
    }
    for (_, key, json) in spec.node_extra.iter().filter(|(n, _, _)| n == name) {
        let _ = writeln!(t, "  {}: {json},", q(key));
    }
    let _ = writeln!(t, "  \"log_level\": \"debug\"\n}}");
    t
}
