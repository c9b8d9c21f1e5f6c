//! Go's `fmt` as templates use it: `print`/`println`/`printf` (verbs
//! %v %s %d %q %t %f %e %g %x %X %o %b %c %U %%, flags `-+# 0`, width and
//! precision, Go's `%!d(string=x)` error forms) and `strconv`'s float and
//! quoting rules. Pure functions; never panics on any format string.

use std::fmt::Write as _;

use crate::value::Value;

/// Go's `fmt.Sprint`: operands separated by a space when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        a.write_v(&mut out, true);
    }
    out
}

/// Go's `fmt.Sprintln`: operands always separated by spaces, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_v(&mut out, true);
    }
    out.push('\n');
    out
}

/// Shortest decimal digits and decimal-point position of `f` (finite, >= 0),
/// rounded to `sig` significant digits when given, trailing zeros removed.
fn digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.max(1) - 1, f),
        None => format!("{f:e}"),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d == [b'0'] {
        return (d, 1);
    }
    (d, exp + 1)
}

fn fmt_e(out: &mut String, d: &[u8], dp: i32, prec: usize, upper: bool) {
    out.push(d.first().copied().unwrap_or(b'0') as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.is_empty() || d == [b'0'] {
        0
    } else {
        dp - 1
    };
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

fn fmt_f(out: &mut String, d: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(d.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = dp + i as i32;
            let c = if j >= 0 {
                d.get(j as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
}

fn special(f: f64, plus: bool) -> Option<String> {
    if f.is_nan() {
        return Some("NaN".into());
    }
    if f.is_infinite() {
        return Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into());
    }
    let _ = plus;
    None
}

/// Go's `%g` (`strconv.FormatFloat(f, 'g', prec, 64)`); `None` is shortest,
/// as `%v` prints floats.
pub(crate) fn format_float_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f, false) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    let a = f.abs();
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = digits(a, prec);
    let nd = d.len() as i32;
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p as i32;
            if p > nd && nd >= dp {
                nd
            } else {
                p
            }
        }
    };
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        let p = match prec {
            None => nd - 1,
            Some(p) => (p as i32).min(nd) - 1,
        };
        fmt_e(&mut out, &d, dp, p.max(0) as usize, upper);
    } else {
        let p = match prec {
            None => (nd - dp).max(0),
            Some(p) => {
                let p = p as i32;
                (if p > dp { nd } else { p } - dp).max(0)
            }
        };
        fmt_f(&mut out, &d, dp, p as usize);
    }
    out
}

fn format_float_f(f: f64, prec: usize) -> String {
    if let Some(s) = special(f, false) {
        return s;
    }
    format!("{:.*}", prec.min(1000), f)
}

fn format_float_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(f, false) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    let prec = prec.min(1000);
    let (d, dp) = digits(f.abs(), Some(prec + 1));
    fmt_e(&mut out, &d, dp, prec, upper);
    out
}

/// Go's `unicode.IsPrint` (approximated: Rust has no general-category
/// query): controls, format characters and spaces other than U+0020 are
/// not printable.
pub(crate) fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'))
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !go_is_print(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Nil | Value::NoValue => out.push_str("<nil>"),
        _ => {
            out.push_str(v.type_name());
            out.push('=');
            v.write_v(out, true);
        }
    }
    out.push(')');
}

