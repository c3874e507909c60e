//! `string` and `format`, and glob matching.

use super::builtins::{get_index, get_int};
use super::num::{format_double, parse_bool, parse_float, parse_int, parse_num};
use super::{err, list, wrong_args, Exception, Interp, TclError, TclResult};

/// Tcl's `string match` glob matching (`*`, `?`, `[a-z]`, `\x`).
pub fn glob_match(pat: &str, s: &str, nocase: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if nocase {
        (
            pat.to_lowercase().chars().collect(),
            s.to_lowercase().chars().collect(),
        )
    } else {
        (pat.chars().collect(), s.chars().collect())
    };
    glob(&p, &t)
}

fn glob(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    while pi < p.len() && p[pi] == '*' {
                        pi += 1;
                    }
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, ti));
                    continue;
                }
                '?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if ti < t.len() => {
                    if let Some((ok, np)) = class(p, pi, t[ti]) {
                        if ok {
                            pi = np;
                            ti += 1;
                            continue;
                        }
                    }
                }
                '\\' if pi + 1 < p.len() && ti < t.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '\\' && ti < t.len() && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 == p.len() && ti < t.len() && t[ti] == '\\' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            _ => return false,
        }
    }
}

fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let mut ok = false;
    while i < p.len() && p[i] != ']' {
        let mut lo = p[i];
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let mut hi = p[i + 2];
            i += 2;
            if hi == '\\' && i + 1 < p.len() {
                i += 1;
                hi = p[i];
            }
            let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            if a <= c && c <= b {
                ok = true;
            }
        } else if lo == c {
            ok = true;
        }
        i += 1;
    }
    if i >= p.len() {
        // unterminated class: Tcl matches up to the end of the pattern
        return Some((ok, i));
    }
    Some((ok, i + 1))
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

const WS: &[char] = &[' ', '\t', '\n', '\r', '\0'];

