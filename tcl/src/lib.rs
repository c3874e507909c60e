//! A small Tcl interpreter in pure Rust for failsh configurations.
//!
//! The word rules follow Tcl 8.6 exactly; the command set is what
//! configurations need (see `docs/tcl.md`). Scripts are parsed completely
//! before they run, so a broken configuration applies nothing.

mod builtins;
mod chan;
mod clock;
mod control;
mod dict;
mod eval;
mod exec;
mod expr;
mod file;
mod info;
pub mod list;
mod lists;
mod namespace;
mod num;
pub mod parser;
mod regexp;
mod scan;
mod strings;
mod vars;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use list::{make_list, parse_list};
pub use num::format_double;
pub use parser::{parse_script, ParseError, Script};

use vars::{Frame, Var};

/// Maximum nesting of evaluations (Tcl's default recursion limit is 1000; we
/// stay lower to protect the Rust stack in worker threads).
pub const MAX_NESTING: usize = 200;

/// Largest value one command builds by concatenation (a word, `append`,
/// `format`, `string map`, `regsub`, `subst`, `join`): 64 MiB, so that a
/// short script cannot make the interpreter allocate gigabytes before a
/// deadline is checked. Beyond it: `max size for a Tcl value exceeded`.
pub const MAX_VALUE: usize = 64 * 1024 * 1024;

