//! Everything the CLI prints goes through here (the one place `println!` is
//! allowed), in Consul's formats.

use std::io::Write;

/// Prints one line to stdout.
pub fn line(s: &str) {
    println!("{s}");
}

/// Prints text as it is (a block that already ends in a newline).
pub fn text(s: &str) {
    print!("{s}");
}

/// Writes raw bytes to stdout (a value that may not be UTF-8), then a newline.
pub fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.write_all(b"\n");
}

/// Prints an error as Consul does (`Error! …`) to stderr.
pub fn error(msg: &str) {
    eprintln!("Error! {msg}");
}

/// Prints an error message to stderr exactly as given (Consul's ACL
/// commands' wording carries no prefix).
pub fn failure(msg: &str) {
    eprintln!("{msg}");
}

/// Prints a progress message to stderr (stdout belongs to a child process).
pub fn info(msg: &str) {
    eprintln!("{msg}");
}

/// Aligns rows into columns separated by two spaces, like Consul's columnize.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut l = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = vec![
            vec!["Node".into(), "Address".into()],
            vec!["a-long-name".into(), "1.2.3.4:8301".into()],
        ];
        assert_eq!(
            super::columns(&rows),
            "Node         Address\na-long-name  1.2.3.4:8301\n"
        );
    }
}