pub(super) fn cmd_string(it: &mut Interp, a: &[String]) -> TclResult {
    let _ = it;
    if a.len() < 2 {
        return wrong_args("string subcommand ?arg ...?");
    }
    let sub = a[1].as_str();
    let args = &a[2..];
    match sub {
        "length" => {
            if args.len() != 1 {
                return wrong_args("string length string");
            }
            Ok(args[0].chars().count().to_string())
        }
        "equal" | "compare" => {
            let usage = format!("string {sub} ?-nocase? ?-length int? string1 string2");
            let mut nocase = false;
            let mut len: Option<i64> = None;
            let mut i = 0;
            while i + 2 < args.len() {
                match args[i].as_str() {
                    "-nocase" => nocase = true,
                    "-length" => {
                        i += 1;
                        if i + 2 > args.len() {
                            return wrong_args(&usage);
                        }
                        len = Some(get_int(&args[i])?);
                    }
                    o => {
                        return err(format!(
                            "bad option \"{o}\": must be -nocase or -length"
                        ))
                    }
                }
                i += 1;
            }
            if args.len() - i != 2 {
                return wrong_args(&usage);
            }
            let (mut x, mut y) = (args[i].clone(), args[i + 1].clone());
            if nocase {
                x = x.to_lowercase();
                y = y.to_lowercase();
            }
            if let Some(n) = len {
                if n >= 0 {
                    x = x.chars().take(n as usize).collect();
                    y = y.chars().take(n as usize).collect();
                }
            }
            if sub == "equal" {
                Ok(if x == y { "1" } else { "0" }.into())
            } else {
                Ok(match x.cmp(&y) {
                    std::cmp::Ordering::Less => "-1",
                    std::cmp::Ordering::Equal => "0",
                    std::cmp::Ordering::Greater => "1",
                }
                .into())
            }
        }
        "match" => {
            let (nocase, p, s) = match args {
                [p, s] => (false, p, s),
                [o, p, s] if o == "-nocase" => (true, p, s),
                [o, _, _] => return err(format!("bad option \"{o}\": must be -nocase")),
                _ => return wrong_args("string match ?-nocase? pattern string"),
            };
            Ok(if glob_match(p, s, nocase) { "1" } else { "0" }.into())
        }
        "range" => {
            if args.len() != 3 {
                return wrong_args("string range string first last");
            }
            let c = chars(&args[0]);
            let f = get_index(&args[1], c.len())?.max(0);
            let l = get_index(&args[2], c.len())?.min(c.len() as i64 - 1);
            if f > l {
                return Ok(String::new());
            }
            Ok(c[f as usize..=l as usize].iter().collect())
        }
        "index" => {
            if args.len() != 2 {
                return wrong_args("string index string charIndex");
            }
            let c = chars(&args[0]);
            let i = get_index(&args[1], c.len())?;
            if i < 0 || i as usize >= c.len() {
                return Ok(String::new());
            }
            Ok(c[i as usize].to_string())
        }
        "first" | "last" => {
            if args.len() != 2 && args.len() != 3 {
                let w = if sub == "first" { "startIndex" } else { "lastIndex" };
                return wrong_args(&format!("string {sub} needleString haystackString ?{w}?"));
            }
            let n = chars(&args[0]);
            let h = chars(&args[1]);
            if n.is_empty() {
                return Ok("-1".into());
            }
            if sub == "first" {
                let start = if args.len() == 3 { get_index(&args[2], h.len())?.max(0) as usize } else { 0 };
                let mut i = start;
                while i + n.len() <= h.len() {
                    if h[i..i + n.len()] == n[..] {
                        return Ok(i.to_string());
                    }
                    i += 1;
                }
                Ok("-1".into())
            } else {
                let last = if args.len() == 3 { get_index(&args[2], h.len())? } else { h.len() as i64 - 1 };
                if last < 0 {
                    return Ok("-1".into());
                }
                let last = (last as usize).min(h.len().saturating_sub(1));
                let mut i = (last + 1).min(h.len()) as i64 - n.len() as i64;
                if i + n.len() as i64 > h.len() as i64 {
                    i = h.len() as i64 - n.len() as i64;
                }
                while i >= 0 {
                    let iu = i as usize;
                    if h[iu..iu + n.len()] == n[..] {
                        return Ok(i.to_string());
                    }
                    i -= 1;
                }
                Ok("-1".into())
            }
        }
        "map" => {
            let (nocase, m, s) = match args {
                [m, s] => (false, m, s),
                [o, m, s] if o == "-nocase" => (true, m, s),
                [o, _, _] => return err(format!("bad option \"{o}\": must be -nocase")),
                _ => return wrong_args("string map ?-nocase? charMap string"),
            };
            let l = super::builtins::get_list(m)?;
            if l.len() % 2 != 0 {
                return err("char map list unbalanced");
            }
            let pairs: Vec<(Vec<char>, String)> = l.chunks(2).map(|p| (chars(&if nocase { p[0].to_lowercase() } else { p[0].clone() }), p[1].clone())).collect();
            let sc = chars(s);
            let cmpc: Vec<char> = if nocase { chars(&s.to_lowercase()) } else { sc.clone() };
            let mut out = String::new();
            let mut i = 0;
            'outer: while i < sc.len() {
                for (k, v) in &pairs {
                    if !k.is_empty() && i + k.len() <= cmpc.len() && cmpc[i..i + k.len()] == k[..] {
                        out.push_str(v);
                        if out.len() > super::MAX_VALUE {
                            return Err(super::too_big());
                        }
                        i += k.len();
                        continue 'outer;
                    }
                }
                out.push(sc[i]);
                i += 1;
            }
            Ok(out)
        }
        "trim" | "trimleft" | "trimright" => {
            if args.is_empty() || args.len() > 2 {
                return wrong_args(&format!("string {sub} string ?chars?"));
            }
            let set: Vec<char> = if args.len() == 2 { chars(&args[1]) } else { WS.to_vec() };
            let f = |c: char| set.contains(&c);
            Ok(match sub {
                "trim" => args[0].trim_matches(f),
                "trimleft" => args[0].trim_start_matches(f),
                _ => args[0].trim_end_matches(f),
            }
            .to_string())
        }
        "toupper" | "tolower" | "totitle" => {
            if args.is_empty() || args.len() > 3 {
                return wrong_args(&format!("string {sub} string ?first? ?last?"));
            }
            let c = chars(&args[0]);
            let f = if args.len() >= 2 { get_index(&args[1], c.len())?.max(0) as usize } else { 0 };
            let l = if args.len() == 3 {
                get_index(&args[2], c.len())?.min(c.len() as i64 - 1)
            } else if args.len() == 2 {
                f as i64
            } else {
                c.len() as i64 - 1
            };
            let mut out = String::new();
            for (i, ch) in c.iter().enumerate() {
                if i >= f && (i as i64) <= l {
                    match sub {
                        "toupper" => out.extend(ch.to_uppercase()),
                        "tolower" => out.extend(ch.to_lowercase()),
                        _ => {
                            if i == f {
                                out.extend(ch.to_uppercase())
                            } else {
                                out.extend(ch.to_lowercase())
                            }
                        }
                    }
                } else {
                    out.push(*ch);
                }
            }
            Ok(out)
        }
        "repeat" => {
            if args.len() != 2 {
                return wrong_args("string repeat string count");
            }
            let n = get_int(&args[1])?;
            if n <= 0 {
                return Ok(String::new());
            }
            if (n as u128) * (args[0].len() as u128) > 64 * 1024 * 1024 {
                return err("result exceeds max size for a Tcl value");
            }
            Ok(args[0].repeat(n as usize))
        }
        "reverse" => {
            if args.len() != 1 {
                return wrong_args("string reverse string");
            }
            Ok(args[0].chars().rev().collect())
        }
        "is" => string_is(it, args),
        _ => err(format!(
            "unknown or ambiguous subcommand \"{sub}\": must be bytelength, cat, compare, equal, first, index, is, last, length, map, match, range, repeat, replace, reverse, tolower, totitle, toupper, trim, trimleft, trimright, wordend, wordstart, or wordstart"
        )
        .replace(", or wordstart, or wordstart", ", or wordstart")),
    }
}

