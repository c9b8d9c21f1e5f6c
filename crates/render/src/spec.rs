//! What a template is, in consul-template's terms: the `-template
//! "source:destination[:command]"` flag and the config's `template { … }`
//! block (`source`, `destination`, `contents`, `command`,
//! `command_timeout`, `perms`, `backup`, `create_dest_dirs`, `wait`,
//! `left_delimiter`, `right_delimiter`, `error_on_missing_key`), checked
//! into one [`TemplateSpec`]. Holds no I/O.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::command::{CommandLine, DEFAULT_TIMEOUT};
use crate::quiesce::Wait;

/// The largest template source read from a file or a config.
pub const MAX_TEMPLATE_BYTES: usize = 1 << 20;

/// One template, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// The template's text, or the file it is read from.
    pub source: Source,
    /// Where the output goes.
    pub destination: PathBuf,
    /// Run after the destination changed.
    pub command: Option<CommandLine>,
    /// How long the command may run (zero: unwatched).
    pub command_timeout: Duration,
    /// The destination's permissions (`None`: keep the replaced file's).
    pub perms: Option<u32>,
    /// Keep one backup of the previous output at `<destination>.bak`.
    pub backup: bool,
    /// Create the destination's missing directories.
    pub create_dest_dirs: bool,
    /// Quiescence (`None`: the global one, or none).
    pub wait: Option<Wait>,
    pub left_delimiter: String,
    pub right_delimiter: String,
    /// A missing map key or field is an error rather than `<no value>`.
    pub error_on_missing_key: bool,
}

/// Where a template's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Contents(String),
}

impl Source {
    /// A name for errors: the file's path, or `(contents)`.
    pub fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Contents(_) => "(contents)".into(),
        }
    }
}

/// Why a template's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("template {given:?}: {reason}")]
    Flag { given: String, reason: String },
    #[error("template block: {0}")]
    Block(String),
}

impl TemplateSpec {
    /// Parses the `-template` flag: `source:destination[:command]`, where
    /// the command may itself hold colons (as consul-template's).
    ///
    /// # Errors
    /// When the source or the destination is missing.
    pub fn from_flag(s: &str) -> Result<TemplateSpec, SpecError> {
        let flag = |reason: &str| SpecError::Flag {
            given: s.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = s.splitn(3, ':');
        let source = parts.next().unwrap_or_default();
        let destination = parts.next().unwrap_or_default();
        let command = parts.next().filter(|c| !c.trim().is_empty());
        if source.is_empty() {
            return Err(flag(
                "the source file is missing (source:destination[:command])",
            ));
        }
        if destination.is_empty() {
            return Err(flag(
                "the destination is missing (source:destination[:command])",
            ));
        }
        Ok(TemplateSpec {
            source: Source::File(source.into()),
            destination: destination.into(),
            command: command.map(|c| CommandLine::Shell(c.to_owned())),
            ..TemplateSpec::defaults()
        })
    }

    /// Checks one `template { … }` block, given as JSON (a config file's
    /// HCL decodes to the same).
    ///
    /// # Errors
    /// When a key has the wrong type or value, a key is unknown, neither
    /// or both of `source` and `contents` are given, or `destination` is
    /// missing.
    pub fn from_block(block: &serde_json::Value) -> Result<TemplateSpec, SpecError> {
        let b: Block = decode(block)?;
        let source = match (b.source, b.contents) {
            (Some(s), None) if !s.is_empty() => Source::File(s.into()),
            (None, Some(c)) => {
                if c.len() > MAX_TEMPLATE_BYTES {
                    return Err(SpecError::Block(format!(
                        "contents is {} bytes, more than {MAX_TEMPLATE_BYTES}",
                        c.len()
                    )));
                }
                Source::Contents(c)
            }
            (Some(_), Some(_)) => {
                return Err(SpecError::Block(
                    "source and contents exclude each other".into(),
                ))
            }
            _ => {
                return Err(SpecError::Block(
                    "one of source and contents is required".into(),
                ))
            }
        };
        let Some(destination) = b.destination.filter(|d| !d.is_empty()) else {
            return Err(SpecError::Block("destination is required".into()));
        };
        let defaults = TemplateSpec::defaults();
        Ok(TemplateSpec {
            source,
            destination: destination.into(),
            command: b.command.filter(|c| !c.is_empty()),
            command_timeout: b.command_timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
            perms: b.perms.map(|p| p.0),
            backup: b.backup,
            create_dest_dirs: b.create_dest_dirs.unwrap_or(true),
            wait: b.wait.map(|w| w.0),
            left_delimiter: b.left_delimiter.unwrap_or(defaults.left_delimiter),
            right_delimiter: b.right_delimiter.unwrap_or(defaults.right_delimiter),
            error_on_missing_key: b.error_on_missing_key,
        })
    }

    fn defaults() -> TemplateSpec {
        TemplateSpec {
            source: Source::Contents(String::new()),
            destination: PathBuf::new(),
            command: None,
            command_timeout: DEFAULT_TIMEOUT,
            perms: None,
            backup: false,
            create_dest_dirs: true,
            wait: None,
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
            error_on_missing_key: false,
        }
    }
}

/// Decodes `T`, naming the key at fault in the error.
fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, SpecError> {
    T::deserialize(v).map_err(|e| SpecError::Block(e.to_string()))
}

/// The block as a config gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    source: Option<String>,
    destination: Option<String>,
    contents: Option<String>,
    command: Option<CommandLine>,
    command_timeout: Option<GoDuration>,
    perms: Option<Perms>,
    #[serde(default)]
    backup: bool,
    create_dest_dirs: Option<bool>,
    wait: Option<WaitSetting>,
    left_delimiter: Option<String>,
    right_delimiter: Option<String>,
    #[serde(default)]
    error_on_missing_key: bool,
}

