//! The CLI over HTTPS (issue 15, item 6) with certificates made by
//! `praetor tls`: against a dev agent's own HTTPS listener, and through a
//! TLS front on loopback that requires a client certificate and forwards to
//! a dev agent's HTTP port. Consul's flags and variables, a flag over its
//! variable, a wrong CA refused in one line with exit 1, and
//! `CONSUL_HTTP_SSL_VERIFY=false` accepting it.

use std::path::Path;
use std::sync::Arc;

use praetor_testkit::{Cli, CliOutput};
use tracing::info;

use crate::tls::{certs, key, provider, roots, tls};

/// A TLS front for `backend` on 127.0.0.1: presents `<server>.pem`,
/// requires a client certificate from `<ca>.pem` (files in `dir`), and
/// forwards each connection's bytes to `backend`. Serves at most 64
/// connections; stops when the handle is dropped.
struct TlsFront {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(
    dir: &Path,
    ca: &str,
    server: &str,
    backend: String,
) -> anyhow::Result<TlsFront> {
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots(&dir.join(format!("{ca}.pem"))),
        provider(),
    )
    .build()?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(
            certs(&dir.join(format!("{server}.pem"))),
            key(&dir.join(format!("{server}-key.pem"))),
        )?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(TlsFront { addr, task })
}

/// `praetor ARGS` with `env`.
#[track_caller]
fn praetor_env(args: &[&str], env: &[(&str, String)]) -> CliOutput {
    env.iter()
        .fold(Cli::new(args.iter().copied()), |cli, (k, v)| cli.env(k, v))
        .run()
        .expect("the CLI ran to completion")
}

/// A CA with a server and a CLI certificate in `d`, and a second CA in
/// `d/other` that signed nothing of ours.
fn https_certificates(d: &Path) {
    tls(d, &["ca", "create"]).assert_success();
    tls(d, &["cert", "create", "-server"]).assert_success();
    tls(d, &["cert", "create", "-cli"]).assert_success();
    let other = d.join("other");
    std::fs::create_dir(&other).expect("other dir");
    tls(&other, &["ca", "create"]).assert_success();
    let cas = d.join("cas");
    std::fs::create_dir(&cas).expect("CA dir");
    std::fs::copy(d.join("consul-agent-ca.pem"), cas.join("ca.pem")).expect("copy");
}

fn path(d: &Path, name: &str) -> String {
    d.join(name).display().to_string()
}

