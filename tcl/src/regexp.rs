//! `regexp` and `regsub` on the `regex` crate.
//!
//! Tcl's advanced regular expressions are translated: `\m` `\M` `\y` `\Y`
//! `\Z` become the crate's word-boundary and end assertions, `\uXXXX`
//! becomes `\x{XXXX}`, a `[` or `&`/`~` inside a bracket expression is
//! escaped, `***=` makes the rest literal, and `.` matches a newline unless
//! `-line`/`-linestop` is given (as in Tcl). Not supported: back
//! references (`\1` in a pattern), `[[.x.]]` and `[[=x=]]`. The crate
//! picks the first alternative that matches (Perl's rule) where Tcl picks
//! the longest: `regexp {a|ab} ab m` sets `m` to `a` here, `ab` in Tcl.
//! With `-all`, Tcl starts each further search without looking at the
//! character before it, so `\m` can match right after a match inside a
//! word (`regsub -all -nocase {\mab} ABab` replaces both); here the
//! assertions see the whole string.

use regex::{Captures, Regex, RegexBuilder};

use super::builtins::get_index;
use super::list::make_list;
use super::{err, wrong_args, Exception, Interp, TclError, TclResult};

#[derive(Default, Clone, Copy)]
pub(crate) struct Flags {
    nocase: bool,
    expanded: bool,
    linestop: bool,
    lineanchor: bool,
}

fn compile_error(msg: &str) -> Exception {
    TclError::with_code(
        format!("couldn't compile regular expression pattern: {msg}"),
        "REGEXP COMPILE",
    )
    .into()
}

/// Tcl's words for the crate's common compile errors.
fn tcl_message(m: &str) -> &str {
    if m.contains("unclosed group") || m.contains("unopened group") {
        "parentheses () not balanced"
    } else if m.contains("unclosed character class") {
        "brackets [] not balanced"
    } else if m.contains("repetition quantifier expects a valid decimal")
        || m.contains("invalid repetition")
        || m.contains("repetition count")
        || m.contains("unclosed counted repetition")
    {
        "invalid repetition count(s)"
    } else if m.contains("repetition operator missing expression") {
        "quantifier operand invalid"
    } else {
        m
    }
}

