//! Alias checks: the status follows what the caller feeds in.

use praetor_checks::{AliasView, AliasedCheck, CheckError, Definition, Kind, Runner, Status};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn view(statuses: &[(&str, Status)]) -> AliasView {
    AliasView {
        service_exists: true,
        checks: statuses
            .iter()
            .map(|(name, status)| AliasedCheck {
                name: (*name).into(),
                service_id: "web".into(),
                status: *status,
                output: format!("{name} output"),
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_alias_mirrors_the_aliased_checks() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let def = Definition::new(
        "alias",
        Kind::Alias {
            node: None,
            service_id: "web".into(),
        },
        std::time::Duration::ZERO,
    );
    let runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    assert_quiet(
        &mut rx,
        std::time::Duration::from_millis(200),
        "nothing fed yet",
    )
    .await;

    runner
        .alias_update(view(&[("http", Status::Passing)]))
        .unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(
        (u.status, u.output.as_str()),
        (Status::Passing, "All checks passing.")
    );

    runner
        .alias_update(view(&[
            ("http", Status::Passing),
            ("disk", Status::Warning),
        ]))
        .unwrap();
    let u = next_update(&mut rx, WAIT, "warning").await;
    assert_eq!(
        (u.status, u.output.as_str()),
        (
            Status::Warning,
            "Aliased check \"disk\" failing: disk output"
        )
    );

    runner
        .alias_update(view(&[
            ("http", Status::Critical),
            ("disk", Status::Warning),
        ]))
        .unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);

    runner.alias_update(AliasView::default()).unwrap();
    let u = next_update(&mut rx, WAIT, "service gone").await;
    assert_eq!(
        (u.status, u.output.as_str()),
        (Status::Critical, "Service web could not be found on node ")
    );

    let err = runner
        .ttl_update(Status::Passing, String::new())
        .unwrap_err();
    assert!(matches!(err, CheckError::WrongKind { kind: "alias", .. }));
}

#[tokio::test]
async fn alias_updates_go_only_to_alias_checks() {
    let (tx, _rx) = mpsc::channel(1);
    let ttl = Runner::spawn(
        Definition::new(
            "t",
            Kind::Ttl {
                ttl: std::time::Duration::from_secs(60),
            },
            std::time::Duration::ZERO,
        ),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let err = ttl.alias_update(AliasView::default()).unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::WrongKind {
                kind: "ttl",
                expected: "alias",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_alias_whose_input_cannot_be_read_is_critical_until_the_next_view() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let def = Definition::new(
        "remote",
        Kind::Alias {
            node: Some("n2".into()),
            service_id: String::new(),
        },
        std::time::Duration::ZERO,
    );
    def.validate().expect("a node alias needs no service");
    let runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    runner.alias_unreachable("no servers known".into()).unwrap();
    let u = next_update(&mut rx, WAIT, "unreachable").await;
    assert_eq!(
        (u.status, u.output.as_str()),
        (
            Status::Critical,
            "Failure checking aliased node or service: no servers known"
        )
    );
    let node_checks = AliasView {
        service_exists: false,
        checks: vec![AliasedCheck {
            name: "serfHealth".into(),
            service_id: String::new(),
            status: Status::Passing,
            output: "Agent alive and reachable".into(),
        }],
    };
    runner.alias_update(node_checks).unwrap();
    let u = next_update(&mut rx, WAIT, "node passing").await;
    assert_eq!(
        (u.status, u.output.as_str()),
        (Status::Passing, "All checks passing.")
    );
    let ttl = Runner::spawn(
        Definition::new(
            "t",
            Kind::Ttl {
                ttl: std::time::Duration::from_secs(60),
            },
            std::time::Duration::ZERO,
        ),
        mpsc::channel(1).0,
        CancellationToken::new(),
    )
    .unwrap();
    assert!(matches!(
        ttl.alias_unreachable(String::new()),
        Err(CheckError::WrongKind { kind: "ttl", .. })
    ));
}
