//! Evaluation: scripts, words, substitutions, command invocation,
//! procedures and files.

use std::sync::Arc;

use super::list::{self, make_list, parse_list};
use super::parser::{self, parse_script, Part, Script, Word};
use super::vars::{qualifier, Frame, FrameKind, Var};
use super::{
    add_trace, code_to_result, err, parse_error, parse_exception, too_big, wrong_args, Cmd,
    Exception, Interp, Proc, TclError, TclResult, MAX_NESTING, MAX_VALUE,
};

/// Parse a procedure's argument list.
pub(crate) fn parse_params(args: &str) -> Result<Vec<(String, Option<String>)>, Exception> {
    let items = parse_list(args).map_err(TclError::new)?;
    let mut params = Vec::new();
    for it in items {
        let f = parse_list(&it).map_err(TclError::new)?;
        match f.len() {
            0 => return err("argument with no name"),
            1 => params.push((f[0].clone(), None)),
            2 => params.push((f[0].clone(), Some(f[1].clone()))),
            _ => return err(format!("too many fields in argument specifier \"{it}\"")),
        }
    }
    Ok(params)
}

impl Interp {
    /// Parse (cached) a script given as a string.
    pub(crate) fn compile(&mut self, s: &str) -> Result<Arc<Script>, Exception> {
        if let Some(sc) = self.cache.get(s) {
            return Ok(sc.clone());
        }
        let sc = parse_script(s).map_err(parse_exception)?;
        let sc = Arc::new(sc);
        if self.cache.len() > 4096 {
            self.cache.clear();
        }
        self.cache.insert(s.to_string(), sc.clone());
        Ok(sc)
    }

    /// Evaluate a script string in the current frame.
    pub fn eval(&mut self, s: &str) -> TclResult {
        let sc = self.compile(s)?;
        self.eval_script(&sc)
    }

    /// Evaluate a script body given as argument `arg` of the current
    /// command. If `arg` is Some and that word was braced, the body counts as
    /// compiled inline (as Tcl 8.6 compiles if/while/for bodies): an error
    /// keeps the line of the failing command inside it. Otherwise the error
    /// trace gets `(ctx line N)` and the command's own line.
    pub(crate) fn eval_body(&mut self, s: &str, ctx: &str, arg: Option<usize>) -> TclResult {
        let word_line = arg.and_then(|i| {
            self.word_lines
                .last()
                .and_then(|w| w.get(i).copied().flatten())
        });
        let saved_line = self.cur_line;
        let map = self
            .cur_map
            .and_then(|off| word_line.map(|wl| off + wl - 1));
        let r = match self.compile(s) {
            Ok(sc) => {
                self.line_map = map;
                self.eval_script(&sc)
            }
            Err(e) => Err(e),
        };
        self.cur_line = saved_line;
        if let Err(Exception::Error(mut e)) = r {
            match (word_line, e.line) {
                (Some(wl), Some(l)) if e.inline => e.line = Some(wl + l - 1),
                _ => {
                    if let Some(l) = e.line {
                        e.info.push_str(&format!("\n    ({ctx} line {l})"));
                    }
                    e.inline = false;
                }
            }
            return Err(Exception::Error(e));
        }
        r
    }

    /// Evaluate a parsed script in the current frame.
    pub fn eval_script(&mut self, script: &Script) -> TclResult {
        let map = self.line_map.take();
        let saved_map = std::mem::replace(&mut self.cur_map, map);
        let r = self.eval_commands(script);
        self.cur_map = saved_map;
        r
    }