fn is_class(class: &str, s: &str) -> Option<bool> {
    let all = |f: &dyn Fn(char) -> bool| s.chars().all(f);
    let int32 = |s: &str| parse_int(s).is_some_and(|v| v.unsigned_abs() <= u64::from(u32::MAX));
    let word = |w: &str| parse_num(w).is_none() && parse_bool(w).is_some();
    Some(match class {
        "integer" => int32(s),
        "wideinteger" | "entier" => parse_int(s).is_some(),
        "double" => parse_float(s).is_some(),
        "boolean" => matches!(s, "0" | "1") || word(s),
        "true" => s == "1" || (word(s) && parse_bool(s) == Some(true)),
        "false" => s == "0" || (word(s) && parse_bool(s) == Some(false)),
        "digit" => all(&|c| c.is_ascii_digit()),
        "alpha" => all(&|c| c.is_alphabetic()),
        "alnum" => all(&|c| c.is_alphanumeric()),
        "space" => all(&|c| c.is_whitespace()),
        "upper" => all(&|c| c.is_uppercase()),
        "lower" => all(&|c| c.is_lowercase()),
        "xdigit" => all(&|c| c.is_ascii_hexdigit()),
        "ascii" => all(&|c| c.is_ascii()),
        "control" => all(&|c| c.is_control()),
        "print" => all(&|c| !c.is_control()),
        "graph" => all(&|c| !c.is_control() && !c.is_whitespace()),
        "punct" => all(&|c| {
            c.is_ascii_punctuation()
                || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
        }),
        "wordchar" => all(&|c| c.is_alphanumeric() || c == '_'),
        "list" => list::parse_list(s).is_ok(),
        _ => return None,
    })
}

