//! Help text in Consul's layout, for every command of the clap tree: a
//! usage line, the description, then the flags as users read them in
//! Consul's docs — single dash, `-name=<value>` for a flag that takes a
//! value and `-name` for a boolean — under "HTTP API Options" (the flags
//! every command that talks to an agent shares) and "Command Options",
//! each sorted by name with its description wrapped below it (Consul's
//! `command/flags/usage.go`). A command with subcommands lists them.
//!
//! clap renders its help with `--name <VALUE>`; this module replaces each
//! command's help (and the usage line clap's errors print) with text it
//! renders itself, once, before parsing. It never changes how arguments
//! are parsed.

use clap::{Arg, Args as _, Command};

use crate::cmd::HttpArgs;

/// Consul's width for help text.
const WIDTH: usize = 72;

/// `root` with every command's help text and usage line in Consul's
/// layout.
pub fn consul_style(mut root: Command) -> Command {
    root.build();
    let shared: Vec<String> = HttpArgs::augment_args(Command::new("http"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    apply(&mut root, &[], &shared);
    root
}

/// A clap error message with its flags in Consul's spelling: `--type
/// <KIND>` is `-type=<value>`, `'--help'` is `'-help'`.
pub fn consul_flags(message: &str) -> String {
    let with_value = regex_lite::Regex::new(r"--([a-z][a-z0-9-]*) <[^>]+>")
        .map(|re| re.replace_all(message, "-$1=<value>").into_owned())
        .unwrap_or_else(|_| message.to_owned());
    regex_lite::Regex::new(r"(^|[\s'])--([a-z][a-z0-9-]*)")
        .map(|re| re.replace_all(&with_value, "$1-$2").into_owned())
        .unwrap_or(with_value)
}

/// Sets `cmd`'s help and usage, then its subcommands'.
fn apply(cmd: &mut Command, parents: &[String], shared: &[String]) {
    let mut path = parents.to_vec();
    path.push(cmd.get_name().to_owned());
    let text = render(cmd, &path, shared);
    let usage = usage(cmd, &path);
    let taken = std::mem::replace(cmd, Command::new(""));
    *cmd = taken.override_help(text).override_usage(usage);
    for sub in cmd.get_subcommands_mut() {
        apply(sub, &path, shared);
    }
}

/// The subcommands a user can run (not clap's `help`).
fn subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
}

/// The usage line without `Usage: `, as Consul writes it
/// (`praetor kv put [options] KEY [VALUE]`).
fn usage(cmd: &Command, path: &[String]) -> String {
    let name = path.join(" ");
    if path.len() == 1 {
        return format!("{name} [-version] [-help] <command> [<args>]");
    }
    if subcommands(cmd).next().is_some() {
        return format!("{name} <subcommand> [options] [args]");
    }
    let mut line = name;
    if flags(cmd).next().is_some() {
        line.push_str(" [options]");
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let mut word = value_name(a).to_uppercase();
        if a.get_num_args().is_some_and(|n| n.max_values() > 1) {
            word.push_str("...");
        }
        if !a.is_required_set() {
            word = format!("[{word}]");
        }
        line.push(' ');
        line.push_str(&word);
    }
    line
}

/// The flags a user sees (not clap's `-help` and `-version`).
fn flags(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_positional() && !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")
    })
}

/// The name shown for a flag's or an argument's value: the one a command
/// gives (`-data-dir=<dir>`), else Consul's `value`.
fn value_name(a: &Arg) -> String {
    let given = a
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.as_str().to_owned());
    match given {
        Some(n) if n != a.get_id().as_str().to_uppercase() => n.to_lowercase(),
        _ if a.is_positional() => a.get_id().as_str().to_owned(),
        _ => "value".to_owned(),
    }
}

/// How a flag is written: `-name=<value>`, or `-name` for a boolean.
fn spelled(a: &Arg) -> String {
    let name = a
        .get_long()
        .map(str::to_owned)
        .or_else(|| a.get_short().map(String::from))
        .unwrap_or_else(|| a.get_id().to_string());
    if a.get_action().takes_values() {
        format!("-{name}=<{}>", value_name(a))
    } else {
        format!("-{name}")
    }
}

