//! How deeply an HCL file nests, found by a linear scan before it is parsed.
//! hcl-edit's parser backtracks on malformed input, and its time grows
//! about four-fold per level of brackets around a failing expression
//! (`a = 1+1+1[1+1+1[ … 1!1`: 12 levels take 3 ms, 16 take 50 ms, 20 take
//! 13 s, 24 an hour), so a small config file could keep the agent from ever
//! starting. Real configurations nest fewer than ten levels. Never parses
//! values.

/// Deepest nesting of brackets, braces, parentheses and template
/// interpolations accepted in an HCL file: above what real configurations
/// use, and low enough that the parser's worst case stays in milliseconds.
pub(super) const MAX_HCL_NESTING: usize = 12;

/// What the scan is inside of.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// `(`, `[` or `{` in an expression or a body.
    Bracket,
    /// `${` or `%{` in a template: an expression until its `}`.
    Interpolation,
    /// A quoted template string.
    Quoted,
    /// A heredoc template, ended by a line holding only its marker.
    Heredoc(String),
}

impl Frame {
    fn nests(&self) -> bool {
        matches!(self, Frame::Bracket | Frame::Interpolation)
    }
}

/// Checks that `text` never nests brackets, braces, parentheses and
/// template interpolations more than [`MAX_HCL_NESTING`] deep. Brackets in
/// comments, quoted strings and heredocs do not count; interpolations in
/// them do. The scan errs towards counting: where it cannot tell, it
/// counts, so it never reports less nesting than the parser would meet.
///
/// # Errors
/// A one-line message naming the line and column where the limit is passed.
pub(super) fn check(text: &str) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<Frame> = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let mut step = 1;
        let mut opened = false;
        match stack.last() {
            Some(Frame::Quoted) => match (c, next) {
                ('\\', _) => step = 2,
                ('$', Some('$')) | ('%', Some('%')) if chars.get(i + 2) == Some(&'{') => step = 3,
                ('$' | '%', Some('{')) => {
                    stack.push(Frame::Interpolation);
                    opened = true;
                    step = 2;
                }
                // The parser stops at a line break in a quoted string.
                ('"' | '\n', _) => {
                    stack.pop();
                }
                _ => {}
            },
            Some(Frame::Heredoc(marker)) => {
                if column == 0 && line_is(&chars[i..], marker) {
                    stack.pop();
                } else {
                    match (c, next) {
                        ('$', Some('$')) | ('%', Some('%')) if chars.get(i + 2) == Some(&'{') => {
                            step = 3
                        }
                        ('$' | '%', Some('{')) => {
                            stack.push(Frame::Interpolation);
                            opened = true;
                            step = 2;
                        }
                        _ => {}
                    }
                }
            }
            // An expression or a body.
            _ => match (c, next) {
                ('#', _) | ('/', Some('/')) => {
                    step = chars[i..]
                        .iter()
                        .position(|c| *c == '\n')
                        .unwrap_or(chars.len() - i);
                }
                ('/', Some('*')) => {
                    step = chars[i + 2..]
                        .windows(2)
                        .position(|w| w == ['*', '/'])
                        .map_or(chars.len() - i, |p| p + 4);
                }
                ('"', _) => stack.push(Frame::Quoted),
                ('<', Some('<')) => {
                    if let Some((marker, len)) = heredoc_start(&chars[i + 2..]) {
                        stack.push(Frame::Heredoc(marker));
                        step = 2 + len;
                    } else {
                        step = 2;
                    }
                }
                ('(' | '[' | '{', _) => {
                    stack.push(Frame::Bracket);
                    opened = true;
                }
                (')' | ']', _) if stack.last() == Some(&Frame::Bracket) => {
                    stack.pop();
                }
                ('}', _) if matches!(stack.last(), Some(Frame::Bracket | Frame::Interpolation)) => {
                    stack.pop();
                }
                _ => {}
            },
        }
        if opened && stack.iter().filter(|f| f.nests()).count() > MAX_HCL_NESTING {
            return Err(format!(
                "brackets, braces and interpolations nest more than {MAX_HCL_NESTING} deep \
                 at line {line} column {}",
                column + 1
            ));
        }
        for skipped in &chars[i..(i + step).min(chars.len())] {
            if *skipped == '\n' {
                line += 1;
                column = 0;
            } else {
                column += 1;
            }
        }
        i += step;
    }
    Ok(())
}

