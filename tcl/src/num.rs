//! Numbers as Tcl 8.6 reads and prints them.

/// A numeric value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
}

fn trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// Parse an integer the way Tcl 8.6 does (leading `0` means octal).
/// Returns None for non-integers; values that do not fit in 64 bits wrap.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = trim_space(s);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if t.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(r) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (2, r)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        v = v.wrapping_mul(u64::from(radix)).wrapping_add(u64::from(d));
    }
    let v = v as i64;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parse a double (Tcl syntax; also accepts integers).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = trim_space(s);
    if t.is_empty() {
        return None;
    }
    if let Some(i) = parse_int(t) {
        return Some(i as f64);
    }
    let ok = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if ok {
        if t.contains(['.', 'e', 'E']) {
            return t.parse::<f64>().ok();
        }
        return None;
    }
    let l = t.to_ascii_lowercase();
    let body = l.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return l.parse::<f64>().ok();
    }
    None
}

/// Parse a number: integer if it is one, else double.
pub fn parse_num(s: &str) -> Option<Num> {
    if let Some(i) = parse_int(s) {
        return Some(Num::Int(i));
    }
    parse_float(s).map(Num::Float)
}

/// Format a double like Tcl (shortest representation that reads back).
pub fn format_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    let e = format!("{x:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..=16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&exp.abs().to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Parse a boolean like `Tcl_GetBoolean`.
pub fn parse_bool(s: &str) -> Option<bool> {
    if let Some(n) = parse_num(s) {
        return Some(match n {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        });
    }
    let l = s.to_ascii_lowercase();
    if l.is_empty() {
        return None;
    }
    let pre = |w: &str, min: usize| l.len() >= min && w.starts_with(l.as_str());
    if pre("true", 1) || pre("yes", 1) || pre("on", 2) {
        return Some(true);
    }
    if pre("false", 1) || pre("no", 1) || pre("off", 2) {
        return Some(false);
    }
    None
}

/// Compare strings the way Tcl 8.6's `lsort` does: by their (modified)
/// UTF-8 bytes, where NUL is encoded as C0 80 and so sorts after ASCII
/// (`string compare` and `expr` compare code points instead).
pub fn tcl_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn bytes(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes().flat_map(|c| {
            if c == 0 {
                [0xC0u8, 0x80].into_iter().take(2)
            } else {
                [c, 0].into_iter().take(1)
            }
        })
    }
    bytes(a).cmp(bytes(b))
}

/// Text of an I/O error the way Tcl words it (`no such file or directory`).
pub fn io_error_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            s.to_lowercase()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_tcl() {
        for (x, s) in [
            (0.00001, "1e-5"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-7"),
            (1e16, "10000000000000000.0"),
            (1.25e17, "1.25e+17"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-0.0, "-0.0"),
            (1e300, "1e+300"),
            (2.5, "2.5"),
            (2.0, "2.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(format_double(x), s);
        }
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int(" 0x1F "), Some(31));
        assert_eq!(parse_int("017"), Some(15));
        assert_eq!(parse_int("08"), None);
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("1.0"), None);
        assert_eq!(parse_bool("of"), Some(false));
        assert_eq!(parse_bool("o"), None);
    }
}
