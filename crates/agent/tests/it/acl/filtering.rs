//! What a token sees of lists, blocking queries and watches, and what
//! a request without a token sees.

use super::*;

// ------------------------------------------------------- 2. list filtering

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurse_and_keys_show_a_prefix_token_only_its_keys_and_say_so() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, app) = a.token_with("app", APP_ONLY).await;
    for k in [
        "config/app/a",
        "config/app/b",
        "config/other",
        "secret/pw",
        "z",
    ] {
        let r = a
            .call(
                Method::PUT,
                &format!("/v1/kv/{k}"),
                Some(MGMT),
                Some(b"v".to_vec()),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    for prefix in ["", "config/"] {
        let r = a
            .get_as(&format!("/v1/kv/{prefix}?recurse"), Some(&app))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.filtered, "recurse on {prefix:?} says it filtered");
        assert_eq!(keys_of(&r), ["config/app/a", "config/app/b"]);
        let r = a.get_as(&format!("/v1/kv/{prefix}?keys"), Some(&app)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.filtered, "keys on {prefix:?} says it filtered");
        assert_eq!(r.json(), json!(["config/app/a", "config/app/b"]));
    }
    info!("--- nothing left out: no header");
    let r = a.get_as("/v1/kv/config/app/?recurse", Some(&app)).await;
    assert_eq!(keys_of(&r), ["config/app/a", "config/app/b"]);
    assert!(!r.filtered);
    info!("--- management sees all");
    let r = a.get_as("/v1/kv/?recurse", Some(MGMT)).await;
    assert_eq!(
        keys_of(&r),
        [
            "config/app/a",
            "config/app/b",
            "config/other",
            "secret/pw",
            "z"
        ]
    );
    assert!(!r.filtered);
    let r = a.get_as("/v1/kv/?keys", Some(MGMT)).await;
    assert_eq!(r.json().as_array().unwrap().len(), 5);
    assert!(!r.filtered);
    a.shutdown().await;
}

// ------------------------------------------------ 3. blocking, no leaks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_recurse_never_leaks_a_key_the_token_cannot_read() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, app) = a.token_with("app", APP_ONLY).await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let first = a.get_as("/v1/kv/?recurse", Some(&app)).await;
    assert_eq!(keys_of(&first), ["config/app/x"]);
    let hold = |index: u64| {
        let (http, url, app) = (
            a.http.clone(),
            a.u(&format!("/v1/kv/?recurse&index={index}&wait=20s")),
            app.clone(),
        );
        tokio::spawn(async move {
            reply(
                http.get(url)
                    .header("X-Consul-Token", app)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let leaks = |r: &Reply, when: &str| {
        assert_eq!(r.status, 200, "{when}: {}", r.text);
        let keys = keys_of(r);
        assert!(
            keys.iter().all(|k| k.starts_with("config/app/")) && !r.text.contains("secret"),
            "{when}: the answer leaked {keys:?}"
        );
    };
    let mut waiting = hold(first.index.expect("an index"));
    a.wait_blocked(1).await;

    info!("--- management writes a secret: the query may wake, but shows no secret");
    a.call(
        Method::PUT,
        "/v1/kv/secret/x",
        Some(MGMT),
        Some(b"s".to_vec()),
    )
    .await;
    let woke = tokio::time::timeout(Duration::from_secs(1), &mut waiting).await;
    if let Ok(answer) = woke {
        let answer = answer.unwrap();
        leaks(&answer, "woken by the secret");
        assert_eq!(keys_of(&answer), ["config/app/x"]);
        waiting = hold(answer.index.expect("an index"));
        a.wait_blocked(1).await;
    }

    info!("--- the application's own key arrives");
    a.call(
        Method::PUT,
        "/v1/kv/config/app/y",
        Some(MGMT),
        Some(b"2".to_vec()),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for round in 0..5 {
        let answer = tokio::time::timeout_at(deadline, &mut waiting)
            .await
            .expect("the blocking query answers")
            .unwrap();
        leaks(&answer, &format!("round {round}"));
        if keys_of(&answer) == ["config/app/x", "config/app/y"] {
            a.shutdown().await;
            return;
        }
        waiting = hold(answer.index.expect("an index"));
    }
    panic!("config/app/y never arrived");
}

// ---------------------------------------- 4. deleted token ends a query

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_token_ends_its_blocking_query_with_acl_not_found() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (accessor, app) = a.token_with("app", APP_ONLY).await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let r = a.get_as("/v1/kv/config/app/?recurse", Some(&app)).await;
    assert_eq!(r.status, 200);
    let index = r.index.unwrap();
    let waiting = {
        let (http, url, app) = (
            a.http.clone(),
            a.u(&format!(
                "/v1/kv/config/app/?recurse&index={index}&wait=30s"
            )),
            app.clone(),
        );
        tokio::spawn(async move {
            reply(
                http.get(url)
                    .header("X-Consul-Token", app)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    a.wait_blocked(1).await;
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the query ends well before its 30 s wait")
        .unwrap();
    assert_eq!((got.status, got.text.trim()), (403, "ACL not found"));
    let r = a.get_as("/v1/kv/config/app/x", Some(&app)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_the_root_shows_only_readable_keys_and_ends_when_its_token_is_deleted() {
    use futures::StreamExt;
    let a = TestAgent::acl(Some(MGMT)).await;
    let (accessor, app) = a.token_with("app", APP_ONLY).await;
    let r = a
        .http
        .get(a.u("/v1/watch/kv/"))
        .header("X-Consul-Token", &app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    info!("--- a change arrives, a secret does not");
    a.call(
        Method::PUT,
        "/v1/kv/secret/x",
        Some(MGMT),
        Some(b"s".to_vec()),
    )
    .await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("config/app/x") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("config/app/x never arrived; saw {seen:?}"))
            .expect("the stream is open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        assert!(!seen.contains("secret"), "the watch leaked: {seen}");
    }
    info!("--- the token is deleted: the stream ends");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("the stream is still open 10 s after its token was deleted"),
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(chunk))) => {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                assert!(!text.contains("secret"), "{text}");
            }
        }
    }
    a.shutdown().await;
}

// ------------------------------------------------------ the default token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_token_uses_the_agents_default_token() {
    let default_secret = "3c1f2e4d-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    let mut cfg = acl_config(Some(MGMT));
    cfg.acl.tokens.default = Some(default_secret.into());
    let a = TestAgent::start(cfg).await;
    a.wait_for_management().await;
    a.mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"SecretID": default_secret, "Policies": [{"Name": "app"}]}),
        )
        .await;
    let accessor = t["AccessorID"].as_str().unwrap();
    for k in ["config/app/x", "secret/x"] {
        let r = a
            .call(
                Method::PUT,
                &format!("/v1/kv/{k}"),
                Some(MGMT),
                Some(b"1".to_vec()),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = a.get_as("/v1/kv/config/app/x", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a.get_as("/v1/kv/secret/x", None).await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains(&format!("AccessorID '{accessor}'")),
        "denied as the default token: {}",
        r.text
    );
    let r = a.get_as("/v1/kv/?recurse", None).await;
    assert_eq!(keys_of(&r), ["config/app/x"]);
    assert!(r.filtered);
    info!("--- a token given wins over the default");
    let r = a.get_as("/v1/kv/secret/x", Some(MGMT)).await;
    assert_eq!(r.status, 200);
    a.shutdown().await;
}
