//! `dict`: dictionaries are lists of key/value pairs; order is insertion
//! order, a repeated key keeps its first place and its last value.

use super::builtins::{get_int, get_list};
use super::list::make_list;
use super::{err, strings, wrong_args, Exception, Interp, TclError, TclResult};

type Dict = Vec<(String, String)>;

fn missing_value() -> Exception {
    TclError::with_code("missing value to go with key", "TCL VALUE DICTIONARY").into()
}

pub(crate) fn parse(s: &str) -> Result<Dict, Exception> {
    let l = get_list(s)?;
    if l.len() % 2 == 1 {
        return Err(missing_value());
    }
    let mut d: Dict = Vec::with_capacity(l.len() / 2);
    for p in l.chunks(2) {
        put(&mut d, &p[0], p[1].clone());
    }
    Ok(d)
}

fn put(d: &mut Dict, k: &str, v: String) {
    match d.iter_mut().find(|(x, _)| x == k) {
        Some(e) => e.1 = v,
        None => d.push((k.to_string(), v)),
    }
}

fn get<'a>(d: &'a Dict, k: &str) -> Option<&'a String> {
    d.iter().find(|(x, _)| x == k).map(|(_, v)| v)
}

pub(crate) fn to_string(d: &Dict) -> String {
    let flat: Vec<&str> = d
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()])
        .collect();
    make_list(&flat)
}

fn not_known(k: &str) -> Exception {
    TclError::with_code(
        format!("key \"{k}\" not known in dictionary"),
        format!("TCL LOOKUP DICT {}", super::list::quote_element(k, false)),
    )
    .into()
}

fn get_path(v: &str, keys: &[String]) -> TclResult {
    let mut cur = v.to_string();
    for k in keys {
        let d = parse(&cur)?;
        cur = get(&d, k).cloned().ok_or_else(|| not_known(k))?;
    }
    Ok(cur)
}

fn set_path(v: &str, keys: &[String], value: String) -> TclResult {
    let mut d = parse(v)?;
    let (k, rest) = keys.split_first().ok_or_else(|| TclError::new("no key"))?;
    let nv = if rest.is_empty() {
        value
    } else {
        let inner = get(&d, k).cloned().unwrap_or_default();
        set_path(&inner, rest, value)?
    };
    put(&mut d, k, nv);
    Ok(to_string(&d))
}

fn unset_path(v: &str, keys: &[String]) -> TclResult {
    let mut d = parse(v)?;
    let (k, rest) = keys.split_first().ok_or_else(|| TclError::new("no key"))?;
    if rest.is_empty() {
        d.retain(|(x, _)| x != k);
    } else {
        let inner = get(&d, k).cloned().ok_or_else(|| not_known(k))?;
        let nv = unset_path(&inner, rest)?;
        put(&mut d, k, nv);
    }
    Ok(to_string(&d))
}

/// The variable's value for an update (`dict set` and friends); a missing
/// variable is an empty dictionary.
fn var_value(it: &Interp, name: &str) -> TclResult {
    if it.var_exists(name) {
        it.get_var(name)
    } else {
        Ok(String::new())
    }
}

fn filtered(d: &Dict, pat: Option<&String>, values: bool) -> String {
    let v: Vec<&String> = d
        .iter()
        .map(|(k, v)| if values { v } else { k })
        .filter(|s| pat.is_none_or(|p| strings::glob_match(p, s, false)))
        .collect();
    make_list(&v)
}

