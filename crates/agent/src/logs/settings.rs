//! The logging settings of an agent's configuration, in Consul's keys:
//! `log_level`, `log_json`, `log_file`, `log_rotate_bytes`,
//! `log_rotate_duration`, `log_rotate_max_files`, `enable_syslog`,
//! `syslog_facility` (and their `-log-*` / `-syslog` flags). Only reads
//! the configuration; opening files and sockets is the layer's job.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tracing::Level;

use super::policy::parse_level;
use super::syslog::facility;
use crate::config::RuntimeConfig;

/// Why the logging settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{key}: {message}")]
    Setting { key: &'static str, message: String },
    #[error("opening the log file {path}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// How the agent logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub level: Level,
    pub json: bool,
    /// `log_file`: a file, or a directory (ending in `/`) for `praetor.log`.
    pub file: Option<PathBuf>,
    /// `log_rotate_bytes`: 0 is no size limit.
    pub rotate_bytes: u64,
    /// `log_rotate_duration` (Consul's default: 24h).
    pub rotate_duration: Duration,
    /// `log_rotate_max_files`: 0 keeps every rotated file, -1 none.
    pub rotate_max_files: i64,
    pub syslog: bool,
    /// `syslog_facility`'s code (`LOCAL0`, 16, by default).
    pub syslog_facility: u8,
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            level: Level::INFO,
            json: false,
            file: None,
            rotate_bytes: 0,
            rotate_duration: Duration::from_secs(24 * 3600),
            rotate_max_files: 0,
            syslog: false,
            syslog_facility: 16,
        }
    }
}

impl LogSettings {
    /// The settings of a loaded configuration.
    ///
    /// # Errors
    /// A key with a value of the wrong type or out of range, naming the key.
    pub fn from_config(cfg: &RuntimeConfig) -> Result<LogSettings, LogError> {
        let bad = |key: &'static str, message: String| LogError::Setting { key, message };
        let level = parse_level(&cfg.log_level).ok_or_else(|| {
            bad(
                "log_level",
                format!(
                    "{:?} is not one of trace, debug, info, warn, error",
                    cfg.log_level
                ),
            )
        })?;
        let raw = |key: &str| cfg.raw.get(key).filter(|v| !v.is_null());
        let mut s = LogSettings {
            level,
            json: cfg.log_json,
            syslog: cfg.enable_syslog,
            ..LogSettings::default()
        };
        if let Some(v) = raw("log_file") {
            let path = v
                .as_str()
                .ok_or_else(|| bad("log_file", format!("expected a path, got {v}")))?;
            s.file = (!path.is_empty()).then(|| PathBuf::from(path));
        }
        if let Some(v) = raw("log_rotate_bytes") {
            s.rotate_bytes = int(v).and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
                bad(
                    "log_rotate_bytes",
                    format!("expected a number of bytes, got {v}"),
                )
            })?;
        }
        if let Some(v) = raw("log_rotate_duration") {
            let d = v
                .as_str()
                .and_then(|s| praetor_api::duration::parse(s).ok());
            s.rotate_duration = d.ok_or_else(|| {
                bad(
                    "log_rotate_duration",
                    format!("expected a duration string (like \"24h\"), got {v}"),
                )
            })?;
            if s.rotate_duration.is_zero() {
                s.rotate_duration = LogSettings::default().rotate_duration;
            }
        }
        if let Some(v) = raw("log_rotate_max_files") {
            s.rotate_max_files = int(v).filter(|n| *n >= -1).ok_or_else(|| {
                bad(
                    "log_rotate_max_files",
                    format!("expected -1, 0 or a count, got {v}"),
                )
            })?;
        }
        if let Some(v) = raw("syslog_facility") {
            let name = v.as_str().unwrap_or_default();
            s.syslog_facility = facility(name).ok_or_else(|| {
                bad(
                    "syslog_facility",
                    format!("{v} is not a syslog facility (LOCAL0 to LOCAL7, USER, DAEMON, …)"),
                )
            })?;
        }
        Ok(s)
    }
}

/// A whole number given as a JSON number or a numeric string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(raw: Value) -> RuntimeConfig {
        RuntimeConfig {
            raw,
            ..RuntimeConfig::default()
        }
    }

    #[test]
    fn consuls_log_keys_are_read() {
        let s = LogSettings::from_config(&cfg(serde_json::json!({
            "log_file": "/var/log/praetor/",
            "log_rotate_bytes": 1048576,
            "log_rotate_duration": "1h",
            "log_rotate_max_files": 5,
            "syslog_facility": "local7",
        })))
        .expect("settings");
        assert_eq!(s.file, Some(PathBuf::from("/var/log/praetor/")));
        assert_eq!(s.rotate_bytes, 1 << 20);
        assert_eq!(s.rotate_duration, Duration::from_secs(3600));
        assert_eq!(s.rotate_max_files, 5);
        assert_eq!(s.syslog_facility, 23);
        assert_eq!(
            LogSettings::from_config(&cfg(Value::Null)).expect("defaults"),
            LogSettings::default()
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (raw, key) in [
            (
                serde_json::json!({"log_rotate_bytes": "lots"}),
                "log_rotate_bytes",
            ),
            (
                serde_json::json!({"log_rotate_duration": "soon"}),
                "log_rotate_duration",
            ),
            (
                serde_json::json!({"log_rotate_max_files": -2}),
                "log_rotate_max_files",
            ),
            (
                serde_json::json!({"syslog_facility": "LOCAL9"}),
                "syslog_facility",
            ),
            (serde_json::json!({"log_file": 3}), "log_file"),
        ] {
            let err = LogSettings::from_config(&cfg(raw))
                .expect_err(key)
                .to_string();
            assert!(err.starts_with(key), "{err}");
        }
    }
}