// The CLI blocks this thread while the TLS front serves it on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_speaks_https_with_a_client_certificate_by_flags_or_variables() -> anyhow::Result<()>
{
    let (agent, _lo) = crate::dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    https_certificates(d);
    let front = tls_front(
        d,
        "consul-agent-ca",
        "dc1-server-consul-0",
        agent.http_addr(),
    )
    .await?;
    let https = format!("https://{}", front.addr);

    info!("--- kv put with Consul's flags: -ca-file, -client-cert, -client-key, an https address");
    let (ca, cert, key) = (
        path(d, "consul-agent-ca.pem"),
        path(d, "dc1-cli-consul-0.pem"),
        path(d, "dc1-cli-consul-0-key.pem"),
    );
    praetor_env(
        &[
            "kv",
            "put",
            "-http-addr",
            &https,
            "-ca-file",
            &ca,
            "-client-cert",
            &cert,
            "-client-key",
            &key,
            "tls/app",
            "secret",
        ],
        &[],
    )
    .assert_success();
    assert_eq!(
        crate::raw(&agent, "tls/app").await?.as_deref(),
        Some(&b"secret"[..])
    );

    info!("--- kv get with Consul's variables: CONSUL_HTTP_SSL and a bare address");
    let env = [
        ("CONSUL_HTTP_ADDR", front.addr.to_string()),
        ("CONSUL_HTTP_SSL", "true".to_owned()),
        ("CONSUL_CACERT", ca.clone()),
        ("CONSUL_CLIENT_CERT", cert.clone()),
        ("CONSUL_CLIENT_KEY", key.clone()),
    ];
    let out = praetor_env(&["kv", "get", "tls/app"], &env);
    out.assert_success();
    assert_eq!(out.stdout, "secret\n");

    info!("--- members over HTTPS, with the CA from a directory (CONSUL_CAPATH)");
    let mut by_dir = env.to_vec();
    by_dir.retain(|(k, _)| *k != "CONSUL_CACERT");
    by_dir.push(("CONSUL_CAPATH", path(d, "cas")));
    let out = praetor_env(&["members"], &by_dir);
    out.assert_success();
    assert!(out.stdout.contains(agent.name()), "{out:?}");

    info!("--- a flag wins over its variable");
    let mut wrong_env = env.to_vec();
    wrong_env.retain(|(k, _)| *k != "CONSUL_CACERT");
    wrong_env.push(("CONSUL_CACERT", path(d, "other/consul-agent-ca.pem")));
    praetor_env(&["kv", "get", "-ca-file", &ca, "tls/app"], &wrong_env).assert_success();

    info!("--- -tls-server-name: the certificate must name it, whatever the address's host");
    praetor_env(
        &[
            "kv",
            "get",
            "-tls-server-name",
            "server.dc1.consul",
            "tls/app",
        ],
        &env,
    )
    .assert_success();
    let out = praetor_env(
        &[
            "kv",
            "get",
            "-tls-server-name",
            "client.dc1.consul",
            "tls/app",
        ],
        &env,
    );
    out.assert_code(1);
    assert!(out.stderr.contains("not valid for name"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    Ok(())
}

// The CLI blocks this thread while the TLS front serves it on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_an_agent_signed_by_another_ca_unless_told_not_to_verify(
) -> anyhow::Result<()> {
    let (agent, _lo) = crate::dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    https_certificates(d);
    let front = tls_front(
        d,
        "consul-agent-ca",
        "dc1-server-consul-0",
        agent.http_addr(),
    )
    .await?;
    let https = format!("https://{}", front.addr);
    let env = [
        ("CONSUL_HTTP_ADDR", https.clone()),
        ("CONSUL_CACERT", path(d, "other/consul-agent-ca.pem")),
        ("CONSUL_CLIENT_CERT", path(d, "dc1-cli-consul-0.pem")),
        ("CONSUL_CLIENT_KEY", path(d, "dc1-cli-consul-0-key.pem")),
    ];

    info!("--- the wrong CA: exit 1, one line saying why");
    for args in [&["kv", "put", "tls/x", "v"][..], &["members"]] {
        let out = praetor_env(args, &env);
        out.assert_code(1);
        assert!(
            out.stderr.contains(&https) && out.stderr.contains("invalid peer certificate"),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    }
    assert_eq!(
        crate::raw(&agent, "tls/x").await?,
        None,
        "nothing was written"
    );

    info!("--- CONSUL_HTTP_SSL_VERIFY=false accepts the unknown CA");
    let mut insecure = env.to_vec();
    insecure.push(("CONSUL_HTTP_SSL_VERIFY", "false".to_owned()));
    praetor_env(&["kv", "put", "tls/x", "v"], &insecure).assert_success();
    assert_eq!(
        crate::raw(&agent, "tls/x").await?.as_deref(),
        Some(&b"v"[..])
    );

    info!("--- without a client certificate the front refuses the CLI");
    let mut anonymous = insecure.to_vec();
    anonymous.retain(|(k, _)| !k.starts_with("CONSUL_CLIENT_"));
    let out = praetor_env(&["kv", "get", "tls/x"], &anonymous);
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");

    info!("--- bad TLS settings are named before anything is sent");
    let mut half = insecure.to_vec();
    half.retain(|(k, _)| *k != "CONSUL_CLIENT_KEY");
    let out = praetor_env(&["kv", "get", "tls/x"], &half);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("both client cert and client key must be provided"),
        "{out:?}"
    );
    let out = praetor_env(
        &["kv", "get", "-ca-file", "/nonexistent/ca.pem", "tls/x"],
        &env,
    );
    out.assert_code(1);
    assert!(out.stderr.contains("/nonexistent/ca.pem"), "{out:?}");
    let out = praetor_env(
        &["kv", "get", "tls/x"],
        &[("CONSUL_HTTP_SSL", "yes".to_owned())],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("CONSUL_HTTP_SSL"), "{out:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_to_an_agents_own_https_api_with_certificates_from_praetor_tls(
) -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let ip = lo.ip().to_string();
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    info!("--- a server certificate that also names the agent's address");
    tls(d, &["ca", "create"]).assert_success();
    tls(
        d,
        &["cert", "create", "-server", "-additional-ipaddress", &ip],
    )
    .assert_success();
    tls(d, &["cert", "create", "-cli"]).assert_success();
    let q = |name: &str| serde_json::Value::from(path(d, name)).to_string();
    let config = format!(
        r#"{{ "ports": {{ "https": 8501 }},
             "tls": {{ "defaults": {{ "ca_file": {}, "cert_file": {}, "key_file": {} }},
                       "https": {{ "verify_incoming": true }} }} }}"#,
        q("consul-agent-ca.pem"),
        q("dc1-server-consul-0.pem"),
        q("dc1-server-consul-0-key.pem"),
    );
    let agent = praetor_testkit::AgentProcess::dev(&lo)?
        .config_file("tls.json", &config)
        .start()
        .await?;
    let https = format!("https://{ip}:8501");
    let (ca, cert, key) = (
        path(d, "consul-agent-ca.pem"),
        path(d, "dc1-cli-consul-0.pem"),
        path(d, "dc1-cli-consul-0-key.pem"),
    );

    info!("--- kv put and get over the agent's HTTPS, by flags");
    let flags = [
        "-http-addr",
        &https,
        "-ca-file",
        &ca,
        "-client-cert",
        &cert,
        "-client-key",
        &key,
    ];
    let put: Vec<&str> = ["kv", "put"]
        .into_iter()
        .chain(flags)
        .chain(["tls/own", "over-https"])
        .collect();
    praetor_env(&put, &[]).assert_success();
    assert_eq!(
        crate::raw(&agent, "tls/own").await?.as_deref(),
        Some(&b"over-https"[..])
    );
    let get: Vec<&str> = ["kv", "get"]
        .into_iter()
        .chain(flags)
        .chain(["tls/own"])
        .collect();
    assert_eq!(
        praetor_env(&get, &[]).assert_success().stdout,
        "over-https\n"
    );

    info!("--- members over the agent's HTTPS, by Consul's variables");
    let env = [
        ("CONSUL_HTTP_ADDR", format!("{ip}:8501")),
        ("CONSUL_HTTP_SSL", "1".to_owned()),
        ("CONSUL_CACERT", ca.clone()),
        ("CONSUL_CLIENT_CERT", cert.clone()),
        ("CONSUL_CLIENT_KEY", key.clone()),
    ];
    let out = praetor_env(&["members"], &env);
    out.assert_success();
    assert!(out.stdout.contains(agent.name()), "{out:?}");

    info!("--- without a client certificate the agent refuses the CLI: exit 1, one line");
    let out = praetor_env(
        &[
            "kv",
            "get",
            "-http-addr",
            &https,
            "-ca-file",
            &ca,
            "tls/own",
        ],
        &[],
    );
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    Ok(())
}
