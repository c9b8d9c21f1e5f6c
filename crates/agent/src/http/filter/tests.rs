use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn matches(f: &str, v: &Value) -> bool {
    eval(&parse(f).unwrap(), v)
}

#[test]
fn consuls_documented_forms() {
    let svc = json!({"Service": "web", "Tags": ["v1", "canary"], "Port": 8080,
                     "Meta": {"env": "prod"}, "Address": ""});
    assert!(matches(r#"Service == "web""#, &svc));
    assert!(matches("Service == web", &svc));
    assert!(matches(r#"Tags contains "v1""#, &svc));
    assert!(matches(r#""canary" in Tags"#, &svc));
    assert!(matches(r#""beta" not in Tags"#, &svc));
    assert!(matches(r#"Meta.env == "prod" and Port != 80"#, &svc));
    assert!(matches(r#"Port == 8080"#, &svc));
    assert!(matches(r#"Service in ["web", "api"]"#, &svc));
    assert!(!matches(r#"Service not in ["web", "api"]"#, &svc));
    assert!(matches(r#"Service matches "^w.b$""#, &svc));
    assert!(!matches(r#"Service not matches "^w.b$""#, &svc));
    assert!(matches("Address is empty and Meta is not empty", &svc));
    assert!(matches(r#"not (Service == "db" or Port == 1)"#, &svc));
    assert!(matches("Meta contains env", &svc));
    assert!(!matches(r#"Meta.env != "prod""#, &svc));
}

#[test]
fn lists_of_objects_match_on_any_element() {
    let entry = json!({"Checks": [{"Status": "passing"}, {"Status": "critical"}]});
    assert!(matches("Checks.Status == critical", &entry));
    assert!(!matches("Checks.Status != critical", &entry));
}

#[test]
fn malformed_filters_are_errors_not_matches() {
    for bad in [
        "Service ==",
        "Service ~ web",
        "(Service == web",
        r#"Service == "web"#,
        r#"Service == "web\"#,
        "Tags contains",
        "Service = web",
        "Service == web)",
        "Service == web and",
        r#""x" Tags"#,
        "Service is full",
        "Service not equals x",
        "Tags in [a b]",
        "==",
        "",
    ] {
        let err = parse(bad).expect_err(bad);
        assert!(!err.to_string().contains('\n'), "{bad}: {err}");
    }
}

#[test]
fn nesting_up_to_the_limit_parses_and_one_more_is_too_deep() {
    let nested = |n: usize| format!("{}Port == 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        parse(&nested(MAX_DEPTH + 1)),
        Err(FilterError::TooDeep { limit: MAX_DEPTH })
    );
    let nots = |n: usize| format!("{}Port == 1", "not ".repeat(n));
    assert!(parse(&nots(MAX_DEPTH)).is_ok());
    assert_eq!(
        parse(&nots(MAX_DEPTH + 1)),
        Err(FilterError::TooDeep { limit: MAX_DEPTH })
    );
    // Depth is what is open at once, not how many groups there are.
    let siblings = vec!["(((Port == 1)))"; 100].join(" or ");
    assert!(parse(&siblings).is_ok());
}

#[test]
fn issue_12_thousands_of_open_parentheses_are_refused_without_recursing() {
    // The request of issue 12 (5 000 `(`) is over the length limit; 2 000
    // is under it and stopped by the depth limit. Both run on a thread with
    // a small stack, which an unbounded parser would overflow.
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let long = parse(&"(".repeat(5000));
            let deep = parse(&"(".repeat(2000));
            let deep_closed = parse(&format!("{}a==b{}", "(".repeat(1000), ")".repeat(1000)));
            (long, deep, deep_closed)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        outcome.0,
        Err(FilterError::TooLong {
            len: 5000,
            limit: MAX_FILTER_LEN
        })
    );
    assert_eq!(outcome.1, Err(FilterError::TooDeep { limit: MAX_DEPTH }));
    assert_eq!(outcome.2, Err(FilterError::TooDeep { limit: MAX_DEPTH }));
}

#[test]
fn long_and_chains_stay_flat() {
    let chain = vec!["Port != 1"; 250].join(" and ");
    assert!(chain.len() < MAX_FILTER_LEN);
    let e = parse(&chain).unwrap();
    let Expr::And(terms) = &e else {
        panic!("an and-chain is one And: {e:?}")
    };
    assert_eq!(terms.len(), 250);
    assert!(eval(&e, &json!({"Port": 2})));
    let mixed = parse("a == 1 or b == 2 and c == 3 or d == 4").unwrap();
    let Expr::Or(terms) = &mixed else {
        panic!("or binds loosest: {mixed:?}")
    };
    assert_eq!(terms.len(), 3);
    assert!(matches!(&terms[1], Expr::And(t) if t.len() == 2));
}

#[test]
fn regexes_are_compiled_when_parsed_and_bounded() {
    let e = parse(r#"Service matches "^web-[0-9]+$""#).unwrap();
    let Expr::Match {
        value: Some(Operand::Pattern(p)),
        ..
    } = &e
    else {
        panic!("a matches operand is a compiled pattern: {e:?}")
    };
    assert_eq!(p.as_str(), "^web-[0-9]+$");
    assert!(eval(&e, &json!({"Service": "web-12"})));
    assert!(!eval(&e, &json!({"Service": "web-x"})));

    let bad = parse(r#"Service matches "(unclosed""#).unwrap_err();
    assert!(matches!(bad, FilterError::BadRegex { .. }), "{bad}");
    let huge = parse(r#"Service matches "((a{100}){100}){100}""#).unwrap_err();
    assert!(matches!(huge, FilterError::BadRegex { .. }), "{huge}");
    assert!(!huge.to_string().contains('\n'));
}

#[test]
fn messages_name_what_was_expected_and_cut_long_words() {
    assert_eq!(
        parse("Service ==").unwrap_err().to_string(),
        "expected a value in the filter, found the end"
    );
    let long = format!("Service {} web", "x".repeat(500));
    let msg = parse(&long).unwrap_err().to_string();
    assert!(msg.len() < 120, "{msg}");
    assert_eq!(
        parse(&"a".repeat(MAX_FILTER_LEN + 1))
            .unwrap_err()
            .to_string(),
        format!(
            "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
            MAX_FILTER_LEN + 1
        )
    );
}

// --- property tests -------------------------------------------------------

/// Fragments a filter is made of, so random strings reach deep into the
/// grammar instead of failing at the first character.
fn fragments() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(" and ".to_owned()),
        Just(" or ".to_owned()),
        Just("not ".to_owned()),
        Just(" == ".to_owned()),
        Just(" != ".to_owned()),
        Just(" in ".to_owned()),
        Just(" contains ".to_owned()),
        Just(" matches ".to_owned()),
        Just(" is empty".to_owned()),
        Just(" is not empty".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("\\".to_owned()),
        Just("=".to_owned()),
        Just("!".to_owned()),
        "[A-Za-z.]{1,6}",
        "\"[^\"]{0,5}\"",
        "\"[(\\[*+?{}]{0,5}\"",
    ];
    prop::collection::vec(piece, 0..64).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn arbitrary_text_is_parsed_or_refused_without_panicking(s in any::<String>()) {
        if let Ok(e) = parse(&s) {
            eval(&e, &json!({"a": 1}));
        }
    }

    #[test]
    fn arbitrary_token_soup_is_parsed_or_refused_and_evaluates(s in fragments()) {
        let item = json!({"Service": "web", "Tags": ["a", "b"], "Meta": {"k": "v"},
                          "Checks": [{"Status": "passing"}]});
        match parse(&s) {
            Ok(e) => { eval(&e, &item); }
            Err(err) => prop_assert!(!err.to_string().contains('\n'), "{}", err),
        }
    }

    #[test]
    fn deep_nesting_of_any_shape_is_refused_past_the_limit(
        opens in prop::collection::vec(prop_oneof![Just("("), Just("not "), Just("not (")], 0..3000),
    ) {
        let depth = opens.iter().map(|o| if *o == "not (" { 2 } else { 1 }).sum::<usize>();
        let closes = opens.iter().filter(|o| o.contains('(')).count();
        let s = format!("{}a == b{}", opens.concat(), ")".repeat(closes));
        match parse(&s) {
            Ok(_) => prop_assert!(depth <= MAX_DEPTH && s.len() <= MAX_FILTER_LEN),
            Err(FilterError::TooDeep { .. }) => prop_assert!(depth > MAX_DEPTH),
            Err(FilterError::TooLong { .. }) => prop_assert!(s.len() > MAX_FILTER_LEN),
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }
}

// --- a model of the filters that are valid ---------------------------------

/// An item the model understands: every field present.
#[derive(Debug, Clone)]
struct Item {
    name: String,
    tags: Vec<String>,
    port: u16,
    meta: BTreeMap<String, String>,
}

impl Item {
    fn json(&self) -> Value {
        json!({"Name": self.name, "Tags": self.tags, "Port": self.port, "Meta": self.meta})
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Name,
    Tags,
    Meta,
}

/// Regexes whose meaning the model spells in plain Rust.
const PATTERNS: &[&str] = &["^a", "b$", "^$", "c"];

fn pattern_holds(p: &str, s: &str) -> bool {
    match p {
        "^a" => s.starts_with('a'),
        "b$" => s.ends_with('b'),
        "^$" => s.is_empty(),
        _ => s.contains('c'),
    }
}

#[derive(Debug, Clone)]
enum Leaf {
    NameEq(String, bool),
    PortEq(u16, bool),
    MetaEq(String, String, bool),
    TagsContains(String, bool),
    TagIn(String, bool),
    NameIn(Vec<String>, bool),
    Empty(Field, bool),
    NameMatches(usize, bool),
}

#[derive(Debug, Clone)]
enum Model {
    And(Vec<Model>),
    Or(Vec<Model>),
    Not(Box<Model>),
    Paren(Box<Model>),
    Leaf(Leaf),
}

fn quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn neg(n: bool, yes: &str, no: &str) -> String {
    if n { no } else { yes }.to_owned()
}

fn render(m: &Model) -> String {
    let child = |c: &Model| match c {
        Model::And(_) | Model::Or(_) => format!("({})", render(c)),
        _ => render(c),
    };
    match m {
        Model::And(t) => t.iter().map(child).collect::<Vec<_>>().join(" and "),
        Model::Or(t) => t.iter().map(child).collect::<Vec<_>>().join(" or "),
        Model::Not(c) => format!("not {}", child(c)),
        Model::Paren(c) => format!("({})", render(c)),
        Model::Leaf(l) => match l {
            Leaf::NameEq(v, n) => format!("Name {} {}", neg(*n, "==", "!="), quote(v)),
            Leaf::PortEq(p, n) => format!("Port {} {p}", neg(*n, "==", "!=")),
            Leaf::MetaEq(k, v, n) => format!("Meta.{k} {} {}", neg(*n, "==", "!="), quote(v)),
            Leaf::TagsContains(t, n) => {
                format!("Tags {} {}", neg(*n, "contains", "not contains"), quote(t))
            }
            Leaf::TagIn(t, n) => format!("{} {} Tags", quote(t), neg(*n, "in", "not in")),
            Leaf::NameIn(list, n) => format!(
                "Name {} [{}]",
                neg(*n, "in", "not in"),
                list.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
            ),
            Leaf::Empty(f, n) => format!("{f:?} {}", neg(*n, "is empty", "is not empty")),
            Leaf::NameMatches(p, n) => format!(
                "Name {} {}",
                neg(*n, "matches", "not matches"),
                quote(PATTERNS[*p])
            ),
        },
    }
}

/// The `Expr` the parser must build for `m`.
fn expr(m: &Model) -> Expr {
    let leaf = |sel: &str, op: Op, value: Option<Operand>| Expr::Match {
        selector: sel.split('.').map(str::to_owned).collect(),
        op,
        value,
    };
    let pick = |n: bool, yes: Op, no: Op| if n { no } else { yes };
    let one = |s: &str| Some(Operand::One(s.to_owned()));
    match m {
        Model::And(t) => Expr::And(t.iter().map(expr).collect()),
        Model::Or(t) => Expr::Or(t.iter().map(expr).collect()),
        Model::Not(c) => Expr::Not(Box::new(expr(c))),
        Model::Paren(c) => expr(c),
        Model::Leaf(l) => match l {
            Leaf::NameEq(v, n) => leaf("Name", pick(*n, Op::Eq, Op::Ne), one(v)),
            Leaf::PortEq(p, n) => leaf("Port", pick(*n, Op::Eq, Op::Ne), one(&p.to_string())),
            Leaf::MetaEq(k, v, n) => leaf(&format!("Meta.{k}"), pick(*n, Op::Eq, Op::Ne), one(v)),
            Leaf::TagsContains(t, n) | Leaf::TagIn(t, n) => {
                leaf("Tags", pick(*n, Op::Contains, Op::NotContains), one(t))
            }
            Leaf::NameIn(list, n) => leaf(
                "Name",
                pick(*n, Op::In, Op::NotIn),
                Some(Operand::List(list.clone())),
            ),
            Leaf::Empty(f, n) => leaf(
                &format!("{f:?}"),
                pick(*n, Op::IsEmpty, Op::IsNotEmpty),
                None,
            ),
            Leaf::NameMatches(p, n) => leaf(
                "Name",
                pick(*n, Op::Matches, Op::NotMatches),
                Some(Operand::Pattern(Pattern::new(PATTERNS[*p]).unwrap())),
            ),
        },
    }
}

/// What `m` means for `item`, written without the filter code.
fn holds(m: &Model, item: &Item) -> bool {
    let x = |n: bool, b: bool| b != n;
    match m {
        Model::And(t) => t.iter().all(|c| holds(c, item)),
        Model::Or(t) => t.iter().any(|c| holds(c, item)),
        Model::Not(c) => !holds(c, item),
        Model::Paren(c) => holds(c, item),
        Model::Leaf(l) => match l {
            Leaf::NameEq(v, n) => x(*n, item.name == *v),
            Leaf::PortEq(p, n) => x(*n, item.port == *p),
            Leaf::MetaEq(k, v, n) => x(*n, item.meta.get(k) == Some(v)),
            Leaf::TagsContains(t, n) | Leaf::TagIn(t, n) => x(*n, item.tags.contains(t)),
            Leaf::NameIn(list, n) => x(*n, list.contains(&item.name)),
            Leaf::Empty(f, n) => x(
                *n,
                match f {
                    Field::Name => item.name.is_empty(),
                    Field::Tags => item.tags.is_empty(),
                    Field::Meta => item.meta.is_empty(),
                },
            ),
            Leaf::NameMatches(p, n) => x(*n, pattern_holds(PATTERNS[*p], &item.name)),
        },
    }
}

/// Values from a small alphabet (so comparisons often hold), with the
/// characters a quoted string must escape.
fn word() -> impl Strategy<Value = String> {
    "[abc]{0,3}|[ab \"\\\\()]{1,3}"
}

fn key() -> impl Strategy<Value = String> {
    "[abc]{1,2}"
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        (word(), any::<bool>()).prop_map(|(v, n)| Leaf::NameEq(v, n)),
        (0u16..4, any::<bool>()).prop_map(|(p, n)| Leaf::PortEq(p, n)),
        (key(), word(), any::<bool>()).prop_map(|(k, v, n)| Leaf::MetaEq(k, v, n)),
        (word(), any::<bool>()).prop_map(|(t, n)| Leaf::TagsContains(t, n)),
        (word(), any::<bool>()).prop_map(|(t, n)| Leaf::TagIn(t, n)),
        (prop::collection::vec(word(), 0..4), any::<bool>()).prop_map(|(l, n)| Leaf::NameIn(l, n)),
        (
            prop_oneof![Just(Field::Name), Just(Field::Tags), Just(Field::Meta)],
            any::<bool>()
        )
            .prop_map(|(f, n)| Leaf::Empty(f, n)),
        (0..PATTERNS.len(), any::<bool>()).prop_map(|(p, n)| Leaf::NameMatches(p, n)),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    leaf()
        .prop_map(Model::Leaf)
        .prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Model::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Model::Or),
                inner.clone().prop_map(|m| Model::Not(Box::new(m))),
                inner.prop_map(|m| Model::Paren(Box::new(m))),
            ]
        })
}

fn item() -> impl Strategy<Value = Item> {
    (
        "[abc]{0,3}",
        prop::collection::vec("[abc]{0,2}", 0..3),
        0u16..4,
        prop::collection::btree_map(key(), "[abc]{0,2}", 0..3),
    )
        .prop_map(|(name, tags, port, meta)| Item {
            name,
            tags,
            port,
            meta,
        })
}

proptest! {
    #[test]
    fn valid_filters_parse_to_their_tree_and_mean_what_the_model_says(
        m in model(),
        items in prop::collection::vec(item(), 1..6),
    ) {
        let text = render(&m);
        let parsed = parse(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&expr(&m)), "{}", text);
        let e = parsed.unwrap();
        for it in &items {
            prop_assert_eq!(eval(&e, &it.json()), holds(&m, it), "{} on {:?}", text, it);
        }
    }
}
