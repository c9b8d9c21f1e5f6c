//! The environment envconsul gives its child, from KV prefixes: each key
//! under a prefix becomes a variable named by its path relative to the
//! prefix (keys that name the prefix itself, or whose name is blank, are
//! skipped), `-sanitize` turns every character other than a letter, a
//! digit or `_` into `_`, `-upcase` upper-cases the name, and a later
//! prefix overrides an earlier one. The child gets the renderer's own
//! environment with these on top, or only these with `-pristine`. Pure.

use std::collections::BTreeMap;

/// How variable names are made from keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Naming {
    pub sanitize: bool,
    pub upcase: bool,
}

/// The largest number of variables taken from the prefixes.
pub const MAX_VARS: usize = 10_000;

/// Why the environment cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("the prefixes hold more than {MAX_VARS} keys")]
    TooMany,
    #[error("key {key:?} makes the variable name {name:?}, which cannot be set (use -sanitize)")]
    BadName { key: String, name: String },
}

/// The variables from `listings`: for each prefix in order, its keys
/// (full paths) and values.
///
/// # Errors
/// When a name cannot be a variable (`=` or NUL in it) or there are too
/// many keys.
pub fn variables<'a>(
    listings: impl IntoIterator<Item = (&'a str, &'a [(String, Vec<u8>)])>,
    naming: Naming,
) -> Result<BTreeMap<String, String>, EnvError> {
    let mut vars = BTreeMap::new();
    for (prefix, pairs) in listings {
        let prefix = prefix.trim_matches('/');
        for (key, value) in pairs {
            let rel = key
                .strip_prefix(prefix)
                .unwrap_or(key)
                .trim_start_matches('/');
            if rel.trim().is_empty() || rel.ends_with('/') {
                continue;
            }
            let mut name = if naming.sanitize {
                rel.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            } else {
                rel.to_owned()
            };
            if naming.upcase {
                name = name.to_uppercase();
            }
            if name.contains('=') || name.contains('\0') {
                return Err(EnvError::BadName {
                    key: key.clone(),
                    name,
                });
            }
            let value = String::from_utf8_lossy(value).replace('\0', "");
            vars.insert(name, value);
            if vars.len() > MAX_VARS {
                return Err(EnvError::TooMany);
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn keys_become_names_relative_to_their_prefix() {
        let a = pairs(&[
            ("config/app/", ""),
            ("config/app/port", "8080"),
            ("config/app/db/url", "pg://x"),
        ]);
        let v = variables([("config/app", a.as_slice())], Naming::default()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v["port"], "8080");
        assert_eq!(v["db/url"], "pg://x");
    }

    #[test]
    fn sanitize_and_upcase_make_shell_names() {
        let a = pairs(&[("app/max-conns", "5"), ("app/db/url", "u")]);
        let naming = Naming {
            sanitize: true,
            upcase: true,
        };
        let v = variables([("app/", a.as_slice())], naming).unwrap();
        assert_eq!(v["MAX_CONNS"], "5");
        assert_eq!(v["DB_URL"], "u");
    }

    #[test]
    fn a_later_prefix_overrides_an_earlier_one() {
        let common = pairs(&[("common/port", "1"), ("common/host", "h")]);
        let app = pairs(&[("app/port", "2")]);
        let v = variables(
            [("common", common.as_slice()), ("app", app.as_slice())],
            Naming::default(),
        )
        .unwrap();
        assert_eq!(v["port"], "2");
        assert_eq!(v["host"], "h");
    }

    #[test]
    fn a_name_that_cannot_be_a_variable_is_refused_unless_sanitized() {
        let a = pairs(&[("app/a=b", "1")]);
        let e = variables([("app", a.as_slice())], Naming::default()).unwrap_err();
        assert!(e.to_string().contains("-sanitize"), "{e}");
        let naming = Naming {
            sanitize: true,
            upcase: false,
        };
        let v = variables([("app", a.as_slice())], naming).unwrap();
        assert_eq!(v["a_b"], "1");
    }
}
