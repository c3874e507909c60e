//! Namespaces, enough for configurations: `namespace eval NAME {...}`,
//! `variable`, qualified names (`::x`, `NAME::proc`), and the
//! `current`, `qualifiers`, `tail`, `exists`, `children`, `parent`,
//! `delete`, `which` and `export` subcommands.

use super::list::make_list;
use super::lists::concat;
use super::vars::{join_ns, normalize, qualifier, tail, Frame, FrameKind};
use super::{err, wrong_args, Exception, Interp, TclResult};

fn abs(ns: &str) -> String {
    format!("::{ns}")
}

impl Interp {
    /// The qualified key of namespace `name` seen from the current namespace.
    fn ns_key(&self, name: &str) -> String {
        match name.strip_prefix("::") {
            Some(a) => normalize(a),
            None => join_ns(self.current_ns(), &normalize(name)),
        }
    }

    /// Resolve an existing namespace name (relative names: the current
    /// namespace first, then the global one).
    fn find_ns(&self, name: &str) -> Option<String> {
        let k = self.ns_key(name);
        if self.namespace_exists(&k) {
            return Some(k);
        }
        if !name.starts_with("::") {
            let g = normalize(name);
            if self.namespace_exists(&g) {
                return Some(g);
            }
        }
        None
    }

    fn create_ns(&mut self, key: &str) {
        let mut acc = String::new();
        for part in key.split("::").filter(|p| !p.is_empty()) {
            acc = join_ns(&acc, part);
            self.namespaces.insert(acc.clone());
        }
    }

    fn delete_ns(&mut self, key: &str) {
        let pre = format!("{key}::");
        self.namespaces.retain(|n| n != key && !n.starts_with(&pre));
        self.cmds.retain(|n, _| !n.starts_with(&pre));
        self.frames[0].vars.retain(|n, _| !n.starts_with(&pre));
    }
}

pub(crate) fn cmd_namespace(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("namespace subcommand ?arg ...?");
    }
    let args = &a[2..];
    match a[1].as_str() {
        "current" => {
            if !args.is_empty() {
                return wrong_args("namespace current");
            }
            Ok(abs(it.current_ns()))
        }
        "eval" => {
            if args.len() < 2 {
                return wrong_args("namespace eval name arg ?arg...?");
            }
            let key = it.ns_key(&args[0]);
            if key.is_empty() && !args[0].starts_with("::") && !args[0].is_empty() {
                return err(format!("bad namespace name \"{}\"", args[0]));
            }
            it.create_ns(&key);
            let script = if args.len() == 2 {
                args[1].clone()
            } else {
                concat(&args[1..])
            };
            let frame = Frame {
                call: a.to_vec(),
                kind: FrameKind::Namespace,
                ns: key.clone(),
                ..Frame::default()
            };
            let ctx = format!("in namespace eval \"{}\" script", abs(&key));
            it.in_new_frame(frame, |it| it.eval_body(&script, &ctx, None))
        }
        "exists" => {
            if args.len() != 1 {
                return wrong_args("namespace exists name");
            }
            Ok(if it.find_ns(&args[0]).is_some() { "1" } else { "0" }.into())
        }
        "qualifiers" => {
            if args.len() != 1 {
                return wrong_args("namespace qualifiers string");
            }
            let s = &args[0];
            Ok(match s.rfind("::") {
                Some(i) => s[..i].trim_end_matches(':').to_string(),
                None => String::new(),
            })
        }
        "tail" => {
            if args.len() != 1 {
                return wrong_args("namespace tail string");
            }
            Ok(tail(&args[0]).to_string())
        }
        "parent" => {
            if args.len() > 1 {
                return wrong_args("namespace parent ?name?");
            }
            let ns = match args.first() {
                Some(n) => it
                    .find_ns(n)
                    .ok_or_else(|| ns_unknown(n, "namespace parent"))?,
                None => it.current_ns().to_string(),
            };
            if ns.is_empty() {
                return Ok(String::new());
            }
            Ok(abs(qualifier(&ns)))
        }
        "children" => {
            if args.len() > 2 {
                return wrong_args("namespace children ?name? ?pattern?");
            }
            let ns = match args.first() {
                Some(n) => it.find_ns(n).ok_or_else(|| ns_unknown(n, "namespace children"))?,
                None => it.current_ns().to_string(),
            };
            let kids: Vec<String> = it
                .namespaces
                .iter()
                .filter(|n| qualifier(n) == ns)
                .map(|n| abs(n))
                .filter(|n| {
                    args.get(1)
                        .is_none_or(|p| super::strings::glob_match(p, n, false))
                })
                .collect();
            Ok(make_list(&kids))
        }
        "delete" => {
            for n in args {
                let Some(k) = it.find_ns(n) else {
                    return err(format!(
                        "unknown namespace \"{n}\" in namespace delete command"
                    ));
                };
                if k.is_empty() {
                    return err("can't delete the global namespace");
                }
                it.delete_ns(&k);
            }
            Ok(String::new())
        }
        "which" => {
            let (kind, name) = match args {
                [n] => ("-command", n),
                [k, n] if k == "-command" || k == "-variable" => (k.as_str(), n),
                _ => return wrong_args("namespace which ?-command? ?-variable? name"),
            };
            if kind == "-command" {
                return Ok(it.cmd_key(name).map(|k| abs(&k)).unwrap_or_default());
            }
            if !it.var_exists(name) {
                return Ok(String::new());
            }
            let (f, k) = it.resolve(it.current_frame(), name);
            Ok(if f == 0 { abs(&k) } else { String::new() })
        }
        "export" | "forget" => Ok(String::new()),
        o => err(format!(
            "unknown or ambiguous subcommand \"{o}\": must be children, code, current, delete, ensemble, eval, exists, export, forget, import, inscope, origin, parent, path, qualifiers, tail, unknown, upvar, or which"
        )),
    }
}

fn ns_unknown(n: &str, cmd: &str) -> Exception {
    super::TclError::new(format!("namespace \"{n}\" not found in \"{cmd}\"")).into()
}

/// `variable ?name value ...? name ?value?`
pub(crate) fn cmd_variable(it: &mut Interp, a: &[String]) -> TclResult {
    let mut i = 1;
    while i < a.len() {
        let value = a.get(i + 1).cloned();
        it.declare_ns_var(&a[i], value)?;
        i += 2;
    }
    Ok(String::new())
}