/// After `<<`: `-`, an identifier and a line break open a heredoc; returns
/// its marker and how many characters that took.
fn heredoc_start(rest: &[char]) -> Option<(String, usize)> {
    let dash = usize::from(rest.first() == Some(&'-'));
    let ident: String = rest[dash..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '-')
        .collect();
    let first = ident.chars().next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let len = dash + ident.chars().count();
    match rest.get(len) {
        Some('\n') => Some((ident, len + 1)),
        Some('\r') if rest.get(len + 1) == Some(&'\n') => Some((ident, len + 2)),
        _ => None,
    }
}

/// Whether the line starting at `rest` holds only `marker` (and spaces).
fn line_is(rest: &[char], marker: &str) -> bool {
    let end = rest.iter().position(|c| *c == '\n').unwrap_or(rest.len());
    let line: String = rest[..end].iter().collect();
    line.trim() == marker
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize, unit: &str, tail: &str) -> String {
        format!("a = {}{tail}\n", unit.repeat(n))
    }

    #[test]
    fn real_configurations_pass() {
        let text = r#"
            # a comment with [[[[[[[[[[[[[[[[[[ brackets
            datacenter = "dc1" // and ((((((((((((((((( more
            /* {{{{{{{{{{{{{{{{{{{{{{ */
            services = [{
              name = "web"
              tags = ["v1", "[[[[[[[[[[[[[[[[[[[[[[[["]
              checks = [{ http = "http://x/${var.y}", interval = "10s", header = { x = ["y"] } }]
              connect { sidecar_service { proxy { upstreams = [{ config = { a = [1] } }] } } }
            }]
            motd = <<-EOT
              (((((((((((((((((((((((((((((((((((
              ${ upper("x") }
              EOT
            after = "$${not an interpolation {{{{{{{{{{{{{{{{{{"
        "#;
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_refused() {
        assert_eq!(check(&nested(MAX_HCL_NESTING, "[", "")), Ok(()));
        let err = check(&nested(MAX_HCL_NESTING + 1, "[", "")).unwrap_err();
        assert_eq!(
            err,
            format!(
                "brackets, braces and interpolations nest more than {MAX_HCL_NESTING} deep \
                 at line 1 column {}",
                4 + MAX_HCL_NESTING + 1
            )
        );
        for unit in ["(", "{", "x = {", "1+1+1[", "b {\n", "\"${", "\"%{"] {
            assert!(
                check(&nested(MAX_HCL_NESTING + 1, unit, "")).is_err(),
                "{unit:?}"
            );
        }
        // Closed levels do not add up.
        let siblings = format!("a = [{}]\n", vec!["[[[[[[[[1]]]]]]]]"; 100].join(", "));
        assert_eq!(check(&siblings), Ok(()));
    }

    #[test]
    fn strings_comments_and_heredocs_cannot_hide_nesting() {
        // A closing bracket inside a string or a comment closes nothing.
        let hidden = format!(
            "a = {}\"{}\" # {}\n 1!1",
            "1+1+1[".repeat(MAX_HCL_NESTING + 1),
            "]".repeat(40),
            "]".repeat(40)
        );
        assert!(check(&hidden).is_err());
        let in_heredoc = format!("a = <<EOT\n{}\nEOT\n", "${[".repeat(MAX_HCL_NESTING));
        assert!(check(&in_heredoc).is_err());
    }

    #[test]
    fn issue_12_fuzz_timeout_is_refused_at_once() {
        // fuzz/artifacts/config timeout (28 s in hcl-edit), minimized.
        let text = "ti=04%4444%6[4%4*6[4%4%6[4%4%6[4%4*6[5%4%4[4%4%6[1%4%6[4%4*4[4%4%6[4%x%6[5%4924%494[15%4%46[44%x44%444[14%44*454456[14%44%4446[15%x%4446[44%44%44456[44!4444";
        assert!(check(text).is_err());
    }
}