    fn eval_commands(&mut self, script: &Script) -> TclResult {
        let mut result = String::new();
        for cmd in &script.cmds {
            if self.deadline.is_some() {
                self.check_deadline()?;
            }
            if let Some(off) = self.cur_map {
                self.cur_line = off + cmd.line - 1;
            }
            let r = match self.subst_words(&cmd.words) {
                Ok(words) => {
                    let expand = cmd.words.iter().any(|w| w.expand);
                    self.word_lines.push(
                        cmd.words
                            .iter()
                            .map(|w| (w.braced && !expand).then_some(w.line))
                            .collect(),
                    );
                    let r = self.invoke(&words);
                    self.word_lines.pop();
                    r
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(v) => result = v,
                Err(Exception::Error(mut e)) => {
                    if !e.inline {
                        add_trace(&mut e, &cmd.text);
                        e.line = Some(cmd.line);
                        e.inline = true;
                    }
                    return Err(Exception::Error(e));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(result)
    }

    fn subst_words(&mut self, words: &[Word]) -> Result<Vec<String>, Exception> {
        let mut out = Vec::with_capacity(words.len());
        let mut total = 0usize;
        for w in words {
            let v = self.subst_parts(&w.parts)?;
            total += v.len();
            if total > 4 * MAX_VALUE {
                return Err(too_big());
            }
            if w.expand {
                let items = parse_list(&v).map_err(TclError::new)?;
                out.extend(items);
            } else {
                out.push(v);
            }
        }
        Ok(out)
    }

    pub(crate) fn subst_parts(&mut self, parts: &[Part]) -> TclResult {
        if let [single] = parts {
            return self.subst_part(single);
        }
        let mut s = String::new();
        for p in parts {
            s.push_str(&self.subst_part(p)?);
            if s.len() > MAX_VALUE {
                return Err(too_big());
            }
        }
        Ok(s)
    }

    fn subst_part(&mut self, p: &Part) -> TclResult {
        match p {
            Part::Lit(s) => Ok(s.clone()),
            Part::Var(name, None) => self.get_var2(name, None),
            Part::Var(name, Some(idx)) => {
                let i = self.subst_parts(idx)?;
                self.get_var2(name, Some(&i))
            }
            Part::Cmd(sc) => self.eval_nested(sc),
        }
    }

    fn eval_nested(&mut self, sc: &Arc<Script>) -> TclResult {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return err("too many nested evaluations (infinite loop?)");
        }
        self.line_map = self.cur_map;
        let r = self.eval_script(sc);
        self.depth -= 1;
        r
    }

    /// Invoke a command given its words.
    pub fn invoke(&mut self, words: &[String]) -> TclResult {
        if words.is_empty() {
            return Ok(String::new());
        }
        let Some(cmd) = self.lookup_cmd(&words[0]).cloned() else {
            return Err(TclError::with_code(
                format!("invalid command name \"{}\"", words[0]),
                format!(
                    "TCL LOOKUP COMMAND {}",
                    list::quote_element(&words[0], true)
                ),
            )
            .into());
        };
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return err("too many nested evaluations (infinite loop?)");
        }
        let r = match cmd {
            Cmd::Builtin(f) => f(self, words),
            Cmd::Host(f) => f(self, words),
            Cmd::Proc(p) => self.run_proc_as(&p, words, 1, None),
        };
        self.depth -= 1;
        r
    }

    pub(crate) fn define_proc(&mut self, name: &str, args: &str, body: &str) -> TclResult {
        let params = parse_params(args)?;
        let body_sc = Arc::new(parse_script(body).map_err(parse_exception)?);
        let key = self.qualify_cmd(name);
        let ns = qualifier(&key).to_string();
        if !self.namespace_exists(&ns) {
            return err(format!(
                "can't create procedure \"{name}\": unknown namespace"
            ));
        }
        self.cmds.insert(
            key,
            Cmd::Proc(Arc::new(Proc {
                params,
                body_text: body.to_string(),
                body: body_sc,
                ns,
            })),
        );
        Ok(String::new())
    }

    /// Run a procedure (or an `apply` lambda: `lambda` is its term) with
    /// the words of its call.
    pub(crate) fn run_proc_as(
        &mut self,
        p: &Proc,
        words: &[String],
        skip: usize,
        lambda: Option<&str>,
    ) -> TclResult {
        let mut frame = Frame {
            call: words.to_vec(),
            kind: FrameKind::Proc,
            ns: p.ns.clone(),
            ..Frame::default()
        };
        let args = &words[skip..];
        let n = p.params.len();
        let has_args = n > 0 && p.params[n - 1].0 == "args" && p.params[n - 1].1.is_none();
        let fixed = if has_args { n - 1 } else { n };
        let mut ai = 0;
        let usage = || {
            let mut u = if lambda.is_some() {
                format!("apply {}", list::quote_element(&words[1], false))
            } else {
                words[0].clone()
            };
            for (i, (name, def)) in p.params.iter().enumerate() {
                if has_args && i == n - 1 {
                    u.push_str(" ?arg ...?");
                } else if def.is_some() {
                    u.push_str(&format!(" ?{name}?"));
                } else {
                    u.push(' ');
                    u.push_str(name);
                }
            }
            u
        };
        for (name, def) in p.params.iter().take(fixed) {
            if ai < args.len() {
                frame
                    .vars
                    .insert(name.clone(), Var::Scalar(args[ai].clone()));
                ai += 1;
            } else if let Some(d) = def {
                frame.vars.insert(name.clone(), Var::Scalar(d.clone()));
            } else {
                return wrong_args(&usage());
            }
        }
        if has_args {
            frame.vars.insert(
                "args".into(),
                Var::Scalar(make_list(&args[ai.min(args.len())..])),
            );
        } else if ai < args.len() {
            return wrong_args(&usage());
        }
        let r = self.in_new_frame(frame, |it| it.eval_script(&p.body));
        match r {
            Ok(v) => Ok(v),
            Err(Exception::Return(code, v)) => code_to_result(code, v),
            Err(Exception::Error(mut e)) => {
                if let Some(l) = e.line {
                    match lambda {
                        Some(term) => e
                            .info
                            .push_str(&format!("\n    (lambda term \"{term}\" line {l})")),
                        None => e
                            .info
                            .push_str(&format!("\n    (procedure \"{}\" line {l})", words[0])),
                    }
                }
                e.inline = false;
                Err(Exception::Error(e))
            }
            Err(Exception::Break) => err("invoked \"break\" outside of a loop"),
            Err(Exception::Continue) => err("invoked \"continue\" outside of a loop"),
        }
    }

    /// Call a procedure (or any command) by name with arguments, as failsh
    /// does for start/stop/reclaim/check/trap procedures. Runs in the global
    /// frame.
    pub fn call_proc(&mut self, name: &str, args: &[&str]) -> Result<String, TclError> {
        let mut words = vec![name.to_string()];
        words.extend(args.iter().map(|s| s.to_string()));
        let saved = self.cur;
        self.cur = 0;
        let r = self.invoke(&words);
        self.frames.truncate(1);
        let _ = saved;
        self.cur = 0;
        match r {
            Ok(v) => Ok(v),
            Err(Exception::Error(mut e)) => {
                let text = make_list(&words);
                add_trace(&mut e, &text);
                if e.code == "TIMEOUT" && e.exit.is_none() {
                    e.message = format!("procedure \"{name}\" exceeded its time limit");
                }
                Err(*e)
            }
            Err(Exception::Return(code, v)) => match code_to_result(code, v) {
                Ok(v) => Ok(v),
                Err(Exception::Error(e)) => Err(*e),
                Err(_) => Err(TclError::new("procedure returned an unexpected code")),
            },
            Err(Exception::Break) => Err(TclError::new("invoked \"break\" outside of a loop")),
            Err(Exception::Continue) => {
                Err(TclError::new("invoked \"continue\" outside of a loop"))
            }
        }
    }

    /// Evaluate the text of a file named `file`: parse everything (including
    /// statically known bodies) first, then run. Errors carry `(file "x" line N)`.
    /// `exit` stops the evaluation: `exit 0` is a success (the result is
    /// empty), another code an error whose [`TclError::exit_code`] is set.
    pub fn eval_source(&mut self, text: &str, file: &str) -> Result<String, TclError> {
        match self.eval_file_text(text, file) {
            Ok(v) => Ok(v),
            Err(Exception::Error(e)) if e.exit == Some(0) => Ok(String::new()),
            Err(Exception::Error(e)) => Err(*e),
            Err(Exception::Break) => Err(TclError::new("invoked \"break\" outside of a loop")),
            Err(Exception::Continue) => {
                Err(TclError::new("invoked \"continue\" outside of a loop"))
            }
            Err(Exception::Return(..)) => Ok(String::new()),
        }
    }

    /// What `eval_source` and `source` share: parse, run in the current
    /// frame with `file` as `info script`, add `(file "x" line N)` to an
    /// error. A `return` ends the file.
    pub(crate) fn eval_file_text(&mut self, text: &str, file: &str) -> TclResult {
        let file_ctx = |e: &mut TclError| {
            if let Some(l) = e.line {
                e.info
                    .push_str(&format!("\n    (file \"{file}\" line {l})"));
            }
            e.inline = false;
        };
        let sc = match parse_script(text).and_then(|sc| {
            parser::check_bodies(&sc)?;
            Ok(sc)
        }) {
            Ok(sc) => sc,
            Err(pe) => {
                let mut e = parse_error(&pe);
                e.line = Some(pe.line);
                file_ctx(&mut e);
                return Err(e.into());
            }
        };
        self.files.push(file.to_string());
        let saved_line = self.cur_line;
        self.line_map = Some(1);
        let r = self.eval_script(&sc);
        self.cur_line = saved_line;
        self.files.pop();
        match r {
            Ok(v) => Ok(v),
            Err(Exception::Return(code, v)) => match code_to_result(code, v) {
                Err(Exception::Error(mut e)) => {
                    file_ctx(&mut e);
                    Err(Exception::Error(e))
                }
                other => other,
            },
            Err(Exception::Error(mut e)) => {
                file_ctx(&mut e);
                Err(Exception::Error(e))
            }
            Err(Exception::Break) => err("invoked \"break\" outside of a loop"),
            Err(Exception::Continue) => err("invoked \"continue\" outside of a loop"),
        }
    }

    /// Read and evaluate a file (see [`Interp::eval_source`]).
    pub fn eval_file(&mut self, path: &std::path::Path) -> Result<String, TclError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TclError::new(format!(
                "couldn't read file \"{}\": {}",
                path.display(),
                super::num::io_error_text(&e)
            ))
        })?;
        self.eval_source(&text, &path.display().to_string())
    }
}
