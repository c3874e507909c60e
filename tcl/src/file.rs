//! `file` (queries and path names; nothing that changes the file system)
//! and `source`.

use super::chan::read_text;
use super::list::make_list;
use super::{err, wrong_args, Interp, TclResult};

/// The components of a path: whether it is absolute, and its non-empty
/// parts.
fn components(p: &str) -> (bool, Vec<&str>) {
    (
        p.starts_with('/'),
        p.split('/').filter(|c| !c.is_empty()).collect(),
    )
}

fn build(abs: bool, parts: &[&str]) -> String {
    let s = parts.join("/");
    if abs {
        format!("/{s}")
    } else {
        s
    }
}

pub(crate) fn join(args: &[String]) -> String {
    let mut abs = false;
    let mut parts: Vec<&str> = Vec::new();
    for a in args {
        let (a_abs, a_parts) = components(a);
        if a_abs {
            abs = true;
            parts.clear();
        }
        parts.extend(a_parts);
    }
    build(abs, &parts)
}

pub(crate) fn dirname(p: &str) -> String {
    let (abs, parts) = components(p);
    if parts.len() <= 1 {
        return if abs { "/".into() } else { ".".into() };
    }
    build(abs, &parts[..parts.len() - 1])
}

pub(crate) fn tail(p: &str) -> String {
    components(p)
        .1
        .last()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// The position of the extension's dot in `p`, if the last component has one.
fn ext_pos(p: &str) -> Option<usize> {
    let last_slash = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    let dot = p[last_slash..].rfind('.')? + last_slash;
    Some(dot)
}

fn bool_of(b: bool) -> TclResult {
    Ok(if b { "1" } else { "0" }.into())
}

fn access(path: &str, mode: u32) -> bool {
    // without libc's access(2): the permission bits that apply to us are
    // not known, so any of user/group/other counts, and root can read and
    // write anything
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => {
            let bits = m.permissions().mode();
            let any = bits & (mode << 6 | mode << 3 | mode) != 0;
            any || (mode != 1 && is_root())
        }
        Err(_) => false,
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}

pub(crate) fn cmd_file(_it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("file subcommand ?arg ...?");
    }
    let sub = a[1].as_str();
    let args = &a[2..];
    let one = |usage: &str| -> Result<&String, super::Exception> {
        match args {
            [p] => Ok(p),
            _ => wrong_args(&format!("file {sub} {usage}")),
        }
    };
    match sub {
        "exists" => bool_of(std::fs::metadata(one("name")?).is_ok()),
        "isfile" => bool_of(std::fs::metadata(one("name")?).is_ok_and(|m| m.is_file())),
        "isdirectory" => bool_of(std::fs::metadata(one("name")?).is_ok_and(|m| m.is_dir())),
        "readable" => bool_of(access(one("name")?, 4)),
        "writable" => bool_of(access(one("name")?, 2)),
        "executable" => bool_of(access(one("name")?, 1)),
        "size" => {
            let p = one("name")?;
            match std::fs::metadata(p) {
                Ok(m) => Ok(m.len().to_string()),
                Err(e) => err(format!(
                    "could not read \"{p}\": {}",
                    super::num::io_error_text(&e)
                )),
            }
        }
        "join" => {
            if args.is_empty() {
                return wrong_args("file join name ?name ...?");
            }
            Ok(join(args))
        }
        "split" => {
            let (abs, parts) = components(one("name")?);
            let mut v: Vec<String> = Vec::new();
            if abs {
                v.push("/".into());
            }
            v.extend(parts.iter().map(|s| s.to_string()));
            Ok(make_list(&v))
        }
        "dirname" => Ok(dirname(one("name")?)),
        "tail" => Ok(tail(one("name")?)),
        "extension" => {
            let p = one("name")?;
            Ok(ext_pos(p).map(|i| p[i..].to_string()).unwrap_or_default())
        }
        "rootname" => {
            let p = one("name")?;
            Ok(match ext_pos(p) {
                Some(i) => p[..i].to_string(),
                None => p.clone(),
            })
        }
        "pathtype" => {
            let p = one("name")?;
            Ok(if p.starts_with('/') { "absolute" } else { "relative" }.into())
        }
        _ => err(format!(
            "unknown or ambiguous subcommand \"{sub}\": must be atime, attributes, channels, copy, delete, dirname, executable, exists, extension, isdirectory, isfile, join, link, lstat, mkdir, mtime, nativename, normalize, owned, pathtype, readable, readlink, rename, rootname, separator, size, split, stat, system, tail, tempfile, type, volumes, or writable"
        )),
    }
}

/// `source ?-encoding name? fileName`: evaluate a file in the current
/// frame; a relative name is relative to the working directory, as in Tcl
/// (use `[file join [file dirname [info script]] NAME]` for a name relative
/// to the sourcing file).
pub(crate) fn cmd_source(it: &mut Interp, a: &[String]) -> TclResult {
    let path = match a {
        [_, p] => p,
        [_, o, _, p] if o == "-encoding" => p,
        _ => return wrong_args("source ?-encoding name? fileName"),
    };
    let text = read_text(path, "read file")?;
    it.eval_file_text(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_like_tcl() {
        let j = |v: &[&str]| join(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(j(&["a", "/b", "c"]), "/b/c");
        assert_eq!(j(&["a/", "b"]), "a/b");
        assert_eq!(j(&["", "a"]), "a");
        assert_eq!(dirname("a"), ".");
        assert_eq!(dirname("/"), "/");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a/b/"), "a");
        assert_eq!(tail("/a/b/"), "b");
        assert_eq!(tail("/"), "");
    }
}
