//! The crate's two errors: a rule text that does not parse, and a request an
//! authorizer refused. Owns their wording (Consul's where Consul has one);
//! never decides anything.

use std::fmt::{self, Write as _};

use crate::access::{Access, Global, Resource};
use crate::ANONYMOUS_TOKEN_ID;

/// A rule text that does not parse, or breaks a rule of the language: the
/// line it is on (1-based) when known, and why.
///
/// Displays as one line, e.g.
/// `Failed to parse ACL rules: line 3: invalid policy "reed" for key "foo" (want read, write, list or deny)`;
/// Consul's prefix, so clients matching on it keep working.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The 1-based line the problem is on, when it is known.
    pub line: Option<usize>,
    /// What is wrong, lower-case, one line.
    pub reason: String,
}

impl RuleError {
    pub(crate) fn at(line: usize, reason: impl Into<String>) -> RuleError {
        RuleError {
            line: Some(line),
            reason: reason.into(),
        }
    }

    pub(crate) fn whole(reason: impl Into<String>) -> RuleError {
        RuleError {
            line: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Failed to parse ACL rules: ")?;
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Consul's "Permission denied" error (`acl.PermissionDeniedError`): who
/// asked, which permission they lack, and on what.
///
/// Displays exactly as Consul does:
/// - `Permission denied: token with AccessorID 'abc' lacks permission 'key:read' on "foo"`
/// - `Permission denied: anonymous token lacks permission 'key:read' on "foo". The anonymous token is used implicitly when a request does not specify a token.`
/// - `Permission denied: provided token lacks permission 'operator:write'` (accessor not known)
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Denied {
    /// The AccessorID of the token that asked; [`ANONYMOUS_TOKEN_ID`] for the
    /// anonymous token; `None` when it is not known.
    pub accessor: Option<String>,
    /// The missing permission, `resource:level` (`key:read`, `acl:write`).
    pub permission: String,
    /// The name of the object, when the permission is about one.
    pub on: Option<String>,
}

impl Denied {
    /// The denial of `access` on `name` of `resource` (Consul's `PermissionDeniedByACL`).
    pub fn new(accessor: Option<&str>, resource: Resource, access: Access, name: &str) -> Denied {
        Denied {
            accessor: accessor.map(str::to_owned),
            permission: format!("{resource}:{access}"),
            on: Some(name.to_owned()),
        }
    }

    /// The denial of `access` on a global resource (Consul's `PermissionDeniedByACLUnnamed`).
    pub fn global(accessor: Option<&str>, global: Global, access: Access) -> Denied {
        Denied {
            accessor: accessor.map(str::to_owned),
            permission: format!("{global}:{access}"),
            on: None,
        }
    }

    /// Whether the anonymous token asked.
    pub fn is_anonymous(&self) -> bool {
        self.accessor.as_deref() == Some(ANONYMOUS_TOKEN_ID)
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permission denied: ")?;
        match self.accessor.as_deref() {
            Some(ANONYMOUS_TOKEN_ID) => f.write_str("anonymous token")?,
            Some(id) => write!(f, "token with AccessorID '{id}'")?,
            None => f.write_str("provided token")?,
        }
        write!(f, " lacks permission '{}'", self.permission)?;
        if let Some(name) = &self.on {
            f.write_str(" on ")?;
            go_quote(f, name)?;
        }
        if self.is_anonymous() {
            f.write_str(
                ". The anonymous token is used implicitly when a request does not specify a token.",
            )?;
        }
        Ok(())
    }
}

/// Writes `s` double-quoted with Go's `%q` escapes, as Consul prints a name.
fn go_quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{7}' => f.write_str("\\a")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\u{b}' => f.write_str("\\v")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_error_names_the_line_when_known() {
        let e = RuleError::at(3, "invalid policy \"reed\" for key \"foo\"");
        assert_eq!(
            e.to_string(),
            "Failed to parse ACL rules: line 3: invalid policy \"reed\" for key \"foo\""
        );
        let e = RuleError::whole("too long");
        assert_eq!(e.to_string(), "Failed to parse ACL rules: too long");
    }

    #[test]
    fn denied_names_are_quoted_like_go() {
        let d = Denied::new(Some("abc"), Resource::Key, Access::Read, "a\"b\\c\nd\u{1}");
        assert_eq!(
            d.to_string(),
            "Permission denied: token with AccessorID 'abc' lacks permission 'key:read' on \"a\\\"b\\\\c\\nd\\x01\""
        );
    }
}
