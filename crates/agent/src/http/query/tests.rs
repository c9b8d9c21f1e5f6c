use proptest::prelude::*;

use super::*;

fn params(q: &str) -> Params {
    Params::parse(Some(q))
}

#[test]
fn flags_values_and_repeats_read_as_consul_reads_them() {
    let p = params("recurse&keys=true&raw=false&stale=0&index=42&tag=a&tag=b&sep=%2F&x=a+b");
    assert!(p.flag("recurse") && p.flag("keys"));
    assert!(!p.flag("raw") && !p.flag("stale") && !p.flag("missing"));
    assert_eq!(p.u64("index").unwrap(), Some(42));
    assert_eq!(p.get("tag"), Some("a"), "the first of a repeated parameter");
    assert_eq!(p.get("sep"), Some("/"));
    assert_eq!(p.get("x"), Some("a b"));
    assert!(p.has("recurse") && !p.has("nothing"));
    assert!(p.check().is_ok());
    assert!(Params::parse(None).pairs().is_empty());
}

#[test]
fn malformed_numbers_and_durations_are_400s_with_a_reason() {
    let err = params("index=-1").u64("index").unwrap_err();
    assert!(
        matches!(&err, ApiError::BadRequest(m) if m.contains("index")),
        "{err}"
    );
    let err = ReadOpts::read(&params("wait=forever")).unwrap_err();
    assert!(matches!(&err, ApiError::BadRequest(m) if m.starts_with("Invalid wait time")));
    let err = ReadOpts::read(&params("stale&consistent")).unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)));
    let opts = ReadOpts::read(&params("wait=1h&index=7&stale")).unwrap();
    assert_eq!((opts.wait, opts.index), (MAX_WAIT, 7));
    assert!(matches!(opts.consistency, Consistency::Stale));
}

#[test]
fn query_strings_over_the_limits_decode_to_nothing_and_are_refused() {
    let long = format!("filter={}", "a".repeat(MAX_QUERY_LEN));
    let p = params(&long);
    assert!(p.pairs().is_empty());
    let err = p.check().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "query string is {} bytes long; the limit is {MAX_QUERY_LEN}",
            long.len()
        )
    );
    assert!(ReadOpts::read(&p).is_err());

    let many = vec!["a=1"; MAX_PARAMS + 1].join("&");
    let p = params(&many);
    assert!(p.pairs().is_empty());
    assert_eq!(
        p.check().unwrap_err().to_string(),
        format!("query string has more than {MAX_PARAMS} parameters")
    );
    let just_enough = vec!["a=1"; MAX_PARAMS].join("&");
    assert_eq!(params(&just_enough).pairs().len(), MAX_PARAMS);
    assert!(
        params(&"&".repeat(10_000)).check().is_ok(),
        "empty pieces are not parameters"
    );
}

proptest! {
    #[test]
    fn any_query_string_decodes_within_the_limits(q in any::<String>()) {
        let p = params(&q);
        prop_assert!(p.pairs().len() <= MAX_PARAMS);
        if p.check().is_err() {
            prop_assert!(p.pairs().is_empty());
        }
        let _ = ReadOpts::read(&p);
        let _ = p.u64("index");
        let _ = p.flag("recurse");
    }

    #[test]
    fn any_bytes_percent_encoded_decode_without_panicking(
        pieces in prop::collection::vec(
            prop_oneof![
                Just("%".to_owned()), Just("%f".to_owned()), Just("%ff".to_owned()),
                Just("%C3%A9".to_owned()), Just("%00".to_owned()), Just("&".to_owned()),
                Just("=".to_owned()), Just("+".to_owned()), Just("wait=".to_owned()),
                Just("index=".to_owned()), "[a-z0-9.]{0,4}",
            ],
            0..40,
        ),
    ) {
        let p = params(&pieces.concat());
        let _ = ReadOpts::read(&p);
    }

    #[test]
    fn encoded_parameters_decode_to_themselves(
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..20),
    ) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        let q = ser.finish();
        let p = params(&q);
        // Empty pieces (an empty key and value) encode to `=`, a pair.
        prop_assert_eq!(p.pairs(), pairs.as_slice());
    }

    #[test]
    fn wait_is_capped_and_index_is_any_u64(index in any::<u64>(), secs in 0u64..100_000) {
        let opts = ReadOpts::read(&params(&format!("index={index}&wait={secs}s"))).unwrap();
        prop_assert_eq!(opts.index, index);
        prop_assert_eq!(opts.wait, Duration::from_secs(secs).min(MAX_WAIT));
    }
}

#[test]
fn dc_names_this_one_another_or_is_refused() {
    assert_eq!(target_dc(None, "dc1").unwrap(), None);
    assert_eq!(target_dc(Some(""), "dc1").unwrap(), None);
    assert_eq!(target_dc(Some("dc1"), "dc1").unwrap(), None, "this one");
    assert_eq!(target_dc(Some("dc2"), "dc1").unwrap(), Some("dc2".into()));
    assert_eq!(
        target_dc(Some("us-east_1.b"), "dc1").unwrap(),
        Some("us-east_1.b".into())
    );
    for bad in ["dc 2", "dc2/x", "dc2\n", "é"] {
        assert!(
            matches!(target_dc(Some(bad), "dc1"), Err(ApiError::BadRequest(_))),
            "{bad:?}"
        );
    }
    assert!(target_dc(Some(&"d".repeat(MAX_DC_LEN)), "dc1").is_ok());
    assert!(target_dc(Some(&"d".repeat(MAX_DC_LEN + 1)), "dc1").is_err());
}

proptest! {
    /// Any `?dc=` value is answered without panicking: none for this
    /// datacenter, the name itself for a valid other one, or a one-line 400.
    #[test]
    fn any_dc_value_is_this_one_another_or_a_bad_request(dc in ".{0,200}", local in "[a-z0-9]{1,8}") {
        match target_dc(Some(&dc), &local) {
            Ok(None) => prop_assert!(dc.is_empty() || dc == local),
            Ok(Some(other)) => {
                prop_assert_eq!(&other, &dc);
                prop_assert!(other != local && other.len() <= MAX_DC_LEN);
            }
            Err(ApiError::BadRequest(why)) => {
                prop_assert!(!why.contains('\n') || dc.contains('\n'));
                prop_assert!(why.starts_with("Invalid datacenter"));
            }
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }

    /// Valid names in any case and with every allowed punctuation route.
    #[test]
    fn valid_dc_names_route(dc in "[A-Za-z0-9._-]{1,128}") {
        let routed = target_dc(Some(&dc), "local-dc-that-differs-!").unwrap();
        prop_assert_eq!(routed, Some(dc));
    }
}
