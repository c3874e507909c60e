//! The core commands: variables, control flow, procedures, lists, info,
//! array.

use super::list::{make_list, parse_list};
use super::num::parse_int;
use super::{err, mark_logged, wrong_args, Exception, Interp, TclError, TclResult};
use super::{exec, strings};

pub(super) fn register(it: &mut Interp) {
    let cmds: &[(&str, super::BuiltinFn)] = &[
        ("set", cmd_set),
        ("unset", cmd_unset),
        ("incr", cmd_incr),
        ("append", cmd_append),
        ("proc", cmd_proc),
        ("return", cmd_return),
        ("if", cmd_if),
        ("while", cmd_while),
        ("for", cmd_for),
        ("foreach", cmd_foreach),
        ("break", cmd_break),
        ("continue", cmd_continue),
        ("catch", cmd_catch),
        ("error", cmd_error),
        ("expr", cmd_expr),
        ("puts", cmd_puts),
        ("list", cmd_list),
        ("lindex", cmd_lindex),
        ("llength", cmd_llength),
        ("lappend", cmd_lappend),
        ("lrange", cmd_lrange),
        ("lsearch", cmd_lsearch),
        ("lsort", cmd_lsort),
        ("lreverse", cmd_lreverse),
        ("linsert", cmd_linsert),
        ("lreplace", cmd_lreplace),
        ("join", cmd_join),
        ("split", cmd_split),
        ("concat", cmd_concat),
        ("eval", cmd_eval),
        ("uplevel", cmd_uplevel),
        ("upvar", cmd_upvar),
        ("global", cmd_global),
        ("info", cmd_info),
        ("array", cmd_array),
        ("switch", cmd_switch),
        ("after", cmd_after),
        ("rename", cmd_rename),
        ("string", strings::cmd_string),
        ("format", strings::cmd_format),
        ("exec", exec::cmd_exec),
    ];
    for (n, f) in cmds {
        it.register_builtin(n, *f);
    }
}

pub(super) fn get_list(s: &str) -> Result<Vec<String>, Exception> {
    parse_list(s).map_err(|m| TclError::with_code(m, "TCL VALUE LIST").into())
}

pub(super) fn get_int(s: &str) -> Result<i64, Exception> {
    parse_int(s).ok_or_else(|| {
        let mut m = format!("expected integer but got \"{s}\"");
        let t = s.trim();
        if t.len() > 1 && t.starts_with('0') && t.bytes().all(|c| c.is_ascii_digit()) {
            m.push_str(" (looks like invalid octal number)");
        }
        TclError::with_code(m, "TCL VALUE NUMBER").into()
    })
}

/// Parse a list index (`end`, `end-1`, `3`, `1+2`) against a length.
pub(super) fn get_index(s: &str, len: usize) -> Result<i64, Exception> {
    let bad = || -> Exception {
        TclError::with_code(
            format!("bad index \"{s}\": must be integer?[+-]integer? or end?[+-]integer?"),
            "TCL VALUE INDEX",
        )
        .into()
    };
    let len = len as i64;
    let t = s.trim();
    let int_of = |x: &str| -> Option<i64> {
        if x.is_empty() || x.starts_with(['+', '-']) && x.len() == 1 {
            return None;
        }
        parse_int(x).filter(|_| !x.contains(char::is_whitespace))
    };
    if let Some(rest) = t.strip_prefix("end") {
        if rest.is_empty() {
            return Ok(len - 1);
        }
        let (sign, n) = match rest.as_bytes()[0] {
            b'-' => (-1, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return Err(bad()),
        };
        if n.starts_with(['+', '-']) {
            return Err(bad());
        }
        let v = int_of(n).ok_or_else(bad)?;
        return Ok(len - 1 + sign * v);
    }
    if let Some(v) = int_of(t) {
        return Ok(v);
    }
    // a+b or a-b
    let b = t.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'+' || b[i] == b'-' {
            let (x, y) = (&t[..i], &t[i + 1..]);
            if y.starts_with(['+', '-']) {
                continue;
            }
            if let (Some(x), Some(y)) = (int_of(x), int_of(y)) {
                return Ok(if b[i] == b'+' { x + y } else { x - y });
            }
        }
    }
    Err(bad())
}

