//! The command table, argument helpers, and the simple commands:
//! variables, `expr`, `after`, `rename`, `exit`.

use super::list::parse_list;
use super::num::parse_int;
use super::{
    chan, clock, control, dict, exec, file, info, lists, namespace, regexp, scan, strings,
};
use super::{err, wrong_args, Exception, Interp, TclError, TclResult};

pub(super) fn register(it: &mut Interp) {
    let cmds: &[(&str, super::BuiltinFn)] = &[
        ("set", cmd_set),
        ("unset", cmd_unset),
        ("incr", cmd_incr),
        ("append", cmd_append),
        ("expr", cmd_expr),
        ("after", cmd_after),
        ("rename", cmd_rename),
        ("exit", cmd_exit),
        ("proc", control::cmd_proc),
        ("return", control::cmd_return),
        ("if", control::cmd_if),
        ("while", control::cmd_while),
        ("for", control::cmd_for),
        ("foreach", control::cmd_foreach),
        ("lmap", control::cmd_lmap),
        ("break", control::cmd_break),
        ("continue", control::cmd_continue),
        ("catch", control::cmd_catch),
        ("try", control::cmd_try),
        ("error", control::cmd_error),
        ("eval", control::cmd_eval),
        ("uplevel", control::cmd_uplevel),
        ("upvar", control::cmd_upvar),
        ("global", control::cmd_global),
        ("switch", control::cmd_switch),
        ("apply", control::cmd_apply),
        ("list", lists::cmd_list),
        ("lindex", lists::cmd_lindex),
        ("llength", lists::cmd_llength),
        ("lappend", lists::cmd_lappend),
        ("lrange", lists::cmd_lrange),
        ("lsearch", lists::cmd_lsearch),
        ("lsort", lists::cmd_lsort),
        ("lreverse", lists::cmd_lreverse),
        ("linsert", lists::cmd_linsert),
        ("lreplace", lists::cmd_lreplace),
        ("join", lists::cmd_join),
        ("split", lists::cmd_split),
        ("concat", lists::cmd_concat),
        ("info", info::cmd_info),
        ("array", info::cmd_array),
        ("string", strings::cmd_string),
        ("format", strings::cmd_format),
        ("exec", exec::cmd_exec),
        ("namespace", namespace::cmd_namespace),
        ("variable", namespace::cmd_variable),
        ("dict", dict::cmd_dict),
        ("regexp", regexp::cmd_regexp),
        ("regsub", regexp::cmd_regsub),
        ("clock", clock::cmd_clock),
        ("file", file::cmd_file),
        ("source", file::cmd_source),
        ("subst", scan::cmd_subst),
        ("scan", scan::cmd_scan),
        ("puts", chan::cmd_puts),
        ("open", chan::cmd_open),
        ("gets", chan::cmd_gets),
        ("read", chan::cmd_read),
        ("eof", chan::cmd_eof),
        ("flush", chan::cmd_flush),
        ("close", chan::cmd_close),
    ];
    for (n, f) in cmds {
        it.register_builtin(n, *f);
    }
}

pub(crate) fn get_list(s: &str) -> Result<Vec<String>, Exception> {
    parse_list(s).map_err(|m| TclError::with_code(m, "TCL VALUE LIST").into())
}

pub(crate) fn get_int(s: &str) -> Result<i64, Exception> {
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
pub(crate) fn get_index(s: &str, len: usize) -> Result<i64, Exception> {
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

pub(crate) fn cmd_set(it: &mut Interp, a: &[String]) -> TclResult {
    match a.len() {
        2 => it.get_var(&a[1]),
        3 => it.set_var(&a[1], a[2].clone()),
        _ => wrong_args("set varName ?newValue?"),
    }
}

pub(crate) fn cmd_unset(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_incr(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_append(it: &mut Interp, a: &[String]) -> TclResult {
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
        if v.len() > super::MAX_VALUE {
            return Err(super::too_big());
        }
    }
    it.set_var(&a[1], v)
}

pub(crate) fn cmd_expr(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_after(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn cmd_rename(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 3 {
        return wrong_args("rename oldName newName");
    }
    it.rename_command(&a[1], &a[2])
}

pub(crate) fn cmd_exit(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() > 2 {
        return wrong_args("exit ?returnCode?");
    }
    let code = match a.get(1) {
        Some(c) => get_int(c)?,
        None => 0,
    };
    if it.check_mode() {
        return Err(TclError::with_code(
            format!("exit refused: the configuration is being checked (exit {code})"),
            "TCL EXIT REFUSED",
        )
        .into());
    }
    if !it.loading() {
        return Err(TclError::with_code(
            "exit is allowed only while a file is being loaded: use return or error in procedures",
            "TCL EXIT REFUSED",
        )
        .into());
    }
    let mut e = TclError::with_code(format!("exit {code}"), format!("TCL EXIT {code}"));
    e.exit = Some(code as i32);
    Err(e.into())
}
