//! The command line as Consul parses it, turned into one clap parses the same
//! way.
//!
//! Consul's CLI (mitchellh/cli over Go's `flag` package) first takes the
//! subcommand words (`kv put`), then parses flags only up to the first
//! argument that is not a flag:
//! - a flag is `-name` or `--name`, with `-name=value`, or `-name value` for a
//!   flag that takes a value (the next argument is the value, whatever it
//!   looks like); a boolean flag takes a value only as `-name=value`;
//! - `--` ends the flags (and is consumed); `-` alone is an argument;
//! - from the first argument on, nothing is a flag.
//!
//! clap's long flags are double-dash, and clap keeps looking for flags after
//! positional arguments. So this module walks the clap command tree to the
//! subcommand, rewrites the flags before the first argument into clap's
//! spelling (a value always joined with `=`, so clap cannot mistake it for a
//! flag), and puts `--` before the first argument. It never changes an
//! argument after that point: values and a child's arguments reach their
//! command byte for byte.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Command};

/// Rewrites `args` (the program name first) from Go's flag syntax into
/// clap's, using `root` (the CLI's command tree) to find the subcommand and
/// which of its flags take a value.
///
/// # Errors
///
/// A flag the command does not define, before the first argument
/// (`flag provided but not defined`, as Go says), or a boolean flag given a
/// value that is not one of Go's booleans. Both leave clap's usage in the
/// error.
pub fn normalize(
    mut root: Command,
    args: impl IntoIterator<Item = OsString>,
) -> Result<Vec<OsString>, clap::Error> {
    root.build();
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let mut cmd = &root;
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            // Not UTF-8: no flag of ours, so an argument unless it starts like a flag.
            if arg.as_encoded_bytes().first() == Some(&b'-') {
                return Err(unknown(cmd, &arg.to_string_lossy()));
            }
            return Ok(rest(out, cmd, arg, args));
        };
        if text == "--" {
            out.push(arg);
            out.extend(args);
            return Ok(out);
        }
        if text.len() > 1 && text.starts_with('-') {
            flag(cmd, text, &mut args, &mut out)?;
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(text) {
            out.push(arg);
            cmd = sub;
            continue;
        }
        return Ok(rest(out, cmd, arg, args));
    }
    Ok(out)
}

/// The first argument and everything after it, untouched, behind a `--`
/// when the command takes arguments (so clap sees none of them as a flag).
/// A command without arguments gets them as they are, for clap to refuse
/// by name (an unknown subcommand, a stray argument).
fn rest(
    mut out: Vec<OsString>,
    cmd: &Command,
    first: OsString,
    others: impl Iterator<Item = OsString>,
) -> Vec<OsString> {
    if cmd.get_positionals().next().is_some() {
        out.push("--".into());
    }
    out.push(first);
    out.extend(others);
    out
}

/// One flag (`text` starts with `-` and is not `-`): pushes clap's spelling
/// of it, taking its value from `args` when it needs one.
fn flag(
    cmd: &Command,
    text: &str,
    args: &mut impl Iterator<Item = OsString>,
    out: &mut Vec<OsString>,
) -> Result<(), clap::Error> {
    let body = text.strip_prefix("--").unwrap_or(&text[1..]);
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    // Go refuses `---x` and `-=x` as bad flag syntax; no name of ours matches them.
    let Some((found, spelled)) = find(cmd, name) else {
        return Err(unknown(cmd, text));
    };
    let takes_value = found
        .get_num_args()
        .is_some_and(|range| range.min_values() > 0);
    let max_values = found.get_num_args().map_or(0, |range| range.max_values());
    match value {
        Some(value) if max_values == 0 => {
            // A boolean flag written `-name=value`: Go's strconv.ParseBool.
            let on = go_bool(value).ok_or_else(|| {
                clone_error(
                    cmd,
                    ErrorKind::InvalidValue,
                    format!("invalid boolean value {value:?} for -{name}"),
                )
            })?;
            // `-recurse=false` leaves the flag unset, as if it were not given.
            let given = match found.get_action() {
                ArgAction::SetFalse => !on,
                _ => on,
            };
            if given {
                out.push(spelled.into());
            }
        }
        Some(value) => out.push(format!("{spelled}={value}").into()),
        None if takes_value => match args.next() {
            // The next argument is the value, even `-x` or `--`, as in Go.
            Some(value) => {
                let mut joined = OsString::from(format!("{spelled}="));
                joined.push(value);
                out.push(joined);
            }
            None => out.push(spelled.into()),
        },
        None => out.push(spelled.into()),
    }
    Ok(())
}

/// The flag called `name` in `cmd` and clap's spelling of it: `--long`, or
/// `-c` when `name` is only a one-letter short flag.
fn find<'a>(cmd: &'a Command, name: &str) -> Option<(&'a Arg, String)> {
    if name.is_empty() || name.starts_with('-') {
        return None;
    }
    let flags = || cmd.get_arguments().filter(|a| !a.is_positional());
    if let Some(a) = flags().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|all| all.contains(&name))
    }) {
        return Some((a, format!("--{}", a.get_long().unwrap_or(name))));
    }
    let mut chars = name.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    flags()
        .find(|a| {
            a.get_short() == Some(c)
                || a.get_all_short_aliases()
                    .is_some_and(|all| all.contains(&c))
        })
        .map(|a| (a, format!("-{c}")))
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's message for a flag the command does not define, with `cmd`'s usage.
fn unknown(cmd: &Command, flag: &str) -> clap::Error {
    clone_error(
        cmd,
        ErrorKind::UnknownArgument,
        format!("flag provided but not defined: {flag}"),
    )
}

fn clone_error(cmd: &Command, kind: ErrorKind, message: String) -> clap::Error {
    cmd.clone().error(kind, message)
}

#[cfg(test)]
mod tests;
