//! List commands.

use super::builtins::{get_index, get_int, get_list};
use super::list::make_list;
use super::num::parse_int;
use super::{err, strings, wrong_args, Exception, Interp, TclError, TclResult};

pub(crate) fn cmd_list(_it: &mut Interp, a: &[String]) -> TclResult {
    Ok(make_list(&a[1..]))
}

pub(crate) fn cmd_lindex(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("lindex list ?index ...?");
    }
    let mut cur = a[1].clone();
    let indices: Vec<String> = if a.len() == 3 {
        // a single argument may be a list of indices
        get_list(&a[2])?
    } else {
        a[2..].to_vec()
    };
    for ix in &indices {
        let l = get_list(&cur)?;
        let i = get_index(ix, l.len())?;
        if i < 0 || i as usize >= l.len() {
            return Ok(String::new());
        }
        cur = l[i as usize].clone();
    }
    Ok(cur)
}

pub(crate) fn cmd_llength(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("llength list");
    }
    Ok(get_list(&a[1])?.len().to_string())
}

pub(crate) fn cmd_lappend(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("lappend varName ?value ...?");
    }
    let cur = if it.var_exists(&a[1]) {
        it.get_var(&a[1])?
    } else {
        String::new()
    };
    let mut l = get_list(&cur)?;
    if a.len() == 2 {
        return it.set_var(&a[1], cur);
    }
    l.extend(a[2..].iter().cloned());
    // Tcl appends to the existing string rep canonicalised as a list
    it.set_var(&a[1], make_list(&l))
}

pub(crate) fn range_bounds(
    first: &str,
    last: &str,
    len: usize,
) -> Result<Option<(usize, usize)>, Exception> {
    let f = get_index(first, len)?.max(0);
    let l = get_index(last, len)?.min(len as i64 - 1);
    if f > l {
        return Ok(None);
    }
    Ok(Some((f as usize, l as usize)))
}

pub(crate) fn cmd_lrange(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 4 {
        return wrong_args("lrange list first last");
    }
    let l = get_list(&a[1])?;
    match range_bounds(&a[2], &a[3], l.len())? {
        Some((f, t)) => Ok(make_list(&l[f..=t])),
        None => Ok(String::new()),
    }
}