/// Translate Tcl ARE syntax to the regex crate's.
fn translate(pat: &str) -> Result<String, Exception> {
    if let Some(lit) = pat.strip_prefix("***=") {
        return Ok(regex::escape(lit));
    }
    let pat = pat.strip_prefix("***:").unwrap_or(pat);
    let c: Vec<char> = pat.chars().collect();
    let mut out = String::with_capacity(pat.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\\' {
            let Some(&n) = c.get(i + 1) else {
                return Err(compile_error("invalid escape \\ sequence"));
            };
            i += 2;
            match n {
                'm' if !in_class => out.push_str(r"\b{start}"),
                'M' if !in_class => out.push_str(r"\b{end}"),
                'y' if !in_class => out.push_str(r"\b"),
                'Y' if !in_class => out.push_str(r"\B"),
                'Z' if !in_class => out.push_str(r"\z"),
                '1'..='9' if !in_class => {
                    return Err(compile_error(
                        "back references are not supported by this interpreter (invalid backreference number)",
                    ))
                }
                'u' | 'U' => {
                    let max = if n == 'u' { 4 } else { 8 };
                    let mut hex = String::new();
                    while hex.len() < max && c.get(i).is_some_and(char::is_ascii_hexdigit) {
                        hex.push(c[i]);
                        i += 1;
                    }
                    if hex.is_empty() {
                        return Err(compile_error("invalid escape \\ sequence"));
                    }
                    out.push_str(&format!("\\x{{{hex}}}"));
                }
                'e' => out.push_str(r"\x1b"),
                'a' => out.push_str(r"\x07"),
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if in_class {
            match ch {
                ']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if matches!(c.get(i + 1), Some(':') | Some('.') | Some('=')) => {
                    // [:class:] (the crate knows it) ; [.x.] and [=x=] it does not
                    let close: String = [c[i + 1], ']'].iter().collect();
                    let rest: String = c[i..].iter().collect();
                    match rest[2..].find(&close) {
                        Some(k) if c[i + 1] == ':' => {
                            out.push_str(&rest[..2 + k + 2]);
                            i += rest[..2 + k + 2].chars().count();
                            continue;
                        }
                        _ => {
                            return Err(compile_error(
                                "collating elements and equivalence classes are not supported",
                            ))
                        }
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(ch);
                }
                _ => out.push(ch),
            }
            i += 1;
            continue;
        }
        if ch == '[' {
            in_class = true;
            out.push('[');
            i += 1;
            if c.get(i) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            // a leading ] is a literal member
            if c.get(i) == Some(&']') {
                out.push_str(r"\]");
                i += 1;
            }
            class_start = i;
            continue;
        }
        out.push(ch);
        i += 1;
    }
    if in_class {
        return Err(compile_error("brackets [] not balanced"));
    }
    Ok(out)
}

impl Interp {
    pub(crate) fn regex(&mut self, pat: &str, f: Flags) -> Result<Regex, Exception> {
        let key = format!(
            "{}{}{}{}:{pat}",
            f.nocase as u8, f.expanded as u8, f.linestop as u8, f.lineanchor as u8
        );
        if let Some(r) = self.regex_cache.get(&key) {
            return Ok(r.clone());
        }
        let src = translate(pat)?;
        let re = RegexBuilder::new(&src)
            .case_insensitive(f.nocase)
            .ignore_whitespace(f.expanded)
            .dot_matches_new_line(!f.linestop)
            .multi_line(f.lineanchor)
            .size_limit(1 << 22)
            .nest_limit(100)
            .build()
            .map_err(|e| {
                let text = e.to_string();
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("syntax error")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                compile_error(tcl_message(&last))
            })?;
        if self.regex_cache.len() > 256 {
            self.regex_cache.clear();
        }
        self.regex_cache.insert(key, re.clone());
        Ok(re)
    }
}

/// Match `pat` against `s` the way `lsearch -regexp` and `switch -regexp` do.
pub(crate) fn matches(
    it: &mut Interp,
    pat: &str,
    s: &str,
    nocase: bool,
) -> Result<bool, Exception> {
    let f = Flags {
        nocase,
        ..Flags::default()
    };
    Ok(it.regex(pat, f)?.is_match(s))
}

fn char_index(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

fn byte_index(s: &str, chars: i64) -> usize {
    if chars <= 0 {
        return 0;
    }
    s.char_indices()
        .nth(chars as usize)
        .map(|(i, _)| i)
        .unwrap_or(s.len())
}

/// The options of regexp and regsub: flags, all, inline, indices, start,
/// and the index of the first non-option word.
type Options = (Flags, bool, bool, bool, Option<String>, usize);

/// Parse the options shared by regexp and regsub.
fn options(a: &[String], regsub: bool) -> Result<Options, Exception> {
    let mut f = Flags::default();
    let (mut all, mut inline, mut indices) = (false, false, false);
    let mut start = None;
    let mut i = 1;
    while i < a.len() && a[i].starts_with('-') {
        match a[i].as_str() {
            "-all" => all = true,
            "-nocase" => f.nocase = true,
            "-expanded" => f.expanded = true,
            "-line" => {
                f.linestop = true;
                f.lineanchor = true;
            }
            "-linestop" => f.linestop = true,
            "-lineanchor" => f.lineanchor = true,
            "-inline" if !regsub => inline = true,
            "-indices" if !regsub => indices = true,
            "-start" => {
                i += 1;
                match a.get(i) {
                    Some(s) => start = Some(s.clone()),
                    None => {
                        return err("missing starting index");
                    }
                }
            }
            "--" => {
                i += 1;
                break;
            }
            o => {
                return err(if regsub {
                    format!("bad option \"{o}\": must be -all, -command, -expanded, -line, -linestop, -lineanchor, -nocase, -start, or --")
                } else {
                    format!("bad option \"{o}\": must be -all, -about, -indices, -inline, -expanded, -line, -linestop, -lineanchor, -nocase, -start, or --")
                })
            }
        }
        i += 1;
    }
    Ok((f, all, inline, indices, start, i))
}

fn group_values(s: &str, caps: &Captures<'_>, n: usize, indices: bool) -> Vec<String> {
    (0..n)
        .map(|g| match caps.get(g) {
            Some(m) if indices => {
                let st = char_index(s, m.start());
                let en = char_index(s, m.end()) as i64 - 1;
                format!("{st} {en}")
            }
            Some(m) => m.as_str().to_string(),
            None if indices => "-1 -1".to_string(),
            None => String::new(),
        })
        .collect()
}

pub(crate) fn cmd_regexp(it: &mut Interp, a: &[String]) -> TclResult {
    let (f, all, inline, indices, start, i) = options(a, false)?;
    if a.len() - i < 2 {
        return wrong_args("regexp ?-option ...? exp string ?matchVar? ?subMatchVar ...?");
    }
    let vars = &a[i + 2..];
    if inline && !vars.is_empty() {
        return err("regexp match variables not allowed when using -inline");
    }
    let re = it.regex(&a[i], f)?;
    let s = a[i + 1].as_str();
    let from = match &start {
        Some(x) => byte_index(s, get_index(x, s.chars().count())?),
        None => 0,
    };
    let ngroups = if inline {
        re.captures_len()
    } else {
        vars.len()
    };
    let mut count = 0;
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<Vec<String>> = None;
    let mut at = from;
    while at <= s.len() {
        // Tcl does not count an empty match at the very end once it has
        // moved along the string
        if all && at == s.len() && count > 0 {
            break;
        }
        let Some(caps) = re.captures_at(s, at) else {
            break;
        };
        count += 1;
        let vals = group_values(s, &caps, ngroups, indices);
        if inline {
            out.extend(vals.iter().cloned());
        }
        last = Some(vals);
        if !all {
            break;
        }
        let m = caps
            .get(0)
            .map(|m| (m.start(), m.end()))
            .unwrap_or((at, at));
        at = if m.1 == m.0 {
            // an empty match: step over one character
            match s[m.1..].chars().next() {
                Some(c) => m.1 + c.len_utf8(),
                None => break,
            }
        } else {
            m.1
        };
        it.check_deadline()?;
    }
    if inline {
        return Ok(make_list(&out));
    }
    if let Some(vals) = last {
        for (v, val) in vars.iter().zip(vals) {
            it.set_var(v, val).map_err(|_| {
                Exception::from(TclError::new(format!("couldn't set variable \"{v}\"")))
            })?;
        }
    }
    Ok(count.to_string())
}

fn expand_subspec(spec: &str, caps: &Captures<'_>, out: &mut String) {
    let c: Vec<char> = spec.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '&' => out.push_str(caps.get(0).map(|m| m.as_str()).unwrap_or("")),
            '\\' if i + 1 < c.len() => {
                let n = c[i + 1];
                match n {
                    '0'..='9' => {
                        let g = n as usize - '0' as usize;
                        out.push_str(caps.get(g).map(|m| m.as_str()).unwrap_or(""));
                    }
                    '&' | '\\' => out.push(n),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 1;
            }
            ch => out.push(ch),
        }
        i += 1;
    }
}

pub(crate) fn cmd_regsub(it: &mut Interp, a: &[String]) -> TclResult {
    let (f, all, _, _, start, i) = options(a, true)?;
    if a.len() - i != 3 && a.len() - i != 4 {
        return wrong_args("regsub ?-option ...? exp string subSpec ?varName?");
    }
    let re = it.regex(&a[i], f)?;
    let s = a[i + 1].as_str();
    let spec = &a[i + 2];
    let from = match &start {
        Some(x) => byte_index(s, get_index(x, s.chars().count())?),
        None => 0,
    };
    let mut out = String::from(&s[..from]);
    let mut copied = from;
    let mut at = from;
    let mut count = 0;
    while at <= s.len() {
        let Some(caps) = re.captures_at(s, at) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        count += 1;
        out.push_str(&s[copied..m.start()]);
        expand_subspec(spec, &caps, &mut out);
        if out.len() > super::MAX_VALUE {
            return Err(super::too_big());
        }
        copied = m.end();
        if !all {
            break;
        }
        at = if m.end() == m.start() {
            match s[m.end()..].chars().next() {
                Some(c) => {
                    out.push(c);
                    copied = m.end() + c.len_utf8();
                    m.end() + c.len_utf8()
                }
                None => break,
            }
        } else {
            m.end()
        };
        it.check_deadline()?;
    }
    out.push_str(&s[copied.min(s.len())..]);
    if let Some(v) = a.get(i + 3) {
        it.set_var(v, out).map_err(|_| {
            Exception::from(TclError::new(format!("couldn't set variable \"{v}\"")))
        })?;
        return Ok(count.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcl_escapes_are_translated() {
        assert_eq!(translate(r"\mfoo\M").unwrap(), r"\b{start}foo\b{end}");
        assert_eq!(translate(r"[a[]").unwrap(), r"[a\[]");
        assert_eq!(translate(r"[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate(r"[[:alpha:]_]").unwrap(), r"[[:alpha:]_]");
        assert_eq!(translate("***=a.b").unwrap(), r"a\.b");
        assert!(translate(r"(a)\1").is_err());
        assert!(translate("[abc").is_err());
    }
}
