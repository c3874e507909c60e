//! `info` and `array`.

use super::builtins::{get_int, get_list};
use super::list::make_list;
use super::{err, strings, wrong_args, Interp, TclResult};

pub(crate) fn cmd_info(it: &mut Interp, a: &[String]) -> TclResult {
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
        "procs" | "commands" => {
            if a.len() > 3 {
                return wrong_args(&format!("info {} ?pattern?", a[1]));
            }
            let pat = a.get(2).map(|p| {
                if p.contains("::") && !p.starts_with("::") {
                    format!("::{}", super::vars::join_ns(it.current_ns(), p))
                } else {
                    p.clone()
                }
            });
            Ok(pattern_filter(command_names(it, a[1] == "procs", pat.as_ref()), pat.as_ref()))
        }
        "globals" | "locals" | "vars" => {
            if a.len() > 3 {
                return wrong_args(&format!("info {} ?pattern?", a[1]));
            }
            match a.get(2) {
                // a qualified pattern lists namespace variables by full name
                Some(p) if a[1] == "vars" && p.contains("::") => {
                    let p = if p.starts_with("::") {
                        p.clone()
                    } else {
                        format!("::{}", super::vars::join_ns(it.current_ns(), p))
                    };
                    let names: Vec<String> = it
                        .namespace_var_keys()
                        .into_iter()
                        .map(|k| format!("::{k}"))
                        .collect();
                    Ok(pattern_filter(names, Some(&p)))
                }
                pat => Ok(pattern_filter(it.var_names(&a[1]), pat)),
            }
        }
        "script" => {
            if a.len() > 3 {
                return wrong_args("info script ?filename?");
            }
            Ok(it.script_name())
        }
        "default" => {
            if a.len() != 5 {
                return wrong_args("info default procname arg varname");
            }
            let Some(p) = it.proc_info(&a[2]) else {
                return err(format!("\"{}\" isn't a procedure", a[2]));
            };
            match p.params.iter().find(|(n, _)| n == &a[3]) {
                Some((_, Some(d))) => {
                    it.set_var(&a[4], d.clone()).map_err(|_| {
                        super::TclError::new(format!(
                            "couldn't store default value in variable \"{}\"",
                            a[4]
                        ))
                    })?;
                    Ok("1".into())
                }
                Some((_, None)) => {
                    it.set_var(&a[4], String::new())?;
                    Ok("0".into())
                }
                None => err(format!(
                    "procedure \"{}\" doesn't have an argument \"{}\"",
                    a[2], a[3]
                )),
            }
        }
        "complete" => {
            if a.len() != 3 {
                return wrong_args("info complete command");
            }
            Ok(if super::parser::parse_script(&a[2]).is_ok() { "1" } else { "0" }.into())
        }
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

pub(crate) fn cmd_array(it: &mut Interp, a: &[String]) -> TclResult {
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

pub(crate) fn array_bad(o: &str) -> TclResult {
    err(format!(
        "unknown or ambiguous subcommand \"{o}\": must be anymore, donesearch, exists, get, names, nextelement, size, startsearch, statistics, or unset"
    ))
}

/// Names for `info procs` / `info commands`: those of the current namespace
/// (and, for commands, the global ones); a pattern with `::` is matched
/// against qualified names.
fn command_names(it: &Interp, procs_only: bool, pat: Option<&String>) -> Vec<String> {
    let ns = it.current_ns().to_string();
    let qualified = pat.is_some_and(|p| p.contains("::"));
    let mut out: Vec<String> = it
        .command_keys()
        .into_iter()
        .filter(|(_, is_proc)| *is_proc || !procs_only)
        .filter_map(|(k, _)| {
            let q = super::vars::qualifier(&k);
            if qualified {
                Some(format!("::{k}"))
            } else if q == ns || (!procs_only && q.is_empty()) {
                Some(super::vars::tail(&k).to_string())
            } else {
                None
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
