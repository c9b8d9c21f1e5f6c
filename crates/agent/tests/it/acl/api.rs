//! The ACL API: bootstrap, expiry, tokens, policies and roles.

use super::*;

// ------------------------------------------------------- 5. bootstrap once

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_returns_a_management_token_once() {
    let a = TestAgent::acl(None).await;
    // The leader creates the ACL system's built-ins first; until then a
    // bootstrap may fail, never succeed twice.
    let first = praetor_testwait::wait_for(Duration::from_secs(10), "a bootstrap", || async {
        let r = a.put_as("/v1/acl/bootstrap", None, json!(null)).await;
        praetor_testwait::check(r.status == 200, || format!("{} {}", r.status, r.text))?;
        Ok(r)
    })
    .await
    .unwrap();
    let t = first.json();
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&secret).is_ok(), "{t}");
    assert!(uuid::Uuid::parse_str(t["AccessorID"].as_str().unwrap()).is_ok());
    let policies: Vec<&str> = t["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["global-management"]);
    info!("--- the token manages");
    let r = a.get_as("/v1/acl/tokens", Some(&secret)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a
        .call(
            Method::PUT,
            "/v1/kv/anything",
            Some(&secret),
            Some(b"1".to_vec()),
        )
        .await;
    assert_eq!(r.status, 200);
    info!("--- a second bootstrap is refused, even with the management token");
    for token in [None, Some(secret.as_str())] {
        let r = a.put_as("/v1/acl/bootstrap", token, json!(null)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let text = r.text.trim();
        let index = text
            .strip_prefix("Permission denied: ACL bootstrap no longer allowed (reset index: ")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("Consul's wording: {text:?}"));
        assert!(index.parse::<u64>().unwrap() > 0, "{text}");
    }
    let r = a.get_as("/v1/acl/tokens", Some(&secret)).await;
    let bootstraps = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Policies"].to_string().contains("global-management"))
        .count();
    assert_eq!(bootstraps, 1, "one management token: {}", r.text);
    a.shutdown().await;
}

// ----------------------------------------------------------- 6. expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_an_expiration_ttl_stops_working_when_it_expires() {
    let a = TestAgent::acl(Some(MGMT)).await;
    a.mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"Policies": [{"Name": "app"}], "ExpirationTTL": "2s"}),
        )
        .await;
    assert!(t["ExpirationTime"].is_string(), "{t}");
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    let r = a.get_as("/v1/kv/config/app/x", Some(&secret)).await;
    assert_eq!(r.status, 200, "works before it expires: {}", r.text);
    praetor_testwait::wait_for(Duration::from_secs(10), "the token to expire", || async {
        let r = a.get_as("/v1/kv/config/app/x", Some(&secret)).await;
        praetor_testwait::check(r.status == 403, || format!("{} {}", r.status, r.text))?;
        Ok(r)
    })
    .await
    .map(|r| assert_eq!(r.text.trim(), "ACL not found"))
    .unwrap();
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));

    info!("--- an ExpirationTime in the past is refused");
    let r = a
        .put_as(
            "/v1/acl/token",
            Some(MGMT),
            json!({"Policies": [{"Name": "app"}], "ExpirationTime": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let before = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    let r = a
        .put_as(
            "/v1/acl/token",
            Some(MGMT),
            json!({"ExpirationTime": "2001-01-01T00:00:00Z", "ExpirationTTL": "1h"}),
        )
        .await;
    assert_eq!(r.status, 400, "both set: {}", r.text);
    let after = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    assert_eq!(before, after, "nothing created");
    a.shutdown().await;
}

// ------------------------------------------------- 7. the API's shapes

fn ids(list: &Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_read_updated_cloned_listed_and_deleted_as_consul_does() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let policy_id = p["ID"].as_str().unwrap().to_owned();
    let role = a
        .mgmt_put(
            "/v1/acl/role",
            json!({"Name": "app-role", "Policies": [{"ID": policy_id}]}),
        )
        .await;
    let role_id = role["ID"].as_str().unwrap().to_owned();

    info!("--- create by policy name: the ID is resolved");
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"Description": "app token", "Policies": [{"Name": "app"}]}),
        )
        .await;
    let accessor = t["AccessorID"].as_str().unwrap().to_owned();
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    assert_eq!(t["Policies"], json!([{"ID": policy_id, "Name": "app"}]));
    assert_eq!(t["Description"], "app token");
    assert_eq!(t["Local"], false);
    assert!(t["CreateTime"].is_string() && t["Hash"].is_string(), "{t}");
    assert!(t["CreateIndex"].as_u64().unwrap() > 0);
    let by_role = a
        .mgmt_put("/v1/acl/token", json!({"Roles": [{"Name": "app-role"}]}))
        .await;
    assert_eq!(
        by_role["Roles"],
        json!([{"ID": role_id, "Name": "app-role"}])
    );

    info!("--- read and self");
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(MGMT))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["SecretID"], secret.as_str());
    let me = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!(me.status, 200, "a token may read itself: {}", me.text);
    assert_eq!(me.json()["AccessorID"], accessor.as_str());
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(&secret))
        .await;
    assert_eq!(r.status, 403, "reading by accessor needs acl:read");

    info!("--- update keeps the secret");
    let u = a
        .mgmt_put(
            &format!("/v1/acl/token/{accessor}"),
            json!({"Description": "renamed", "Policies": [{"ID": policy_id}]}),
        )
        .await;
    assert_eq!(u["Description"], "renamed");
    assert_eq!(u["SecretID"], secret.as_str());
    assert!(u["ModifyIndex"].as_u64() > t["ModifyIndex"].as_u64());
    assert_ne!(u["Hash"], t["Hash"]);
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!(r.json()["Description"], "renamed");

    info!("--- clone: new accessor and secret, same policies");
    let c = a
        .mgmt_put(
            &format!("/v1/acl/token/{accessor}/clone"),
            json!({"Description": "clone"}),
        )
        .await;
    assert_ne!(c["AccessorID"], accessor.as_str());
    assert_ne!(c["SecretID"], secret.as_str());
    assert_eq!(c["Policies"], u["Policies"]);
    assert_eq!(c["Description"], "clone");
    let clone_secret = c["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&clone_secret))
            .await
            .status,
        200
    );

    info!("--- list and its filters");
    let all = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    let every = ids(&all, "AccessorID");
    assert!(every.contains(&accessor));
    assert!(
        every.contains(&praetor_acl::ANONYMOUS_TOKEN_ID.to_owned()),
        "{every:?}"
    );
    let by_policy = a
        .get_as(&format!("/v1/acl/tokens?policy={policy_id}"), Some(MGMT))
        .await
        .json();
    let mut want = vec![
        accessor.clone(),
        c["AccessorID"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(ids(&by_policy, "AccessorID"), want);
    let with_role = a
        .get_as(&format!("/v1/acl/tokens?role={role_id}"), Some(MGMT))
        .await
        .json();
    assert_eq!(
        ids(&with_role, "AccessorID"),
        [by_role["AccessorID"].as_str().unwrap()]
    );

    info!("--- delete");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(MGMT))
        .await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_created_read_updated_listed_and_deleted_and_bad_rules_refused() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put(
            "/v1/acl/policy",
            json!({"Name": "app", "Description": "the app", "Rules": APP_ONLY}),
        )
        .await;
    let id = p["ID"].as_str().unwrap().to_owned();
    assert_eq!(p["Rules"], APP_ONLY);
    assert_eq!(p["Description"], "the app");
    let r = a.get_as(&format!("/v1/acl/policy/{id}"), Some(MGMT)).await;
    assert_eq!(r.json()["Name"], "app");
    let r = a.get_as("/v1/acl/policy/name/app", Some(MGMT)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ID"], id.as_str());
    assert_eq!(r.json()["Rules"], APP_ONLY);

    info!("--- list omits Rules");
    let list = a.get_as("/v1/acl/policies", Some(MGMT)).await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"app") && names.contains(&"global-management"),
        "{names:?}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("Rules").is_none()),
        "{list}"
    );

    info!("--- update: a token holding the policy gets the new rules at once");
    let t = a
        .mgmt_put("/v1/acl/token", json!({"Policies": [{"ID": id}]}))
        .await;
    let holder = t["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/other",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/other", Some(&holder)).await.status,
        403
    );
    let rules = r#"key_prefix "config/" { policy = "read" }"#;
    let u = a
        .mgmt_put(
            &format!("/v1/acl/policy/{id}"),
            json!({"Name": "app", "Rules": rules}),
        )
        .await;
    assert_eq!(u["Rules"], rules);
    assert_eq!(u["ID"], id.as_str());
    assert_eq!(
        a.get_as("/v1/kv/config/other", Some(&holder)).await.status,
        200
    );

    info!("--- refusals change nothing");
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(MGMT),
            json!({"Name": "bad", "Rules": "key_prefix \"\" {\n  policy = \"read\"\n}\nkey \"x\" { policy = \"sometimes\" }\n"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("line 4: "), "names the line: {}", r.text);
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(MGMT),
            json!({"Name": "app", "Rules": ""}),
        )
        .await;
    assert_eq!(r.status, 400, "duplicate name: {}", r.text);
    let r = a.get_as("/v1/acl/policy/name/bad", Some(MGMT)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let after = a.get_as("/v1/acl/policies", Some(MGMT)).await.json();
    assert_eq!(
        after.as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );

    info!("--- global-management cannot be deleted");
    let gm = a
        .get_as("/v1/acl/policy/name/global-management", Some(MGMT))
        .await;
    let gm_id = gm.json()["ID"].as_str().unwrap().to_owned();
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/policy/{gm_id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        a.get_as(&format!("/v1/acl/policy/{gm_id}"), Some(MGMT))
            .await
            .status,
        200
    );
    assert_eq!(
        a.get_as("/v1/acl/token/self", Some(MGMT)).await.status,
        200,
        "the management token still works"
    );

    info!("--- delete");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/policy/{id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    let r = a.get_as(&format!("/v1/acl/policy/{id}"), Some(MGMT)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_created_read_updated_listed_and_deleted() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let policy_id = p["ID"].as_str().unwrap().to_owned();
    let r = a
        .mgmt_put(
            "/v1/acl/role",
            json!({"Name": "app-role", "Description": "d", "Policies": [{"Name": "app"}],
                   "ServiceIdentities": [{"ServiceName": "web"}]}),
        )
        .await;
    let id = r["ID"].as_str().unwrap().to_owned();
    assert_eq!(r["Policies"], json!([{"ID": policy_id, "Name": "app"}]));
    assert_eq!(r["ServiceIdentities"][0]["ServiceName"], "web");
    assert_eq!(
        a.get_as(&format!("/v1/acl/role/{id}"), Some(MGMT))
            .await
            .json()["Name"],
        "app-role"
    );
    let by_name = a.get_as("/v1/acl/role/name/app-role", Some(MGMT)).await;
    assert_eq!(by_name.json()["ID"], id.as_str());

    info!("--- a token holding the role gets its policy");
    let t = a
        .mgmt_put("/v1/acl/token", json!({"Roles": [{"ID": id}]}))
        .await;
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&secret)).await.status,
        200
    );

    info!("--- update");
    let u = a
        .mgmt_put(
            &format!("/v1/acl/role/{id}"),
            json!({"Name": "app-role-2", "Policies": []}),
        )
        .await;
    assert_eq!(u["Name"], "app-role-2");
    assert!(u["Policies"].as_array().is_none_or(Vec::is_empty), "{u}");
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&secret)).await.status,
        403,
        "the role no longer grants the policy"
    );
    assert_eq!(
        a.get_as("/v1/acl/role/name/app-role", Some(MGMT))
            .await
            .status,
        404
    );

    info!("--- list and delete");
    let list = a.get_as("/v1/acl/roles", Some(MGMT)).await.json();
    assert_eq!(ids(&list, "ID"), [id.as_str()]);
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/role/{id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    assert_eq!(
        a.get_as(&format!("/v1/acl/role/{id}"), Some(MGMT))
            .await
            .status,
        404
    );
    assert_eq!(
        a.get_as("/v1/acl/roles", Some(MGMT)).await.json(),
        json!([])
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_read_token_lists_tokens_with_hidden_secrets_and_cannot_write() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, reader) = a.token_with("acl-reader", r#"acl = "read""#).await;
    let r = a.get_as("/v1/acl/tokens", Some(&reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 3, "{list:?}");
    for t in list {
        assert_eq!(t["SecretID"], "<hidden>", "{t}");
    }
    let any = list[0]["AccessorID"].as_str().unwrap();
    let one = a
        .get_as(&format!("/v1/acl/token/{any}"), Some(&reader))
        .await;
    assert_eq!(one.json()["SecretID"], "<hidden>");
    assert!(!r.text.contains(MGMT) && !one.text.contains(MGMT));
    assert_eq!(
        a.get_as("/v1/acl/policies", Some(&reader)).await.status,
        200
    );
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(&reader),
            json!({"Name": "x", "Rules": ""}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("acl:write"), "{}", r.text);
    a.shutdown().await;
}