fn string_is(it: &mut Interp, args: &[String]) -> TclResult {
    let usage = "string is class ?-strict? ?-failindex var? str";
    if args.len() < 2 {
        return wrong_args(usage);
    }
    let class = args[0].as_str();
    let mut strict = false;
    let mut failvar: Option<&String> = None;
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "-strict" => strict = true,
            "-failindex" if i + 2 < args.len() => {
                failvar = Some(&args[i + 1]);
                i += 1;
            }
            o => return err(format!("bad option \"{o}\": must be -strict or -failindex")),
        }
        i += 1;
    }
    if i + 1 != args.len() {
        return wrong_args(usage);
    }
    let s = &args[args.len() - 1];
    let Some(mut r) = is_class(class, s) else {
        return err(format!(
            "bad class \"{class}\": must be alnum, alpha, ascii, control, boolean, digit, double, entier, false, graph, integer, list, lower, print, punct, space, true, upper, wideinteger, wordchar, or xdigit"
        ));
    };
    if s.is_empty() {
        // the empty string is a list even with -strict
        r = !strict || class == "list";
    }
    if !r {
        if let Some(v) = failvar {
            let c: Vec<char> = s.chars().collect();
            let k = (0..c.len())
                .rev()
                .find(|k| {
                    let pre: String = c[..*k].iter().collect();
                    *k == 0 || is_class(class, &pre) == Some(true)
                })
                .unwrap_or(0);
            it.set_var(v, k.to_string())?;
        }
    }
    Ok(if r { "1" } else { "0" }.into())
}

// ----- format -----

struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    alt: bool,
    width: usize,
    prec: Option<usize>,
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    let len = body.chars().count();
    if len >= spec.width {
        return body;
    }
    let fill = spec.width - len;
    if spec.minus {
        return format!("{body}{}", " ".repeat(fill));
    }
    if spec.zero && numeric {
        // zeros go after the sign / 0x prefix
        let (sign, rest) = if body.starts_with(['-', '+', ' ']) {
            body.split_at(1)
        } else {
            ("", body.as_str())
        };
        let (pre, digits) = if rest.starts_with("0x") || rest.starts_with("0X") {
            rest.split_at(2)
        } else {
            ("", rest)
        };
        return format!("{sign}{pre}{}{digits}", "0".repeat(fill));
    }
    format!("{}{body}", " ".repeat(fill))
}

fn sign_prefix(spec: &Spec, neg: bool) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

/// C-style %e with `p` fraction digits; exponent at least two digits.
/// The most digits after the point asked of Rust's formatter, which panics on large ones
/// (found by the tcl_parse fuzz target with `format %.222222e 1`). Every finite double is
/// exact within 1,074 digits after the point (and 767 significant ones), so a larger
/// precision is those digits and then zeros, as Tcl prints them.
const MAX_RUST_PRECISION: usize = 1100;

/// `x` with `p` digits after the point.
fn fixed(x: f64, p: usize) -> String {
    let q = p.min(MAX_RUST_PRECISION);
    let mut s = format!("{x:.q$}");
    s.extend(std::iter::repeat_n('0', p - q));
    s
}

/// `x` in Rust's exponent form with `p` digits after the point (`1.50e3`).
fn exponent(x: f64, p: usize) -> String {
    let q = p.min(MAX_RUST_PRECISION);
    let s = format!("{x:.q$e}");
    if p == q {
        return s;
    }
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let zeros: String = std::iter::repeat_n('0', p - q).collect();
    format!("{mantissa}{zeros}e{exp}")
}