pub(crate) fn too_big() -> Exception {
    TclError::with_code("max size for a Tcl value exceeded", "TCL MEMORY").into()
}

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
    /// Set when the error is `exit` stopping the load of a file.
    exit: Option<i32>,
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
            exit: None,
            inline: false,
        }
    }

    /// The code of an `exit` that stopped the evaluation of a file.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit
    }

    /// Errors `catch` and `try` must not stop: a deadline and `exit`.
    pub(crate) fn uncatchable(&self) -> bool {
        self.code == "TIMEOUT" || self.exit.is_some()
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
pub(crate) enum Cmd {
    Builtin(BuiltinFn),
    Host(HostFn),
    Proc(Arc<Proc>),
}

/// A procedure defined with `proc` (or an `apply` lambda).
#[derive(Debug)]
pub struct Proc {
    params: Vec<(String, Option<String>)>,
    body_text: String,
    body: Arc<Script>,
    /// The namespace the body runs in.
    ns: String,
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
    /// Namespaces other than the global one (qualified, no leading `::`).
    namespaces: BTreeSet<String>,
    /// Open file channels.
    chans: BTreeMap<String, chan::Chan>,
    next_chan: u64,
    /// Check mode (`failsh -t`): no file writes, no `exit`.
    check_mode: bool,
    regex_cache: BTreeMap<String, regex::Regex>,
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
            namespaces: BTreeSet::new(),
            chans: BTreeMap::new(),
            next_chan: 3,
            check_mode: false,
            regex_cache: BTreeMap::new(),
        };
        builtins::register(&mut it);
        // the interpreter's own copy of the environment: `env` is read and
        // written by scripts and passed to `exec`'d children, never to the
        // process's environment
        let env: BTreeMap<String, String> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        it.frames[0].vars.insert("env".into(), Var::Array(env));
        it
    }

    /// Register (or replace) a host command.
    pub fn register(&mut self, name: &str, f: HostFn) {
        self.cmds.insert(vars::normalize(name), Cmd::Host(f));
    }

    pub(crate) fn register_builtin(&mut self, name: &str, f: BuiltinFn) {
        self.cmds.insert(name.to_string(), Cmd::Builtin(f));
    }

    /// Allow or forbid `exec` (forbidden in fuzzing).
    pub fn set_exec_enabled(&mut self, on: bool) {
        self.exec_enabled = on;
    }

    /// Check mode, for a load-time check such as `failsh -t`: `open` for
    /// writing, `exec` redirections to files and `exit` are refused with a
    /// Tcl error, so that checking a configuration writes no file and does
    /// not stop half-way.
    pub fn set_check_mode(&mut self, on: bool) {
        self.check_mode = on;
    }

    pub(crate) fn check_mode(&self) -> bool {
        self.check_mode
    }

    /// Whether a file is being evaluated (`eval_source`, `eval_file`, `source`).
    pub(crate) fn loading(&self) -> bool {
        !self.files.is_empty()
    }

    /// `info script`: the file being evaluated, or "".
    pub(crate) fn script_name(&self) -> String {
        self.files.last().cloned().unwrap_or_default()
    }

    /// The environment `exec`'d children get: the `env` array.
    pub(crate) fn env_vars(&self) -> BTreeMap<String, String> {
        self.array_get("::env").unwrap_or_default()
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
        self.lookup_cmd(name).is_some()
    }

    /// Whether a procedure defined with `proc` exists.
    pub fn has_proc(&self, name: &str) -> bool {
        matches!(self.lookup_cmd(name), Some(Cmd::Proc(_)))
    }

    /// Names of the defined procedures (qualified for those in a
    /// namespace, without the leading `::`), sorted.
    pub fn proc_names(&self) -> Vec<String> {
        self.cmds
            .iter()
            .filter(|(_, c)| matches!(c, Cmd::Proc(_)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub(crate) fn command_keys(&self) -> Vec<(String, bool)> {
        self.cmds
            .iter()
            .map(|(n, c)| (n.clone(), matches!(c, Cmd::Proc(_))))
            .collect()
    }

    /// The key of command `name` as seen from the current namespace.
    pub(crate) fn cmd_key(&self, name: &str) -> Option<String> {
        if let Some(abs) = name.strip_prefix("::") {
            let k = vars::normalize(abs);
            return self.cmds.contains_key(&k).then_some(k);
        }
        let ns = self.current_ns();
        if !ns.is_empty() {
            let k = vars::join_ns(ns, &vars::normalize(name));
            if self.cmds.contains_key(&k) {
                return Some(k);
            }
        }
        let k = if name.contains("::") {
            vars::normalize(name)
        } else {
            name.to_string()
        };
        self.cmds.contains_key(&k).then_some(k)
    }

    pub(crate) fn lookup_cmd(&self, name: &str) -> Option<&Cmd> {
        self.cmd_key(name).and_then(|k| self.cmds.get(&k))
    }

    /// The key a new command `name` gets in the current namespace.
    pub(crate) fn qualify_cmd(&self, name: &str) -> String {
        match name.strip_prefix("::") {
            Some(abs) => vars::normalize(abs),
            None => vars::join_ns(self.current_ns(), &vars::normalize(name)),
        }
    }

    pub(crate) fn proc_info(&self, name: &str) -> Option<Arc<Proc>> {
        match self.lookup_cmd(name) {
            Some(Cmd::Proc(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub(crate) fn rename_command(&mut self, from: &str, to: &str) -> TclResult {
        let Some(fk) = self.cmd_key(from) else {
            let what = if to.is_empty() { "delete" } else { "rename" };
            return err(format!("can't {what} \"{from}\": command doesn't exist"));
        };
        let Some(c) = self.cmds.remove(&fk) else {
            return err(format!("can't rename \"{from}\": command doesn't exist"));
        };
        if !to.is_empty() {
            let tk = self.qualify_cmd(to);
            if self.cmds.contains_key(&tk) {
                self.cmds.insert(fk, c);
                return err(format!("can't rename to \"{to}\": command already exists"));
            }
            if !self.namespace_exists(vars::qualifier(&tk)) {
                self.cmds.insert(fk, c);
                return err(format!("can't rename to \"{to}\": bad command name"));
            }
            self.cmds.insert(tk, c);
        }
        Ok(String::new())
    }

    /// Whether namespace `ns` (qualified, no leading `::`; "" is global) exists.
    pub(crate) fn namespace_exists(&self, ns: &str) -> bool {
        ns.is_empty() || self.namespaces.contains(ns)
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
    type Seen = Arc<Mutex<Vec<Option<(String, usize)>>>>;

    fn recorder() -> (Interp, Seen) {
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
