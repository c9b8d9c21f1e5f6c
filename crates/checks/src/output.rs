//! How check output is kept small and worded: the size cap, the tail buffer
//! that collects a script's or a body's bytes, and Go's duration format that
//! Consul's messages use. Never allocates more than the cap per buffer.

use std::time::Duration;

/// Consul's default `check_output_max_size`: 4 KiB.
pub const DEFAULT_OUTPUT_MAX_SIZE: usize = 4096;

/// Caps `output` at `max` bytes, cutting on a char boundary. A cut output
/// keeps its beginning and ends with ` ... (captured N of M bytes)`, as
/// Consul words a truncated TTL output; the result, note included, is never
/// longer than `max`.
pub fn cap_output(output: String, max: usize) -> String {
    if output.len() <= max {
        return output;
    }
    let total = output.len();
    let digits = total.to_string().len();
    // " ... (captured " + kept + " of " + total + " bytes)"; kept <= total.
    let note_len = " ... (captured ".len() + digits + " of ".len() + digits + " bytes)".len();
    if max <= note_len {
        let end = floor_char_boundary(&output, max);
        let mut output = output;
        output.truncate(end);
        return output;
    }
    let kept = floor_char_boundary(&output, max - note_len);
    let mut out = String::with_capacity(max);
    out.push_str(&output[..kept]);
    out.push_str(&format!(" ... (captured {kept} of {total} bytes)"));
    out
}

/// The largest index `<= i` that is a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Keeps the last `limit` bytes written to it and counts them all, like
/// the circular buffer Consul reads script output and HTTP bodies into.
#[derive(Debug)]
pub(crate) struct Tail {
    limit: usize,
    buf: std::collections::VecDeque<u8>,
    total: u64,
}

impl Tail {
    pub(crate) fn new(limit: usize) -> Tail {
        Tail {
            limit,
            buf: std::collections::VecDeque::with_capacity(limit.min(64 * 1024)),
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(self.limit)..];
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.limit);
        self.buf.drain(..overflow);
        self.buf.extend(bytes);
    }

    /// The kept bytes as text: a char cut at the front is dropped, invalid
    /// UTF-8 replaced.
    pub(crate) fn text(&self) -> String {
        let (a, b) = self.buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        let cut = self.total > self.buf.len() as u64;
        let start = if cut {
            // Skip UTF-8 continuation bytes left over from a cut char.
            bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Consul's script output: the text, prefixed with
    /// `Captured N of M bytes\n...\n` when bytes were dropped, at most
    /// `max` bytes in all (the oldest kept bytes make room for the note).
    pub(crate) fn report(&self, max: usize) -> String {
        let text = self.text();
        if self.total <= self.buf.len() as u64 && text.len() <= max {
            return text;
        }
        let total = self.total;
        let note_len = |kept: usize| format!("Captured {kept} of {total} bytes\n...\n").len();
        let mut kept_start = text
            .len()
            .saturating_sub(max.saturating_sub(note_len(text.len())));
        while !text.is_char_boundary(kept_start) {
            kept_start += 1;
        }
        let kept = &text[kept_start..];
        let out = format!("Captured {} of {total} bytes\n...\n{kept}", kept.len());
        cap_output(out, max)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// `d` as Go's `time.Duration.String` writes it (`300ms`, `10s`, `1m30s`,
/// `1.5s`), the form Consul's messages use.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let rest = nanos % 3_600_000_000_000;
    let minutes = rest / 60_000_000_000;
    let seconds = fraction(rest % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / unit` in decimal, without trailing zeros.
fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// An error and its sources, joined by `: ` (hyper's and tonic's top-level
/// messages alone say little: "client error (Connect)").
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_left_alone() {
        assert_eq!(cap_output("ok".into(), 4096), "ok");
        let exact = "x".repeat(4096);
        assert_eq!(cap_output(exact.clone(), 4096), exact);
    }

    #[test]
    fn long_output_is_cut_on_a_char_boundary_with_a_note() {
        let long = "é".repeat(5000); // 10000 bytes
        let capped = cap_output(long, 4096);
        assert!(capped.len() <= 4096, "{} bytes", capped.len());
        let (head, note) = capped.split_once(" ... ").unwrap();
        assert!(head.chars().all(|c| c == 'é'));
        assert_eq!(note, format!("(captured {} of 10000 bytes)", head.len()));
        // A cap smaller than the note still holds.
        assert!(cap_output("é".repeat(100), 5).len() <= 5);
    }

    #[test]
    fn tail_keeps_the_last_bytes_and_counts_all() {
        let mut t = Tail::new(8);
        t.push(b"hello ");
        t.push(b"world, again");
        assert_eq!(t.text(), "d, again");
        let r = t.report(4096);
        assert!(r.starts_with("Captured 8 of 18 bytes\n...\n"), "{r}");
        let mut small = Tail::new(100);
        small.push(b"fine");
        assert_eq!(small.report(4096), "fine");
    }

    #[test]
    fn tail_drops_a_char_cut_at_the_front_and_fits_the_note() {
        let mut t = Tail::new(4096);
        t.push("é".repeat(3000).as_bytes()); // 6000 bytes, a cut 'é' at the front
        let r = t.report(4096);
        assert!(r.len() <= 4096, "{}", r.len());
        let body = r.split_once("\n...\n").unwrap().1;
        assert!(body.chars().all(|c| c == 'é'));
        assert!(r.starts_with(&format!("Captured {} of 6000 bytes", body.len())));
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(300)), "300ms");
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
