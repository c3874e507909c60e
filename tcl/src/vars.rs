//! Variables: frames, links (`upvar`, `global`, `variable`), arrays and
//! namespace variables.
//!
//! Global and namespace variables live in frame 0, keyed by their qualified
//! name without the leading `::` (`x`, `foo::x`). A procedure frame holds its
//! locals; a `namespace eval` frame holds none (its variables are the
//! namespace's).

use std::collections::BTreeMap;

use super::{err, list, Exception, Interp, TclError, TclResult};

#[derive(Debug, Clone)]
pub(crate) enum Var {
    Scalar(String),
    Array(BTreeMap<String, String>),
    Link(usize, String),
    /// Declared with `variable name` but not set.
    Declared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FrameKind {
    #[default]
    Global,
    Proc,
    /// The frame of a `namespace eval` script.
    Namespace,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub(crate) vars: BTreeMap<String, Var>,
    /// The words of the procedure call (for `info level`).
    pub(crate) call: Vec<String>,
    /// The frame the call came from (uplevel 1 goes there).
    pub(crate) parent: usize,
    pub(crate) kind: FrameKind,
    /// The current namespace ("" is the global one).
    pub(crate) ns: String,
}

pub(crate) fn split_var(name: &str) -> (&str, Option<&str>) {
    if name.ends_with(')') {
        if let Some(i) = name.find('(') {
            return (&name[..i], Some(&name[i + 1..name.len() - 1]));
        }
    }
    (name, None)
}

/// `::a::::b` -> `a::b` (a qualified name without its leading `::`).
pub(crate) fn normalize(name: &str) -> String {
    let parts: Vec<&str> = name.split("::").filter(|p| !p.is_empty()).collect();
    let mut s = parts.join("::");
    // a name that ends in `::` names the empty tail (Tcl keeps it)
    if name.ends_with("::") && !parts.is_empty() {
        s.push_str("::");
    }
    s
}

/// The namespace part of a qualified key (`a::b::c` -> `a::b`, `c` -> ``).
pub(crate) fn qualifier(key: &str) -> &str {
    match key.rfind("::") {
        Some(i) => &key[..i],
        None => "",
    }
}

/// The last part of a name (`a::b::c` -> `c`).
pub(crate) fn tail(name: &str) -> &str {
    match name.rfind("::") {
        Some(i) => &name[i + 2..],
        None => name,
    }
}

pub(crate) fn join_ns(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}::{name}")
    }
}

impl Interp {
    /// Where variable `name` (no index) lives, as seen from `frame`: the
    /// frame and key, links followed.
    pub(crate) fn resolve(&self, frame: usize, name: &str) -> (usize, String) {
        let (mut f, mut key) = self.locate(frame, name);
        for _ in 0..100 {
            match self.frames.get(f).and_then(|fr| fr.vars.get(&key)) {
                Some(Var::Link(tf, tn)) => {
                    f = *tf;
                    key = tn.clone();
                }
                _ => break,
            }
        }
        if f >= self.frames.len() {
            // a link (made by upvar in a namespace script) to a frame that
            // has returned: the variable is gone; use a name no one has
            return (0, format!("\0gone\0{key}"));
        }
        (f, key)
    }

    /// Where `name` is (or would be created), before following links.
    fn locate(&self, frame: usize, name: &str) -> (usize, String) {
        let fr = &self.frames[frame];
        if let Some(abs) = name.strip_prefix("::") {
            return (0, normalize(abs));
        }
        let exists = |k: &str| self.frames[0].vars.contains_key(k);
        if name.contains("::") {
            let rel = normalize(name);
            if fr.ns.is_empty() {
                return (0, rel);
            }
            let inner = join_ns(&fr.ns, &rel);
            if exists(&inner) || !exists(&rel) {
                return (0, inner);
            }
            return (0, rel);
        }
        match fr.kind {
            FrameKind::Proc => (frame, name.to_string()),
            FrameKind::Global => (0, name.to_string()),
            FrameKind::Namespace => {
                let inner = join_ns(&fr.ns, name);
                if fr.ns.is_empty() || exists(&inner) || !exists(name) {
                    (0, inner)
                } else {
                    (0, name.to_string())
                }
            }
        }
    }

