//! Tcl lists: parsing a string into elements and the canonical quoting of
//! elements (`TclScanElement`/`TclConvertElement` of Tcl 8.6).

use super::parser::backslash;

fn is_list_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn rest_snippet(b: &[u8], from: usize) -> String {
    let mut end = from;
    while end < b.len() && !is_list_space(b[end]) && end - from < 20 {
        end += 1;
    }
    String::from_utf8_lossy(&b[from..end]).into_owned()
}

/// Split a Tcl list into its elements.
pub fn parse_list(s: &str) -> Result<Vec<String>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_list_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        match b[i] {
            b'{' => {
                let mut depth = 1;
                let start = i + 1;
                let mut j = start;
                loop {
                    if j >= b.len() {
                        return Err("unmatched open brace in list".into());
                    }
                    match b[j] {
                        b'\\' => j += 1,
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                out.push(s[start..j].to_string());
                i = j + 1;
                if i < b.len() && !is_list_space(b[i]) {
                    return Err(format!(
                        "list element in braces followed by \"{}\" instead of space",
                        rest_snippet(b, i)
                    ));
                }
            }
            b'"' => {
                let mut j = i + 1;
                let mut val = String::new();
                let mut chunk = j;
                loop {
                    if j >= b.len() {
                        return Err("unmatched open quote in list".into());
                    }
                    match b[j] {
                        b'\\' => {
                            val.push_str(&s[chunk..j]);
                            let (r, n) = backslash(&b[j..]);
                            val.push_str(&r);
                            j += n;
                            chunk = j;
                        }
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                val.push_str(&s[chunk..j]);
                out.push(val);
                i = j + 1;
                if i < b.len() && !is_list_space(b[i]) {
                    return Err(format!(
                        "list element in quotes followed by \"{}\" instead of space",
                        rest_snippet(b, i)
                    ));
                }
            }
            _ => {
                let mut j = i;
                let mut val = String::new();
                let mut chunk = j;
                while j < b.len() && !is_list_space(b[j]) {
                    if b[j] == b'\\' {
                        val.push_str(&s[chunk..j]);
                        let (r, n) = backslash(&b[j..]);
                        val.push_str(&r);
                        j += n;
                        chunk = j;
                    } else {
                        j += 1;
                    }
                }
                let end = j.min(b.len());
                if chunk < end {
                    val.push_str(&s[chunk..end]);
                }
                out.push(val);
                i = j;
            }
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Conv {
    None,
    Brace,
    Escape,
    /// escape everything except braces
    Mask,
}

fn scan(s: &str, quote_hash: bool) -> Conv {
    let b = s.as_bytes();
    if b.is_empty() {
        return Conv::Brace;
    }
    let mut nesting: i64 = 0;
    let mut forbid_none = false;
    let mut require_escape = false;
    let mut prefer_escape = false;
    let mut prefer_brace = false;
    if b[0] == b'#' && quote_hash {
        prefer_brace = true;
    }
    if b[0] == b'{' || b[0] == b'"' {
        forbid_none = true;
        prefer_brace = true;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => nesting += 1,
            b'}' => {
                nesting -= 1;
                if nesting < 0 {
                    require_escape = true;
                }
            }
            b']' | b'"' => {
                forbid_none = true;
                prefer_escape = true;
            }
            b'[' | b'$' | b';' => {
                forbid_none = true;
                prefer_brace = true;
            }
            b'\\' => {
                if i + 1 == b.len() {
                    require_escape = true;
                } else if b[i + 1] == b'\n' {
                    require_escape = true;
                    i += 1;
                } else {
                    if matches!(b[i + 1], b'{' | b'}' | b'\\') {
                        i += 1;
                    }
                    forbid_none = true;
                    prefer_brace = true;
                }
            }
            c if is_list_space(c) => {
                forbid_none = true;
                prefer_brace = true;
            }
            _ => {}
        }
        i += 1;
    }
    if nesting != 0 {
        require_escape = true;
    }
    if require_escape {
        return Conv::Escape;
    }
    if forbid_none {
        if prefer_escape && !prefer_brace {
            return Conv::Mask;
        }
        return Conv::Brace;
    }
    if b[0] == b'#' && quote_hash {
        return Conv::Brace;
    }
    Conv::None
}

/// Quote one list element; `first` tells whether it is the first element of
/// the list (a leading `#` is quoted only there).
pub fn quote_element(s: &str, first: bool) -> String {
    let conv = scan(s, first);
    match conv {
        Conv::None => s.to_string(),
        Conv::Brace => format!("{{{s}}}"),
        Conv::Escape | Conv::Mask => {
            let mut out = String::with_capacity(s.len() + 4);
            let mut chars = s.chars().peekable();
            if first && s.starts_with('#') {
                out.push_str("\\#");
                chars.next();
            }
            for c in chars {
                match c {
                    ']' | '[' | '$' | ';' | ' ' | '\\' | '"' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '{' | '}' => {
                        if conv == Conv::Escape {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    '\x0c' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\x0b' => out.push_str("\\v"),
                    _ => out.push(c),
                }
            }
            out
        }
    }
}

/// Build a canonical list string from elements.
pub fn make_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote_element(it.as_ref(), i == 0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_like_tcl() {
        let items = [
            "a", "b c", "d e", "{", "", "a}b", "\\", "a\"b", "$x", "[x]", "a;b", "#x", "x#", "\\n",
            "a\nb",
        ];
        assert_eq!(
            make_list(&items),
            "a {b c} {d e} \\{ {} a\\}b \\\\ a\\\"b {$x} {[x]} {a;b} #x x# {\\n} {a\nb}"
        );
        assert_eq!(make_list(&["#a", "b", "#c"]), "{#a} b #c");
        assert_eq!(make_list(&["a{", "}b", "a b\\"]), "a\\{ \\}b a\\ b\\\\");
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse_list(" a {b c} \"d e\" ").unwrap(),
            vec!["a", "b c", "d e"]
        );
        assert_eq!(parse_list("a\\ b").unwrap(), vec!["a b"]);
        assert!(parse_list("{a").is_err());
        assert_eq!(
            parse_list("{a}b").unwrap_err(),
            "list element in braces followed by \"b\" instead of space"
        );
    }
}
