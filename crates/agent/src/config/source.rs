//! Reading config sources from disk: which files a `-config-file` or
//! `-config-dir` names, and turning each into a JSON tree (JSON with `//` and
//! `/* */` comments, or HCL). Never interprets keys; that is `file.rs`'s job.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ConfigError;

/// The syntax of a config file, known from its name as Consul knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Hcl,
}

impl Format {
    /// The format of a file named `*.json` or `*.hcl` (lower-case, as Consul
    /// matches them), or `None` for any other name.
    pub(super) fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Format::Json),
            Some("hcl") => Some(Format::Hcl),
            _ => None,
        }
    }
}

/// Largest config file read, in bytes. Consul's largest real-world files
/// (hundreds of service definitions) are well under a megabyte; the bound
/// keeps a file that never ends (a link to a device, a runaway generator)
/// from taking the agent's memory before it starts.
pub(super) const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// Reads the `-config-file` at `path` into a tree whose top level is an object.
/// The one reader of Consul's file formats: config files, and the definition
/// files `praetor services register|deregister` take.
///
/// # Errors
/// `FileNotFound`, `FileIsDirectory`, `UnknownFormat` (neither `.json` nor
/// `.hcl`), `Read`, `TooLarge`, `Syntax` or `NotAnObject`, each naming `path`.
pub fn read_file(path: &Path) -> Result<Value, ConfigError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(ConfigError::FileIsDirectory {
                path: path.to_owned(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ConfigError::FileNotFound {
                path: path.to_owned(),
            })
        }
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                error,
            })
        }
    }
    let format = Format::of(path).ok_or_else(|| ConfigError::UnknownFormat {
        path: path.to_owned(),
    })?;
    let read_err = |error| ConfigError::Read {
        path: path.to_owned(),
        error,
    };
    let mut text = String::new();
    fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_FILE_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_FILE_SIZE {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_SIZE,
        });
    }
    parse(path, format, &text)
}

/// The config files of a `-config-dir`: the `*.json` and `*.hcl` files directly
/// inside it, in lexical order of their names, as Consul loads them.
/// Subdirectories are skipped; any other file is skipped with a warning (as
/// Consul's "skipping file …, extension must be .hcl or .json").
///
/// # Errors
/// `DirNotFound`, `NotADirectory`, or `Read` when it cannot be listed.
pub(super) fn files_in_dir(
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ConfigError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(ConfigError::NotADirectory {
                path: dir.to_owned(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ConfigError::DirNotFound {
                path: dir.to_owned(),
            })
        }
        Err(error) => {
            return Err(ConfigError::Read {
                path: dir.to_owned(),
                error,
            })
        }
    }
    let read_err = |error| ConfigError::Read {
        path: dir.to_owned(),
        error,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        // `fs::metadata` follows symlinks, so a linked file counts as a file.
        let meta = fs::metadata(&path).map_err(|error| ConfigError::Read {
            path: path.clone(),
            error,
        })?;
        if meta.is_dir() {
            continue;
        }
        if Format::of(&path).is_none() {
            warnings.push(format!(
                "skipping {} in config dir {}: only .json and .hcl files are loaded",
                path.display(),
                dir.display()
            ));
            continue;
        }
        paths.push(path);
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// Parses `text`, the content of `path`, as `format`.
///
/// # Errors
/// `Syntax` with the parser's message and position, or `NotAnObject`.
pub(super) fn parse(path: &Path, format: Format, text: &str) -> Result<Value, ConfigError> {
    let syntax = |message| ConfigError::Syntax {
        path: path.to_owned(),
        message,
    };
    let value = match format {
        Format::Json => {
            let stripped = strip_comments(text).map_err(syntax)?;
            serde_json::from_str::<Value>(&stripped)
                .map_err(|e| syntax(format!("not valid JSON: {e}")))?
        }
        Format::Hcl => {
            super::nesting::check(text).map_err(|e| syntax(format!("not valid HCL: {e}")))?;
            hcl::from_str::<Value>(text)
                .map_err(|e| syntax(format!("not valid HCL: {}", hcl_message(&e))))?
        }
    };
    if value.is_object() {
        Ok(value)
    } else {
        Err(ConfigError::NotAnObject {
            path: path.to_owned(),
            found: kind(&value),
        })
    }
}

/// The name of a JSON value's type, for messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// hcl-rs's error on one line: its parse errors draw a multi-line caret
/// picture, and our errors are one line.
fn hcl_message(e: &hcl::Error) -> String {
    match e {
        hcl::Error::Parse(p) => {
            format!(
                "{} at line {} column {}",
                p.message(),
                p.location().line(),
                p.location().column()
            )
        }
        other => other
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Replaces `//` line comments and `/* */` block comments outside strings with
/// spaces, keeping every newline so serde_json's line numbers stay true.
/// (Not the `json_comments` crate: 0.2.2 turns a block comment's newlines
/// into spaces, so every error after a multi-line comment would name the
/// wrong line, and it reports no position for an unclosed comment.)
/// `//` inside a string (`"http://x"`) is text, not a comment.
///
/// # Errors
/// A message when a block comment is not closed.
fn strip_comments(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1usize, 0usize);
    let mut in_string = false;
    // Advances over one char, keeping the position for messages.
    let mut next = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let c = chars.next()?;
        if c == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        Some((c, line, column))
    };
    while let Some((c, at_line, at_column)) = next(&mut chars) {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some((escaped, _, _)) = next(&mut chars) {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                out.push(' ');
                while chars.peek().is_some_and(|&c| c != '\n') {
                    next(&mut chars);
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                next(&mut chars);
                out.push_str("  ");
                let mut closed = false;
                while let Some((c, _, _)) = next(&mut chars) {
                    if c == '*' && chars.peek() == Some(&'/') {
                        next(&mut chars);
                        out.push_str("  ");
                        closed = true;
                        break;
                    }
                    out.push(if c == '\n' { '\n' } else { ' ' });
                }
                if !closed {
                    return Err(format!(
                        "not valid JSON: the /* comment at line {at_line} column {at_column} is never closed"
                    ));
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_comments_keeps_strings_and_lines() {
        let text = "{\n  // a comment\n  \"url\": \"http://x/*y*/\", /* block\n spans */ \"b\": \"q\\\"//\"\n}";
        let stripped = strip_comments(text).unwrap();
        assert_eq!(stripped.lines().count(), text.lines().count());
        let v: Value = serde_json::from_str(&stripped).unwrap();
        assert_eq!(v, serde_json::json!({"url": "http://x/*y*/", "b": "q\"//"}));
    }

    #[test]
    fn strip_comments_reports_an_unclosed_block() {
        let err = strip_comments("{\n /* open\n}").unwrap_err();
        assert!(err.contains("line 2 column 2"), "{err}");
    }
}
