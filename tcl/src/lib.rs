//! A small Tcl interpreter in pure Rust for failsh configurations.
//!
//! The word rules follow Tcl 8.6 exactly; the command set is what
//! configurations need (see `docs/tcl.md`). Scripts are parsed completely
//! before they run, so a broken configuration applies nothing.

mod builtins;
mod exec;
mod expr;
pub mod list;
mod num;
pub mod parser;
mod strings;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use list::{make_list, parse_list};
pub use num::format_double;
pub use parser::{parse_script, ParseError, Script};

use parser::{Part, Word};

/// Maximum nesting of evaluations (Tcl's default recursion limit is 1000; we
/// stay lower to protect the Rust stack in worker threads).
pub const MAX_NESTING: usize = 200;

/// A Tcl error: message, errorInfo-style trace and errorCode.
#[derive(Debug, Clone, PartialEq)]
pub struct TclError {
    /// The error message (the interpreter result).
    pub message: String,
    /// The stack trace, like Tcl's `$::errorInfo`.
    pub info: String,
    /// Like Tcl's `$::errorCode`.
    pub code: String,
    /// Line of the failing command in the outermost script evaluated (the
    /// file line for `eval_file`/`eval_source`).
    pub line: Option<usize>,
    logged: bool,
    /// `line` is already in the coordinates of the enclosing script (the
    /// error came from code Tcl would compile inline, e.g. an `if` body or a
    /// command substitution), so the enclosing command adds no trace.
    inline: bool,
}

impl TclError {
    /// A fresh error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        TclError {
            info: message.clone(),
            message,
            code: "NONE".into(),
            line: None,
            logged: false,
            inline: false,
        }
    }

    /// A fresh error with an errorCode.
    pub fn with_code(message: impl Into<String>, code: impl Into<String>) -> Self {
        let mut e = Self::new(message);
        e.code = code.into();
        e
    }
}

impl fmt::Display for TclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.info)
    }
}

impl std::error::Error for TclError {}

/// How a command finished other than normally.
#[derive(Debug, Clone, PartialEq)]
pub enum Exception {
    /// An error.
    Error(Box<TclError>),
    /// `return` (with `-code`; the value).
    Return(i64, String),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
}

impl From<TclError> for Exception {
    fn from(e: TclError) -> Self {
        Exception::Error(Box::new(e))
    }
}

/// Shorthand for an error exception.
pub fn err<T>(msg: impl Into<String>) -> Result<T, Exception> {
    Err(TclError::new(msg).into())
}

/// A wrong # args error in Tcl's words.
pub fn wrong_args<T>(usage: &str) -> Result<T, Exception> {
    Err(TclError::with_code(
        format!("wrong # args: should be \"{usage}\""),
        "TCL WRONGARGS",
    )
    .into())
}

/// Result of evaluating a command or script.
pub type TclResult = Result<String, Exception>;

/// A built-in command.
pub type BuiltinFn = fn(&mut Interp, &[String]) -> TclResult;

/// A command added by the host program (failsh's `failsvc`, later `grarp`).
/// `args[0]` is the command name as invoked.
pub type HostFn = Arc<dyn Fn(&mut Interp, &[String]) -> TclResult + Send + Sync>;

#[derive(Clone)]
enum Cmd {
    Builtin(BuiltinFn),
    Host(HostFn),
    Proc(Arc<Proc>),
}

/// A procedure defined with `proc`.
#[derive(Debug)]
pub struct Proc {
    params: Vec<(String, Option<String>)>,
    args_text: String,
    body_text: String,
    body: Arc<Script>,
}

#[derive(Debug, Clone)]
enum Var {
    Scalar(String),
    Array(BTreeMap<String, String>),
    Link(usize, String),
}

#[derive(Debug, Clone, Default)]
struct Frame {
    vars: BTreeMap<String, Var>,
    /// The words of the procedure call (for `info level`).
    call: Vec<String>,
    /// The frame the call came from (uplevel 1 goes there).
    parent: usize,
}

/// Where `puts` writes.
#[derive(Debug, Clone, Default)]
struct Output {
    capture: bool,
    stdout: String,
    stderr: String,
}

