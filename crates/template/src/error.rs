//! The crate's error type: every way parsing or rendering a template fails,
//! worded as Go's `text/template` words it (`template: NAME:LINE: reason`
//! for malformed templates, `template: NAME:LINE:COL: executing "NAME" at
//! <…>: reason` for failures while rendering). Never panics.

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is malformed.
    #[error("template: {name}:{line}: {reason}")]
    Parse {
        /// The template's name (its file, for the CLI).
        name: String,
        /// 1-based line of the offending token.
        line: usize,
        /// What is wrong, in Go's words.
        reason: String,
    },
    /// The template is larger than the limit.
    #[error("template: {name}: template is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// The template's name.
        name: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Rendering failed (a function error, a bad field, a limit reached).
    #[error("template: {name}:{line}:{col}: executing {template:?} at <{context}>: {reason}")]
    Exec {
        /// The template's name (its file).
        name: String,
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node (as Go counts it).
        col: usize,
        /// The (possibly `define`d) template being executed.
        template: String,
        /// The failing node as written (at most 20 characters, then `...`).
        context: String,
        /// What went wrong.
        reason: String,
    },
}

/// Line (1-based) and column (0-based bytes) of byte offset `pos` in `text`.
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = 1 + before.bytes().filter(|b| *b == b'\n').count();
    let col = match before.rfind('\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}