/// The whole help text of `cmd`.
fn render(cmd: &Command, path: &[String], shared: &[String]) -> String {
    let mut out = format!("Usage: {}\n", usage(cmd, path));
    let about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    if !about.trim().is_empty() {
        out.push('\n');
        out.push_str(&wrap(&about, 2));
        out.push('\n');
    }
    let subs: Vec<&Command> = subcommands(cmd).collect();
    if !subs.is_empty() {
        let title = if path.len() == 1 {
            "Available commands are:"
        } else {
            "Subcommands:"
        };
        out.push_str(&format!("\n{title}\n"));
        let width = subs.iter().map(|s| s.get_name().len()).max().unwrap_or(0);
        for s in subs {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            let about = about.trim_end_matches('.');
            out.push_str(&format!("    {:<width$}    {about}\n", s.get_name()));
        }
    }
    let mut http: Vec<&Arg> = Vec::new();
    let mut own: Vec<&Arg> = Vec::new();
    for a in flags(cmd) {
        if shared.iter().any(|id| id == a.get_id().as_str()) {
            http.push(a);
        } else {
            own.push(a);
        }
    }
    for (title, mut list) in [("HTTP API Options", http), ("Command Options", own)] {
        if list.is_empty() {
            continue;
        }
        list.sort_by_key(|a| a.get_long().map(str::to_owned));
        out.push_str(&format!("\n{title}\n"));
        for a in list {
            out.push_str(&format!("\n  {}\n", spelled(a)));
            let text = a
                .get_long_help()
                .or(a.get_help())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if !text.trim().is_empty() {
                out.push_str(&wrap(&text, 5));
                out.push('\n');
            }
        }
    }
    out
}

/// `text` re-flowed to Consul's width, each line indented by `pad`;
/// blank lines (paragraphs) are kept.
fn wrap(text: &str, pad: usize) -> String {
    let indent = " ".repeat(pad);
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split("\n\n") {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && pad + line.len() + 1 + word.len() > WIDTH {
                lines.push(format!("{indent}{line}"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(format!("{indent}{line}"));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::consul_style;
    use crate::Cli;

    /// The help text `praetor ARGS -h` prints.
    fn help(args: &[&str]) -> String {
        let cmd = consul_style(Cli::command());
        let argv = std::iter::once("praetor")
            .chain(args.iter().copied())
            .chain(["-h"]);
        let normalized = crate::args::normalize(cmd.clone(), argv.map(Into::into))
            .expect("the arguments are well formed");
        match cmd.try_get_matches_from(normalized) {
            Ok(_) => panic!("{args:?} -h did not ask for help"),
            Err(e) => {
                assert!(!e.use_stderr(), "help is not an error");
                e.render().to_string()
            }
        }
    }

    #[test]
    fn kv_put_help_lists_flags_in_consuls_single_dash_form() {
        let text = help(&["kv", "put"]);
        assert!(
            text.starts_with("Usage: praetor kv put [options] KEY [VALUE]\n"),
            "{text}"
        );
        for line in [
            "  -http-addr=<value>",
            "  -token=<value>",
            "  -stale",
            "  -cas",
            "  -modify-index=<value>",
            "  -base64",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        assert!(!text.contains("--"), "no double-dash flag in:\n{text}");
        let http = text
            .find("HTTP API Options")
            .expect("the shared flags' title");
        let own = text
            .find("Command Options")
            .expect("the command's flags' title");
        assert!(
            http < own && text[http..own].contains("-datacenter=<value>"),
            "{text}"
        );
        assert!(
            text[own..].contains("  -flags=<value>\n     An opaque number"),
            "{text}"
        );
        for l in text.lines() {
            assert!(
                l.chars().count() <= 72 || !l.contains(' '),
                "too wide: {l:?}"
            );
        }
    }

    #[test]
    fn a_command_with_subcommands_lists_them_and_explicit_value_names_are_kept() {
        let text = help(&["kv"]);
        assert!(
            text.starts_with("Usage: praetor kv <subcommand> [options] [args]"),
            "{text}"
        );
        assert!(text.contains("\nSubcommands:\n"), "{text}");
        assert!(
            text.lines().any(|l| l.trim_start().starts_with("put ")),
            "{text}"
        );
        let agent = help(&["agent"]);
        assert!(agent.lines().any(|l| l == "  -data-dir=<dir>"), "{agent}");
        assert!(agent.lines().any(|l| l == "  -dev"), "{agent}");
        let root = help(&[]);
        assert!(root.contains("Available commands are:"), "{root}");
    }

    #[test]
    fn clap_errors_name_flags_in_consuls_spelling() {
        assert_eq!(
            super::consul_flags(
                "error: the following required arguments were not provided:\n  --type <KIND>\n\nFor more information, try '--help'."
            ),
            "error: the following required arguments were not provided:\n  -type=<value>\n\nFor more information, try '-help'."
        );
        assert_eq!(
            super::consul_flags("error: a value is required for '--type <KIND>'"),
            "error: a value is required for '-type=<value>'"
        );
    }

    #[test]
    fn usage_errors_show_the_consul_style_usage_line() {
        let cmd = consul_style(Cli::command());
        let argv = ["praetor", "kv", "put"].map(std::ffi::OsString::from);
        let normalized = crate::args::normalize(cmd.clone(), argv).expect("normalized");
        let e = cmd
            .try_get_matches_from(normalized)
            .expect_err("KEY is missing");
        let text = e.render().to_string();
        assert!(
            text.contains("praetor kv put [options] KEY [VALUE]"),
            "{text}"
        );
    }
}