/// A Go duration string (`"30s"`), or a number of seconds.
struct GoDuration(Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => praetor_api::duration::parse(&s)
                .map(GoDuration)
                .map_err(|e| D::Error::custom(format!("{s:?}: {e}"))),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|s| GoDuration(Duration::from_secs(s)))
                .ok_or_else(|| D::Error::custom(format!("{n} is not a duration"))),
            other => Err(D::Error::custom(format!("{other} is not a duration"))),
        }
    }
}

/// File permissions: an octal string (`"0600"`), or a number whose digits
/// are read as octal when they all are octal digits (`perms = 0600` in
/// HCL reads as the number 600), else as the mode itself (384 = 0600).
struct Perms(u32);

impl<'de> Deserialize<'de> for Perms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mode = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .map_err(|_| D::Error::custom(format!("perms {s:?} is not an octal mode")))?,
            serde_json::Value::Number(n) => {
                let n = n
                    .as_u64()
                    .ok_or_else(|| D::Error::custom(format!("perms {n} is not a mode")))?;
                let digits = n.to_string();
                if digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    u32::from_str_radix(&digits, 8).unwrap_or(u32::MAX)
                } else {
                    u32::try_from(n).unwrap_or(u32::MAX)
                }
            }
            other => return Err(D::Error::custom(format!("perms {other} is not a mode"))),
        };
        if mode > 0o7777 {
            return Err(D::Error::custom(
                "perms must be a mode between 0000 and 7777",
            ));
        }
        Ok(Perms(mode))
    }
}

/// `wait = "min:max"` or `wait { min = "…" max = "…" }`.
struct WaitSetting(Wait);

