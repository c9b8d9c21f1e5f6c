//! Consul's flags are single-dash long flags (`-http-addr=x`, `-recurse`);
//! clap's are double-dash. This turns the one into the other before parsing.

/// Rewrites `-name[=value]` (a letter after one dash, two or more characters)
/// into `--name[=value]`. Leaves `-` (stdin), negative numbers, `--x` and
/// everything after a literal `--` alone.
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        let single = a.len() > 2
            && a.starts_with('-')
            && !a.starts_with("--")
            && a[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        if !rest && single {
            out.push(format!("-{a}"));
        } else {
            rest |= a == "--";
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    fn n(a: &[&str]) -> Vec<String> {
        normalize(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            n(&[
                "praetor",
                "kv",
                "get",
                "-recurse",
                "-http-addr=1.2.3.4:8500",
                "app"
            ]),
            n(&[
                "praetor",
                "kv",
                "get",
                "--recurse",
                "--http-addr=1.2.3.4:8500",
                "app"
            ])
        );
        assert_eq!(
            n(&["agent", "-config-dir=/x", "--dev"]),
            n(&["agent", "--config-dir=/x", "--dev"])
        );
    }

    #[test]
    fn stdin_negative_numbers_and_after_double_dash_are_kept() {
        assert_eq!(n(&["kv", "put", "k", "-"]), vec!["kv", "put", "k", "-"]);
        assert_eq!(
            n(&["agent", "-dns-port", "-1"]),
            vec!["agent", "--dns-port", "-1"]
        );
        assert_eq!(
            n(&["lock", "--", "cmd", "-flag"]),
            vec!["lock", "--", "cmd", "-flag"]
        );
        assert_eq!(n(&["x", "-v"]), vec!["x", "-v"]);
    }
}
