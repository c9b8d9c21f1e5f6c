//! Consul's flapping thresholds, end to end: an HTTP target answers a fixed
//! sequence, and only the damped transitions come out.

use std::sync::atomic::Ordering;

use praetor_checks::{Runner, Status};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn success_before_passing_and_failures_before_warning_and_critical() {
    init_tracing();
    let server = HttpServer::start().await;
    server
        .state
        .seq
        .lock()
        .unwrap()
        .extend([200, 500, 500, 500, 200, 500, 200, 200]);
    let url = server.url("/seq");
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("flap", http_kind(url.clone()), 30, 2000);
    def.success_before_passing = 2;
    def.failures_before_warning = 2;
    def.failures_before_critical = 3;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let good = format!("HTTP GET {url}: 200 OK Output: good");
    let bad = format!("HTTP GET {url}: 500 Internal Server Error Output: bad");

    tracing::info!("--- the first result counts at once, as Consul");
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!((u.status, &u.output), (Status::Passing, &good));
    assert_eq!(server.state.requests.load(Ordering::SeqCst), 1);

    tracing::info!("--- one failure is held back; the second turns warning");
    let u = next_update(&mut rx, WAIT, "warning").await;
    assert_eq!((u.status, &u.output), (Status::Warning, &bad));
    assert!(server.state.requests.load(Ordering::SeqCst) >= 3);

    tracing::info!("--- the third failure turns critical");
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!((u.status, &u.output), (Status::Critical, &bad));

    tracing::info!("--- success, failure, success, success: passing only after two in a row");
    let u = next_update(&mut rx, WAIT, "passing again").await;
    assert_eq!((u.status, &u.output), (Status::Passing, &good));
    assert!(
        server.state.requests.load(Ordering::SeqCst) >= 8,
        "passing came before the second success in a row"
    );
    assert_quiet(
        &mut rx,
        std::time::Duration::from_millis(300),
        "steady passing",
    )
    .await;
}