fn cmd_set(it: &mut Interp, a: &[String]) -> TclResult {
    match a.len() {
        2 => it.get_var(&a[1]),
        3 => it.set_var(&a[1], a[2].clone()),
        _ => wrong_args("set varName ?newValue?"),
    }
}

fn cmd_unset(it: &mut Interp, a: &[String]) -> TclResult {
    let mut i = 1;
    let mut complain = true;
    while i < a.len() {
        match a[i].as_str() {
            "-nocomplain" => {
                complain = false;
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
    }
    for n in &a[i..] {
        it.unset_var(n, complain)?;
    }
    Ok(String::new())
}

fn cmd_incr(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("incr varName ?increment?");
    }
    let cur = if it.var_exists(&a[1]) {
        let v = it.get_var(&a[1])?;
        get_int(&v)?
    } else {
        0
    };
    let by = if a.len() == 3 { get_int(&a[2])? } else { 1 };
    it.set_var(&a[1], cur.wrapping_add(by).to_string())
}

fn cmd_append(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("append varName ?value ...?");
    }
    let mut v = if it.var_exists(&a[1]) || a.len() == 2 {
        it.get_var(&a[1])?
    } else {
        String::new()
    };
    for x in &a[2..] {
        v.push_str(x);
    }
    it.set_var(&a[1], v)
}

fn cmd_proc(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 4 {
        return wrong_args("proc name args body");
    }
    it.define_proc(&a[1], &a[2], &a[3])
}

fn code_of(s: &str) -> Result<i64, Exception> {
    Ok(match s {
        "ok" => 0,
        "error" => 1,
        "return" => 2,
        "break" => 3,
        "continue" => 4,
        _ => match parse_int(s) {
            Some(i) => i,
            None => {
                return err(format!(
                    "bad completion code \"{s}\": must be ok, error, return, break, continue, or an integer"
                ))
            }
        },
    })
}

fn cmd_return(_it: &mut Interp, a: &[String]) -> TclResult {
    let mut code = 0;
    let mut level = 1;
    let mut info: Option<String> = None;
    let mut ecode: Option<String> = None;
    let mut i = 1;
    while i + 1 < a.len() {
        match a[i].as_str() {
            "-code" => code = code_of(&a[i + 1])?,
            "-level" => {
                level = match parse_int(&a[i + 1]) {
                    Some(l) if l >= 0 => l,
                    _ => {
                        return err(format!(
                            "bad -level value: expected non-negative integer but got \"{}\"",
                            a[i + 1]
                        ))
                    }
                }
            }
            "-errorinfo" => info = Some(a[i + 1].clone()),
            "-errorcode" => ecode = Some(a[i + 1].clone()),
            "-options" => {}
            _ => break,
        }
        i += 2;
    }
    let value = if i < a.len() {
        a[a.len() - 1].clone()
    } else {
        String::new()
    };
    if i + 1 < a.len() {
        return wrong_args("return ?-option value ...? ?result?");
    }
    if level == 0 {
        return match code {
            0 => Ok(value),
            1 => {
                let mut e = TclError::new(value);
                if let Some(c) = ecode {
                    e.code = c;
                }
                if let Some(inf) = info {
                    mark_logged(&mut e, inf);
                }
                Err(e.into())
            }
            3 => Err(Exception::Break),
            4 => Err(Exception::Continue),
            _ => Err(Exception::Return(0, value)),
        };
    }
    if code == 1 && (info.is_some() || ecode.is_some()) {
        // an error raised by the caller's frame with given info/code
        let mut e = TclError::new(value);
        if let Some(c) = ecode {
            e.code = c;
        }
        if let Some(inf) = info {
            mark_logged(&mut e, inf);
        }
        return Err(Exception::Return(1, e.message));
    }
    Err(Exception::Return(code, value))
}

