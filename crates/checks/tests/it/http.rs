//! HTTP checks: Consul's status mapping and output, timeouts, errors,
//! capping, request shape, redirects and TLS.

use std::collections::BTreeMap;

use praetor_checks::{CheckError, Kind, Runner, Status};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn http_status_follows_the_answer_2xx_passing_429_warning_other_critical() {
    init_tracing();
    let server = HttpServer::start().await;
    let url = server.url("/switch");
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let _runner = Runner::spawn(
        probed("web", http_kind(url.clone()), 50, 2000),
        tx,
        stop.clone(),
    )
    .unwrap();

    tracing::info!("--- 200 is passing, worded as Consul");
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.id.0, "web");
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("HTTP GET {url}: 200 OK Output: code 200"));

    tracing::info!("--- 500 is critical");
    server.set(500);
    let u = wait_for(&mut rx, WAIT, "critical", |u| u.status == Status::Critical).await;
    assert_eq!(
        u.output,
        format!("HTTP GET {url}: 500 Internal Server Error Output: code 500")
    );

    tracing::info!("--- 429 is warning");
    server.set(429);
    let u = wait_for(&mut rx, WAIT, "warning", |u| u.status == Status::Warning).await;
    assert_eq!(
        u.output,
        format!("HTTP GET {url}: 429 Too Many Requests Output: code 429")
    );

    tracing::info!("--- 204 is passing again; 404 critical");
    server.set(204);
    wait_for(&mut rx, WAIT, "passing", |u| u.status == Status::Passing).await;
    server.set(404);
    wait_for(&mut rx, WAIT, "critical", |u| u.status == Status::Critical).await;
    stop.cancel();
}

#[tokio::test]
async fn fixed_answers_map_as_consul_and_repeat_no_update() {
    init_tracing();
    let server = HttpServer::start().await;
    for (path, status, body) in [
        ("/ok", Status::Passing, "ok"),
        ("/busy", Status::Warning, "slow down"),
        ("/fail", Status::Critical, "bad"),
    ] {
        let (tx, mut rx) = mpsc::channel(16);
        let mut def = probed(path, http_kind(server.url(path)), 30, 2000);
        // Start from another status so even critical is a change.
        def.initial = if status == Status::Passing {
            Status::Critical
        } else {
            Status::Passing
        };
        let runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
        let u = next_update(&mut rx, WAIT, path).await;
        assert_eq!(u.status, status, "{path}");
        assert!(
            u.output.ends_with(&format!("Output: {body}")),
            "{}",
            u.output
        );
        assert_quiet(
            &mut rx,
            std::time::Duration::from_millis(300),
            "same answer again",
        )
        .await;
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn a_slow_answer_times_out_critical() {
    init_tracing();
    let server = HttpServer::start().await;
    let url = server.url("/slow");
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("slow", http_kind(url.clone()), 50, 300);
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "the timeout").await;
    assert_eq!(u.status, Status::Critical);
    assert_eq!(u.output, format!("HTTP GET {url}: timed out after 300ms"));
}

#[tokio::test]
async fn a_refused_connection_is_critical_with_the_error() {
    init_tracing();
    let url = format!("http://{}/health", closed_port().await);
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("down", http_kind(url.clone()), 50, 2000);
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.starts_with(&format!("HTTP GET {url}: ")),
        "{}",
        u.output
    );
    assert!(
        u.output.to_lowercase().contains("connection refused"),
        "{}",
        u.output
    );
}

