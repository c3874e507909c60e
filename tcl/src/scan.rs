//! `subst` and `scan`.

use super::list::make_list;
use super::num::format_double;
use super::parser::{backslash, parse_bracket_at, parse_var_at};
use super::{err, wrong_args, Exception, Interp, TclError, TclResult};

/// `subst ?-nobackslashes? ?-nocommands? ?-novariables? string`
pub(crate) fn cmd_subst(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "subst ?-nobackslashes? ?-nocommands? ?-novariables? string";
    if a.len() < 2 {
        return wrong_args(usage);
    }
    let (mut bs, mut cmds, mut vars) = (true, true, true);
    for o in &a[1..a.len() - 1] {
        match o.as_str() {
            "-nobackslashes" => bs = false,
            "-nocommands" => cmds = false,
            "-novariables" => vars = false,
            _ => {
                return err(format!(
                    "bad option \"{o}\": must be -nobackslashes, -nocommands, or -novariables"
                ))
            }
        }
    }
    let src = a[a.len() - 1].as_str();
    let b = src.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut chunk = 0;
    let parse_err = |m: String| -> Exception { TclError::with_code(m, "TCL PARSE").into() };
    while i < b.len() {
        match b[i] {
            b'\\' if bs => {
                out.push_str(&src[chunk..i]);
                let (r, n) = backslash(&b[i..]);
                out.push_str(&r);
                i += n;
                chunk = i;
            }
            b'$' if vars => {
                out.push_str(&src[chunk..i]);
                let (part, end) = parse_var_at(src, i).map_err(|e| parse_err(e.message))?;
                match part {
                    Some(p) => out.push_str(&it.subst_parts(&[p])?),
                    None => out.push('$'),
                }
                if out.len() > super::MAX_VALUE {
                    return Err(super::too_big());
                }
                i = end.max(i + 1);
                chunk = i;
            }
            b'[' if cmds => {
                out.push_str(&src[chunk..i]);
                let (sc, end) = parse_bracket_at(src, i).map_err(|e| parse_err(e.message))?;
                it.check_deadline()?;
                match it.eval_script(&sc) {
                    Ok(v) => {
                        out.push_str(&v);
                        if out.len() > super::MAX_VALUE {
                            return Err(super::too_big());
                        }
                    }
                    Err(Exception::Break) => return Ok(out),
                    Err(Exception::Continue) => {}
                    Err(Exception::Return(_, v)) => out.push_str(&v),
                    Err(e) => return Err(super::not_inline(e)),
                }
                i = end;
                chunk = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&src[chunk..]);
    Ok(out)
}

enum Conv {
    Int(u32, bool),
    Char,
    Str,
    Float,
    Set(Vec<(char, char)>, bool),
    Count,
}

struct Field {
    conv: Conv,
    suppress: bool,
    width: Option<usize>,
    pos: Option<usize>,
}

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

/// Parse a `%[...]` set starting after `[`; returns the ranges, negation
/// and the index after `]`.
type CharSet = (Vec<(char, char)>, bool, usize);

fn parse_set(f: &[char], mut i: usize) -> Result<CharSet, Exception> {
    let mut neg = false;
    if f.get(i) == Some(&'^') {
        neg = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = f.get(i) else {
            return err("unmatched [ in format string");
        };
        if c == ']' && !first {
            return Ok((ranges, neg, i + 1));
        }
        first = false;
        if f.get(i + 1) == Some(&'-') && f.get(i + 2).is_some_and(|c| *c != ']') {
            let hi = f[i + 2];
            ranges.push(if c <= hi { (c, hi) } else { (hi, c) });
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

fn parse_format(fmt: &str) -> Result<Vec<Result<Field, String>>, Exception> {
    // Ok(field) for conversions, Err(literal) for text to match
    let f: Vec<char> = fmt.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut lit = String::new();
    while i < f.len() {
        if f[i] != '%' {
            lit.push(f[i]);
            i += 1;
            continue;
        }
        if f.get(i + 1) == Some(&'%') {
            lit.push('%');
            i += 2;
            continue;
        }
        if !lit.is_empty() {
            out.push(Err(std::mem::take(&mut lit)));
        }
        i += 1;
        let mut field = Field {
            conv: Conv::Str,
            suppress: false,
            width: None,
            pos: None,
        };
        if f.get(i) == Some(&'*') {
            field.suppress = true;
            i += 1;
        } else {
            let st = i;
            while f.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            if i > st && f.get(i) == Some(&'$') {
                let n: usize = f[st..i].iter().collect::<String>().parse().unwrap_or(0);
                field.pos = Some(n);
                i += 1;
            } else {
                i = st;
            }
        }
        let st = i;
        while f.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        if i > st {
            field.width = f[st..i].iter().collect::<String>().parse().ok();
        }
        while f.get(i).is_some_and(|c| matches!(c, 'l' | 'L' | 'h')) {
            i += 1;
        }
        let Some(&c) = f.get(i) else {
            return err("format string ended in middle of field specifier");
        };
        i += 1;
        field.conv = match c {
            'd' => Conv::Int(10, false),
            'u' => Conv::Int(10, true),
            'i' => Conv::Int(0, false),
            'o' => Conv::Int(8, false),
            'x' | 'X' => Conv::Int(16, false),
            'b' => Conv::Int(2, false),
            'c' => Conv::Char,
            's' => Conv::Str,
            'f' | 'e' | 'E' | 'g' | 'G' => Conv::Float,
            'n' => Conv::Count,
            '[' => {
                let (r, neg, ni) = parse_set(&f, i)?;
                i = ni;
                Conv::Set(r, neg)
            }
            _ => return err(format!("bad scan conversion character \"{c}\"")),
        };
        out.push(Ok(field));
    }
    if !lit.is_empty() {
        out.push(Err(lit));
    }
    Ok(out)
}

/// Scan one integer in base `radix` (0: Tcl's `%i` rules) from `s`.
fn scan_int(s: &[char], radix: u32, unsigned: bool) -> Option<(String, usize)> {
    let mut i = 0;
    let neg = match s.first() {
        Some('-') => {
            i += 1;
            true
        }
        Some('+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut radix = radix;
    let lower = |k: usize| s.get(k).map(|c| c.to_ascii_lowercase());
    if radix == 0 {
        if s.get(i) == Some(&'0')
            && lower(i + 1) == Some('x')
            && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            i += 2;
        } else if s.get(i) == Some(&'0') {
            radix = 8;
        } else {
            radix = 10;
        }
    } else if radix == 16
        && s.get(i) == Some(&'0')
        && lower(i + 1) == Some('x')
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        i += 2;
    }
    let st = i;
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).and_then(|c| c.to_digit(radix)) {
        v = v.wrapping_mul(u64::from(radix)).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == st {
        return None;
    }
    let text = if unsigned {
        if neg { v.wrapping_neg() } else { v }.to_string()
    } else if neg {
        (v as i64).wrapping_neg().to_string()
    } else {
        (v as i64).to_string()
    };
    Some((text, i))
}

fn scan_float(s: &[char]) -> Option<(String, usize)> {
    let mut i = 0;
    if matches!(s.first(), Some('-') | Some('+')) {
        i += 1;
    }
    let ds = i;
    while s.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - ds;
    if s.get(i) == Some(&'.') {
        i += 1;
        let fs = i;
        while s.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        digits += i - fs;
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some('-') | Some('+')) {
            j += 1;
        }
        let es = j;
        while s.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
        if j > es {
            i = j;
        }
    }
    let t: String = s[..i].iter().collect();
    let x: f64 = t.parse().ok()?;
    Some((format_double(x), i))
}

/// `scan string format ?varName ...?`
pub(crate) fn cmd_scan(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 3 {
        return wrong_args("scan string format ?varName ...?");
    }
    let fields = parse_format(&a[2])?;
    let vars = &a[3..];
    let convs = fields
        .iter()
        .filter(|f| matches!(f, Ok(x) if !x.suppress))
        .count();
    let xpg = fields.iter().any(|f| matches!(f, Ok(x) if x.pos.is_some()));
    let slots = if xpg {
        fields
            .iter()
            .filter_map(|f| f.as_ref().ok().and_then(|x| x.pos))
            .max()
            .unwrap_or(0)
    } else {
        convs
    };
    if xpg {
        for f in fields.iter().flatten() {
            if !f.suppress && f.pos.is_none() {
                return err("cannot mix \"%\" and \"%n$\" conversion specifiers");
            }
            if f.pos == Some(0) || (!vars.is_empty() && f.pos.unwrap_or(0) > vars.len()) {
                return err("\"%n$\" argument index out of range");
            }
        }
    }
    if !vars.is_empty() && vars.len() != slots {
        return err(if vars.len() > slots {
            "variable is not assigned by any conversion specifiers"
        } else {
            "different numbers of variable names and field specifiers"
        });
    }
    let s: Vec<char> = a[1].chars().collect();
    let mut values: Vec<Option<String>> = vec![None; slots];
    let mut next = 0;
    let mut pos = 0;
    let mut done = 0;
    let mut underflow = false;
    'fields: for f in &fields {
        let f = match f {
            Err(lit) => {
                for c in lit.chars() {
                    if is_ws(c) {
                        while s.get(pos).is_some_and(|c| is_ws(*c)) {
                            pos += 1;
                        }
                    } else if s.get(pos) == Some(&c) {
                        pos += 1;
                    } else {
                        if pos >= s.len() {
                            underflow = true;
                        }
                        break 'fields;
                    }
                }
                continue;
            }
            Ok(f) => f,
        };
        if !matches!(f.conv, Conv::Char | Conv::Set(..) | Conv::Count) {
            while s.get(pos).is_some_and(|c| is_ws(*c)) {
                pos += 1;
            }
        }
        if pos >= s.len() && !matches!(f.conv, Conv::Count) {
            underflow = true;
            break;
        }
        let avail = &s[pos..];
        let lim = &avail[..f.width.unwrap_or(usize::MAX).min(avail.len())];
        let got: Option<(String, usize)> = match &f.conv {
            Conv::Int(r, u) => scan_int(lim, *r, *u),
            Conv::Float => scan_float(lim),
            Conv::Char => Some(((avail[0] as u32).to_string(), 1)),
            Conv::Str => {
                let n = lim.iter().take_while(|c| !is_ws(**c)).count();
                Some((lim[..n].iter().collect(), n))
            }
            Conv::Set(r, neg) => {
                let n = lim
                    .iter()
                    .take_while(|c| r.iter().any(|(lo, hi)| lo <= *c && *c <= hi) != *neg)
                    .count();
                (n > 0).then(|| (lim[..n].iter().collect(), n))
            }
            Conv::Count => Some((pos.to_string(), 0)),
        };
        let Some((v, n)) = got else { break };
        pos += n;
        if f.suppress {
            continue;
        }
        let slot = match f.pos {
            Some(p) => p - 1,
            None => {
                next += 1;
                next - 1
            }
        };
        if let Some(x) = values.get_mut(slot) {
            *x = Some(v);
        }
        if !matches!(f.conv, Conv::Count) {
            done += 1;
        }
    }
    if vars.is_empty() {
        if underflow && done == 0 {
            return Ok(String::new());
        }
        let v: Vec<String> = values.into_iter().map(Option::unwrap_or_default).collect();
        return Ok(make_list(&v));
    }
    for (name, v) in vars.iter().zip(values) {
        if let Some(v) = v {
            it.set_var(name, v).map_err(|_| {
                Exception::from(TclError::new(format!("couldn't set variable \"{name}\"")))
            })?;
        }
    }
    if underflow && done == 0 {
        return Ok("-1".into());
    }
    Ok(done.to_string())
}
