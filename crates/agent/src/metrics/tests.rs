use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A sink started 4 s into a 10 s interval.
fn sink() -> (IntervalSink, Instant) {
    let t0 = Instant::now();
    let wall = UNIX_EPOCH + secs(1_700_000_004);
    (IntervalSink::new(secs(10), t0, wall), t0)
}

fn name(n: &str) -> Arc<MetricName> {
    Arc::new(MetricName {
        name: n.to_owned(),
        labels: BTreeMap::new(),
    })
}

fn find<'a>(json: &'a serde_json::Value, table: &str, n: &str) -> &'a serde_json::Value {
    json[table]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["Name"] == n))
        .unwrap_or_else(|| panic!("{n} not in {table}: {json}"))
}

#[test]
fn rate_is_the_sum_over_the_time_the_interval_really_covered() {
    let (sink, t0) = sink();
    let c = name("consul.raft.apply");
    sink.add(Kind::Counter, &c, 3.0, t0 + secs(1));
    sink.add(Kind::Counter, &c, 5.0, t0 + secs(2));

    // In progress, and the only interval: 2 s of it so far (4 s to 6 s).
    let now = sink.display(t0 + secs(2));
    let agg = find(&now, "Counters", "consul.raft.apply");
    assert_eq!(agg["Count"], 2);
    assert_eq!(agg["Sum"], 8.0);
    assert!((agg["Rate"].as_f64().unwrap() - 4.0).abs() < 1e-9, "{agg}");

    // Finished: the agent ran for its last 6 s.
    let later = sink.display(t0 + secs(7));
    let agg = find(&later, "Counters", "consul.raft.apply");
    assert!(
        (agg["Rate"].as_f64().unwrap() - 8.0 / 6.0).abs() < 1e-9,
        "{agg}"
    );
    assert_eq!(later["Timestamp"], "2023-11-14 22:13:20 +0000 UTC");

    // A whole interval: 10 s.
    sink.add(Kind::Counter, &c, 20.0, t0 + secs(8));
    let whole = sink.display(t0 + secs(16));
    let agg = find(&whole, "Counters", "consul.raft.apply");
    assert_eq!(agg["Count"], 1);
    assert!((agg["Rate"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{agg}");
    assert_eq!(whole["Timestamp"], "2023-11-14 22:13:30 +0000 UTC");
}

#[test]
fn a_finished_interval_without_values_shows_none() {
    let (sink, t0) = sink();
    let c = name("consul.http.requests");
    sink.add(Kind::Counter, &c, 1.0, t0 + secs(1));
    let json = sink.display(t0 + secs(20));
    assert_eq!(json["Counters"], serde_json::json!([]), "{json}");
}

#[test]
fn samples_aggregate_count_min_max_mean_and_stddev() {
    let (sink, t0) = sink();
    let s = name("consul.raft.commitTime");
    for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
        sink.add(Kind::Sample, &s, v, t0);
    }
    let json = sink.display(t0 + secs(1));
    let agg = find(&json, "Samples", "consul.raft.commitTime");
    assert_eq!(agg["Count"], 8);
    assert_eq!(agg["Min"], 2.0);
    assert_eq!(agg["Max"], 9.0);
    assert_eq!(agg["Mean"], 5.0);
    // The sample standard deviation, as go-metrics computes it.
    let sd = agg["Stddev"].as_f64().unwrap();
    assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-9, "{agg}");
}

#[test]
fn only_a_minute_of_intervals_is_kept() {
    let (sink, t0) = sink();
    let c = name("consul.rpc.request");
    for i in 0..20 {
        sink.add(Kind::Counter, &c, 1.0, t0 + secs(10 * i));
    }
    assert_eq!(sink.lock().intervals.len(), RETAIN);
}

#[test]
fn timestamps_are_printed_as_go_prints_utc() {
    assert_eq!(
        consul_timestamp(UNIX_EPOCH + secs(1_700_000_000)),
        "2023-11-14 22:13:20 +0000 UTC"
    );
    assert_eq!(
        consul_timestamp(UNIX_EPOCH),
        "1970-01-01 00:00:00 +0000 UTC"
    );
    // A leap day.
    assert_eq!(
        consul_timestamp(UNIX_EPOCH + secs(951_782_400)),
        "2000-02-29 00:00:00 +0000 UTC"
    );
}

#[test]
fn one_recorder_feeds_both_forms_and_agents_do_not_share_it() {
    let (a, b) = (Metrics::default(), Metrics::default());
    a.record(|| {
        metrics::counter!("consul.rpc.request").increment(2);
        metrics::histogram!("consul.api.http", "method" => "GET", "path" => "v1_kv_").record(1.5);
        metrics::gauge!("consul.rpc.queries_blocking").set(3.0);
    });
    let json = a.to_json();
    assert_eq!(find(&json, "Counters", "consul.rpc.request")["Sum"], 2.0);
    let http = find(&json, "Samples", "consul.api.http");
    assert_eq!(http["Labels"]["path"], "v1_kv_");
    assert_eq!(
        find(&json, "Gauges", "consul.rpc.queries_blocking")["Value"],
        3.0
    );
    let prom = a.to_prometheus();
    assert!(prom.contains("consul_rpc_request 2"), "{prom}");
    assert!(
        prom.contains(r#"consul_api_http_count{method="GET",path="v1_kv_"} 1"#),
        "{prom}"
    );
    assert!(prom.contains("consul_rpc_queries_blocking 3"), "{prom}");
    // The other agent saw none of it.
    assert!(!b.to_prometheus().contains("consul_rpc_request"));
    assert_eq!(b.to_json()["Counters"], serde_json::json!([]));
}

#[test]
fn server_handles_record_into_their_agents_recorder() {
    let a = Metrics::default();
    let server = a.server_metrics();
    drop(server);
    // Registered at creation: the names exist (at zero) before any event.
    let prom = a.to_prometheus();
    assert!(prom.contains("consul_raft_apply 0"), "{prom}");
}