#[tokio::test]
async fn a_long_body_is_capped_on_a_char_boundary() {
    init_tracing();
    let server = HttpServer::start().await;
    let url = server.url("/big");
    for max in [4096, 100] {
        let (tx, mut rx) = mpsc::channel(16);
        let mut def = probed("big", http_kind(url.clone()), 50, 2000);
        def.output_max_size = max;
        let runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
        let u = next_update(&mut rx, WAIT, "passing").await;
        assert_eq!(u.status, Status::Passing);
        assert!(u.output.len() <= max, "{} bytes > {max}", u.output.len());
        let head = format!("HTTP GET {url}: 200 OK Output: ");
        assert!(u.output.starts_with(&head), "{}", u.output);
        let body = &u.output[head.len()..];
        assert!(!body.is_empty() && body.chars().all(|c| c == 'é'), "{body}");
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn method_headers_and_body_are_sent_with_consuls_user_agent() {
    init_tracing();
    let server = HttpServer::start().await;
    let url = server.url("/echo");
    let mut header = BTreeMap::new();
    header.insert("X-Test".to_owned(), vec!["a".to_owned(), "b".to_owned()]);
    header.insert("Host".to_owned(), vec!["web.example".to_owned()]);
    let kind = Kind::Http {
        url: url.clone(),
        method: "PUT".into(),
        header,
        body: Some("hello".into()),
        tls_skip_verify: false,
        tls_server_name: String::new(),
        disable_redirects: false,
    };
    let (tx, mut rx) = mpsc::channel(16);
    let _runner =
        Runner::spawn(probed("echo", kind, 50, 2000), tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(
        u.output,
        format!(
            "HTTP PUT {url}: 200 OK Output: PUT x-test=a,b ua=Consul Health Check host=web.example body=hello"
        )
    );
}

#[tokio::test]
async fn redirects_are_followed_unless_disabled() {
    init_tracing();
    let server = HttpServer::start().await;
    let url = server.url("/redirect");
    let (tx, mut rx) = mpsc::channel(16);
    let _follow = Runner::spawn(
        probed("follow", http_kind(url.clone()), 50, 2000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("HTTP GET {url}: 200 OK Output: ok"));

    let Kind::Http {
        url: u2,
        method,
        header,
        body,
        tls_skip_verify,
        tls_server_name,
        ..
    } = http_kind(url.clone())
    else {
        unreachable!()
    };
    let kind = Kind::Http {
        url: u2,
        method,
        header,
        body,
        tls_skip_verify,
        tls_server_name,
        disable_redirects: true,
    };
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("stay", kind, 50, 2000);
    def.initial = Status::Passing;
    let _stay = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output
            .starts_with(&format!("HTTP GET {url}: 303 See Other")),
        "{}",
        u.output
    );
}

#[tokio::test]
async fn https_passes_with_tls_skip_verify_and_fails_verification_without() {
    init_tracing();
    let addr = https_server().await;
    let url = format!("https://{addr}/health");
    let kind = |skip: bool| Kind::Http {
        url: url.clone(),
        method: String::new(),
        header: BTreeMap::new(),
        body: None,
        tls_skip_verify: skip,
        tls_server_name: String::new(),
        disable_redirects: false,
    };
    let (tx, mut rx) = mpsc::channel(16);
    let _skip = Runner::spawn(
        probed("skip", kind(true), 50, 3000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing over TLS").await;
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("HTTP GET {url}: 200 OK Output: secure"));

    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("verify", kind(false), 50, 3000);
    def.initial = Status::Passing;
    let _verify = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "a certificate error").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.to_lowercase().contains("certificate"),
        "{}",
        u.output
    );
}

#[tokio::test]
async fn a_bad_url_or_method_is_refused_at_spawn() {
    let (tx, _rx) = mpsc::channel(1);
    let err = Runner::spawn(
        probed("x", http_kind("not a url".into()), 50, 100),
        tx.clone(),
        CancellationToken::new(),
    )
    .unwrap_err();
    assert!(matches!(err, CheckError::InvalidDefinition { .. }), "{err}");
    let err = Runner::spawn(
        probed("x", http_kind("ftp://host/".into()), 50, 100),
        tx.clone(),
        CancellationToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not http or https"), "{err}");
    let kind = Kind::Http {
        url: "http://127.0.0.1/".into(),
        method: "BAD METHOD".into(),
        header: BTreeMap::new(),
        body: None,
        tls_skip_verify: false,
        tls_server_name: String::new(),
        disable_redirects: false,
    };
    let err = Runner::spawn(probed("x", kind, 50, 100), tx, CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("method"), "{err}");
}