    fn var(&self, f: usize, key: &str) -> Option<&Var> {
        self.frames.get(f).and_then(|fr| fr.vars.get(key))
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
        match (self.var(f, &n), idx) {
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

    fn check_parent_ns(
        &self,
        f: usize,
        key: &str,
        shown: &str,
        verb: &str,
    ) -> Result<(), Exception> {
        if f == 0 && !self.namespace_exists(qualifier(key)) {
            return err(format!(
                "can't {verb} \"{shown}\": parent namespace doesn't exist"
            ));
        }
        Ok(())
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
        if self.var(f, &n).is_none() {
            self.check_parent_ns(f, &n, &shown, "set")?;
        }
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
        let (n, idx) = match (split_var(&n), idx) {
            ((b, Some(i)), None) => (b.to_string(), Some(i.to_string())),
            _ => (n.clone(), idx.map(str::to_string)),
        };
        match (self.var(f, &n), idx) {
            (Some(Var::Scalar(_)), None) | (Some(Var::Array(_)), None) => true,
            (Some(Var::Array(a)), Some(i)) => a.contains_key(&i),
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
            (Some(Var::Declared), None) => {
                vars.remove(&n);
                false
            }
            (Some(_), None) => vars.remove(&n).is_some(),
            (Some(Var::Link(..)), Some(_)) | (Some(Var::Declared), Some(_)) | (None, _) => false,
        };
        if !ok && complain {
            return err(format!("can't unset \"{name}\": no such variable"));
        }
        Ok(String::new())
    }

    pub(crate) fn array_get(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let (f, n) = self.resolve(self.cur, name);
        match self.var(f, &n) {
            Some(Var::Array(a)) => Some(a.clone()),
            _ => None,
        }
    }

    pub(crate) fn is_scalar(&self, name: &str) -> bool {
        let (f, n) = self.resolve(self.cur, name);
        matches!(self.var(f, &n), Some(Var::Scalar(_)))
    }

    pub(crate) fn array_make(&mut self, name: &str) -> Result<(), Exception> {
        let (f, n) = self.resolve(self.cur, name);
        match self.var(f, &n) {
            Some(Var::Array(_)) => Ok(()),
            Some(Var::Scalar(_)) => err(format!("can't set \"{name}\": variable isn't array")),
            _ => {
                self.check_parent_ns(f, &n, name, "set")?;
                self.frames[f].vars.insert(n, Var::Array(BTreeMap::new()));
                Ok(())
            }
        }
    }

    /// Link `local` in the current frame to `other` as seen from frame `level`.
    pub(crate) fn link_var(&mut self, level: usize, other: &str, local: &str) -> TclResult {
        let (tf, tn) = self.resolve(level, other);
        let (lf, lk) = self.locate(self.cur, local);
        if tf == lf && tn == lk {
            return err("can't upvar from variable to itself");
        }
        if split_var(local).1.is_some() {
            return err(format!(
                "bad variable name \"{local}\": can't create a scalar variable that looks like an array element"
            ));
        }
        if local.contains("::") && self.frames[self.cur].kind == FrameKind::Proc {
            return err(format!(
                "bad variable name \"{local}\": can't create namespace variable that refers to procedure variable"
            ));
        }
        let vars = &mut self.frames[lf].vars;
        if let Some(v) = vars.get(&lk) {
            if !matches!(v, Var::Link(..)) {
                return err(format!("variable \"{local}\" already exists"));
            }
        }
        vars.insert(lk, Var::Link(tf, tn));
        Ok(String::new())
    }

    /// `variable name ?value?`: declare (and set) a variable of the current
    /// namespace; in a procedure, link the local name to it.
    pub(crate) fn declare_ns_var(&mut self, name: &str, value: Option<String>) -> TclResult {
        let ns = self.frames[self.cur].ns.clone();
        let key = if let Some(abs) = name.strip_prefix("::") {
            normalize(abs)
        } else {
            join_ns(&ns, &normalize(name))
        };
        if !self.namespace_exists(qualifier(&key)) {
            return err(format!(
                "can't define \"{name}\": parent namespace doesn't exist"
            ));
        }
        let (f, k) = self.resolve(0, &format!("::{key}"));
        match (self.frames[f].vars.get(&k), &value) {
            (Some(Var::Array(_)), Some(_)) => {
                return err(format!("can't set \"{name}\": variable is array"));
            }
            (_, Some(v)) => {
                self.frames[f].vars.insert(k, Var::Scalar(v.clone()));
            }
            (None, None) => {
                self.frames[f].vars.insert(k, Var::Declared);
            }
            _ => {}
        }
        if self.frames[self.cur].kind == FrameKind::Proc {
            let local = tail(name).to_string();
            let cur = self.cur;
            match self.frames[cur].vars.get(&local) {
                Some(Var::Link(..)) | None => {
                    self.frames[cur].vars.insert(local, Var::Link(0, key));
                }
                Some(_) => return err(format!("variable \"{local}\" already exists")),
            }
        }
        Ok(String::new())
    }

    /// Names for `info globals`, `info locals`, `info vars` (sorted).
    pub(crate) fn var_names(&self, which: &str) -> Vec<String> {
        let fr = &self.frames[self.cur];
        let visible = |v: &Var, f: usize, k: &str| match v {
            Var::Link(..) => {
                let (tf, tk) = self.resolve(f, k);
                matches!(
                    self.var(tf, &tk),
                    Some(Var::Scalar(_)) | Some(Var::Array(_))
                )
            }
            Var::Declared => false,
            _ => true,
        };
        let globals = || {
            self.frames[0]
                .vars
                .iter()
                .filter(|(k, v)| !k.contains("::") && visible(v, 0, k))
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        match which {
            "globals" => globals(),
            "locals" => {
                if fr.kind != FrameKind::Proc {
                    return Vec::new();
                }
                fr.vars
                    .iter()
                    .filter(|(_, v)| matches!(v, Var::Scalar(_) | Var::Array(_)))
                    .map(|(k, _)| k.clone())
                    .collect()
            }
            _ => match fr.kind {
                FrameKind::Proc => fr
                    .vars
                    .iter()
                    .filter(|(k, v)| visible(v, self.cur, k))
                    .map(|(k, _)| k.clone())
                    .collect(),
                FrameKind::Global => globals(),
                FrameKind::Namespace => {
                    let pre = format!("{}::", fr.ns);
                    let mut v: Vec<String> = self.frames[0]
                        .vars
                        .iter()
                        .filter(|(k, v)| {
                            k.strip_prefix(&pre).is_some_and(|t| !t.contains("::"))
                                && visible(v, 0, k)
                        })
                        .map(|(k, _)| tail(k).to_string())
                        .collect();
                    v.extend(globals());
                    v.sort();
                    v.dedup();
                    v
                }
            },
        }
    }

    /// Keys of the variables that live in a namespace (qualified, set).
    pub(crate) fn namespace_var_keys(&self) -> Vec<String> {
        self.frames[0]
            .vars
            .iter()
            .filter(|(k, v)| k.contains("::") && matches!(v, Var::Scalar(_) | Var::Array(_)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub(crate) fn level(&self) -> usize {
        // number of frames between the current one and global
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

    /// Whether the current frame is a procedure's (or `apply`'s).
    pub(crate) fn in_proc(&self) -> bool {
        self.frames[self.cur].kind == FrameKind::Proc
    }

    /// The current namespace ("" for the global one).
    pub(crate) fn current_ns(&self) -> &str {
        &self.frames[self.cur].ns
    }

    /// Run `f` with the current frame set to `frame`.
    pub(crate) fn with_frame<T>(&mut self, frame: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = self.cur;
        self.cur = frame;
        let r = f(self);
        self.cur = saved;
        r
    }

    /// Run `f` in a new frame (a procedure's or a namespace's); the frame is
    /// removed afterwards.
    pub(crate) fn in_new_frame<T>(
        &mut self,
        mut frame: Frame,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        frame.parent = self.cur;
        self.frames.push(frame);
        let saved = self.cur;
        self.cur = self.frames.len() - 1;
        let r = f(self);
        self.frames.truncate(self.cur);
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
}
