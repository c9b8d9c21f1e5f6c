//! One log line and its two renderings, as Consul's logger (hclog) writes
//! them: text `2026-12-03T19:09:09.430Z [INFO]  agent.http: message: k=v`
//! and JSON `{"@level":"info","@message":…,"@module":…,"@timestamp":…}`.
//! The module is the event's target without Rust paths (`praetor_agent::
//! http::kv` is `agent.http`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::Level;

/// A field's value, typed as JSON will show it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// One event, formatted once and rendered per sink.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub time: SystemTime,
    /// The level it is shown at (see `policy::effective`).
    pub level: Level,
    /// Where it comes from, dotted (`agent.http`, `openraft`).
    pub module: String,
    pub message: String,
    /// The event's fields, then those of its spans, innermost first.
    pub fields: Vec<(&'static str, Value)>,
}

impl LogLine {
    /// A line stamped now.
    pub fn new(level: Level, module: impl Into<String>, message: impl Into<String>) -> LogLine {
        LogLine {
            time: SystemTime::now(),
            level,
            module: module.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// hclog's text line, with its newline.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(96 + self.message.len());
        out.push_str(&timestamp(self.time, 3));
        let level = format!("[{}]", level_name(self.level));
        let _ = write!(out, " {level:<7} {}: {}", self.module, self.message);
        for (i, (k, v)) in self.fields.iter().enumerate() {
            out.push_str(if i == 0 && !self.message.is_empty() {
                ": "
            } else {
                " "
            });
            let _ = write!(out, "{k}=");
            match v {
                Value::Str(s) if needs_quotes(s) => {
                    let _ = write!(out, "{s:?}");
                }
                Value::Str(s) => out.push_str(s),
                Value::I64(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::U64(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::F64(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Bool(b) => {
                    let _ = write!(out, "{b}");
                }
            }
        }
        out.push('\n');
        out
    }

    /// hclog's JSON line, with its newline.
    pub fn json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert(
            "@level".into(),
            level_name(self.level).to_ascii_lowercase().into(),
        );
        map.insert("@message".into(), self.message.clone().into());
        map.insert("@module".into(), self.module.clone().into());
        map.insert("@timestamp".into(), timestamp(self.time, 6).into());
        for (k, v) in &self.fields {
            let v = match v {
                Value::Str(s) => serde_json::Value::from(s.clone()),
                Value::I64(n) => (*n).into(),
                Value::U64(n) => (*n).into(),
                Value::F64(n) => (*n).into(),
                Value::Bool(b) => (*b).into(),
            };
            map.entry(*k).or_insert(v);
        }
        let mut line = serde_json::Value::Object(map).to_string();
        line.push('\n');
        line
    }

    /// The line as a sink renders it.
    pub fn render(&self, json: bool) -> String {
        if json {
            self.json()
        } else {
            self.text()
        }
    }
}

/// `INFO`, `WARN`, `ERROR`, …, as hclog names levels.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        _ => "TRACE",
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c == '"' || c.is_control())
}

/// The module a target is shown as: Praetor's crates without their
/// `praetor_` prefix and at most two path segments (`praetor_server::raft::
/// network` is `server.raft`), the CLI's commands by name (`praetor::cmd::
/// agent` is `agent`), a dependency by its crate name.
pub fn module_of(target: &str) -> String {
    let mut parts = target.split("::");
    let first = parts.next().unwrap_or_default();
    if let Some(rest) = target.strip_prefix("praetor::cmd::") {
        return rest.split("::").next().unwrap_or("cli").to_owned();
    }
    if first == "praetor" {
        return "cli".into();
    }
    match first.strip_prefix("praetor_") {
        Some(krate) => match parts.next() {
            Some(second) => format!("{krate}.{second}"),
            None => krate.to_owned(),
        },
        None => first.to_owned(),
    }
}

/// UTC RFC 3339 with `digits` fractional digits (3 or 6), as hclog writes.
pub fn timestamp(t: SystemTime, digits: u32) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let frac = u64::from(d.subsec_nanos()) / 10u64.pow(9 - digits.min(9));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{frac:0w$}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        w = digits as usize
    )
}

/// Days since 1970-01-01 as a (year, month, day) of the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Collects an event's (or a span's) message and fields.
#[derive(Default)]
pub(super) struct Collect {
    pub message: String,
    pub fields: Vec<(&'static str, Value)>,
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .push((field.name(), Value::Str(format!("{value:?}"))));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .push((field.name(), Value::Str(value.to_owned())));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), Value::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name(), Value::U64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), Value::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), Value::Bool(value)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .push((field.name(), Value::Str(value.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn line() -> LogLine {
        LogLine {
            time: UNIX_EPOCH + Duration::from_millis(1_796_324_949_430),
            level: Level::INFO,
            module: "agent.gossip".into(),
            message: "member joined".into(),
            fields: vec![
                ("member", Value::Str("s3".into())),
                ("reason", Value::Str("two words".into())),
                ("generation", Value::U64(7)),
            ],
        }
    }

    #[test]
    fn text_lines_look_like_consuls() {
        assert_eq!(
            line().text(),
            "2026-12-03T19:09:09.430Z [INFO]  agent.gossip: member joined: member=s3 reason=\"two words\" generation=7\n"
        );
        let mut bare = line();
        bare.fields.clear();
        bare.level = Level::ERROR;
        assert_eq!(
            bare.text(),
            "2026-12-03T19:09:09.430Z [ERROR] agent.gossip: member joined\n"
        );
    }

    #[test]
    fn json_lines_carry_hclogs_keys_and_typed_fields() {
        let v: serde_json::Value = serde_json::from_str(&line().json()).expect("json");
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "member joined");
        assert_eq!(v["@module"], "agent.gossip");
        assert_eq!(v["@timestamp"], "2026-12-03T19:09:09.430000Z");
        assert_eq!(v["generation"], 7);
        assert_eq!(v["member"], "s3");
    }

    #[test]
    fn modules_have_no_rust_paths() {
        assert_eq!(module_of("praetor_agent::http::kv"), "agent.http");
        assert_eq!(module_of("praetor_server"), "server");
        assert_eq!(module_of("praetor::cmd::agent"), "agent");
        assert_eq!(module_of("praetor"), "cli");
        assert_eq!(module_of("openraft::core::raft_core"), "openraft");
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(timestamp(UNIX_EPOCH, 3), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400) + Duration::from_micros(5);
        assert_eq!(timestamp(leap, 6), "2000-02-29T00:00:00.000005Z");
    }
}