fn fmt_e(x: f64, p: usize, upper: bool) -> String {
    let s = exponent(x.abs(), p);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let es = format!("{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    format!("{m}{}{es}", if upper { 'E' } else { 'e' })
}

fn fmt_g(x: f64, p: usize, alt: bool, upper: bool) -> String {
    let p = if p == 0 { 1 } else { p };
    if x == 0.0 {
        let mut s = "0".to_string();
        if alt {
            s.push('.');
            s.push_str(&"0".repeat(p - 1));
        }
        return s;
    }
    let es = exponent(x.abs(), p - 1);
    let exp: i32 = es
        .split_once('e')
        .map(|(_, e)| e.parse().unwrap_or(0))
        .unwrap_or(0);
    let mut s = if exp < -4 || exp >= p as i32 {
        fmt_e(x.abs(), p - 1, upper)
    } else {
        fixed(x.abs(), (p as i32 - 1 - exp).max(0) as usize)
    };
    if !alt {
        // strip trailing zeros of the fraction
        let (mant, exp_part) = match s.find(['e', 'E']) {
            Some(i) => (s[..i].to_string(), s[i..].to_string()),
            None => (s.clone(), String::new()),
        };
        let mant = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            mant
        };
        s = format!("{mant}{exp_part}");
    } else if !s.contains('.') {
        s.push('.');
    }
    s
}

/// Largest field width or precision `format` pads to: Tcl allows up to
/// 2^31-1 (and fails beyond with the same message); the cap here keeps a
/// one-line script from allocating gigabytes.
const MAX_FIELD: usize = 64 * 1024 * 1024;

fn field_size(digits: &str) -> Result<usize, Exception> {
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_FIELD => Ok(n),
        _ => err("max size for a Tcl value exceeded"),
    }
}