pub(crate) fn cmd_lsearch(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 3 {
        return wrong_args("lsearch ?-option value ...? list pattern");
    }
    let mut mode = "glob";
    let mut kind = "ascii";
    let (mut all, mut inline, mut not, mut nocase) = (false, false, false, false);
    let (mut sorted, mut subindices) = (false, false);
    let mut index: Option<Vec<String>> = None;
    let mut start = 0i64;
    let mut i = 1;
    let mut mode_given = false;
    while i < a.len() - 2 {
        match a[i].as_str() {
            "-exact" | "-glob" | "-regexp" => {
                mode = &a[i][1..];
                mode_given = true;
            }
            "-all" => all = true,
            "-inline" => inline = true,
            "-not" => not = true,
            "-nocase" => nocase = true,
            "-sorted" | "-bisect" => sorted = true,
            "-ascii" | "-dictionary" => kind = "ascii",
            "-integer" => kind = "integer",
            "-real" => kind = "real",
            "-increasing" | "-decreasing" => {}
            "-subindices" => subindices = true,
            "-start" | "-index" => {
                i += 1;
                if i >= a.len() - 2 {
                    return err(if a[i - 1] == "-start" {
                        "missing starting index"
                    } else {
                        "\"-index\" option must be followed by list index"
                    });
                }
                if a[i - 1] == "-start" {
                    start = get_index(&a[i], 0)?;
                } else {
                    index = Some(get_list(&a[i])?);
                }
            }
            o => {
                return err(format!(
                    "bad option \"{o}\": must be -all, -ascii, -bisect, -decreasing, -dictionary, -exact, -glob, -increasing, -index, -inline, -integer, -nocase, -not, -real, -regexp, -sorted, -start, or -subindices"
                ))
            }
        }
        i += 1;
    }
    if sorted && !mode_given {
        mode = "exact";
    }
    if subindices && index.is_none() {
        return err("-subindices cannot be used without -index option");
    }
    let l = get_list(&a[a.len() - 2])?;
    let pat = &a[a.len() - 1];
    let num = |s: &str| -> Result<f64, Exception> {
        match kind {
            "integer" => Ok(get_int(s)? as f64),
            _ => super::num::parse_float(s).ok_or_else(|| {
                TclError::new(format!("expected floating-point number but got \"{s}\"")).into()
            }),
        }
    };
    let pat_num = if mode == "exact" && kind != "ascii" {
        Some(num(pat)?)
    } else {
        None
    };
    let mut hits = Vec::new();
    for (k, e) in l.iter().enumerate().skip(start.max(0) as usize) {
        let key = match &index {
            Some(ix) => {
                let mut cur = e.clone();
                for x in ix {
                    let sub = get_list(&cur)?;
                    let j = get_index(x, sub.len())?;
                    if j < 0 || j as usize >= sub.len() {
                        return err(format!("element {x} missing from sublist \"{cur}\""));
                    }
                    cur = sub[j as usize].clone();
                }
                cur
            }
            None => e.clone(),
        };
        let m = match mode {
            "exact" => match pat_num {
                Some(p) => num(&key)? == p,
                None if nocase => key.to_lowercase() == pat.to_lowercase(),
                None => &key == pat,
            },
            "regexp" => super::regexp::matches(it, pat, &key, nocase)?,
            _ => strings::glob_match(pat, &key, nocase),
        };
        if m != not {
            hits.push(k);
            if !all {
                break;
            }
        }
    }
    if inline {
        let v: Vec<String> = hits.iter().map(|k| l[*k].clone()).collect();
        if all {
            return Ok(make_list(&v));
        }
        return Ok(v.into_iter().next().unwrap_or_default());
    }
    // -subindices: the path of the matching term, not just the element's index
    let path = |k: usize| -> String {
        match (&index, subindices) {
            (Some(ix), true) => {
                let mut p = vec![k.to_string()];
                p.extend(ix.iter().cloned());
                make_list(&p)
            }
            _ => k.to_string(),
        }
    };
    if all {
        let v: Vec<String> = hits.iter().map(|k| path(*k)).collect();
        return Ok(make_list(&v));
    }
    Ok(hits
        .first()
        .map(|k| path(*k))
        .unwrap_or_else(|| "-1".into()))
}

pub(crate) fn cmd_lsort(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("lsort ?-option value ...? list");
    }
    let mut kind = "ascii";
    let (mut dec, mut unique, mut nocase) = (false, false, false);
    for o in &a[1..a.len() - 1] {
        match o.as_str() {
            "-ascii" | "-dictionary" => kind = "ascii",
            "-integer" => kind = "integer",
            "-real" => kind = "real",
            "-decreasing" => dec = true,
            "-increasing" => dec = false,
            "-unique" => unique = true,
            "-nocase" => nocase = true,
            _ => {
                return err(format!(
                    "bad option \"{o}\": must be -ascii, -command, -decreasing, -dictionary, -increasing, -index, -indices, -integer, -nocase, -real, -stride, or -unique"
                ))
            }
        }
    }
    let mut l = get_list(&a[a.len() - 1])?;
    let mut err_v: Option<Exception> = None;
    let key = |s: &String| -> f64 {
        match kind {
            "integer" => parse_int(s).map(|i| i as f64).unwrap_or(f64::NAN),
            _ => super::num::parse_float(s).unwrap_or(f64::NAN),
        }
    };
    if kind != "ascii" {
        for s in &l {
            if key(s).is_nan() {
                err_v = Some(if kind == "integer" {
                    get_int(s).unwrap_err()
                } else {
                    TclError::new(format!("expected floating-point number but got \"{s}\"")).into()
                });
                break;
            }
        }
    }
    if let Some(e) = err_v {
        return Err(e);
    }
    let cmp = |x: &String, y: &String| -> std::cmp::Ordering {
        match kind {
            "ascii" => {
                if nocase {
                    super::num::tcl_cmp(&x.to_lowercase(), &y.to_lowercase())
                } else {
                    super::num::tcl_cmp(x, y)
                }
            }
            "integer" => parse_int(x).cmp(&parse_int(y)),
            _ => key(x)
                .partial_cmp(&key(y))
                .unwrap_or(std::cmp::Ordering::Equal),
        }
    };
    l.sort_by(|x, y| if dec { cmp(y, x) } else { cmp(x, y) });
    if unique {
        let mut out: Vec<String> = Vec::new();
        for s in l {
            if let Some(last) = out.last_mut() {
                if cmp(last, &s) == std::cmp::Ordering::Equal {
                    *last = s;
                    continue;
                }
            }
            out.push(s);
        }
        l = out;
    }
    Ok(make_list(&l))
}

