//! User events: an agent lists only the events whose node, service and tag
//! filters match it, as Consul's agents act only on those; bad filters are
//! refused.

use serde_json::{json, Value};

use crate::TestAgent;

#[tokio::test]
async fn an_agent_lists_only_the_events_whose_filters_match_it() {
    let a = TestAgent::dev().await;
    let node = a.get_json("/v1/agent/self").await["Config"]["NodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let reg = json!({"ID": "web1", "Name": "web", "Tags": ["blue"], "Port": 80});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200);
    let fires = [
        ("all", String::new(), true),
        ("this-node", format!("?node=^{node}$"), true),
        ("other-node", "?node=^not-this-node$".to_owned(), false),
        ("web", "?service=^web$".to_owned(), true),
        ("web-blue", "?service=web&tag=^bl".to_owned(), true),
        ("web-green", "?service=web&tag=green".to_owned(), false),
        ("db", "?service=db".to_owned(), false),
    ];
    for (name, q, _) in &fires {
        let r = a
            .http
            .put(a.u(&format!("/v1/event/fire/{name}{q}")))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}: {:?}", r.text().await);
    }
    let listed: Value = a.get_json("/v1/event/list").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = fires
        .iter()
        .filter(|(_, _, here)| *here)
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(names, want);

    for (q, why) in [
        ("?node=(", "Invalid node filter"),
        ("?service=web&tag=[", "Invalid tag filter"),
        (
            "?tag=blue",
            "Cannot provide tag filter without service filter",
        ),
    ] {
        let r = a.put_empty(&format!("/v1/event/fire/bad{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        let text = r.text().await.unwrap();
        assert!(text.contains(why), "{q}: {text}");
    }
    let after: Value = a.get_json("/v1/event/list?name=bad").await;
    assert_eq!(after, json!([]), "a refused event is not fired");
    a.shutdown().await;
}