fn pad(out: &mut String, s: &str, spec: &Spec, numeric: bool) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0).min(1 << 20);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero {
        // Zeros go after the sign.
        let (sign, rest) = if numeric && (s.starts_with('-') || s.starts_with('+')) {
            s.split_at(1)
        } else {
            ("", s)
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn sign(s: String, spec: &Spec, negative: bool) -> String {
    if negative {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn int_radix(i: i64, radix: u32, upper: bool, spec: &Spec) -> String {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut digits = match radix {
        16 if upper => format!("{a:X}"),
        16 => format!("{a:x}"),
        8 => format!("{a:o}"),
        2 => format!("{a:b}"),
        _ => a.to_string(),
    };
    if let Some(p) = spec.prec {
        while digits.len() < p.min(1 << 16) {
            digits.insert(0, '0');
        }
    }
    if spec.sharp {
        match radix {
            16 => digits.insert_str(0, if upper { "0X" } else { "0x" }),
            8 => digits.insert(0, '0'),
            2 => digits.insert_str(0, "0b"),
            _ => {}
        }
    }
    if neg {
        digits.insert(0, '-');
    }
    sign(digits, spec, neg)
}

/// Formats a collection the way Go's fmt does for verbs other than %v:
/// the verb applied to each element.
fn format_each(out: &mut String, verb: char, spec: &Spec, v: &Value) {
    let one = |out: &mut String, x: &Value| {
        if !format_one(out, verb, spec, x) {
            bad_verb(out, verb, x);
        }
    };
    match v {
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                one(out, x);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                one(out, &Value::str(k.clone()));
                out.push(':');
                one(out, x);
            }
            out.push(']');
        }
        _ => {}
    }
}

/// Formats one operand for `verb`; false when the verb does not fit its type.
fn format_one(out: &mut String, verb: char, spec: &Spec, v: &Value) -> bool {
    if verb != 'v' && verb != 'T' && matches!(v, Value::List(_) | Value::Map(_)) {
        format_each(out, verb, spec, v);
        return true;
    }
    let s = match (verb, v) {
        ('v', Value::Float(f)) => sign(format_float_g(*f, spec.prec, false), spec, *f < 0.0),
        ('v', Value::Int(i)) => sign(i.to_string(), spec, *i < 0),
        ('v', _) => {
            let mut s = String::new();
            v.write_v(&mut s, true);
            s
        }
        ('s', Value::String(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('q', Value::String(s)) => quote(s),
        ('q', Value::Int(i)) => match u32::try_from(*i).ok().and_then(char::from_u32) {
            Some(c) => format!("'{c}'"),
            None => return false,
        },
        ('t', Value::Bool(b)) => b.to_string(),
        ('T', _) => v.type_name().to_string(),
        ('d', Value::Int(i)) => int_radix(*i, 10, false, spec),
        ('x' | 'X', Value::Int(i)) => int_radix(*i, 16, verb == 'X', spec),
        ('x' | 'X', Value::String(s)) => {
            let mut h = String::new();
            for b in s.bytes() {
                let _ = if verb == 'X' {
                    write!(h, "{b:02X}")
                } else {
                    write!(h, "{b:02x}")
                };
            }
            h
        }
        ('o', Value::Int(i)) => int_radix(*i, 8, false, spec),
        ('b', Value::Int(i)) => int_radix(*i, 2, false, spec),
        ('c', Value::Int(i)) => match u32::try_from(*i).ok().and_then(char::from_u32) {
            Some(c) => c.to_string(),
            None => '\u{FFFD}'.to_string(),
        },
        ('U', Value::Int(i)) => format!("U+{:04X}", i),
        ('f' | 'F', Value::Float(f)) => {
            sign(format_float_f(*f, spec.prec.unwrap_or(6)), spec, *f < 0.0)
        }
        ('e' | 'E', Value::Float(f)) => sign(
            format_float_e(*f, spec.prec.unwrap_or(6), verb == 'E'),
            spec,
            *f < 0.0,
        ),
        ('g' | 'G', Value::Float(f)) => {
            sign(format_float_g(*f, spec.prec, verb == 'G'), spec, *f < 0.0)
        }
        _ => return false,
    };
    let numeric = matches!(v, Value::Int(_) | Value::Float(_));
    pad(out, &s, spec, numeric);
    true
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        let read_num = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
                        argi: &mut usize|
         -> Option<usize> {
            if let Some(&(_, '*')) = chars.peek() {
                chars.next();
                let v = match args.get(*argi) {
                    Some(Value::Int(i)) => usize::try_from(*i).ok(),
                    _ => None,
                };
                *argi += 1;
                return v;
            }
            let mut n: Option<usize> = None;
            while let Some(&(_, d)) = chars.peek() {
                let Some(dv) = d.to_digit(10) else { break };
                n = Some(
                    n.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(dv as usize),
                );
                chars.next();
            }
            n
        };
        spec.width = read_num(&mut chars, &mut argi);
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            spec.prec = Some(read_num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(MISSING)");
            continue;
        };
        argi += 1;
        if !format_one(&mut out, verb, &spec, arg) {
            bad_verb(&mut out, verb, arg);
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil | Value::NoValue => out.push_str("<nil>"),
                _ => {
                    out.push_str(a.type_name());
                    out.push('=');
                    a.write_v(&mut out, true);
                }
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        assert_eq!(format_float_g(1.5, None, false), "1.5");
        assert_eq!(format_float_g(3.0, None, false), "3");
        assert_eq!(format_float_g(1234567.0, None, false), "1.234567e+06");
        assert_eq!(format_float_g(123456.0, None, false), "123456");
        assert_eq!(format_float_g(0.0001, None, false), "0.0001");
        assert_eq!(format_float_g(0.00001, None, false), "1e-05");
        assert_eq!(format_float_g(-2.5, None, false), "-2.5");
        assert_eq!(format_float_g(0.0, None, false), "0");
        assert_eq!(format_float_g(100.0, Some(2), false), "1e+02");
        assert_eq!(format_float_g(1.23456, Some(3), false), "1.23");
    }

    #[test]
    fn printf_verbs_follow_go() {
        let s = |f: &str, a: Vec<Value>| sprintf(f, &a);
        assert_eq!(s("%05d", vec![Value::Int(42)]), "00042");
        assert_eq!(s("%-4d|", vec![Value::Int(7)]), "7   |");
        assert_eq!(s("%.2f", vec![Value::Float(1.23456)]), "1.23");
        assert_eq!(s("%f", vec![Value::Float(1.0)]), "1.000000");
        assert_eq!(s("%e", vec![Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(s("%q", vec![Value::str("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(s("%x %X", vec![Value::Int(255), Value::Int(255)]), "ff FF");
        assert_eq!(s("%t", vec![Value::Bool(true)]), "true");
        assert_eq!(s("%d", vec![Value::str("x")]), "%!d(string=x)");
        assert_eq!(s("%d %d", vec![Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            s("%d", vec![Value::Int(1), Value::str("x")]),
            "1%!(EXTRA string=x)"
        );
        assert_eq!(s("100%%", vec![]), "100%");
        assert_eq!(
            s("%8s|%-8s|", vec![Value::str("ab"), Value::str("cd")]),
            "      ab|cd      |"
        );
        assert_eq!(s("%v %v", vec![Value::Float(2.0), Value::Nil]), "2 <nil>");
        assert_eq!(s("%", vec![]), "%!(NOVERB)");
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        assert_eq!(sprint(&[Value::str("a"), Value::str("b")]), "ab");
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&[Value::str("a"), Value::Int(2)]), "a2");
        assert_eq!(sprintln(&[Value::str("a"), Value::Int(2)]), "a 2\n");
    }
}
