//! Control flow and procedures: `proc`, `return`, `if`, loops, `catch`,
//! `try`, `error`, `eval`, `uplevel`, `upvar`, `global`, `switch`, `apply`.

use super::builtins::get_list;
use super::list::make_list;
use super::lists::concat;
use super::num::parse_int;
use super::{err, mark_logged, strings, wrong_args, Exception, Interp, TclError, TclResult};

pub(crate) fn cmd_proc(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 4 {
        return wrong_args("proc name args body");
    }
    it.define_proc(&a[1], &a[2], &a[3])
}

pub(crate) fn code_of(s: &str) -> Result<i64, Exception> {
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

pub(crate) fn cmd_return(_it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_if(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_while(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_for(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_foreach(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 4 || a.len() & 1 == 1 {
        return wrong_args("foreach varList list ?varList list ...? command");
    }
    each(it, a, "foreach", None)?;
    Ok(String::new())
}

pub(crate) fn cmd_lmap(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 4 || a.len() & 1 == 1 {
        return wrong_args("lmap varList list ?varList list ...? command");
    }
    let mut out = Vec::new();
    each(it, a, "lmap", Some(&mut out))?;
    Ok(make_list(&out))
}

/// The loop of `foreach` and `lmap` (which collects the body's results).
fn each(
    it: &mut Interp,
    a: &[String],
    name: &str,
    mut collect: Option<&mut Vec<String>>,
) -> Result<(), Exception> {
    let body = &a[a.len() - 1];
    let mut groups = Vec::new();
    let mut iters = 0;
    for pair in a[1..a.len() - 1].chunks(2) {
        let vars = get_list(&pair[0])?;
        if vars.is_empty() {
            return err(format!("{name} varlist is empty"));
        }
        let vals = get_list(&pair[1])?;
        let n = vals.len().div_ceil(vars.len());
        iters = iters.max(n);
        groups.push((vars, vals));
    }
    let ctx = format!("\"{name}\" body");
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
        let inline = it.in_proc().then_some(a.len() - 1);
        match it.eval_body(body, &ctx, inline) {
            Ok(v) => {
                if let Some(out) = collect.as_deref_mut() {
                    out.push(v);
                }
            }
            Err(Exception::Continue) => {}
            Err(Exception::Break) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) fn cmd_break(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 1 {
        return wrong_args("break");
    }
    Err(Exception::Break)
}

pub(crate) fn cmd_continue(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 1 {
        return wrong_args("continue");
    }
    Err(Exception::Continue)
}

pub(crate) fn cmd_catch(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 || a.len() > 4 {
        return wrong_args("catch script ?resultVarName? ?optionVarName?");
    }
    let r = it.eval(&a[1]);
    if let Err(Exception::Error(e)) = &r {
        if e.uncatchable() {
            // a deadline or exit cannot be caught by the script
            return r;
        }
        set_error_globals(it, e);
    }
    let (code, value, opts) = options_of(&r);
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

pub(crate) fn cmd_error(_it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_eval(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_uplevel(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_upvar(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_global(it: &mut Interp, a: &[String]) -> TclResult {
    if !it.in_proc() {
        return Ok(String::new());
    }
    for n in &a[1..] {
        let local = n.rsplit("::").next().unwrap_or(n);
        it.link_var(0, n, local)?;
    }
    Ok(String::new())
}

pub(crate) fn cmd_switch(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "switch ?-option ...? string ?pattern body ...? ?default body?";
    let mut i = 1;
    let mut mode = "exact";
    let mut nocase = false;
    // like Tcl, options are looked for only while more than two words remain
    while i + 2 < a.len() && a[i].starts_with('-') {
        match a[i].as_str() {
            "-exact" => mode = "exact",
            "-glob" => mode = "glob",
            "-regexp" => mode = "regexp",
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
                "regexp" => super::regexp::matches(it, pat, s, nocase)?,
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

/// The options dictionary of a finished script, as `catch` and `try` give it.
fn options_of(r: &TclResult) -> (i64, String, String) {
    match r {
        Ok(v) => (0, v.clone(), "-code 0 -level 0".to_string()),
        Err(Exception::Error(e)) => {
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
        Err(Exception::Return(c, v)) => (2, v.clone(), format!("-code {c} -level 1")),
        Err(Exception::Break) => (3, String::new(), "-code 3 -level 0".into()),
        Err(Exception::Continue) => (4, String::new(), "-code 4 -level 0".into()),
    }
}

/// `try body ?on code {res opts} script ...? ?trap pattern {res opts} script ...? ?finally script?`
pub(crate) fn cmd_try(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "try body ?handler ...? ?finally script?";
    if a.len() < 2 {
        return wrong_args(usage);
    }
    // parse the handlers first, as Tcl does
    struct Handler {
        on: Option<i64>,
        trap: Option<Vec<String>>,
        vars: Vec<String>,
        body: usize,
    }
    let mut handlers: Vec<Handler> = Vec::new();
    let mut finally: Option<usize> = None;
    let mut i = 2;
    while i < a.len() {
        match a[i].as_str() {
            "on" | "trap" => {
                if i + 3 >= a.len() {
                    return err(format!(
                        "wrong # args to {} clause: must be \"... {} pattern variableList script\"",
                        a[i], a[i]
                    ));
                }
                let vars = get_list(&a[i + 2])?;
                if vars.len() > 2 {
                    return err("wrong # args: should be \"... on code variableList script\"");
                }
                let mut h = Handler {
                    on: None,
                    trap: None,
                    vars,
                    body: i + 3,
                };
                if a[i] == "on" {
                    h.on = Some(code_of(&a[i + 1]).map_err(|_| {
                        Exception::from(TclError::new(format!(
                            "bad completion code \"{}\": must be ok, error, return, break, continue, or an integer",
                            a[i + 1]
                        )))
                    })?);
                } else {
                    h.trap = Some(get_list(&a[i + 1])?);
                }
                handlers.push(h);
                i += 4;
            }
            "finally" => {
                if i + 2 != a.len() {
                    return err("wrong # args to finally clause: must be \"... finally script\"");
                }
                finally = Some(i + 1);
                i += 2;
            }
            o => return err(format!("bad handler \"{o}\": must be finally, on, or trap")),
        }
    }
    let r = it.eval_body(&a[1], "\"try\" body", Some(1));
    if let Err(Exception::Error(e)) = &r {
        if e.uncatchable() {
            return r;
        }
    }
    if let Err(Exception::Error(e)) = &r {
        set_error_globals(it, e);
    }
    let (code, value, opts) = options_of(&r);
    let ecode = match &r {
        Err(Exception::Error(e)) => get_list(&e.code).unwrap_or_default(),
        _ => Vec::new(),
    };
    let hit = handlers.iter().find(|h| match (&h.on, &h.trap) {
        (Some(c), _) => *c == code,
        (None, Some(p)) => code == 1 && p.len() <= ecode.len() && p[..] == ecode[..p.len()],
        _ => false,
    });
    let mut result = r;
    if let Some(h) = hit {
        if let Some(v) = h.vars.first() {
            it.set_var(v, value)?;
        }
        if let Some(v) = h.vars.get(1) {
            it.set_var(v, opts)?;
        }
        let ctx = if h.on.is_some() {
            "\"try ... on\" handler"
        } else {
            "\"try ... trap\" handler"
        };
        result = try_part(it, &a[h.body], ctx, h.body);
    }
    if let Some(f) = finally {
        match it.eval_body(&a[f], "\"try ... finally\" body", Some(f)) {
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    result
}

/// A handler of `try`. In a procedure Tcl 8.6 compiles it inline (an error
/// keeps its own line); at the level of a sourced file it names the line
/// inside the handler as the file's line (Tcl's own quirk, kept for
/// agreement). The body and `finally` are inline everywhere.
fn try_part(it: &mut Interp, script: &str, ctx: &str, arg: usize) -> TclResult {
    if it.in_proc() {
        return it.eval_body(script, ctx, Some(arg));
    }
    match it.eval_body(script, ctx, None) {
        Err(Exception::Error(mut e)) if !e.uncatchable() => {
            e.inline = e.line.is_some();
            if e.inline {
                e.logged = true;
            }
            Err(Exception::Error(e))
        }
        r => r,
    }
}

/// `apply {args body ?namespace?} ?arg ...?`
pub(crate) fn cmd_apply(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("apply lambdaExpr ?arg ...?");
    }
    let term = get_list(&a[1])?;
    if term.len() < 2 || term.len() > 3 {
        return err(format!(
            "can't interpret \"{}\" as a lambda expression",
            a[1]
        ));
    }
    let params = super::eval::parse_params(&term[0])?;
    let body = it.compile(&term[1])?;
    let ns = match term.get(2) {
        Some(n) => {
            let k = super::vars::normalize(n.strip_prefix("::").unwrap_or(n));
            if !it.namespace_exists(&k) {
                return err(format!("namespace \"{n}\" not found"));
            }
            k
        }
        None => String::new(),
    };
    let p = super::Proc {
        params,
        body_text: term[1].clone(),
        body,
        ns,
    };
    it.run_proc_as(&p, a, 2, Some(&a[1]))
}

fn set_error_globals(it: &mut Interp, e: &TclError) {
    let _ = it.with_frame(0, |it| {
        let _ = it.set_var("::errorInfo", e.info.clone());
        it.set_var("::errorCode", e.code.clone())
    });
}
