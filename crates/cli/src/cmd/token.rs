//! Which ACL token a command sends, as Consul's CLI chooses it: `-token`,
//! then `-token-file`, then `$PRAETOR_HTTP_TOKEN`, `$CONSUL_HTTP_TOKEN`, then
//! the files named by `$PRAETOR_HTTP_TOKEN_FILE`, `$CONSUL_HTTP_TOKEN_FILE`.
//! Owns only that choice; it never prints or logs a token.

use std::path::Path;

use anyhow::Context as _;

/// The token to send, or `None` (the agent then uses its default token).
/// Empty values and files holding only whitespace count as not given, and a
/// file's token is trimmed, as Consul's client does. `env` reads one
/// environment variable (a parameter so tests need not change the process's
/// environment).
///
/// # Errors
/// A token file that is named (by flag or environment) and consulted, but
/// cannot be read: `Error loading token file: …`.
pub fn resolve(
    flag: Option<&str>,
    file_flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(t) = flag.filter(|t| !t.is_empty()) {
        return Ok(Some(t.to_owned()));
    }
    if let Some(path) = file_flag.filter(|p| !p.as_os_str().is_empty()) {
        if let Some(t) = read(path)? {
            return Ok(Some(t));
        }
    }
    for name in ["PRAETOR_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"] {
        if let Some(t) = env(name).filter(|t| !t.is_empty()) {
            return Ok(Some(t));
        }
    }
    for name in ["PRAETOR_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE"] {
        if let Some(path) = env(name).filter(|p| !p.is_empty()) {
            if let Some(t) = read(Path::new(&path))? {
                return Ok(Some(t));
            }
        }
    }
    Ok(None)
}

/// The trimmed contents of a token file, `None` when it holds only whitespace.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Error loading token file: {}", path.display()))?;
    let t = text.trim();
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("writing a token file");
        p
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "praetor-cli-token-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch dir");
        dir
    }

    #[test]
    fn the_flag_beats_the_file_flag_beats_the_environment_beats_the_env_file() {
        let dir = scratch();
        let flag_file = file(&dir, "flag", "from-flag-file\n");
        let env_file = file(&dir, "env", "  from-env-file  \n");
        let env_file = env_file.to_str().expect("utf-8 path");
        let all = env_of(&[
            ("CONSUL_HTTP_TOKEN", "from-consul-env"),
            ("PRAETOR_HTTP_TOKEN", "from-praetor-env"),
            ("CONSUL_HTTP_TOKEN_FILE", env_file),
        ]);
        let r = |flag, f: Option<&Path>, env: &dyn Fn(&str) -> Option<String>| {
            resolve(flag, f, env).expect("resolved")
        };
        assert_eq!(
            r(Some("from-flag"), Some(&flag_file), &all).as_deref(),
            Some("from-flag")
        );
        assert_eq!(
            r(None, Some(&flag_file), &all).as_deref(),
            Some("from-flag-file")
        );
        assert_eq!(r(None, None, &all).as_deref(), Some("from-praetor-env"));
        let consul = env_of(&[
            ("CONSUL_HTTP_TOKEN", "from-consul-env"),
            ("CONSUL_HTTP_TOKEN_FILE", env_file),
        ]);
        assert_eq!(r(None, None, &consul).as_deref(), Some("from-consul-env"));
        let only_file = env_of(&[("CONSUL_HTTP_TOKEN_FILE", env_file)]);
        assert_eq!(
            r(None, None, &only_file).as_deref(),
            Some("from-env-file"),
            "trimmed"
        );
        assert_eq!(r(None, None, &env_of(&[])), None);
        // An empty flag or a blank file falls through to the next source.
        let blank = file(&dir, "blank", " \n");
        assert_eq!(
            r(Some(""), Some(&blank), &consul).as_deref(),
            Some("from-consul-env")
        );
    }

    #[test]
    fn an_unreadable_token_file_is_an_error_naming_it() {
        let missing = scratch().join("no-such-token-file");
        let e = resolve(None, Some(&missing), &env_of(&[])).expect_err("refused");
        let msg = format!("{e:#}");
        assert!(msg.starts_with("Error loading token file: "), "{msg}");
        assert!(msg.contains("no-such-token-file"), "{msg}");
        // Not consulted when the flag already gave a token.
        assert!(resolve(Some("t"), Some(&missing), &env_of(&[])).is_ok());
        let env = env_of(&[("PRAETOR_HTTP_TOKEN_FILE", "/no/such/praetor/token")]);
        assert!(resolve(None, None, &env).is_err());
    }
}