impl<'de> Deserialize<'de> for WaitSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct MinMax {
            min: GoDuration,
            max: Option<GoDuration>,
        }
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => {
                Wait::parse(&s).map(WaitSetting).map_err(D::Error::custom)
            }
            v @ serde_json::Value::Object(_) => {
                let m = MinMax::deserialize(v).map_err(D::Error::custom)?;
                let max = m.max.map_or(m.min.0.saturating_mul(4), |d| d.0);
                Wait::new(m.min.0, max)
                    .map(WaitSetting)
                    .map_err(D::Error::custom)
            }
            other => Err(D::Error::custom(format!("wait {other} is not min:max"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("source".to_owned()),
                        Just("destination".to_owned()),
                        Just("contents".to_owned()),
                        Just("perms".to_owned()),
                        Just("wait".to_owned()),
                        Just("command".to_owned()),
                        Just("command_timeout".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any flag text is a spec or a refusal, never a panic; a spec
        /// from `a:b:c` gives back its three parts.
        #[test]
        fn the_flag_parser_never_panics_and_splits_as_given(
            s in ".{0,60}",
            a in "[^:]{1,10}",
            b in "[^:]{1,10}",
            c in "[^:]{0,5}(:[^:]{0,5})?",
        ) {
            let _ = TemplateSpec::from_flag(&s);
            let t = TemplateSpec::from_flag(&format!("{a}:{b}:{c}")).unwrap();
            prop_assert_eq!(t.source, Source::File(a.into()));
            prop_assert_eq!(t.destination, PathBuf::from(b));
            let cmd = (!c.trim().is_empty()).then(|| CommandLine::Shell(c.clone()));
            prop_assert_eq!(t.command, cmd);
        }

        /// Any JSON is a checked block or a refusal, never a panic; a
        /// checked block's perms are a mode and its wait is ordered.
        #[test]
        fn the_block_parser_never_panics_and_checks_what_it_accepts(v in json_value()) {
            if let Ok(t) = TemplateSpec::from_block(&v) {
                prop_assert!(t.perms.is_none_or(|p| p <= 0o7777));
                prop_assert!(t.wait.is_none_or(|w| w.max >= w.min));
                prop_assert!(!t.destination.as_os_str().is_empty());
            }
        }
    }

    #[test]
    fn the_flag_takes_source_destination_and_a_command_with_colons() {
        let t = TemplateSpec::from_flag("in.tpl:/etc/out.conf:echo a:b").unwrap();
        assert_eq!(t.source, Source::File("in.tpl".into()));
        assert_eq!(t.destination, PathBuf::from("/etc/out.conf"));
        assert_eq!(t.command, Some(CommandLine::Shell("echo a:b".into())));
        let t = TemplateSpec::from_flag("in.tpl:out").unwrap();
        assert_eq!(t.command, None);
        assert_eq!(t.command_timeout, DEFAULT_TIMEOUT);
        for bad in ["in.tpl", ":out", "in.tpl:"] {
            let e = TemplateSpec::from_flag(bad).unwrap_err().to_string();
            assert!(e.contains("missing"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_block_takes_every_key() {
        let t = TemplateSpec::from_block(&json!({
            "contents": "{{ key \"a\" }}",
            "destination": "/tmp/x",
            "command": ["nginx", "-s", "reload"],
            "command_timeout": "60s",
            "perms": 600,
            "backup": true,
            "create_dest_dirs": false,
            "wait": {"min": "2s", "max": "10s"},
            "left_delimiter": "[[",
            "right_delimiter": "]]",
            "error_on_missing_key": true
        }))
        .unwrap();
        assert_eq!(t.source, Source::Contents("{{ key \"a\" }}".into()));
        assert_eq!(
            t.command,
            Some(CommandLine::Argv(vec![
                "nginx".into(),
                "-s".into(),
                "reload".into()
            ]))
        );
        assert_eq!(t.command_timeout, Duration::from_secs(60));
        assert_eq!(t.perms, Some(0o600));
        assert!(t.backup && !t.create_dest_dirs && t.error_on_missing_key);
        assert_eq!(
            t.wait,
            Some(Wait::new(Duration::from_secs(2), Duration::from_secs(10)).unwrap())
        );
        assert_eq!(
            (t.left_delimiter.as_str(), t.right_delimiter.as_str()),
            ("[[", "]]")
        );
    }

    #[test]
    fn perms_read_as_octal_in_every_form() {
        for (given, mode) in [
            (json!("0600"), 0o600),
            (json!("644"), 0o644),
            (json!(600), 0o600),
            (json!(755), 0o755),
            (json!(384), 0o600),
        ] {
            let t = TemplateSpec::from_block(&json!({
                "source": "a", "destination": "b", "perms": given
            }))
            .unwrap();
            assert_eq!(t.perms, Some(mode), "{given}");
        }
        for bad in [json!("rw"), json!(99999), json!(-1), json!(true)] {
            let e = TemplateSpec::from_block(&json!({
                "source": "a", "destination": "b", "perms": bad
            }))
            .unwrap_err();
            assert!(e.to_string().contains("perms"), "{e}");
        }
    }

    #[test]
    fn a_block_without_its_required_keys_or_with_unknown_ones_is_refused() {
        for (block, want) in [
            (json!({"destination": "b"}), "one of source and contents"),
            (
                json!({"source": "a", "contents": "x", "destination": "b"}),
                "exclude",
            ),
            (json!({"source": "a"}), "destination is required"),
            (
                json!({"source": "a", "destination": "b", "colour": 1}),
                "colour",
            ),
            (
                json!({"source": "a", "destination": "b", "wait": "9s:1s"}),
                "maximum",
            ),
            (
                json!({"source": "a", "destination": "b", "command_timeout": "soon"}),
                "soon",
            ),
        ] {
            let e = TemplateSpec::from_block(&block).unwrap_err().to_string();
            assert!(e.contains(want), "{block}: {e}");
        }
    }
}
