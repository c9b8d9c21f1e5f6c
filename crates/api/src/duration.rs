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
/// `h`); `"0"` alone needs no unit. The arithmetic is Go's, step for step
/// (integers up to 2^63, fractions through a float64), so every string gives
/// the nanosecond Go gives. Linear in the length of `s`; never allocates.
///
/// # Errors
/// [`DurationError`] when `s` is not such a sequence, is negative (a
/// negative zero such as `"-0s"` is zero), or exceeds Go's `int64`
/// nanoseconds.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    /// Go's bound for each step: 2^63 (the magnitude of the most negative
    /// duration); the final, positive sum must be below it.
    const LIMIT: u64 = 1 << 63;
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Syntax);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (whole, after) = split_digits(rest);
        let value = leading_int(whole)?;
        // `5.s` and `.5s` are durations; `.s` is not.
        let (fraction, scale, after) = match after.strip_prefix('.') {
            Some(after) => {
                let (digits, after) = split_digits(after);
                let (fraction, scale) = leading_fraction(digits);
                (Some(fraction).filter(|_| !digits.is_empty()), scale, after)
            }
            None => (None, 1.0, after),
        };
        if whole.is_empty() && fraction.is_none() {
            return Err(DurationError::Syntax);
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: u64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => return Err(DurationError::Syntax),
        };
        if value > LIMIT / nanos_per_unit {
            return Err(DurationError::TooLong);
        }
        let mut nanos = value * nanos_per_unit;
        if let Some(fraction) = fraction.filter(|f| *f > 0) {
            // As Go: float64 is nanosecond-accurate for fractions of an
            // hour, and the product is below one unit, so this cannot wrap.
            nanos += (fraction as f64 * (nanos_per_unit as f64 / scale)) as u64;
            if nanos > LIMIT {
                return Err(DurationError::TooLong);
            }
        }
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= LIMIT)
            .ok_or(DurationError::TooLong)?;
        rest = after;
    }
    if negative {
        return match total {
            0 => Ok(Duration::ZERO),
            _ => Err(DurationError::Negative),
        };
    }
    if total >= LIMIT {
        return Err(DurationError::TooLong);
    }
    Ok(Duration::from_nanos(total))
}

/// Go's `leadingInt` on a run of ASCII digits: their value, refused past 2^63.
fn leading_int(digits: &str) -> Result<u64, DurationError> {
    let mut x: u64 = 0;
    for d in digits.bytes() {
        if x > (1 << 63) / 10 {
            return Err(DurationError::TooLong);
        }
        x = x * 10 + u64::from(d - b'0');
        if x > 1 << 63 {
            return Err(DurationError::TooLong);
        }
    }
    Ok(x)
}

/// Go's `leadingFraction` on a run of ASCII digits: the digits as an integer
/// and the power of ten they are divided by, ignoring digits past what fits.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let (mut x, mut scale) = (0u64, 1.0f64);
    for d in digits.bytes() {
        if x > ((1u64 << 63) - 1) / 10 {
            break;
        }
        let y = x * 10 + u64::from(d - b'0');
        if y > 1 << 63 {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
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
mod tests;