/// The interpreter. Cloning gives an independent copy (variables, procs,
/// commands), so failsh can run a procedure in a worker thread.
#[derive(Clone)]
pub struct Interp {
    frames: Vec<Frame>,
    cur: usize,
    cmds: BTreeMap<String, Cmd>,
    cache: BTreeMap<String, Arc<Script>>,
    /// Lines of the braced words of the commands being invoked (innermost last).
    word_lines: Vec<Vec<Option<usize>>>,
    expr_cache: BTreeMap<String, Arc<expr::Node>>,
    depth: usize,
    deadline: Option<Instant>,
    exec_enabled: bool,
    out: Output,
    /// Names of the files being evaluated (innermost last).
    files: Vec<String>,
    /// Line, in the innermost file, of the command running at that file's
    /// level (or inside a body Tcl compiles inline).
    cur_line: usize,
    /// For the next `eval_script`: the file line of the script's line 1, when
    /// the script is (inline) file text whose commands move `cur_line`.
    line_map: Option<usize>,
    /// `line_map` of the script running now.
    cur_map: Option<usize>,
}

impl fmt::Debug for Interp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interp")
            .field("commands", &self.cmds.keys().collect::<Vec<_>>())
            .field("deadline", &self.deadline)
            .field("exec_enabled", &self.exec_enabled)
            .finish_non_exhaustive()
    }
}

impl Default for Interp {
    fn default() -> Self {
        Self::new()
    }
}

fn split_var(name: &str) -> (&str, Option<&str>) {
    if name.ends_with(')') {
        if let Some(i) = name.find('(') {
            return (&name[..i], Some(&name[i + 1..name.len() - 1]));
        }
    }
    (name, None)
}

impl Interp {
    /// A new interpreter with the built-in commands.
    pub fn new() -> Self {
        let mut it = Interp {
            frames: vec![Frame::default()],
            cur: 0,
            cmds: BTreeMap::new(),
            cache: BTreeMap::new(),
            word_lines: Vec::new(),
            expr_cache: BTreeMap::new(),
            depth: 0,
            deadline: None,
            exec_enabled: true,
            out: Output::default(),
            files: Vec::new(),
            cur_line: 0,
            line_map: None,
            cur_map: None,
        };
        builtins::register(&mut it);
        it
    }

    /// Register (or replace) a host command.
    pub fn register(&mut self, name: &str, f: HostFn) {
        self.cmds.insert(name.to_string(), Cmd::Host(f));
    }

    pub(crate) fn register_builtin(&mut self, name: &str, f: BuiltinFn) {
        self.cmds.insert(name.to_string(), Cmd::Builtin(f));
    }

    /// Allow or forbid `exec` (forbidden in fuzzing).
    pub fn set_exec_enabled(&mut self, on: bool) {
        self.exec_enabled = on;
    }