pub(crate) fn cmd_dict(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("dict subcommand ?arg ...?");
    }
    let args = &a[2..];
    match a[1].as_str() {
        "create" => {
            if args.len() % 2 == 1 {
                return wrong_args("dict create ?key value ...?");
            }
            let mut d = Dict::new();
            for p in args.chunks(2) {
                put(&mut d, &p[0], p[1].clone());
            }
            Ok(to_string(&d))
        }
        "get" => {
            if args.is_empty() {
                return wrong_args("dict get dictionary ?key ...?");
            }
            if args.len() == 1 {
                return Ok(to_string(&parse(&args[0])?));
            }
            get_path(&args[0], &args[1..])
        }
        "exists" => {
            if args.len() < 2 {
                return wrong_args("dict exists dictionary key ?key ...?");
            }
            let mut cur = args[0].clone();
            for k in &args[1..] {
                let Ok(d) = parse(&cur) else {
                    return Ok("0".into());
                };
                match get(&d, k) {
                    Some(v) => cur = v.clone(),
                    None => return Ok("0".into()),
                }
            }
            Ok("1".into())
        }
        "set" => {
            if args.len() < 3 {
                return wrong_args("dict set dictVarName key ?key ...? value");
            }
            let cur = var_value(it, &args[0])?;
            let nv = set_path(&cur, &args[1..args.len() - 1], args[args.len() - 1].clone())?;
            it.set_var(&args[0], nv)
        }
        "unset" => {
            if args.len() < 2 {
                return wrong_args("dict unset dictVarName key ?key ...?");
            }
            let cur = var_value(it, &args[0])?;
            let nv = unset_path(&cur, &args[1..])?;
            it.set_var(&args[0], nv)
        }
        "keys" | "values" => {
            if args.is_empty() || args.len() > 2 {
                return wrong_args(&format!("dict {} dictionary ?globPattern?", a[1]));
            }
            let d = parse(&args[0])?;
            Ok(filtered(&d, args.get(1), a[1] == "values"))
        }
        "size" => {
            if args.len() != 1 {
                return wrong_args("dict size dictionary");
            }
            Ok(parse(&args[0])?.len().to_string())
        }
        "merge" => {
            let mut d = Dict::new();
            for x in args {
                for (k, v) in parse(x)? {
                    put(&mut d, &k, v);
                }
            }
            Ok(to_string(&d))
        }
        "replace" => {
            if args.is_empty() || args.len().is_multiple_of(2) {
                return wrong_args("dict replace dictionary ?key value ...?");
            }
            let mut d = parse(&args[0])?;
            for p in args[1..].chunks(2) {
                put(&mut d, &p[0], p[1].clone());
            }
            Ok(to_string(&d))
        }
        "remove" => {
            if args.is_empty() {
                return wrong_args("dict remove dictionary ?key ...?");
            }
            let mut d = parse(&args[0])?;
            d.retain(|(k, _)| !args[1..].contains(k));
            Ok(to_string(&d))
        }
        "incr" => {
            if args.len() < 2 || args.len() > 3 {
                return wrong_args("dict incr dictVarName key ?increment?");
            }
            let mut d = parse(&var_value(it, &args[0])?)?;
            let by = match args.get(2) {
                Some(b) => get_int(b)?,
                None => 1,
            };
            let cur = match get(&d, &args[1]) {
                Some(v) => get_int(v)?,
                None => 0,
            };
            put(&mut d, &args[1], cur.wrapping_add(by).to_string());
            it.set_var(&args[0], to_string(&d))
        }
        "append" | "lappend" => {
            if args.len() < 2 {
                return wrong_args(&format!("dict {} dictVarName key ?value ...?", a[1]));
            }
            let mut d = parse(&var_value(it, &args[0])?)?;
            let mut cur = get(&d, &args[1]).cloned().unwrap_or_default();
            if a[1] == "append" {
                for v in &args[2..] {
                    cur.push_str(v);
                }
            } else {
                let mut l = get_list(&cur)?;
                l.extend(args[2..].iter().cloned());
                cur = make_list(&l);
            }
            put(&mut d, &args[1], cur);
            it.set_var(&args[0], to_string(&d))
        }
        "for" => {
            if args.len() != 3 {
                return wrong_args("dict for {keyVarName valueVarName} dictionary script");
            }
            let vars = get_list(&args[0])?;
            if vars.len() != 2 {
                return err("must have exactly two variable names");
            }
            let d = parse(&args[1])?;
            for (k, v) in d {
                it.check_deadline()?;
                it.set_var(&vars[0], k)?;
                it.set_var(&vars[1], v)?;
                match it.eval_body(&args[2], "\"dict for\" body", None) {
                    Ok(_) | Err(Exception::Continue) => {}
                    Err(Exception::Break) => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(String::new())
        }
        o => err(format!(
            "unknown or ambiguous subcommand \"{o}\": must be append, create, exists, filter, for, get, incr, info, keys, lappend, map, merge, remove, replace, set, size, unset, update, values, or with"
        )),
    }
}
