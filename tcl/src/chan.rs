//! Channels: `puts` to stdout/stderr and to files, `open`, `gets`,
//! `read`, `eof`, `flush`, `close`.
//!
//! A file opened for reading is read whole when it is opened (at most
//! [`MAX_READ`] bytes, regular files and `/dev/null` only, so that a read
//! can neither block nor run away); line endings are translated as Tcl's
//! `auto` translation does. A file opened for writing is written through.
//! Check mode refuses opening for writing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::builtins::{get_int, get_list};
use super::num::io_error_text;
use super::{err, wrong_args, Exception, Interp, TclError, TclResult};

/// Largest file `open` reads (and `source` evaluates).
pub(crate) const MAX_READ: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) enum Chan {
    Read {
        data: Arc<str>,
        pos: usize,
        eof: bool,
    },
    Write {
        file: Arc<Mutex<File>>,
    },
}

fn posix_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let (name, text) = match e.kind() {
        NotFound => ("ENOENT", "no such file or directory"),
        PermissionDenied => ("EACCES", "permission denied"),
        AlreadyExists => ("EEXIST", "file already exists"),
        IsADirectory => ("EISDIR", "illegal operation on a directory"),
        _ => ("EIO", "input/output error"),
    };
    format!("POSIX {name} {{{text}}}")
}