fn cmd_if(it: &mut Interp, a: &[String]) -> TclResult {
    let mut i = 1;
    loop {
        if i >= a.len() {
            let kw = if i == 1 { "if" } else { &a[i - 1] };
            return err(format!(
                "wrong # args: no expression after \"{kw}\" argument"
            ));
        }
        let cond = it.expr_bool(&a[i])?;
        i += 1;
        if i < a.len() && a[i] == "then" {
            i += 1;
        }
        if i >= a.len() {
            return err(format!(
                "wrong # args: no script following \"{}\" argument",
                a[i - 1]
            ));
        }
        if cond {
            return it.eval_body(&a[i], "\"if\" then script", Some(i));
        }
        i += 1;
        if i >= a.len() {
            return Ok(String::new());
        }
        if a[i] == "elseif" {
            i += 1;
            continue;
        }
        if a[i] == "else" {
            i += 1;
            if i >= a.len() {
                return err("wrong # args: no script following \"else\" argument");
            }
        }
        if i + 1 != a.len() {
            return err("wrong # args: extra words after \"else\" clause in \"if\" command");
        }
        return it.eval_body(&a[i], "\"if\" else script", Some(i));
    }
}

fn cmd_while(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 3 {
        return wrong_args("while test command");
    }
    while it.expr_bool(&a[1])? {
        it.check_deadline()?;
        match it.eval_body(&a[2], "\"while\" body", Some(2)) {
            Ok(_) | Err(Exception::Continue) => {}
            Err(Exception::Break) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::new())
}

fn cmd_for(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 5 {
        return wrong_args("for start test next command");
    }
    it.eval_body(&a[1], "\"for\" initial command", Some(1))?;
    while it.expr_bool(&a[2])? {
        it.check_deadline()?;
        match it.eval_body(&a[4], "\"for\" body", Some(4)) {
            Ok(_) | Err(Exception::Continue) => {}
            Err(Exception::Break) => break,
            Err(e) => return Err(e),
        }
        match it.eval_body(&a[3], "\"for\" loop-end command", Some(3)) {
            Ok(_) => {}
            Err(Exception::Break) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::new())
}

fn cmd_foreach(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 4 || a.len() & 1 == 1 {
        return wrong_args("foreach varList list ?varList list ...? command");
    }
    let body = &a[a.len() - 1];
    let mut groups = Vec::new();
    let mut iters = 0;
    for pair in a[1..a.len() - 1].chunks(2) {
        let vars = get_list(&pair[0])?;
        if vars.is_empty() {
            return err("foreach varlist is empty");
        }
        let vals = get_list(&pair[1])?;
        let n = vals.len().div_ceil(vars.len());
        iters = iters.max(n);
        groups.push((vars, vals));
    }
    for k in 0..iters {
        it.check_deadline()?;
        for (vars, vals) in &groups {
            for (j, v) in vars.iter().enumerate() {
                let val = vals.get(k * vars.len() + j).cloned().unwrap_or_default();
                it.set_var(v, val).map_err(|e| match e {
                    Exception::Error(mut e) => {
                        e.message = format!("couldn't set loop variable: \"{v}\"");
                        e.info = e.message.clone();
                        Exception::Error(e)
                    }
                    o => o,
                })?;
            }
        }
        // Tcl 8.6 compiles foreach inline only inside procedures
        let inline = (it.current_frame() != 0).then_some(a.len() - 1);
        match it.eval_body(body, "\"foreach\" body", inline) {
            Ok(_) | Err(Exception::Continue) => {}
            Err(Exception::Break) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::new())
}

fn cmd_break(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 1 {
        return wrong_args("break");
    }
    Err(Exception::Break)
}

fn cmd_continue(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 1 {
        return wrong_args("continue");
    }
    Err(Exception::Continue)
}

fn cmd_catch(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 || a.len() > 4 {
        return wrong_args("catch script ?resultVarName? ?optionVarName?");
    }
    let r = it.eval(&a[1]);
    let (code, value, opts) = match r {
        Ok(v) => (0, v, "-code 0 -level 0".to_string()),
        Err(Exception::Error(e)) => {
            if e.code == "TIMEOUT" {
                // a deadline cannot be caught by the script
                return Err(Exception::Error(e));
            }
            let _ = it.with_frame(0, |it| {
                let _ = it.set_var("errorInfo", e.info.clone());
                it.set_var("errorCode", e.code.clone())
            });
            let opts = make_list(&[
                "-code".to_string(),
                "1".into(),
                "-level".into(),
                "0".into(),
                "-errorcode".into(),
                e.code.clone(),
                "-errorinfo".into(),
                e.info.clone(),
                "-errorline".into(),
                e.line.unwrap_or(1).to_string(),
            ]);
            (1, e.message.clone(), opts)
        }
        Err(Exception::Return(c, v)) => (2, v, format!("-code {c} -level 1")),
        Err(Exception::Break) => (3, String::new(), "-code 3 -level 0".into()),
        Err(Exception::Continue) => (4, String::new(), "-code 4 -level 0".into()),
    };
    if a.len() >= 3 {
        it.set_var(&a[2], value).map_err(|_| {
            Exception::from(TclError::new("couldn't save command result in variable"))
        })?;
    }
    if a.len() == 4 {
        it.set_var(&a[3], opts)?;
    }
    Ok(code.to_string())
}

fn cmd_error(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 || a.len() > 4 {
        return wrong_args("error message ?errorInfo? ?errorCode?");
    }
    let mut e = TclError::new(a[1].clone());
    if a.len() >= 3 && !a[2].is_empty() {
        mark_logged(&mut e, a[2].clone());
    }
    if a.len() == 4 {
        e.code = a[3].clone();
    }
    Err(e.into())
}

fn cmd_expr(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("expr arg ?arg ...?");
    }
    let s = if a.len() == 2 {
        a[1].clone()
    } else {
        a[1..].join(" ")
    };
    it.expr(&s)
}

fn cmd_puts(it: &mut Interp, a: &[String]) -> TclResult {
    let mut args = &a[1..];
    let mut newline = true;
    if !args.is_empty() && args[0] == "-nonewline" && args.len() > 1 {
        newline = false;
        args = &args[1..];
    }
    let (chan, s) = match args {
        [s] => ("stdout", s),
        [c, s] => (c.as_str(), s),
        _ => return wrong_args("puts ?-nonewline? ?channelId? string"),
    };
    let to_err = match chan {
        "stdout" => false,
        "stderr" => true,
        _ => return err(format!("can not find channel named \"{chan}\"")),
    };
    let mut text = s.clone();
    if newline {
        text.push('\n');
    }
    it.write_out(to_err, &text);
    Ok(String::new())
}

fn cmd_list(_it: &mut Interp, a: &[String]) -> TclResult {
    Ok(make_list(&a[1..]))
}

fn cmd_lindex(_it: &mut Interp, a: &[String]) -> TclResult {
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

fn cmd_llength(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("llength list");
    }
    Ok(get_list(&a[1])?.len().to_string())
}

fn cmd_lappend(it: &mut Interp, a: &[String]) -> TclResult {
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

fn range_bounds(first: &str, last: &str, len: usize) -> Result<Option<(usize, usize)>, Exception> {
    let f = get_index(first, len)?.max(0);
    let l = get_index(last, len)?.min(len as i64 - 1);
    if f > l {
        return Ok(None);
    }
    Ok(Some((f as usize, l as usize)))
}

fn cmd_lrange(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 4 {
        return wrong_args("lrange list first last");
    }
    let l = get_list(&a[1])?;
    match range_bounds(&a[2], &a[3], l.len())? {
        Some((f, t)) => Ok(make_list(&l[f..=t])),
        None => Ok(String::new()),
    }
}

fn cmd_lsearch(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 3 {
        return wrong_args("lsearch ?-option value ...? list pattern");
    }
    let mut mode = "glob";
    let (mut all, mut inline, mut not, mut nocase) = (false, false, false, false);
    let mut start = 0i64;
    let mut i = 1;
    while i < a.len() - 2 {
        match a[i].as_str() {
            "-exact" => mode = "exact",
            "-glob" => mode = "glob",
            "-all" => all = true,
            "-inline" => inline = true,
            "-not" => not = true,
            "-nocase" => nocase = true,
            "-start" => {
                i += 1;
                start = get_index(&a[i], 0)?;
            }
            o => {
                return err(format!(
                    "bad option \"{o}\": must be -all, -ascii, -bisect, -decreasing, -dictionary, -exact, -glob, -increasing, -index, -inline, -integer, -nocase, -not, -real, -regexp, -sorted, -start, or -subindices"
                ))
            }
        }
        i += 1;
    }
    let l = get_list(&a[a.len() - 2])?;
    let pat = &a[a.len() - 1];
    let mut hits = Vec::new();
    for (k, e) in l.iter().enumerate().skip(start.max(0) as usize) {
        let m = if mode == "exact" {
            if nocase {
                e.to_lowercase() == pat.to_lowercase()
            } else {
                e == pat
            }
        } else {
            strings::glob_match(pat, e, nocase)
        };
        if m != not {
            hits.push(k);
            if !all {
                break;
            }
        }
    }
    if inline {
        let v: Vec<&String> = hits.iter().map(|k| &l[*k]).collect();
        if all {
            return Ok(make_list(&v));
        }
        return Ok(v.first().map(|s| s.to_string()).unwrap_or_default());
    }
    if all {
        return Ok(hits
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" "));
    }
    Ok(hits.first().map(|k| *k as i64).unwrap_or(-1).to_string())
}

fn cmd_lsort(_it: &mut Interp, a: &[String]) -> TclResult {
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

fn cmd_lreverse(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("lreverse list");
    }
    let mut l = get_list(&a[1])?;
    l.reverse();
    Ok(make_list(&l))
}

fn cmd_linsert(_it: &mut Interp, a: &[String]) -> TclResult {
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

fn cmd_lreplace(_it: &mut Interp, a: &[String]) -> TclResult {
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

fn cmd_join(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("join list ?joinString?");
    }
    let sep = if a.len() == 3 { a[2].as_str() } else { " " };
    Ok(get_list(&a[1])?.join(sep))
}

fn cmd_split(_it: &mut Interp, a: &[String]) -> TclResult {
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
pub(super) fn concat(args: &[String]) -> String {
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

fn cmd_concat(_it: &mut Interp, a: &[String]) -> TclResult {
    Ok(concat(&a[1..]))
}

fn cmd_eval(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("eval arg ?arg ...?");
    }
    let s = if a.len() == 2 {
        a[1].clone()
    } else {
        concat(&a[1..])
    };
    it.eval_body(&s, "\"eval\" body", None)
}

fn cmd_uplevel(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("uplevel ?level? command ?arg ...?");
    }
    let (frame, rest) = match it.frame_for_level(&a[1]) {
        Ok(f) if a.len() > 2 => (f, &a[2..]),
        _ => {
            if a[1].starts_with('#') || a[1].parse::<u64>().is_ok() {
                if a.len() == 2 {
                    return wrong_args("uplevel ?level? command ?arg ...?");
                }
                it.frame_for_level(&a[1])?;
            }
            (it.frame_for_level("1")?, &a[1..])
        }
    };
    let s = if rest.len() == 1 {
        rest[0].clone()
    } else {
        concat(rest)
    };
    it.with_frame(frame, |it| it.eval_body(&s, "\"uplevel\" body", None))
}

fn cmd_upvar(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "upvar ?level? otherVar localVar ?otherVar localVar ...?";
    if a.len() < 3 {
        return wrong_args(usage);
    }
    let (frame, rest) = if a.len() & 1 == 0 {
        (it.frame_for_level(&a[1])?, &a[2..])
    } else {
        (it.frame_for_level("1")?, &a[1..])
    };
    if rest.len() & 1 == 1 || rest.is_empty() {
        return wrong_args(usage);
    }
    for p in rest.chunks(2) {
        it.link_var(frame, &p[0], &p[1])?;
    }
    Ok(String::new())
}

fn cmd_global(it: &mut Interp, a: &[String]) -> TclResult {
    if it.current_frame() == 0 {
        return Ok(String::new());
    }
    for n in &a[1..] {
        let local = n.rsplit("::").next().unwrap_or(n);
        it.link_var(0, n, local)?;
    }
    Ok(String::new())
}

fn cmd_info(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("info subcommand ?arg ...?");
    }
    let pattern_filter = |names: Vec<String>, pat: Option<&String>| -> String {
        let v: Vec<String> = names
            .into_iter()
            .filter(|n| pat.is_none_or(|p| strings::glob_match(p, n, false)))
            .collect();
        make_list(&v)
    };
    match a[1].as_str() {
        "exists" => {
            if a.len() != 3 {
                return wrong_args("info exists varName");
            }
            Ok(if it.var_exists(&a[2]) { "1" } else { "0" }.into())
        }
        "procs" => Ok(pattern_filter(it.proc_names(), a.get(2))),
        "commands" => Ok(pattern_filter(it.command_names(), a.get(2))),
        "level" => {
            if a.len() == 2 {
                return Ok(it.level().to_string());
            }
            let n = get_int(&a[2])?;
            let cur = it.level() as i64;
            let lvl = if n <= 0 { cur + n } else { n };
            match it.frame_call(lvl.max(0) as usize) {
                Some(c) => Ok(make_list(&c)),
                None => err(format!("bad level \"{}\"", a[2])),
            }
        }
        "body" | "args" => {
            if a.len() != 3 {
                return wrong_args(&format!("info {} procname", a[1]));
            }
            match it.proc_info(&a[2]) {
                Some(p) => Ok(if a[1] == "body" {
                    p.body_text.clone()
                } else {
                    let names: Vec<String> = p.params.iter().map(|(n, _)| n.clone()).collect();
                    let _ = &p.args_text;
                    make_list(&names)
                }),
                None => err(format!("\"{}\" isn't a procedure", a[2])),
            }
        }
        "tclversion" => Ok("8.6".into()),
        o => err(format!(
            "unknown or ambiguous subcommand \"{o}\": must be args, body, class, cmdcount, commands, complete, coroutine, default, errorstack, exists, frame, functions, globals, hostname, level, library, loaded, locals, nameofexecutable, object, patchlevel, procs, script, sharedlibextension, tclversion, or vars"
        )),
    }
}

fn cmd_array(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 3 {
        if a.len() == 2
            && !matches!(
                a[1].as_str(),
                "set" | "get" | "names" | "size" | "exists" | "unset"
            )
        {
            return array_bad(&a[1]);
        }
        return wrong_args("array subcommand ?arg ...?");
    }
    let name = &a[2];
    match a[1].as_str() {
        "set" => {
            if a.len() != 4 {
                return wrong_args("array set arrayName list");
            }
            let l = get_list(&a[3])?;
            if l.len() & 1 == 1 {
                return err("list must have an even number of elements");
            }
            it.array_make(name)?;
            for p in l.chunks(2) {
                it.set_var2(name, Some(&p[0]), p[1].clone())?;
            }
            Ok(String::new())
        }
        "get" | "names" => {
            let Some(arr) = it.array_get(name) else {
                return Ok(String::new());
            };
            let pat = a.get(3);
            let mut out = Vec::new();
            for (k, v) in &arr {
                if pat.is_none_or(|p| strings::glob_match(p, k, false)) {
                    out.push(k.clone());
                    if a[1] == "get" {
                        out.push(v.clone());
                    }
                }
            }
            Ok(make_list(&out))
        }
        "size" => Ok(it.array_get(name).map(|m| m.len()).unwrap_or(0).to_string()),
        "exists" => Ok(if it.array_get(name).is_some() {
            "1"
        } else {
            "0"
        }
        .into()),
        "unset" => {
            if let Some(p) = a.get(3) {
                if let Some(arr) = it.array_get(name) {
                    for k in arr.keys() {
                        if strings::glob_match(p, k, false) {
                            it.unset_var(&format!("{name}({k})"), false)?;
                        }
                    }
                }
                Ok(String::new())
            } else {
                if !it.is_scalar(name) {
                    it.unset_var(name, false)?;
                }
                Ok(String::new())
            }
        }
        o => array_bad(o),
    }
}

fn array_bad(o: &str) -> TclResult {
    err(format!(
        "unknown or ambiguous subcommand \"{o}\": must be anymore, donesearch, exists, get, names, nextelement, size, startsearch, statistics, or unset"
    ))
}

fn cmd_switch(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "switch ?-option ...? string ?pattern body ...? ?default body?";
    let mut i = 1;
    let mut mode = "exact";
    let mut nocase = false;
    // like Tcl, options are looked for only while more than two words remain
    while i + 2 < a.len() && a[i].starts_with('-') {
        match a[i].as_str() {
            "-exact" => mode = "exact",
            "-glob" => mode = "glob",
            "-nocase" => nocase = true,
            "--" => {
                i += 1;
                break;
            }
            o => {
                if a.len() - i < 2 {
                    break;
                }
                return err(format!(
                    "bad option \"{o}\": must be -exact, -glob, -indexvar, -matchvar, -nocase, -regexp, or --"
                ));
            }
        }
        i += 1;
    }
    if a.len() - i < 2 {
        return wrong_args(usage);
    }
    let s = &a[i];
    i += 1;
    let separate = a.len() - i != 1;
    let body_base = i;
    let arms: Vec<String> = if a.len() - i == 1 {
        get_list(&a[i])?
    } else {
        a[i..].to_vec()
    };
    if arms.len() & 1 == 1 {
        return err("extra switch pattern with no body");
    }
    if arms.is_empty() {
        return wrong_args(usage);
    }
    let n = arms.len() / 2;
    for k in 0..n {
        let pat = &arms[2 * k];
        let hit = (k == n - 1 && pat == "default")
            || match mode {
                "glob" => strings::glob_match(pat, s, nocase),
                _ => {
                    if nocase {
                        pat.to_lowercase() == s.to_lowercase()
                    } else {
                        pat == s
                    }
                }
            };
        if hit {
            let mut j = k;
            while j < n && arms[2 * j + 1] == "-" {
                j += 1;
            }
            if j == n {
                return err(format!(
                    "no body specified for pattern \"{}\"",
                    arms[2 * n - 2]
                ));
            }
            // compiled inline by Tcl when the arms are separate braced words
            let arg = if separate && !nocase {
                Some(body_base + 2 * j + 1)
            } else {
                None
            };
            return it.eval_body(&arms[2 * j + 1], "\"switch\" arm", arg);
        }
    }
    if arms[arms.len() - 1] == "-" {
        return err(format!(
            "no body specified for pattern \"{}\"",
            arms[arms.len() - 2]
        ));
    }
    Ok(String::new())
}

fn cmd_after(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("after option ?arg ...?");
    }
    let Some(ms) = parse_int(&a[1]) else {
        return err(format!(
            "bad argument \"{}\": must be cancel, idle, info, or an integer",
            a[1]
        ));
    };
    if a.len() > 2 {
        return err("after with a script is not supported (failsh runs procedures synchronously)");
    }
    let ms = ms.max(0) as u64;
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let end = match it.deadline() {
        Some(d) if d < end => {
            std::thread::sleep(d.saturating_duration_since(std::time::Instant::now()));
            return Err(it.timeout_error());
        }
        _ => end,
    };
    std::thread::sleep(end.saturating_duration_since(std::time::Instant::now()));
    Ok(String::new())
}

fn cmd_rename(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 3 {
        return wrong_args("rename oldName newName");
    }
    it.rename_command(&a[1], &a[2])
}
