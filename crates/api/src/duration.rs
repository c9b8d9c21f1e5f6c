//! Durations written as Go's `time.ParseDuration` reads them ("30s", "1m30s",
//! "1.5h", "500ms"), which is what Consul's config files contain. Parses only;
//! never decides whether a duration is sensible for a setting.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form `<number><unit>…`.
    Syntax,
    /// Starts with `-`: no setting of ours takes a negative duration.
    Negative,
    /// Longer than Go's limit (about 292 years).
    TooLong,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DurationError::Syntax => "not a duration (like \"30s\", \"1m30s\" or \"500ms\")",
            DurationError::Negative => "a negative duration",
            DurationError::TooLong => "too long a duration",
        })
    }
}

impl std::error::Error for DurationError {}

/// Parses `s` as Go's `time.ParseDuration` does: a sequence of decimal numbers,
/// each with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`,
/// `h`); `"0"` alone needs no unit.
///
/// # Errors
/// [`DurationError`] when `s` is not such a sequence, is negative, or exceeds
/// Go's `int64` nanoseconds.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let rest = match s.strip_prefix('-') {
        Some(_) if s != "-0" => return Err(DurationError::Negative),
        Some(r) => r,
        None => s.strip_prefix('+').unwrap_or(s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Syntax);
    }
    let mut rest = rest;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after) = split_digits(rest);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => split_digits(after),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::Syntax);
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => return Err(DurationError::Syntax),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| DurationError::TooLong)?
        };
        total = whole
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(total))
            .ok_or(DurationError::TooLong)?;
        // Digits past the 18th cannot change the result by a whole nanosecond.
        let (mut numerator, mut denominator) = (0u128, 1u128);
        for digit in fraction.bytes().take(18) {
            numerator = numerator * 10 + u128::from(digit - b'0');
            denominator *= 10;
        }
        total += numerator * nanos_per_unit / denominator;
        if total > i64::MAX as u128 {
            return Err(DurationError::TooLong);
        }
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::TooLong)?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Splits the leading ASCII digits off `s`.
fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// Writes `d` the way Go prints durations ("1h30m0s", "500ms"), so messages
/// quote settings in the operator's own notation.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        let nanos = d.subsec_nanos();
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = match d.subsec_nanos() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_owned(),
    };
    match (h, m) {
        (0, 0) => format!("{s}{frac}s"),
        (0, m) => format!("{m}m{s}{frac}s"),
        (h, m) => format!("{h}h{m}m{s}{frac}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        let ok = [
            ("0", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("2h", Duration::from_secs(7200)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("10µs", Duration::from_micros(10)),
            ("+5s", Duration::from_secs(5)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        for text in [
            "", "30", "s", "1x", "forever", "1.s.5", ".s", "1m 30s", "3d",
        ] {
            assert_eq!(parse(text), Err(DurationError::Syntax), "{text:?}");
        }
        assert_eq!(parse("-5s"), Err(DurationError::Negative));
        assert_eq!(parse("3000000h"), Err(DurationError::TooLong));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(8 * 3600)), "8h0m0s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
    }
}