pub(crate) fn cmd_lreverse(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("lreverse list");
    }
    let mut l = get_list(&a[1])?;
    l.reverse();
    Ok(make_list(&l))
}

pub(crate) fn cmd_linsert(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 3 {
        return wrong_args("linsert list index ?element ...?");
    }
    let mut l = get_list(&a[1])?;
    let idx = if a[2].starts_with("end") {
        get_index(&a[2], l.len())? + 1
    } else {
        get_index(&a[2], l.len())?
    };
    let idx = idx.clamp(0, l.len() as i64) as usize;
    for (k, v) in a[3..].iter().enumerate() {
        l.insert(idx + k, v.clone());
    }
    Ok(make_list(&l))
}

pub(crate) fn cmd_lreplace(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 4 {
        return wrong_args("lreplace list first last ?element ...?");
    }
    let mut l = get_list(&a[1])?;
    let len = l.len() as i64;
    let f = get_index(&a[2], l.len())?.clamp(0, len);
    let t = get_index(&a[3], l.len())?.min(len - 1);
    let (f, t) = (f as usize, t);
    let n_remove = if t < f as i64 {
        0
    } else {
        (t - f as i64 + 1) as usize
    };
    l.splice(f..f + n_remove, a[4..].iter().cloned());
    Ok(make_list(&l))
}

pub(crate) fn cmd_join(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("join list ?joinString?");
    }
    let sep = if a.len() == 3 { a[2].as_str() } else { " " };
    let l = get_list(&a[1])?;
    let size: usize = l.iter().map(String::len).sum::<usize>() + sep.len() * l.len();
    if size > super::MAX_VALUE {
        return Err(super::too_big());
    }
    Ok(l.join(sep))
}

pub(crate) fn cmd_split(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("split string ?splitChars?");
    }
    let chars: Vec<char> = if a.len() == 3 {
        a[2].chars().collect()
    } else {
        vec![' ', '\t', '\n', '\r']
    };
    let s = &a[1];
    if s.is_empty() {
        return Ok(String::new());
    }
    let parts: Vec<String> = if chars.is_empty() {
        s.chars().map(|c| c.to_string()).collect()
    } else {
        s.split(|c| chars.contains(&c))
            .map(str::to_string)
            .collect()
    };
    Ok(make_list(&parts))
}

/// Tcl's `concat`: trim each argument and join with single spaces.
pub(crate) fn concat(args: &[String]) -> String {
    let ws: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];
    let parts: Vec<&str> = args
        .iter()
        .map(|s| {
            let t = s.trim_start_matches(ws);
            let mut r = t.trim_end_matches(ws);
            // do not expose a trailing backslash (keep the space it escapes)
            if r.len() < t.len() && r.ends_with('\\') {
                r = &t[..r.len() + 1];
            }
            r
        })
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(" ")
}

pub(crate) fn cmd_concat(_it: &mut Interp, a: &[String]) -> TclResult {
    Ok(concat(&a[1..]))
}