    /// Set (or clear) the deadline after which evaluation fails and
    /// children started by `exec` are killed.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The current deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn exec_enabled(&self) -> bool {
        self.exec_enabled
    }

    /// Capture `puts` output instead of writing to the process's stdout/stderr.
    pub fn set_capture_output(&mut self, on: bool) {
        self.out.capture = on;
    }

    /// Take the captured standard output.
    pub fn take_stdout(&mut self) -> String {
        std::mem::take(&mut self.out.stdout)
    }

    /// Take the captured standard error.
    pub fn take_stderr(&mut self) -> String {
        std::mem::take(&mut self.out.stderr)
    }

    pub(crate) fn write_out(&mut self, to_stderr: bool, s: &str) {
        use std::io::Write;
        if self.out.capture {
            if to_stderr {
                self.out.stderr.push_str(s);
            } else {
                self.out.stdout.push_str(s);
            }
        } else if to_stderr {
            let _ = std::io::stderr().write_all(s.as_bytes());
        } else {
            let mut o = std::io::stdout();
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    }

    pub(crate) fn timeout_error(&self) -> Exception {
        TclError::with_code("script exceeded its time limit", "TIMEOUT").into()
    }

    pub(crate) fn check_deadline(&self) -> Result<(), Exception> {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return Err(self.timeout_error());
            }
        }
        Ok(())
    }

    /// The file and line of the command running now at the level of the
    /// innermost file being evaluated (by `eval_source`, `eval_file` or
    /// `source`): the place `info script` and error traces name. Inside a
    /// procedure, `eval` or `uplevel` it is the line of the file's command
    /// that led there; inside a braced `if`/`while`/`for`/`switch` body it is
    /// the line of the command itself (Tcl compiles those inline). None when
    /// no file is being evaluated (e.g. in `call_proc` after loading).
    pub fn current_location(&self) -> Option<(String, usize)> {
        self.files.last().map(|f| (f.clone(), self.cur_line))
    }

    /// Whether a command (builtin, host command or proc) exists.
    pub fn has_command(&self, name: &str) -> bool {
        self.cmds
            .contains_key(name.strip_prefix("::").unwrap_or(name))
    }

    /// Whether a procedure defined with `proc` exists.
    pub fn has_proc(&self, name: &str) -> bool {
        matches!(
            self.cmds.get(name.strip_prefix("::").unwrap_or(name)),
            Some(Cmd::Proc(_))
        )
    }

    /// Names of the defined procedures, sorted.
    pub fn proc_names(&self) -> Vec<String> {
        self.cmds
            .iter()
            .filter(|(_, c)| matches!(c, Cmd::Proc(_)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub(crate) fn command_names(&self) -> Vec<String> {
        self.cmds.keys().cloned().collect()
    }

    pub(crate) fn proc_info(&self, name: &str) -> Option<Arc<Proc>> {
        match self.cmds.get(name) {
            Some(Cmd::Proc(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub(crate) fn rename_command(&mut self, from: &str, to: &str) -> TclResult {
        let from = from.strip_prefix("::").unwrap_or(from);
        let to = to.strip_prefix("::").unwrap_or(to);
        let Some(c) = self.cmds.remove(from) else {
            return err(format!("can't rename \"{from}\": command doesn't exist"));
        };
        if !to.is_empty() {
            if self.cmds.contains_key(to) {
                self.cmds.insert(from.to_string(), c);
                return err(format!("can't rename to \"{to}\": command already exists"));
            }
            self.cmds.insert(to.to_string(), c);
        }
        Ok(String::new())
    }

    // ----- variables -----

    fn resolve(&self, mut frame: usize, name: &str) -> (usize, String) {
        let mut name = name.to_string();
        if let Some(n) = name.strip_prefix("::") {
            frame = 0;
            name = n.to_string();
        }
        for _ in 0..100 {
            match self.frames[frame].vars.get(&name) {
                Some(Var::Link(f, n)) => {
                    frame = *f;
                    name = n.clone();
                }
                _ => break,
            }
        }
        (frame, name)
    }

    /// Read a variable (`name` or `name(index)`) in the current frame.
    pub fn get_var(&self, name: &str) -> TclResult {
        let (base, idx) = split_var(name);
        self.get_var2(base, idx)
    }

    pub(crate) fn get_var2(&self, base: &str, idx: Option<&str>) -> TclResult {
        let (f, n) = self.resolve(self.cur, base);
        // a link may point at an array element
        let (n, idx) = match (split_var(&n), idx) {
            ((b, Some(i)), None) => (b.to_string(), Some(i.to_string())),
            _ => (n.clone(), idx.map(str::to_string)),
        };
        let shown = match &idx {
            Some(i) => format!("{base}({i})"),
            None => base.to_string(),
        };
        let lookup = |var: &str| {
            TclError::with_code(
                format!("can't read \"{shown}\": {var}"),
                format!("TCL LOOKUP VARNAME {}", list::quote_element(base, true)),
            )
        };
        match (self.frames[f].vars.get(&n), idx) {
            (Some(Var::Scalar(s)), None) => Ok(s.clone()),
            (Some(Var::Array(_)), None) => Err(lookup("variable is array").into()),
            (Some(Var::Array(a)), Some(i)) => match a.get(&i) {
                Some(v) => Ok(v.clone()),
                None => Err(TclError::with_code(
                    format!("can't read \"{shown}\": no such element in array"),
                    "TCL READ VARNAME",
                )
                .into()),
            },
            (Some(Var::Scalar(_)), Some(_)) => Err(lookup("variable isn't array").into()),
            _ => Err(lookup("no such variable").into()),
        }
    }

    /// Set a variable (`name` or `name(index)`) in the current frame.
    pub fn set_var(&mut self, name: &str, value: String) -> TclResult {
        let (base, idx) = split_var(name);
        self.set_var2(base, idx, value)
    }

    pub(crate) fn set_var2(&mut self, base: &str, idx: Option<&str>, value: String) -> TclResult {
        let (f, n) = self.resolve(self.cur, base);
        let (n, idx) = match (split_var(&n), idx) {
            ((b, Some(i)), None) => (b.to_string(), Some(i.to_string())),
            _ => (n.clone(), idx.map(str::to_string)),
        };
        let shown = match &idx {
            Some(i) => format!("{base}({i})"),
            None => base.to_string(),
        };
        let vars = &mut self.frames[f].vars;
        match (vars.get_mut(&n), idx) {
            (Some(Var::Array(_)), None) => err(format!("can't set \"{shown}\": variable is array")),
            (Some(Var::Scalar(_)), Some(_)) => {
                err(format!("can't set \"{shown}\": variable isn't array"))
            }
            (Some(Var::Array(a)), Some(i)) => {
                a.insert(i, value.clone());
                Ok(value)
            }
            (_, Some(i)) => {
                let mut a = BTreeMap::new();
                a.insert(i, value.clone());
                vars.insert(n, Var::Array(a));
                Ok(value)
            }
            (_, None) => {
                vars.insert(n, Var::Scalar(value.clone()));
                Ok(value)
            }
        }
    }

    /// Whether a variable exists.
    pub fn var_exists(&self, name: &str) -> bool {
        let (base, idx) = split_var(name);
        let (f, n) = self.resolve(self.cur, base);
        match (self.frames[f].vars.get(&n), idx) {
            (Some(Var::Scalar(_)), None) | (Some(Var::Array(_)), None) => true,
            (Some(Var::Array(a)), Some(i)) => a.contains_key(i),
            _ => false,
        }
    }

    pub(crate) fn unset_var(&mut self, name: &str, complain: bool) -> TclResult {
        let (base, idx) = split_var(name);
        let (f, n) = self.resolve(self.cur, base);
        let vars = &mut self.frames[f].vars;
        let ok = match (vars.get_mut(&n), idx) {
            (Some(Var::Array(a)), Some(i)) => {
                if a.remove(i).is_some() {
                    true
                } else {
                    if complain {
                        return err(format!("can't unset \"{name}\": no such element in array"));
                    }
                    false
                }
            }
            (Some(Var::Scalar(_)), Some(_)) => {
                if complain {
                    return err(format!("can't unset \"{name}\": variable isn't array"));
                }
                false
            }
            (Some(_), None) => vars.remove(&n).is_some(),
            (Some(Var::Link(..)), Some(_)) | (None, _) => false,
        };
        if !ok && complain && idx.is_none() {
            return err(format!("can't unset \"{name}\": no such variable"));
        }
        if !ok && complain {
            return err(format!("can't unset \"{name}\": no such variable"));
        }
        Ok(String::new())
    }

    pub(crate) fn array_get(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let (f, n) = self.resolve(self.cur, name);
        match self.frames[f].vars.get(&n) {
            Some(Var::Array(a)) => Some(a.clone()),
            _ => None,
        }
    }

    pub(crate) fn is_scalar(&self, name: &str) -> bool {
        let (f, n) = self.resolve(self.cur, name);
        matches!(self.frames[f].vars.get(&n), Some(Var::Scalar(_)))
    }

    pub(crate) fn array_make(&mut self, name: &str) -> Result<(), Exception> {
        let (f, n) = self.resolve(self.cur, name);
        match self.frames[f].vars.get(&n) {
            Some(Var::Array(_)) => Ok(()),
            Some(_) => err(format!("can't set \"{name}\": variable isn't array")),
            None => {
                self.frames[f].vars.insert(n, Var::Array(BTreeMap::new()));
                Ok(())
            }
        }
    }

    /// Link `local` in the current frame to `other` in frame `level`.
    pub(crate) fn link_var(&mut self, level: usize, other: &str, local: &str) -> TclResult {
        let (tf, tn) = self.resolve(level, other);
        if tf == self.cur && tn == local {
            return err("can't upvar from variable to itself");
        }
        if split_var(local).1.is_some() {
            return err(format!(
                "bad variable name \"{local}\": can't create a scalar variable that looks like an array element"
            ));
        }
        let vars = &mut self.frames[self.cur].vars;
        if let Some(v) = vars.get(local) {
            if !matches!(v, Var::Link(..)) {
                return err(format!("variable \"{local}\" already exists"));
            }
        }
        vars.insert(local.to_string(), Var::Link(tf, tn));
        Ok(String::new())
    }

    pub(crate) fn level(&self) -> usize {
        // number of proc frames between the current one and global
        let mut n = 0;
        let mut f = self.cur;
        while f != 0 {
            n += 1;
            f = self.frames[f].parent;
        }
        n
    }

    /// Resolve a level spec (`1`, `#0`) to a frame index.
    pub(crate) fn frame_for_level(&self, spec: &str) -> Result<usize, Exception> {
        let bad = || err(format!("bad level \"{spec}\""));
        if let Some(abs) = spec.strip_prefix('#') {
            let Ok(n) = abs.parse::<usize>() else {
                return bad();
            };
            let cur_level = self.level();
            if n > cur_level {
                return bad();
            }
            let mut f = self.cur;
            for _ in 0..(cur_level - n) {
                f = self.frames[f].parent;
            }
            Ok(f)
        } else {
            let Ok(n) = spec.parse::<usize>() else {
                return bad();
            };
            let mut f = self.cur;
            for _ in 0..n {
                if f == 0 {
                    return bad();
                }
                f = self.frames[f].parent;
            }
            Ok(f)
        }
    }

    pub(crate) fn current_frame(&self) -> usize {
        self.cur
    }

    /// Run `f` with the current frame set to `frame`.
    pub(crate) fn with_frame<T>(&mut self, frame: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = self.cur;
        self.cur = frame;
        let r = f(self);
        self.cur = saved;
        r
    }

    pub(crate) fn frame_call(&self, level: usize) -> Option<Vec<String>> {
        let cur_level = self.level();
        if level == 0 || level > cur_level {
            return None;
        }
        let mut f = self.cur;
        for _ in 0..(cur_level - level) {
            f = self.frames[f].parent;
        }
        Some(self.frames[f].call.clone())
    }

    // ----- evaluation -----

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
        for w in words {
            let v = self.subst_parts(&w.parts)?;
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
        let name = words[0].strip_prefix("::").unwrap_or(&words[0]);
        let Some(cmd) = self.cmds.get(name).cloned() else {
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
            Cmd::Proc(p) => self.run_proc(&p, words),
        };
        self.depth -= 1;
        r
    }

    pub(crate) fn define_proc(&mut self, name: &str, args: &str, body: &str) -> TclResult {
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
        let body_sc = Arc::new(parse_script(body).map_err(parse_exception)?);
        let name = name.strip_prefix("::").unwrap_or(name);
        self.cmds.insert(
            name.to_string(),
            Cmd::Proc(Arc::new(Proc {
                params,
                args_text: args.to_string(),
                body_text: body.to_string(),
                body: body_sc,
            })),
        );
        Ok(String::new())
    }

    fn run_proc(&mut self, p: &Proc, words: &[String]) -> TclResult {
        let mut frame = Frame {
            vars: BTreeMap::new(),
            call: words.to_vec(),
            parent: self.cur,
        };
        let args = &words[1..];
        let n = p.params.len();
        let has_args = n > 0 && p.params[n - 1].0 == "args" && p.params[n - 1].1.is_none();
        let fixed = if has_args { n - 1 } else { n };
        let mut ai = 0;
        let usage = || {
            let mut u = words[0].clone();
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
        // required = params without default that come before the last param with no default
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
        self.frames.push(frame);
        let saved = self.cur;
        self.cur = self.frames.len() - 1;
        let r = self.eval_script(&p.body);
        self.frames.truncate(self.cur);
        self.cur = saved;
        match r {
            Ok(v) => Ok(v),
            Err(Exception::Return(code, v)) => code_to_result(code, v),
            Err(Exception::Error(mut e)) => {
                if let Some(l) = e.line {
                    e.info
                        .push_str(&format!("\n    (procedure \"{}\" line {l})", words[0]));
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
                if e.code == "TIMEOUT" {
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
    pub fn eval_source(&mut self, text: &str, file: &str) -> Result<String, TclError> {
        let file_ctx = |e: &mut TclError| {
            if let Some(l) = e.line {
                e.info
                    .push_str(&format!("\n    (file \"{file}\" line {l})"));
            }
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
                return Err(e);
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
                Ok(v) => Ok(v),
                Err(Exception::Error(mut e)) => {
                    file_ctx(&mut e);
                    Err(*e)
                }
                Err(_) => Ok(String::new()),
            },
            Err(Exception::Error(mut e)) => {
                file_ctx(&mut e);
                Err(*e)
            }
            Err(Exception::Break) => Err(TclError::new("invoked \"break\" outside of a loop")),
            Err(Exception::Continue) => {
                Err(TclError::new("invoked \"continue\" outside of a loop"))
            }
        }
    }

    /// Read and evaluate a file (see [`Interp::eval_source`]).
    pub fn eval_file(&mut self, path: &std::path::Path) -> Result<String, TclError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TclError::new(format!(
                "couldn't read file \"{}\": {}",
                path.display(),
                num::io_error_text(&e)
            ))
        })?;
        self.eval_source(&text, &path.display().to_string())
    }
}

fn code_to_result(code: i64, v: String) -> TclResult {
    match code {
        0 => Ok(v),
        1 => Err(TclError::new(v).into()),
        2 => Err(Exception::Return(0, v)),
        3 => Err(Exception::Break),
        4 => Err(Exception::Continue),
        _ => Ok(v),
    }
}

fn truncate_cmd(text: &str) -> String {
    let n = text.chars().count();
    if n > 150 {
        let s: String = text.chars().take(150).collect();
        format!("{s}...")
    } else {
        text.to_string()
    }
}

fn add_trace(e: &mut TclError, text: &str) {
    if e.logged {
        e.info.push_str(&format!(
            "\n    invoked from within\n\"{}\"",
            truncate_cmd(text)
        ));
    } else {
        e.info = format!(
            "{}\n    while executing\n\"{}\"",
            e.message,
            truncate_cmd(text)
        );
        e.logged = true;
    }
}

pub(crate) fn parse_error(pe: &ParseError) -> TclError {
    let mut e = TclError::with_code(pe.message.clone(), "TCL PARSE");
    add_trace(&mut e, &pe.text);
    e.line = Some(pe.line);
    e.inline = true;
    e
}

fn parse_exception(pe: ParseError) -> Exception {
    Exception::Error(Box::new(parse_error(&pe)))
}

pub(crate) fn not_inline(e: Exception) -> Exception {
    match e {
        Exception::Error(mut e) => {
            e.inline = false;
            Exception::Error(e)
        }
        o => o,
    }
}

pub(crate) fn mark_logged(e: &mut TclError, info: String) {
    e.info = info;
    e.logged = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An interpreter with a host command `where` that records
    /// `current_location` each time it runs.
    fn recorder() -> (Interp, Arc<Mutex<Vec<Option<(String, usize)>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut it = Interp::new();
        let s = seen.clone();
        it.register(
            "where",
            Arc::new(move |it: &mut Interp, _a: &[String]| {
                s.lock().unwrap().push(it.current_location());
                Ok(String::new())
            }),
        );
        (it, seen)
    }

    fn lines(seen: &Mutex<Vec<Option<(String, usize)>>>) -> Vec<usize> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|l| l.as_ref().map(|(_, n)| *n).unwrap_or(0))
            .collect()
    }

    #[test]
    fn current_location_names_the_file_and_the_line_of_the_command() {
        let (mut it, seen) = recorder();
        let text = "where\nset a 0\nset b [where]\nproc p {} {\n    where\n}\np\nif {1} {\n    set x 1\n    where\n}\nforeach i {1 2} {\n    where\n}\nwhile {$a < 1} {\n    incr a\n    where\n}\neval {\n    where\n}\nwhere; where\n";
        it.eval_source(text, "cfg.tcl").unwrap();
        // procedure, top-level foreach and eval: the line of the file's
        // command; braced if/while bodies: the line of the command itself.
        assert_eq!(lines(&seen), vec![1, 3, 7, 10, 12, 12, 17, 19, 22, 22]);
        assert_eq!(seen.lock().unwrap()[0], Some(("cfg.tcl".to_string(), 1)));
        // nothing is being loaded: no location
        seen.lock().unwrap().clear();
        it.call_proc("p", &[]).unwrap();
        it.eval("where").unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![None, None]);
    }

    #[test]
    fn current_location_after_a_caught_error_and_in_a_nested_body() {
        let (mut it, seen) = recorder();
        let text = "catch {\n    error x\n}\nwhere\nif {1} {\n    if {1} {\n        where\n    }\n    where\n}\n";
        it.eval_source(text, "f.tcl").unwrap();
        assert_eq!(lines(&seen), vec![4, 7, 9]);
    }
}
