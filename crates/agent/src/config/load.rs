//! Loading the configuration: the sources in Consul's order (defaults, `-dev`
//! defaults, each `-config-file`, each `-config-dir`'s files, the flags), each
//! checked on its own so errors and warnings name it, then merged and
//! resolved. The only entry point; callers log the warnings.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::error::ConfigError;
use super::file;
use super::flags::Flags;
use super::merge::merge;
use super::resolve::resolve;
use super::runtime::RuntimeConfig;
use super::source;

/// A configuration that can be used, with what the operator should be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The effective configuration, checked.
    pub config: RuntimeConfig,
    /// One line each, ready to log: unknown keys (naming the key and file),
    /// skipped files in a config dir, risky choices.
    pub warnings: Vec<String>,
}

/// Loads the agent's configuration as Consul does: `RuntimeConfig::default()`,
/// then with `flags.dev` the dev defaults, then every `-config-file` in the
/// order given, then every `-config-dir` (its `*.json` and `*.hcl` files, by
/// name), then the flags. Later sources win: objects merge key by key, lists
/// (such as `retry_join`) are appended, other values are replaced.
///
/// JSON files may hold `//` and `/* */` comments. An unknown key is a warning;
/// a wrong type or value is an error naming the key, the file and what was
/// expected.
///
/// # Errors
/// A [`ConfigError`] for the first source or rule at fault: a missing file or
/// directory, a syntax error, a key with a wrong type or value, a bad flag, or
/// a merged configuration that breaks one of Consul's rules (for example
/// `bootstrap_expect` without `server`, or no `data_dir` outside `-dev`).
pub fn load(flags: &Flags) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut tree = Value::Object(Map::new());
    if flags.dev {
        merge(&mut tree, dev_source());
    }
    let mut files: Vec<PathBuf> = flags.config_files.clone();
    for dir in &flags.config_dirs {
        files.extend(source::files_in_dir(dir, &mut warnings)?);
    }
    for path in &files {
        merge(&mut tree, read_source(path, &mut warnings)?);
    }
    merge(&mut tree, flags.source()?);
    let config = resolve(flags.dev, tree, files, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

/// Consul's dev-mode defaults that Praetor has: a server on loopback with the
/// UI, logging at debug. Nothing goes to disk: `-dev` keeps state in memory
/// whatever `data_dir` says. Bootstrapping is decided in `resolve`.
fn dev_source() -> Value {
    json!({
        "server": true,
        "bind_addr": "127.0.0.1",
        "client_addr": "127.0.0.1",
        "ui_config": { "enabled": true },
        "log_level": "debug",
        "enable_debug": true,
    })
}

/// Reads and checks one config file; its unknown keys become warnings.
fn read_source(path: &Path, warnings: &mut Vec<String>) -> Result<Value, ConfigError> {
    let mut value = source::read_file(path)?;
    let (_, unknown) = file::read(&value).map_err(|p| ConfigError::Invalid {
        path: path.to_owned(),
        key: p.key,
        message: p.message,
    })?;
    warnings.extend(unknown.into_iter().map(|key| {
        format!(
            "config key {key:?} in {} is not known; ignored",
            path.display()
        )
    }));
    file::normalize(&mut value);
    Ok(value)
}
