use super::*;
use praetor_store::query::{QueryTemplate, ServiceQuery};
use proptest::prelude::*;

fn cx() -> Context {
    Context {
        full: "geo-db-customer-primary".into(),
        prefix: "geo-db".into(),
        segment: "".into(),
        groups: vec![
            "geo-db-customer-primary".into(),
            "customer".into(),
            "primary".into(),
        ],
    }
}

#[test]
fn every_variable_interpolates() {
    let cx = cx();
    let i = |s: &str| interpolate(s, &cx).unwrap();
    assert_eq!(i("${name.full}"), "geo-db-customer-primary");
    assert_eq!(i("${name.prefix}"), "geo-db");
    assert_eq!(i("${name.suffix}"), "-customer-primary");
    assert_eq!(i("${match(1)}-${ match( 2 ) }"), "customer-primary");
    assert_eq!(i("${match(7)}"), "");
    assert_eq!(i("x${agent.segment}y"), "xy");
    assert_eq!(i("cost: $5, $${name.full}"), "cost: $5, ${name.full}");
    assert_eq!(i("plain"), "plain");
}

#[test]
fn bad_fields_are_refused_with_a_reason() {
    assert_eq!(parse("a${name.full"), Err(TemplateError::Unterminated(1)));
    assert!(
        matches!(parse("${name.middle}"), Err(TemplateError::Unknown(v)) if v == "name.middle")
    );
    assert!(matches!(
        parse("${match(x)}"),
        Err(TemplateError::Unknown(_))
    ));
    assert!(matches!(parse("${}"), Err(TemplateError::Unknown(_))));
    assert!(matches!(
        parse(&"a".repeat(MAX_FIELD + 1)),
        Err(TemplateError::TooLong(_))
    ));
}

fn template(regexp: &str, service: &str, tags: &[&str], remove_empty: bool) -> PreparedQuery {
    PreparedQuery {
        name: "geo-db".into(),
        service: ServiceQuery {
            service: service.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
        dns_ttl: "${match(2)}".into(),
        template: Some(QueryTemplate {
            kind: "name_prefix_match".into(),
            regexp: regexp.into(),
            remove_empty_tags: remove_empty,
        }),
        ..Default::default()
    }
}

#[test]
fn a_template_renders_with_its_regexp_groups_and_drops_empty_tags_when_asked() {
    let q = template(
        r"^geo-db-(.*?)-([^\-]+?)$",
        "mysql-${match(1)}",
        &["${match(2)}", "${match(9)}"],
        true,
    );
    validate(&q).unwrap();
    let r = render(&q, "geo-db-customer-primary", "").unwrap();
    assert_eq!(r.service.service, "mysql-customer");
    assert_eq!(r.service.tags, ["primary"]);
    assert_eq!(r.dns_ttl, "primary");
    // Without a match the groups are empty, and so are their fields.
    let r = render(&q, "geo-db", "").unwrap();
    assert_eq!(r.service.service, "mysql-");
    assert!(r.service.tags.is_empty());
    let kept = render(
        &template("", "${name.suffix}", &["", "x"], false),
        "geo-db-web",
        "",
    )
    .unwrap();
    assert_eq!(kept.service.service, "-web");
    assert_eq!(kept.service.tags, ["", "x"]);
}

#[test]
fn a_bad_regexp_or_field_fails_validation_and_a_static_query_renders_as_stored() {
    assert!(matches!(
        validate(&template("(", "web", &[], false)),
        Err(TemplateError::Regexp(_))
    ));
    assert!(validate(&template("", "${nope}", &[], false)).is_err());
    let stat = PreparedQuery {
        template: None,
        ..template("", "${name.full}", &[], false)
    };
    assert_eq!(render(&stat, "anything", "").unwrap(), stat);
}

/// Renders pieces back to a field that parses to them (text escaped).
fn unparse(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.replace("${", "$${"),
            Piece::Var(Var::Full) => "${name.full}".into(),
            Piece::Var(Var::Prefix) => "${name.prefix}".into(),
            Piece::Var(Var::Suffix) => "${name.suffix}".into(),
            Piece::Var(Var::Segment) => "${agent.segment}".into(),
            Piece::Var(Var::Match(n)) => format!("${{match({n})}}"),
        })
        .collect()
}

fn arb_piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        "[a-z${}\\-. ]{1,8}".prop_map(Piece::Text),
        Just(Piece::Var(Var::Full)),
        Just(Piece::Var(Var::Prefix)),
        Just(Piece::Var(Var::Suffix)),
        Just(Piece::Var(Var::Segment)),
        (0usize..20).prop_map(|n| Piece::Var(Var::Match(n))),
    ]
}

/// Adjacent texts merge when parsed; compare in that form.
fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for p in pieces {
        match (out.last_mut(), p) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
            (_, p) => out.push(p),
        }
    }
    out
}

proptest! {
    /// Any string parses or is refused, never panics; what parses
    /// renders back to a string that parses the same.
    #[test]
    fn parsing_any_string_never_panics_and_round_trips(s in "\\PC{0,64}") {
        if let Ok(pieces) = parse(&s) {
            prop_assert_eq!(parse(&unparse(&pieces)).unwrap(), pieces);
        }
    }

    /// Any sequence of text and variables, written out, parses back to
    /// itself, and interpolates to the concatenation of its values.
    #[test]
    fn written_templates_parse_back_and_interpolate_piece_by_piece(
        pieces in proptest::collection::vec(arb_piece(), 0..8),
    ) {
        let pieces = merged(pieces);
        // "$" then "${" is the escape "$${": such text cannot precede a variable.
        prop_assume!(!pieces.windows(2).any(|w| matches!(
            (&w[0], &w[1]),
            (Piece::Text(t), Piece::Var(_)) if t.ends_with('$')
        )));
        let s = unparse(&pieces);
        prop_assert_eq!(parse(&s).unwrap(), pieces.clone());
        let cx = cx();
        let want: String = pieces.iter().map(|p| match p {
            Piece::Text(t) => t.clone(),
            Piece::Var(v) => cx.value(v).to_owned(),
        }).collect();
        prop_assert_eq!(interpolate(&s, &cx).unwrap(), want);
    }

    /// Text without a `$` is never changed.
    #[test]
    fn text_without_a_dollar_is_kept(s in "[^$]{0,64}") {
        prop_assert_eq!(interpolate(&s, &cx()).unwrap(), s);
    }
}
