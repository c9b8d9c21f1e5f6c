//! Agent services and TTL checks: registered through `/v1/agent/*`, pushed
//! to the catalog by anti-entropy, kept across a restart, and repaired when
//! the catalog drifts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{dev_config, TestAgent};

fn status_of(v: &Value) -> Option<&str> {
    v.as_array()?.first()?["Checks"]
        .as_array()?
        .iter()
        .find(|c| c["CheckID"] == "service:web1")?["Status"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_with_ttl_checks_reach_the_catalog_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.path().to_owned());
    let a = TestAgent::start(cfg.clone()).await;
    let put = |path: &str, body: Value| {
        let (http, url) = (a.http.clone(), a.u(path));
        async move { http.put(url).json(&body).send().await.unwrap() }
    };
    let reg = json!({"ID": "web1", "Name": "web", "Tags": ["v1"], "Port": 8080,
                     "Check": {"TTL": "2s", "Status": "passing"}});
    assert_eq!(put("/v1/agent/service/register", reg).await.status(), 200);
    let services = a.get_json("/v1/agent/services").await;
    assert_eq!(services["web1"]["Service"], "web");
    let health = a
        .wait_json(
            "/v1/health/service/web",
            "the service in the catalog",
            |v| status_of(v) == Some("passing"),
        )
        .await;
    assert_eq!(health[0]["Service"]["Port"], 8080);

    // Without an update the TTL expires: critical in the catalog too.
    let v = a
        .wait_json("/v1/health/service/web", "the TTL to expire", |v| {
            status_of(v) == Some("critical")
        })
        .await;
    let out = v[0]["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["CheckID"] == "service:web1")
        .unwrap()["Output"]
        .clone();
    assert_eq!(out, "TTL expired");
    assert_eq!(
        a.put_empty("/v1/agent/check/pass/service:web1?note=ok")
            .await
            .status(),
        200
    );
    a.wait_json("/v1/health/service/web?passing", "passing again", |v| {
        v.as_array().is_some_and(|l| l.len() == 1)
    })
    .await;

    // Drift: deleted from the catalog behind the agent's back, it comes back.
    let node = cfg.node_name.clone();
    let r = put(
        "/v1/catalog/deregister",
        json!({"Node": node, "ServiceID": "web1"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // (anti-entropy runs every minute; a local change also triggers it)
    assert_eq!(
        a.put_empty("/v1/agent/check/warn/service:web1")
            .await
            .status(),
        200
    );
    a.wait_json(
        "/v1/catalog/service/web",
        "the service restored in the catalog",
        |v| v.as_array().is_some_and(|l| l.len() == 1),
    )
    .await;

    // Refused with a reason, changing nothing: bad registrations, unknown
    // IDs, bad bodies.
    let bad = [
        (
            json!({"Name": "api", "Check": {"HTTP": "http://127.0.0.1:1/", "TCP": "127.0.0.1:1", "Interval": "10s"}}),
            "not several",
        ),
        (json!({"ID": "api1", "Port": 80}), "Missing service name"),
        (
            json!({"Name": "api", "Check": {"HTTP": "http://127.0.0.1:1/", "Interval": "ten seconds"}}),
            "Invalid Interval",
        ),
        (
            json!({"Name": "api", "Check": {"TCP": "127.0.0.1:1", "Interval": "0s"}}),
            "Interval must be > 0",
        ),
        (
            json!({"Name": "api", "Check": {"Interval": "10s", "Notes": "no type"}}),
            "Check must be",
        ),
    ];
    for (body, why) in bad {
        let r = put("/v1/agent/service/register", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(why), "{body}: {text}");
    }
    let services = a.get_json("/v1/agent/services").await;
    assert!(
        services.get("api").is_none() && services.get("api1").is_none(),
        "nothing registered: {services}"
    );
    // Unknown IDs are Consul's 404 (issue 16).
    assert_eq!(a.put_empty("/v1/agent/check/pass/nope").await.status(), 404);
    assert_eq!(
        a.put_empty("/v1/agent/service/deregister/nope")
            .await
            .status(),
        404
    );
    assert_eq!(
        a.http
            .get(a.u("/v1/agent/service/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The registration is kept in the data dir, and the check's state: it
    // comes back with its last output and a fresh TTL, after which it
    // expires quoting that output, as Consul words it.
    assert_eq!(
        a.put_empty("/v1/agent/check/warn/service:web1?note=slow")
            .await
            .status(),
        200
    );
    a.shutdown().await;
    let b = TestAgent::start(cfg).await;
    assert_eq!(b.get_json("/v1/agent/services").await["web1"]["Port"], 8080);
    let checks = b
        .wait_json(
            "/v1/agent/checks",
            "the TTL to expire after the restart",
            |v| v["service:web1"]["Status"] == "critical",
        )
        .await;
    assert_eq!(
        checks["service:web1"]["Output"],
        "TTL expired (last output before timeout follows): slow"
    );
    assert_eq!(
        b.put_empty("/v1/agent/service/deregister/web1")
            .await
            .status(),
        200
    );
    b.wait_json(
        "/v1/catalog/service/web",
        "the service gone from the catalog",
        |v| v.as_array().is_some_and(Vec::is_empty),
    )
    .await;
    assert!(b
        .get_json("/v1/agent/checks")
        .await
        .as_object()
        .unwrap()
        .is_empty());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_mode_takes_a_service_or_the_node_out_of_healthy_answers() {
    let a = TestAgent::dev().await;
    let put = |path: &str| {
        let (http, url) = (a.http.clone(), a.u(path));
        async move { http.put(url).send().await.unwrap() }
    };
    let reg = json!({"ID": "web1", "Name": "web", "Check": {"TTL": "60s", "Status": "passing"}});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200);
    let healthy = |n: usize| move |v: &Value| v.as_array().is_some_and(|l| l.len() == n);
    a.wait_json("/v1/health/service/web?passing", "healthy", healthy(1))
        .await;

    assert_eq!(
        put("/v1/agent/service/maintenance/web1?enable=true&reason=deploy")
            .await
            .status(),
        200
    );
    a.wait_json(
        "/v1/health/service/web?passing",
        "in maintenance",
        healthy(0),
    )
    .await;
    let checks = a.get_json("/v1/agent/checks").await;
    assert_eq!(checks["_service_maintenance:web1"]["Notes"], "deploy");
    assert_eq!(checks["_service_maintenance:web1"]["Status"], "critical");
    assert_eq!(
        put("/v1/agent/service/maintenance/web1?enable=false")
            .await
            .status(),
        200
    );
    a.wait_json("/v1/health/service/web?passing", "back", healthy(1))
        .await;

    assert_eq!(put("/v1/agent/maintenance?enable=true").await.status(), 200);
    a.wait_json(
        "/v1/health/service/web?passing",
        "node in maintenance",
        healthy(0),
    )
    .await;
    assert_eq!(
        put("/v1/agent/maintenance?enable=false").await.status(),
        200
    );
    a.wait_json("/v1/health/service/web?passing", "node back", healthy(1))
        .await;

    assert_eq!(
        put("/v1/agent/maintenance").await.status(),
        400,
        "enable is required"
    );
    assert_eq!(
        put("/v1/agent/service/maintenance/nope?enable=true")
            .await
            .status(),
        404,
        "an unknown service is Consul's 404"
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_critical_longer_than_deregister_critical_service_after_is_removed() {
    let a = TestAgent::dev().await;
    let reg = json!({"ID": "gone1", "Name": "gone",
        "Check": {"TTL": "300ms", "Status": "passing", "DeregisterCriticalServiceAfter": "500ms"}});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200);
    let keep =
        json!({"ID": "keep1", "Name": "keep", "Check": {"TTL": "300ms", "Status": "passing"}});
    let r = a.put_json("/v1/agent/service/register", &keep).await;
    assert_eq!(r.status(), 200);
    // The TTL runs out (critical), then after 500 ms more the service goes,
    // from the agent and from the catalog; one without the setting stays.
    a.wait_json("/v1/agent/services", "the critical service removed", |v| {
        v.get("gone1").is_none()
    })
    .await;
    a.wait_json("/v1/catalog/service/gone", "and from the catalog", |v| {
        v.as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let services = a.get_json("/v1/agent/services").await;
    assert!(services.get("keep1").is_some(), "{services}");
    let r = a.put_json("/v1/agent/service/register", &json!({"Name": "bad", "Check": {"TTL": "1s", "DeregisterCriticalServiceAfter": "soon"}})).await;
    assert_eq!(r.status(), 400);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_tcp_checks_run_on_their_interval_and_a_hung_target_stalls_nothing() {
    use std::sync::atomic::{AtomicU16, Ordering};

    let code = Arc::new(AtomicU16::new(200));
    let app = {
        let code = code.clone();
        axum::Router::new()
            .route(
                "/health",
                axum::routing::get(move || {
                    let code = code.load(Ordering::SeqCst);
                    async move {
                        (
                            axum::http::StatusCode::from_u16(code).unwrap(),
                            "state body",
                        )
                    }
                }),
            )
            .route(
                "/hang",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();

    let a = TestAgent::dev().await;
    let register = |body: Value| {
        let (http, url) = (a.http.clone(), a.u("/v1/agent/service/register"));
        async move { http.put(url).json(&body).send().await.unwrap() }
    };
    let r = register(json!({"ID": "web1", "Name": "web", "Checks": [
        {"CheckID": "web-http", "HTTP": format!("http://{web_addr}/health"), "Interval": "1s", "Timeout": "1s"},
        {"CheckID": "web-hang", "HTTP": format!("http://{web_addr}/hang"), "Interval": "1s", "Timeout": "1s"},
        {"CheckID": "web-tcp", "TCP": tcp_addr.to_string(), "Interval": "1s"}
    ]}))
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // A runner's first result replaces the initial status and adds output.
    let check = |id: &'static str, status: &'static str| {
        move |v: &Value| {
            v[id]["Status"] == status && v[id]["Output"].as_str().is_some_and(|o| !o.is_empty())
        }
    };
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "HTTP check passing",
            check("web-http", "passing"),
        )
        .await;
    assert!(
        v["web-http"]["Output"].as_str().unwrap().contains("200 OK"),
        "{v}"
    );
    assert_eq!(v["web-http"]["Type"], "http");
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "hung target critical",
            check("web-hang", "critical"),
        )
        .await;
    assert!(
        v["web-hang"]["Output"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{v}"
    );
    a.wait_json(
        "/v1/agent/checks",
        "TCP check passing",
        check("web-tcp", "passing"),
    )
    .await;

    // Status codes map as Consul's: 429 warning, other failures critical;
    // the hung check never delays these updates.
    code.store(429, Ordering::SeqCst);
    a.wait_json(
        "/v1/agent/checks",
        "HTTP 429 → warning",
        check("web-http", "warning"),
    )
    .await;
    code.store(503, Ordering::SeqCst);
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "HTTP 503 → critical",
            check("web-http", "critical"),
        )
        .await;
    assert!(
        v["web-http"]["Output"].as_str().unwrap().contains("503"),
        "{v}"
    );
    drop(tcp);
    a.wait_json(
        "/v1/agent/checks",
        "closed port → critical",
        check("web-tcp", "critical"),
    )
    .await;
    // The results reach the catalog.
    a.wait_json("/v1/health/checks/web", "catalog has the results", |v| {
        v.as_array().is_some_and(|l| {
            l.iter()
                .any(|c| c["CheckID"] == "web-tcp" && c["Status"] == "critical")
        })
    })
    .await;
    let r = register(json!({"Name": "x", "Check": {"HTTP": "http://127.0.0.1:1/"}})).await;
    assert_eq!(r.status(), 400, "an HTTP check needs an interval");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_checks_need_enabling_and_follow_the_exit_code() {
    let off = TestAgent::dev().await;
    let reg = json!({"Name": "job", "Check": {"Args": ["true"], "Interval": "1s"}});
    let r = off.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("enable_script_checks"));
    off.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::write(&code, "0").unwrap();
    let mut cfg = dev_config();
    cfg.enable_script_checks = true;
    let a = TestAgent::start(cfg).await;
    let script = format!("echo state; exit $(cat {})", code.display());
    let reg = json!({"ID": "job1", "Name": "job", "Checks": [
        {"CheckID": "job-script", "Args": ["sh", "-c", script], "Interval": "1s"},
        {"CheckID": "job-slow", "Args": ["sleep", "30"], "Interval": "1s", "Timeout": "500ms"}
    ]});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let status = |id: &'static str, want: &'static str| {
        move |v: &Value| v[id]["Status"] == want && v[id]["Output"] != ""
    };
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "exit 0 passing",
            status("job-script", "passing"),
        )
        .await;
    assert_eq!(v["job-script"]["Output"], "state\n");
    assert_eq!(v["job-script"]["Type"], "script");
    std::fs::write(&code, "1").unwrap();
    a.wait_json(
        "/v1/agent/checks",
        "exit 1 warning",
        status("job-script", "warning"),
    )
    .await;
    std::fs::write(&code, "2").unwrap();
    a.wait_json(
        "/v1/agent/checks",
        "exit 2 critical",
        status("job-script", "critical"),
    )
    .await;
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "a slow script is killed at its timeout",
            status("job-slow", "critical"),
        )
        .await;
    assert!(
        v["job-slow"]["Output"]
            .as_str()
            .unwrap()
            .contains("Timed out"),
        "{v}"
    );

    // A timed-out script's whole process group is stopped, not just the child.
    let pidfile = dir.path().join("bg.pid");
    let bg = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let reg = json!({"Name": "bg", "Check": {"CheckID": "bg-script", "Args": ["sh", "-c", bg], "Interval": "10s", "Timeout": "500ms"}});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200);
    a.wait_json(
        "/v1/agent/checks",
        "the background script timed out",
        status("bg-script", "critical"),
    )
    .await;
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    praetor_testwait::wait_until(
        Duration::from_secs(5),
        &format!("the script's background child {pid} to be gone"),
        || {
            let runs = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z "));
            praetor_testwait::check(!runs, || "it still runs".to_owned())
        },
    )
    .await
    .unwrap();
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_and_alias_checks() {
    // A UDP socket that answers, and a port that refuses (nothing bound).
    let echo = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(b"ok", from).await;
        }
    });
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);

    let a = TestAgent::dev().await;
    let put = |path: &str, body: Value| {
        let (http, url) = (a.http.clone(), a.u(path));
        async move { http.put(url).json(&body).send().await.unwrap() }
    };
    let r = put("/v1/agent/service/register", json!({"ID": "dns1", "Name": "dns", "Checks": [
        {"CheckID": "dns-udp", "UDP": echo_addr.to_string(), "Interval": "1s", "Timeout": "500ms"},
        {"CheckID": "dns-ttl", "TTL": "60s", "Status": "passing"}
    ]})).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = put("/v1/agent/service/register", json!({"ID": "gone1", "Name": "gone",
        "Check": {"CheckID": "gone-udp", "UDP": closed_addr.to_string(), "Interval": "1s", "Timeout": "500ms"}})).await;
    assert_eq!(r.status(), 200);
    let r = put(
        "/v1/agent/service/register",
        json!({"ID": "front1", "Name": "front",
        "Check": {"CheckID": "front-alias", "AliasService": "dns1"}}),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let is = |id: &'static str, want: &'static str| {
        move |v: &Value| v[id]["Status"] == want && v[id]["Output"] != ""
    };
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "UDP answered → passing",
            is("dns-udp", "passing"),
        )
        .await;
    assert_eq!(v["dns-udp"]["Type"], "udp");
    a.wait_json(
        "/v1/agent/checks",
        "UDP refused → critical",
        is("gone-udp", "critical"),
    )
    .await;
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias follows dns1: passing",
            is("front-alias", "passing"),
        )
        .await;
    assert_eq!(v["front-alias"]["Output"], "All checks passing.");
    assert_eq!(v["front-alias"]["Type"], "alias");
    assert_eq!(
        put("/v1/agent/check/fail/dns-ttl?note=down", json!(null))
            .await
            .status(),
        200
    );
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias follows dns1: critical",
            is("front-alias", "critical"),
        )
        .await;
    assert_eq!(
        v["front-alias"]["Output"],
        "Aliased check \"Service 'dns' check\" failing: down"
    );
    // Only TTL checks take a status from outside, in Consul's words.
    let r = put("/v1/agent/check/pass/dns-udp", json!(null)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap().trim_end(),
        "CheckID \"dns-udp\" does not have associated TTL"
    );

    // AliasNode: another node's health, read from the servers.
    let ext = |status: &str| {
        json!({"Node": "ext", "Address": "10.9.9.9",
        "Check": {"CheckID": "ext-up", "Name": "up", "Status": status}})
    };
    assert_eq!(
        put("/v1/catalog/register", ext("critical")).await.status(),
        200
    );
    let r = put(
        "/v1/agent/check/register",
        json!({"Name": "ext-alias", "AliasNode": "ext"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias of node ext: critical",
            is("ext-alias", "critical"),
        )
        .await;
    assert_eq!(v["ext-alias"]["Output"], "Aliased check \"up\" failing: ");
    assert_eq!(
        put("/v1/catalog/register", ext("passing")).await.status(),
        200
    );
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias of node ext: passing",
            is("ext-alias", "passing"),
        )
        .await;
    assert_eq!(v["ext-alias"]["Output"], "All checks passing.");

    // AliasNode with AliasService: a service on another node.
    let r = put(
        "/v1/agent/check/register",
        json!({"Name": "db-alias", "AliasNode": "ext", "AliasService": "db1"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias of a service ext lacks: critical",
            is("db-alias", "critical"),
        )
        .await;
    assert_eq!(
        v["db-alias"]["Output"],
        "Service db1 could not be found on node ext"
    );
    let db = json!({"Node": "ext", "Address": "10.9.9.9",
        "Service": {"ID": "db1", "Service": "db"},
        "Check": {"CheckID": "db-up", "Name": "db up", "ServiceID": "db1", "Status": "warning",
                  "Output": "slow"}});
    assert_eq!(put("/v1/catalog/register", db).await.status(), 200);
    let v = a
        .wait_json(
            "/v1/agent/checks",
            "alias of ext's db1: warning",
            is("db-alias", "warning"),
        )
        .await;
    assert_eq!(
        v["db-alias"]["Output"],
        "Aliased check \"db up\" failing: slow"
    );
    a.shutdown().await;
}

/// A minimal gRPC health server on HTTP/2 (h2), plaintext or over TLS with
/// the test certificate, answering `status` to every
/// `grpc.health.v1.Health/Check` call.
async fn grpc_health_server(
    status: Arc<std::sync::atomic::AtomicU8>,
    tls: bool,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.then(|| tls_acceptor(vec![b"h2".to_vec()]));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let status = status.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve_grpc_health(sock, status).await,
                    Some(acceptor) => {
                        if let Ok(Ok(tls)) =
                            tokio::time::timeout(Duration::from_secs(5), acceptor.accept(sock))
                                .await
                        {
                            serve_grpc_health(tls, status).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn serve_grpc_health<S>(sock: S, status: Arc<std::sync::atomic::AtomicU8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut conn) = h2::server::handshake(sock).await else {
        return;
    };
    while let Some(Ok((_req, mut respond))) = conn.accept().await {
        let s = status.load(std::sync::atomic::Ordering::SeqCst);
        let resp = axum::http::Response::builder()
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let Ok(mut send) = respond.send_response(resp, false) else {
            continue;
        };
        let frame = vec![0u8, 0, 0, 0, 2, 0x08, s];
        let _ = send.send_data(frame.into(), false);
        let mut trailers = axum::http::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let _ = send.send_trailers(trailers);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_checks_speak_the_standard_health_protocol() {
    let status = Arc::new(std::sync::atomic::AtomicU8::new(1));
    let addr = grpc_health_server(status.clone(), false).await;
    let tls_addr = grpc_health_server(status.clone(), true).await;
    let a = TestAgent::dev().await;
    let regs = [
        json!({"ID": "rpc1", "Name": "rpc",
            "Check": {"CheckID": "rpc-grpc", "GRPC": format!("{addr}/my.Service"), "Interval": "1s", "Timeout": "1s"}}),
        json!({"ID": "rpc2", "Name": "rpc",
            "Check": {"CheckID": "rpc-grpc-tls", "GRPC": format!("{tls_addr}/my.Service"), "GRPCUseTLS": true,
                      "TLSSkipVerify": true, "Interval": "1s", "Timeout": "1s"}}),
    ];
    for reg in regs {
        let r = a.put_json("/v1/agent/service/register", &reg).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let is = |want: &'static str| {
        move |v: &Value| {
            ["rpc-grpc", "rpc-grpc-tls"]
                .iter()
                .all(|c| v[c]["Status"] == want && v[c]["Output"] != "")
        }
    };
    let v = a
        .wait_json("/v1/agent/checks", "SERVING → passing", is("passing"))
        .await;
    assert_eq!(v["rpc-grpc"]["Type"], "grpc");
    status.store(2, std::sync::atomic::Ordering::SeqCst);
    let v = a
        .wait_json("/v1/agent/checks", "NOT_SERVING → critical", is("critical"))
        .await;
    assert!(
        v["rpc-grpc"]["Output"]
            .as_str()
            .unwrap()
            .contains("serving status: NOT_SERVING"),
        "{v}"
    );
    a.shutdown().await;
}

/// A TLS acceptor with the self-signed test certificate of `praetor-checks`
/// (for `localhost` and 127.0.0.1), offering `alpn`.
fn tls_acceptor(alpn: Vec<Vec<u8>>) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let fixture = |name: &str| {
        format!(
            "{}/../checks/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let certs = CertificateDer::pem_file_iter(fixture("cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = alpn;
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The SNI of every TLS handshake a test server completed, in order
/// (`None`: the client sent none).
type SeenSni = Arc<std::sync::Mutex<Vec<Option<String>>>>;

/// An HTTPS server on loopback with the self-signed test certificate (for
/// `localhost` and 127.0.0.1), answering every request `200 OK` / `secure`.
async fn https_server() -> std::net::SocketAddr {
    https_server_seeing_sni().await.0
}

/// As [`https_server`], recording the SNI of every handshake.
async fn https_server_seeing_sni() -> (std::net::SocketAddr, SeenSni) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let acceptor = tls_acceptor(Vec::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = SeenSni::default();
    let seen = sni.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let name = tls.get_ref().1.server_name().map(str::to_owned);
                seen.lock().unwrap().push(name);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let reply =
                    "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure";
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, sni)
}

#[tokio::test]
async fn https_checks_verify_certificates_unless_tls_skip_verify() {
    let addr = https_server().await;
    let a = TestAgent::dev().await;
    let url = format!("https://{addr}/health");
    for (id, skip) in [("tls-skip", true), ("tls-verify", false)] {
        let reg = json!({"ID": id, "Name": "secure",
            "Check": {"CheckID": format!("{id}-check"), "HTTP": url, "TLSSkipVerify": skip,
                      "Interval": "1s", "Timeout": "2s", "Status": "warning"}});
        let r = a.put_json("/v1/agent/service/register", &reg).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let settled = |v: &Value| {
        v["tls-skip-check"]["Status"] == "passing" && v["tls-verify-check"]["Status"] == "critical"
    };
    let v = a
        .wait_json("/v1/agent/checks", "skip passes, verify fails", settled)
        .await;
    assert_eq!(
        v["tls-skip-check"]["Output"],
        format!("HTTP GET {url}: 200 OK Output: secure")
    );
    let refused = v["tls-verify-check"]["Output"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(refused.contains("certificate"), "{refused}");
    a.shutdown().await;
}

#[tokio::test]
async fn tls_server_name_goes_out_as_sni_and_a_bad_one_is_refused_at_registration() {
    let (addr, sni) = https_server_seeing_sni().await;
    let a = TestAgent::dev().await;
    let url = format!("https://{addr}/health");

    tracing::info!("--- a check with TLSServerName (and TLSSkipVerify) sends it as SNI");
    let reg = json!({"ID": "named", "Name": "named", "HTTP": url, "TLSSkipVerify": true,
                     "TLSServerName": "svc.internal", "Interval": "1s", "Timeout": "2s"});
    let r = a.put_json("/v1/agent/check/register", &reg).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let v = a
        .wait_json("/v1/agent/checks", "the named check passes", |v| {
            v["named"]["Status"] == "passing"
        })
        .await;
    assert_eq!(
        v["named"]["Output"],
        format!("HTTP GET {url}: 200 OK Output: secure")
    );
    let seen = sni.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|n| n.as_deref() == Some("svc.internal")),
        "{seen:?}"
    );

    tracing::info!("--- a name that is not one: 400 with the reason, nothing registered");
    let bad_check = json!({"ID": "bad", "Name": "bad", "HTTP": url, "TLSServerName": "not a name",
                           "Interval": "1s"});
    let bad_service = json!({"ID": "bad-svc", "Name": "bad-svc",
        "Check": {"GRPC": addr.to_string(), "GRPCUseTLS": true, "TLSServerName": "a..b",
                  "Interval": "1s"}});
    for (path, body, name) in [
        ("/v1/agent/check/register", bad_check, "not a name"),
        ("/v1/agent/service/register", bad_service, "a..b"),
    ] {
        let r = a.put_json(path, &body).await;
        assert_eq!(r.status(), 400, "{path}");
        let why = r.text().await.unwrap();
        assert!(
            why.contains("TLSServerName")
                && why.contains(name)
                && why.trim_end().lines().count() == 1,
            "{path}: {why}"
        );
    }
    let checks = a.get_json("/v1/agent/checks").await;
    assert_eq!(
        checks.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["named"],
        "{checks}"
    );
    let services = a.get_json("/v1/agent/services").await;
    assert!(services.get("bad-svc").is_none(), "{services}");
    a.shutdown().await;
}

#[tokio::test]
async fn agent_health_by_service_answers_with_the_codes_load_balancers_poll() {
    let a = TestAgent::dev().await;
    for id in ["web-1", "web-2"] {
        let r = a
            .put_json(
                "/v1/agent/service/register",
                serde_json::json!({ "ID": id, "Name": "web", "Port": 80,
                    "Check": { "CheckID": format!("ttl-{id}"), "TTL": "60s" } }),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let get = |path: String| {
        let http = a.http.clone();
        let url = a.u(&path);
        async move {
            let r = http.get(url).send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.text().await.unwrap())
        }
    };
    // A new TTL check is critical: 503.
    let (code, body) = get("/v1/agent/health/service/id/web-1".into()).await;
    assert_eq!(code, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["AggregatedStatus"], "critical");
    assert_eq!(v["Service"]["ID"], "web-1");
    assert_eq!(v["Checks"][0]["CheckID"], "ttl-web-1");

    assert_eq!(
        a.put_empty("/v1/agent/check/pass/ttl-web-1").await.status(),
        200
    );
    assert_eq!(get("/v1/agent/health/service/id/web-1".into()).await.0, 200);
    let (code, text) = get("/v1/agent/health/service/id/web-1?format=text".into()).await;
    assert_eq!((code, text.as_str()), (200, "passing"));

    // By name: the worst instance decides; warning is 429.
    assert_eq!(get("/v1/agent/health/service/name/web".into()).await.0, 503);
    assert_eq!(
        a.put_empty("/v1/agent/check/warn/ttl-web-2").await.status(),
        200
    );
    let (code, body) = get("/v1/agent/health/service/name/web".into()).await;
    assert_eq!(code, 429, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    // Maintenance is 503 and says so.
    assert_eq!(
        a.put_empty("/v1/agent/service/maintenance/web-1?enable=true")
            .await
            .status(),
        200
    );
    let (code, text) = get("/v1/agent/health/service/id/web-1?format=text".into()).await;
    assert_eq!((code, text.as_str()), (503, "maintenance"));

    // Unknown: 404 with Consul's wording.
    let (code, body) = get("/v1/agent/health/service/id/nope".into()).await;
    assert_eq!(code, 404);
    assert!(body.contains("ServiceId nope not found"), "{body}");
    assert_eq!(
        get("/v1/agent/health/service/name/nope".into()).await.0,
        404
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_agents_saved_services_reach_the_catalog_in_batches_over_rpc() {
    use praetor_agent::local::{LocalCheck, LocalState};
    const N: usize = 300;
    let server = TestAgent::dev().await;
    let seed = server.agent.gossip().local().addr.to_string();
    // A client whose data dir already holds N services with TTL checks:
    // its first full sync has N differences, sent as ceil(N/128) batches
    // of catalog writes, each forwarded to the server over RPC.
    let dir = tempfile::tempdir().unwrap();
    let saved = LocalState::load(Some(dir.path()));
    for i in 0..N {
        let id = format!("bulk{i}");
        let check = LocalCheck {
            id: format!("service:{id}"),
            name: "ttl".into(),
            service_id: id.clone(),
            notes: String::new(),
            status: "passing".into(),
            output: String::new(),
            deregister_after: None,
            definition: Some(praetor_checks::Definition::new(
                format!("service:{id}").as_str(),
                praetor_checks::Kind::Ttl {
                    ttl: Duration::from_secs(600),
                },
                Duration::ZERO,
            )),
        };
        let svc = praetor_api::catalog::ServiceDefinition {
            id,
            service: "bulk".into(),
            port: 80,
            ..Default::default()
        };
        saved.add_service(svc, vec![check]).unwrap();
    }
    drop(saved);
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.server = false;
    cfg.node_name = "bulk-client".into();
    cfg.retry_join = vec![seed];
    cfg.retry_interval = Duration::from_millis(200);
    cfg.data_dir = Some(dir.path().to_owned());
    let client = TestAgent::start(cfg).await;
    let v = server
        .wait_json(
            "/v1/health/service/bulk?passing",
            "every saved service in the catalog, passing",
            |v| v.as_array().is_some_and(|l| l.len() == N),
        )
        .await;
    assert_eq!(v[0]["Node"]["Node"], "bulk-client");
    assert_eq!(v[0]["Checks"][1]["Type"], "ttl", "{}", v[0]["Checks"]);

    // Deregistered through the client: gone from the catalog.
    let r = client
        .http
        .put(client.u("/v1/agent/service/deregister/bulk7"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server
        .wait_json("/v1/catalog/service/bulk", "one instance fewer", |v| {
            v.as_array().is_some_and(|l| l.len() == N - 1)
        })
        .await;
    client.shutdown().await;
    server.shutdown().await;
}