pub(super) fn cmd_format(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("format formatString ?arg ...?");
    }
    let f: Vec<char> = a[1].chars().collect();
    let args = &a[2..];
    let mut ai = 0;
    let mut out = String::new();
    let mut i = 0;
    let next_arg = |ai: &mut usize| -> Result<String, Exception> {
        if *ai >= args.len() {
            return err("not enough arguments for all format specifiers");
        }
        *ai += 1;
        Ok(args[*ai - 1].clone())
    };
    while i < f.len() {
        if out.len() > super::MAX_VALUE {
            return Err(super::too_big());
        }
        if f[i] != '%' {
            out.push(f[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i < f.len() && f[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        // XPG3 position specifier n$
        let mut j = i;
        while j < f.len() && f[j].is_ascii_digit() {
            j += 1;
        }
        if j < f.len() && f[j] == '$' && j > i {
            let n: usize = f[i..j].iter().collect::<String>().parse().unwrap_or(0);
            if n == 0 || n > args.len() {
                return err("\"%n$\" argument index out of range");
            }
            ai = n - 1;
            i = j + 1;
        }
        let mut spec = Spec {
            minus: false,
            plus: false,
            space: false,
            zero: false,
            alt: false,
            width: 0,
            prec: None,
        };
        while i < f.len() {
            match f[i] {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        if i < f.len() && f[i] == '*' {
            let w = get_int(&next_arg(&mut ai)?)?;
            if w < 0 {
                spec.minus = true;
            }
            spec.width = field_size(&w.unsigned_abs().to_string())?;
            i += 1;
        } else {
            let st = i;
            while i < f.len() && f[i].is_ascii_digit() {
                i += 1;
            }
            if i > st {
                spec.width = field_size(&f[st..i].iter().collect::<String>())?;
            }
        }
        if i < f.len() && f[i] == '.' {
            i += 1;
            if i < f.len() && f[i] == '*' {
                let p = get_int(&next_arg(&mut ai)?)?.max(0);
                spec.prec = Some(field_size(&p.to_string())?);
                i += 1;
            } else {
                let st = i;
                while i < f.len() && f[i].is_ascii_digit() {
                    i += 1;
                }
                let digits: String = f[st..i].iter().collect();
                spec.prec = Some(if digits.is_empty() {
                    0
                } else {
                    field_size(&digits)?
                });
            }
        }
        // size modifiers
        while i < f.len() && matches!(f[i], 'l' | 'h' | 'L' | 'q' | 'j' | 'z' | 't') {
            i += 1;
        }
        if i >= f.len() {
            return err("format string ended in middle of field specifier");
        }
        let conv = f[i];
        i += 1;
        match conv {
            's' => {
                let mut s = next_arg(&mut ai)?;
                if let Some(p) = spec.prec {
                    s = s.chars().take(p).collect();
                }
                out.push_str(&pad(&spec, s, false));
            }
            'c' => {
                let v = get_int(&next_arg(&mut ai)?)?;
                let c = char::from_u32(v as u32).unwrap_or('\u{fffd}');
                out.push_str(&pad(&spec, c.to_string(), false));
            }
            'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'b' => {
                let arg = next_arg(&mut ai)?;
                let v = get_int(&arg)?;
                let neg = v < 0 && matches!(conv, 'd' | 'i');
                let mag = if matches!(conv, 'd' | 'i') {
                    v.unsigned_abs()
                } else {
                    v as u64
                };
                let mut digits = match conv {
                    'x' => format!("{mag:x}"),
                    'X' => format!("{mag:X}"),
                    'o' => format!("{mag:o}"),
                    'b' => format!("{mag:b}"),
                    _ => mag.to_string(),
                };
                if let Some(p) = spec.prec {
                    if digits.len() < p {
                        digits = format!("{}{digits}", "0".repeat(p - digits.len()));
                    }
                    if p == 0 && mag == 0 {
                        digits.clear();
                    }
                }
                let prefix = if spec.alt && mag != 0 {
                    match conv {
                        'x' => "0x",
                        'X' => "0X",
                        'o' => "0",
                        'b' => "0b",
                        _ => "",
                    }
                } else {
                    ""
                };
                let sign = if matches!(conv, 'd' | 'i') {
                    sign_prefix(&spec, neg)
                } else {
                    ""
                };
                let mut sp = Spec { ..spec };
                if sp.prec.is_some() {
                    sp.zero = false;
                }
                out.push_str(&pad(&sp, format!("{sign}{prefix}{digits}"), true));
            }
            'f' | 'e' | 'E' | 'g' | 'G' => {
                let arg = next_arg(&mut ai)?;
                let Some(x) = parse_float(&arg) else {
                    return Err(TclError::with_code(
                        format!("expected floating-point number but got \"{arg}\""),
                        "TCL VALUE NUMBER",
                    )
                    .into());
                };
                let p = spec.prec.unwrap_or(6);
                let neg = x.is_sign_negative();
                let body = if x.is_nan() {
                    "nan".to_string()
                } else if x.is_infinite() {
                    "inf".to_string()
                } else {
                    match conv {
                        'f' => {
                            let mut s = fixed(x.abs(), p);
                            if spec.alt && p == 0 {
                                s.push('.');
                            }
                            s
                        }
                        'e' | 'E' => fmt_e(x, p, conv == 'E'),
                        _ => fmt_g(x, p, spec.alt, conv == 'G'),
                    }
                };
                let sign =
                    sign_prefix(&spec, neg && x != 0.0 || (x == 0.0 && x.is_sign_negative()));
                out.push_str(&pad(&spec, format!("{sign}{body}"), x.is_finite()));
            }
            c => {
                return err(format!("bad field specifier \"{c}\""));
            }
        }
    }
    let _ = format_double;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_match("a*c", "abbbc", false));
        assert!(glob_match("a?c", "abc", false));
        assert!(!glob_match("a?c", "ac", false));
        assert!(glob_match("[a-c]x", "bx", false));
        assert!(glob_match("*", "", false));
        assert!(glob_match("a\\*", "a*", false));
        assert!(!glob_match("a\\*", "ab", false));
        assert!(glob_match("A*", "abc", true));
    }

    #[test]
    fn formats() {
        let mut it = Interp::new();
        let r = it
            .eval("format \"%g|%e|%.3g|%#g|%10.4f|%-5x|%05d|%+d|%o|%c|%s|%5s|%-5s|%.2s\" 1e-5 1234.5 0.00012345 1.0 3.14159 255 42 5 8 65 hi ab ab abcdef")
            .unwrap();
        assert_eq!(
            r,
            "1e-05|1.234500e+03|0.000123|1.00000|    3.1416|ff   |00042|+5|10|A|hi|   ab|ab   |ab"
        );
    }
}
