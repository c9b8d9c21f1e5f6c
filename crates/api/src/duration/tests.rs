use proptest::prelude::*;

use super::*;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

/// Go's `parseDurationTests` (go/src/time/time_test.go), in nanoseconds.
/// Negative ones are listed apart: Praetor refuses negative durations.
const GO_VALID: &[(&str, u64)] = &[
    // simple
    ("0", 0),
    ("5s", 5 * SEC),
    ("30s", 30 * SEC),
    ("1478s", 1478 * SEC),
    // sign
    ("+5s", 5 * SEC),
    ("-0", 0),
    ("+0", 0),
    // decimal
    ("5.0s", 5 * SEC),
    ("5.6s", 5 * SEC + 600 * MS),
    ("5.s", 5 * SEC),
    (".5s", 500 * MS),
    ("1.0s", SEC),
    ("1.00s", SEC),
    ("1.004s", SEC + 4 * MS),
    ("1.0040s", SEC + 4 * MS),
    ("100.00100s", 100 * SEC + MS),
    // different units
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12µs", 12 * US), // U+00B5
    ("12μs", 12 * US), // U+03BC
    ("13ms", 13 * MS),
    ("14s", 14 * SEC),
    ("15m", 15 * MIN),
    ("16h", 16 * HOUR),
    // composite durations
    ("3h30m", 3 * HOUR + 30 * MIN),
    ("10.5s4m", 4 * MIN + 10 * SEC + 500 * MS),
    (
        "1h2m3s4ms5us6ns",
        HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 * NS,
    ),
    ("39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS),
    // large value
    ("52763797000ns", 52763797000 * NS),
    // more than 9 digits after decimal point, see https://golang.org/issue/6617
    ("0.3333333333333333333h", 20 * MIN),
    // 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
    ("9007199254740993ns", (1 << 53) + 1),
    // largest duration that can be represented by int64 in nanoseconds
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    // huge string; issue 15011.
    ("0.100000000000000000000h", 6 * MIN),
    // This value tests the first overflow check in leadingFraction.
    (
        "0.830103483285477580700h",
        49 * MIN + 48 * SEC + 372539827 * NS,
    ),
];

/// Go's valid negative vectors: refused here as negative.
const GO_NEGATIVE: &[&str] = &[
    "-5s",
    "-2m3.4s",
    "-9223372036854775808ns",
    "-9223372036854775.808us",
    "-9223372036s854ms775us808ns",
    "-2562047h47m16.854775808s",
];

/// Go's `parseDurationErrorTests` that are valid UTF-8 (a Rust `&str`
/// cannot hold the others), with the error Praetor gives.
const GO_INVALID: &[(&str, DurationError)] = &[
    // invalid
    ("", DurationError::Syntax),
    ("3", DurationError::Syntax),
    ("-", DurationError::Syntax),
    ("s", DurationError::Syntax),
    (".", DurationError::Syntax),
    ("-.", DurationError::Syntax),
    (".s", DurationError::Syntax),
    ("+.s", DurationError::Syntax),
    ("1d", DurationError::Syntax),
    ("\u{FFFD}", DurationError::Syntax),
    ("\u{FFFD} hello \u{FFFD} world", DurationError::Syntax),
    // overflow
    ("9223372036854775810ns", DurationError::TooLong),
    ("9223372036854775808ns", DurationError::TooLong),
    ("-9223372036854775809ns", DurationError::TooLong),
    ("9223372036854776us", DurationError::TooLong),
    ("3000000h", DurationError::TooLong),
    ("9223372036854775.808us", DurationError::TooLong),
    ("9223372036854ms775us808ns", DurationError::TooLong),
];

#[test]
fn gos_valid_vectors_give_gos_nanoseconds() {
    for (text, nanos) in GO_VALID {
        assert_eq!(parse(text), Ok(Duration::from_nanos(*nanos)), "{text:?}");
    }
}

#[test]
fn gos_negative_vectors_are_refused_as_negative() {
    for text in GO_NEGATIVE {
        assert_eq!(parse(text), Err(DurationError::Negative), "{text:?}");
    }
    for zero in ["-0", "-0s", "-0.0h", "-0m0s"] {
        assert_eq!(parse(zero), Ok(Duration::ZERO), "{zero:?} is zero");
    }
}

#[test]
fn gos_invalid_vectors_are_refused() {
    for (text, why) in GO_INVALID {
        assert_eq!(parse(text), Err(*why), "{text:?}");
    }
}

#[test]
fn refuses_what_consul_operators_get_wrong() {
    for text in [
        "30", "forever", "1.s.5", "1m 30s", " 1s", "1s ", "3d", "1S", "++1s", "1ss", "1e3s",
    ] {
        assert_eq!(parse(text), Err(DurationError::Syntax), "{text:?}");
    }
}

#[test]
fn formats_like_go() {
    assert_eq!(format(Duration::from_secs(90)), "1m30s");
    assert_eq!(format(Duration::from_secs(8 * 3600)), "8h0m0s");
    assert_eq!(format(Duration::from_millis(500)), "500ms");
    assert_eq!(format(Duration::from_millis(1500)), "1.5s");
    assert_eq!(format(Duration::ZERO), "0s");
}

/// One `<number><unit>` piece and its exact value in nanoseconds.
fn piece() -> impl Strategy<Value = (String, u128)> {
    let units = prop_oneof![
        Just(("ns", 1u128)),
        Just(("us", 1_000)),
        Just(("µs", 1_000)),
        Just(("ms", 1_000_000)),
        Just(("s", 1_000_000_000)),
        Just(("m", 60_000_000_000)),
        Just(("h", 3_600_000_000_000)),
    ];
    (0u64..1_000_000, units).prop_map(|(n, (u, per))| (format!("{n}{u}"), u128::from(n) * per))
}

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_and_never_past_gos_limit(s in any::<String>()) {
        if let Ok(d) = parse(&s) {
            prop_assert!(d.as_nanos() < 1 << 63);
        }
    }

    #[test]
    fn duration_shaped_text_is_parsed_or_refused(
        s in "[-+]?[0-9.]{0,25}(ns|us|µs|ms|s|m|h|x)?([0-9.]{0,25}(ns|us|ms|s|m|h)?){0,3}",
    ) {
        if let Ok(d) = parse(&s) {
            prop_assert!(d.as_nanos() < 1 << 63);
        }
    }

    #[test]
    fn whole_numbered_pieces_add_up_exactly(pieces in prop::collection::vec(piece(), 1..6)) {
        let text: String = pieces.iter().map(|(t, _)| t.as_str()).collect();
        let want: u128 = pieces.iter().map(|(_, n)| n).sum();
        if want < 1 << 63 {
            prop_assert_eq!(parse(&text).map(|d| d.as_nanos()), Ok(want), "{}", text);
        } else {
            // Past what Go's int64 nanoseconds hold: refused, as Go does.
            prop_assert_eq!(parse(&text), Err(DurationError::TooLong), "{}", text);
        }
    }

    #[test]
    fn every_duration_go_can_hold_formats_and_parses_back(nanos in 0u64..(1 << 63)) {
        let d = Duration::from_nanos(nanos);
        prop_assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
    }

    #[test]
    fn a_leading_plus_changes_nothing(nanos in 0u64..(1 << 63)) {
        let text = format(Duration::from_nanos(nanos));
        prop_assert_eq!(parse(&format!("+{text}")), parse(&text));
    }
}