/// Read a whole file for `open` or `source`: a regular file (or
/// `/dev/null`) of at most [`MAX_READ`] bytes, as text with Tcl's `auto`
/// line-end translation. `verb` is Tcl's word for the error ("open",
/// "read file").
pub(crate) fn read_text(path: &str, verb: &str) -> Result<String, Exception> {
    let fail = |e: &std::io::Error| -> Exception {
        TclError::with_code(
            format!("couldn't {verb} \"{path}\": {}", io_error_text(e)),
            posix_error(e),
        )
        .into()
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if meta.is_dir() {
        return Err(TclError::with_code(
            format!("couldn't {verb} \"{path}\": illegal operation on a directory"),
            "POSIX EISDIR {illegal operation on a directory}",
        )
        .into());
    }
    if !meta.is_file() && path != "/dev/null" {
        return err(format!(
            "couldn't {verb} \"{path}\": not a regular file (only regular files can be read)"
        ));
    }
    if meta.len() > MAX_READ {
        return err(format!(
            "couldn't {verb} \"{path}\": file is larger than {MAX_READ} bytes"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(&e))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// `open fileName ?access? ?permissions?`
pub(crate) fn cmd_open(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 || a.len() > 4 {
        return wrong_args("open fileName ?access? ?permissions?");
    }
    let path = &a[1];
    if path.starts_with('|') {
        return err("command pipelines are not supported by open: use exec");
    }
    let access = a.get(2).map(String::as_str).unwrap_or("r");
    // (write, create, truncate, append, exclusive)
    let mode = match access {
        "r" | "RDONLY" => None,
        "w" | "w+" => Some((true, true, false, false)),
        "a" | "a+" => Some((true, false, true, false)),
        "r+" => Some((false, false, false, false)),
        _ if access
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase()) =>
        {
            let flags = get_list(access)?;
            let mut m = (false, false, false, false);
            let mut write = false;
            for f in &flags {
                match f.as_str() {
                    "RDONLY" => {}
                    "WRONLY" | "RDWR" => write = true,
                    "CREAT" => m.0 = true,
                    "TRUNC" => m.1 = true,
                    "APPEND" => m.2 = true,
                    "EXCL" => m.3 = true,
                    "NOCTTY" | "NONBLOCK" => {}
                    o => {
                        return err(format!(
                            "invalid access mode \"{o}\": must be APPEND, BINARY, CREAT, EXCL, NOCTTY, NONBLOCK, RDONLY, RDWR, TRUNC, or WRONLY"
                        ))
                    }
                }
            }
            if write {
                Some(m)
            } else {
                None
            }
        }
        _ => return err(format!("illegal access mode \"{access}\"")),
    };
    if let Some(p) = a.get(3) {
        get_int(p)?;
    }
    let chan = match mode {
        None => Chan::Read {
            data: Arc::from(read_text(path, "open")?),
            pos: 0,
            eof: false,
        },
        Some((create, truncate, append, excl)) => {
            if it.check_mode() {
                return Err(TclError::with_code(
                    format!(
                        "couldn't open \"{path}\": writing files is refused while the configuration is checked"
                    ),
                    "TCL CHECK REFUSED",
                )
                .into());
            }
            let mut o = OpenOptions::new();
            o.write(true);
            if excl {
                o.create_new(true);
            } else {
                o.create(create);
            }
            o.truncate(truncate && !append).append(append);
            let f = o.open(path).map_err(|e| {
                Exception::from(TclError::with_code(
                    format!("couldn't open \"{path}\": {}", io_error_text(&e)),
                    posix_error(&e),
                ))
            })?;
            Chan::Write {
                file: Arc::new(Mutex::new(f)),
            }
        }
    };
    let name = format!("file{}", it.next_chan);
    it.next_chan += 1;
    it.chans.insert(name.clone(), chan);
    Ok(name)
}

fn no_chan(name: &str) -> Exception {
    TclError::new(format!("can not find channel named \"{name}\"")).into()
}

fn read_chan<'a>(
    it: &'a mut Interp,
    name: &str,
) -> Result<(&'a str, &'a mut usize, &'a mut bool), Exception> {
    match it.chans.get_mut(name) {
        Some(Chan::Read { data, pos, eof }) => Ok((&**data, pos, eof)),
        Some(Chan::Write { .. }) => err(format!("channel \"{name}\" wasn't opened for reading")),
        None if name == "stdin" => err("reading stdin is not supported"),
        None => Err(no_chan(name)),
    }
}

/// `gets channelId ?varName?`
pub(crate) fn cmd_gets(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("gets channelId ?varName?");
    }
    let (data, pos, eof) = read_chan(it, &a[1])?;
    let line = if *pos >= data.len() {
        *eof = true;
        None
    } else {
        let rest = &data[*pos..];
        match rest.find('\n') {
            Some(i) => {
                *pos += i + 1;
                Some(rest[..i].to_string())
            }
            None => {
                *pos = data.len();
                *eof = true;
                Some(rest.to_string())
            }
        }
    };
    if a.len() == 3 {
        let n = match &line {
            Some(l) => l.chars().count() as i64,
            None => -1,
        };
        it.set_var(&a[2], line.unwrap_or_default())?;
        return Ok(n.to_string());
    }
    Ok(line.unwrap_or_default())
}

/// `read ?-nonewline? channelId` or `read channelId numChars`
pub(crate) fn cmd_read(it: &mut Interp, a: &[String]) -> TclResult {
    let usage = "read channelId ?numChars?\" or \"read ?-nonewline? channelId";
    let (name, nonewline, count) = match a {
        [_, n] => (n, false, None),
        [_, o, n] if o == "-nonewline" => (n, true, None),
        [_, n, c] => {
            let c = get_int(c).map_err(|_| {
                Exception::from(TclError::new(format!(
                    "expected non-negative integer but got \"{c}\""
                )))
            })?;
            if c < 0 {
                return err(format!("expected non-negative integer but got \"{c}\""));
            }
            (n, false, Some(c as usize))
        }
        _ => return wrong_args(usage),
    };
    let (data, pos, eof) = read_chan(it, name)?;
    let rest = &data[*pos..];
    let taken = match count {
        Some(c) => {
            let end = rest
                .char_indices()
                .nth(c)
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            &rest[..end]
        }
        None => rest,
    };
    *pos += taken.len();
    if *pos >= data.len() && (count.is_none() || taken.chars().count() < count.unwrap_or(0)) {
        *eof = true;
    }
    let mut out = taken.to_string();
    if nonewline && out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// `eof channelId`
pub(crate) fn cmd_eof(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("eof channelId");
    }
    match it.chans.get(&a[1]) {
        Some(Chan::Read { eof, .. }) => Ok(if *eof { "1" } else { "0" }.into()),
        Some(Chan::Write { .. }) => Ok("0".into()),
        None if matches!(a[1].as_str(), "stdout" | "stderr") => Ok("0".into()),
        None => Err(no_chan(&a[1])),
    }
}

/// `flush channelId`
pub(crate) fn cmd_flush(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 {
        return wrong_args("flush channelId");
    }
    match it.chans.get(&a[1]) {
        Some(Chan::Write { file }) => {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.flush().map_err(|e| {
                TclError::new(format!(
                    "error flushing \"{}\": {}",
                    a[1],
                    io_error_text(&e)
                ))
            })?;
            Ok(String::new())
        }
        Some(Chan::Read { .. }) => err(format!("channel \"{}\" wasn't opened for writing", a[1])),
        None if matches!(a[1].as_str(), "stdout" | "stderr") => {
            it.write_out(a[1] == "stderr", "");
            Ok(String::new())
        }
        None => Err(no_chan(&a[1])),
    }
}

/// `close channelId`
pub(crate) fn cmd_close(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() != 2 && a.len() != 3 {
        return wrong_args("close channelId ?direction?");
    }
    match it.chans.remove(&a[1]) {
        Some(Chan::Write { file }) => {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.flush().map_err(|e| {
                TclError::new(format!("error closing \"{}\": {}", a[1], io_error_text(&e)))
            })?;
            Ok(String::new())
        }
        Some(Chan::Read { .. }) => Ok(String::new()),
        None if matches!(a[1].as_str(), "stdout" | "stderr" | "stdin") => Ok(String::new()),
        None => Err(no_chan(&a[1])),
    }
}

pub(crate) fn cmd_puts(it: &mut Interp, a: &[String]) -> TclResult {
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
    let mut text = s.clone();
    if newline {
        text.push('\n');
    }
    match chan {
        "stdout" | "stderr" => {
            it.write_out(chan == "stderr", &text);
            Ok(String::new())
        }
        _ => match it.chans.get(chan) {
            Some(Chan::Write { file }) => {
                let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                f.write_all(text.as_bytes()).map_err(|e| {
                    TclError::new(format!("error writing \"{chan}\": {}", io_error_text(&e)))
                })?;
                Ok(String::new())
            }
            Some(Chan::Read { .. }) => err(format!("channel \"{chan}\" wasn't opened for writing")),
            None => Err(no_chan(chan)),
        },
    }
}
