//! `exec`: pipelines and redirections with Tcl's rules for errors. Each
//! pipeline runs in its own process group, so that a deadline can kill it
//! and everything it started.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::num::io_error_text;
use super::{err, list, wrong_args, Exception, Interp, TclError, TclResult};

enum In {
    Inherit,
    File(String),
    Value(String),
}

#[derive(Clone)]
enum Out {
    Capture,
    File(String, bool),
    Inherit,
    ToStderr,
}

#[derive(Clone)]
enum ErrDst {
    Capture,
    File(String, bool),
    ToStdout,
    Inherit,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_file() -> std::io::Result<File> {
    let dir = std::env::temp_dir();
    for _ in 0..100 {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!("failover-exec-{}-{n}-{nanos}", std::process::id()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&path);
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create temporary file"))
}

fn open_out(path: &str, append: bool) -> Result<File, Exception> {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    if append {
        o.append(true);
    } else {
        o.truncate(true);
    }
    o.open(path).map_err(|e| {
        TclError::new(format!(
            "couldn't write file \"{path}\": {}",
            io_error_text(&e)
        ))
        .into()
    })
}

fn io_err(e: std::io::Error) -> Exception {
    TclError::new(format!("exec: {}", io_error_text(&e))).into()
}

/// Kill a process group with SIGKILL (via kill(1): no unsafe code here).
pub(crate) fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn signal_name(sig: i32) -> (&'static str, &'static str) {
    match sig {
        1 => ("SIGHUP", "hangup"),
        2 => ("SIGINT", "interrupt"),
        3 => ("SIGQUIT", "quit signal"),
        6 => ("SIGABRT", "SIGABRT"),
        9 => ("SIGKILL", "kill signal"),
        11 => ("SIGSEGV", "segmentation violation"),
        13 => ("SIGPIPE", "write on pipe with no readers"),
        14 => ("SIGALRM", "alarm clock"),
        15 => ("SIGTERM", "software termination signal"),
        _ => ("SIGUNKNOWN", "unknown signal"),
    }
}

pub(super) fn cmd_exec(it: &mut Interp, a: &[String]) -> TclResult {
    let mut i = 1;
    let mut ignore_stderr = false;
    let mut keep_newline = false;
    while i < a.len() && a[i].starts_with('-') {
        match a[i].as_str() {
            "-ignorestderr" => ignore_stderr = true,
            "-keepnewline" => keep_newline = true,
            "--" => {
                i += 1;
                break;
            }
            o => {
                return err(format!(
                    "bad option \"{o}\": must be -ignorestderr, -keepnewline, or --"
                ))
            }
        }
        i += 1;
    }
    let mut args: Vec<String> = a[i..].to_vec();
    if args.is_empty() {
        return wrong_args("exec ?-option ...? arg ?arg ...?");
    }
    if !it.exec_enabled() {
        return err("exec is disabled in this interpreter");
    }
    let background = args.last().map(String::as_str) == Some("&");
    if background {
        args.pop();
        if args.is_empty() {
            return err("illegal use of | or |& in command");
        }
    }
    let mut stages: Vec<Vec<String>> = vec![Vec::new()];
    let mut stdin = In::Inherit;
    let mut stdout = if background {
        Out::Inherit
    } else {
        Out::Capture
    };
    let mut stderr = if background || ignore_stderr {
        ErrDst::Inherit
    } else {
        ErrDst::Capture
    };
    let mut k = 0;
    while k < args.len() {
        let w = args[k].clone();
        const OPS: [&str; 14] = [
            "2>@1", "2>@", "2>>", "2>", ">>&", ">&", ">>", ">@", ">", "<<", "<@", "<", "|&", "|",
        ];
        let op = OPS.iter().find(|o| w.starts_with(**o));
        let Some(op) = op else {
            if let Some(s) = stages.last_mut() {
                s.push(w);
            }
            k += 1;
            continue;
        };
        let rest = w[op.len()..].to_string();
        if *op == "|" || *op == "|&" {
            if !rest.is_empty() {
                if let Some(s) = stages.last_mut() {
                    s.push(w);
                }
                k += 1;
                continue;
            }
            if stages.last().is_some_and(Vec::is_empty) || k + 1 == args.len() {
                return err("illegal use of | or |& in command");
            }
            stages.push(Vec::new());
            k += 1;
            continue;
        }
        if *op == "2>@1" {
            if !rest.is_empty() {
                return err(format!("can't specify \"{rest}\" as last word in command"));
            }
            stderr = ErrDst::ToStdout;
            k += 1;
            continue;
        }
        let target = if rest.is_empty() {
            k += 1;
            match args.get(k) {
                Some(t) => t.clone(),
                None => return err(format!("can't specify \"{op}\" as last word in command")),
            }
        } else {
            rest
        };
        k += 1;
        match *op {
            "<" => stdin = In::File(target),
            "<<" => stdin = In::Value(target),
            "<@" => {
                if target != "stdin" {
                    return err(format!("can not find channel named \"{target}\""));
                }
                stdin = In::Inherit;
            }
            ">" => stdout = Out::File(target, false),
            ">>" => stdout = Out::File(target, true),
            ">@" | "2>@" => {
                let d = match target.as_str() {
                    "stdout" => 1,
                    "stderr" => 2,
                    _ => return err(format!("can not find channel named \"{target}\"")),
                };
                if *op == ">@" {
                    stdout = if d == 1 { Out::Inherit } else { Out::ToStderr };
                } else {
                    stderr = if d == 2 {
                        ErrDst::Inherit
                    } else {
                        ErrDst::ToStdout
                    };
                }
            }
            "2>" => stderr = ErrDst::File(target, false),
            "2>>" => stderr = ErrDst::File(target, true),
            ">&" | ">>&" => {
                let app = *op == ">>&";
                stdout = Out::File(target.clone(), app);
                stderr = ErrDst::ToStdout;
            }
            _ => {}
        }
    }
    if stages.iter().any(Vec::is_empty) {
        return err("illegal use of | or |& in command");
    }
    let writes = matches!(stdout, Out::File(..)) || matches!(stderr, ErrDst::File(..));
    if writes && it.check_mode() {
        return Err(TclError::with_code(
            "exec: redirecting output to a file is refused while the configuration is checked",
            "TCL CHECK REFUSED",
        )
        .into());
    }
    run(it, stages, stdin, stdout, stderr, background, keep_newline)
}

fn run(
    it: &mut Interp,
    stages: Vec<Vec<String>>,
    stdin: In,
    stdout: Out,
    stderr: ErrDst,
    background: bool,
    keep_newline: bool,
) -> TclResult {
    let out_file: Option<File> = match &stdout {
        Out::Capture => Some(temp_file().map_err(io_err)?),
        Out::File(p, app) => Some(open_out(p, *app)?),
        _ => None,
    };
    let err_file: Option<File> = match &stderr {
        ErrDst::Capture => Some(temp_file().map_err(io_err)?),
        ErrDst::File(p, app) => Some(open_out(p, *app)?),
        _ => None,
    };
    let mut children: Vec<Child> = Vec::new();
    let mut pgid: Option<u32> = None;
    let mut prev_out: Option<std::process::ChildStdout> = None;
    let mut feed: Option<String> = None;
    let n = stages.len();
    let env = it.env_vars();
    let kill_all = |children: &mut Vec<Child>, pgid: Option<u32>| {
        if let Some(g) = pgid {
            kill_group(g);
        }
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    };
    for (si, argv) in stages.iter().enumerate() {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        // the children see the interpreter's `env` array, not the process's
        cmd.env_clear().envs(&env);
        match pgid {
            None => cmd.process_group(0),
            Some(g) => cmd.process_group(g as i32),
        };
        if si == 0 {
            match &stdin {
                In::Inherit => {
                    cmd.stdin(if background {
                        Stdio::null()
                    } else {
                        Stdio::inherit()
                    });
                }
                In::File(p) => {
                    let f = File::open(p).map_err(|e| {
                        Exception::from(TclError::new(format!(
                            "couldn't read file \"{p}\": {}",
                            io_error_text(&e)
                        )))
                    })?;
                    cmd.stdin(Stdio::from(f));
                }
                In::Value(v) => {
                    cmd.stdin(Stdio::piped());
                    feed = Some(v.clone());
                }
            }
        } else if let Some(po) = prev_out.take() {
            cmd.stdin(Stdio::from(po));
        }
        let last = si + 1 == n;
        if last {
            match (&stdout, &out_file) {
                (_, Some(f)) => {
                    cmd.stdout(Stdio::from(f.try_clone().map_err(io_err)?));
                }
                (Out::ToStderr, _) => {
                    cmd.stdout(Stdio::from(std::io::stderr()));
                }
                _ => {
                    cmd.stdout(Stdio::inherit());
                }
            }
        } else {
            cmd.stdout(Stdio::piped());
        }
        match (&stderr, &err_file) {
            (ErrDst::ToStdout, _) => match (&out_file, last) {
                (Some(f), true) => {
                    cmd.stderr(Stdio::from(f.try_clone().map_err(io_err)?));
                }
                _ => {
                    cmd.stderr(Stdio::inherit());
                }
            },
            (_, Some(f)) => {
                cmd.stderr(Stdio::from(f.try_clone().map_err(io_err)?));
            }
            _ => {
                cmd.stderr(Stdio::inherit());
            }
        }
        match cmd.spawn() {
            Ok(mut c) => {
                if pgid.is_none() {
                    pgid = Some(c.id());
                }
                if !last {
                    prev_out = c.stdout.take();
                }
                if let Some(v) = feed.take() {
                    if let Some(mut si) = c.stdin.take() {
                        std::thread::spawn(move || {
                            let _ = si.write_all(v.as_bytes());
                        });
                    }
                }
                children.push(c);
            }
            Err(e) => {
                kill_all(&mut children, pgid);
                return Err(TclError::with_code(
                    format!("couldn't execute \"{}\": {}", argv[0], io_error_text(&e)),
                    "POSIX ENOENT {no such file or directory}",
                )
                .into());
            }
        }
    }
    if background {
        let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
        for mut c in children {
            std::thread::spawn(move || {
                let _ = c.wait();
            });
        }
        return Ok(pids.join(" "));
    }
    // wait for all, respecting the deadline
    let deadline = it.deadline();
    let mut statuses = vec![None; children.len()];
    let mut sleep = Duration::from_millis(1);
    loop {
        let mut all = true;
        for (ci, c) in children.iter_mut().enumerate() {
            if statuses[ci].is_none() {
                match c.try_wait() {
                    Ok(Some(st)) => statuses[ci] = Some(st),
                    Ok(None) => all = false,
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        if all {
            break;
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                kill_all(&mut children, pgid);
                return Err(it.timeout_error());
            }
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
    // the process group may still hold grandchildren writing to our files;
    // they are the command's own business, as in Tcl.
    let mut result = String::new();
    if let (Out::Capture, Some(mut f)) = (&stdout, out_file) {
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(io_err)?;
        f.read_to_end(&mut buf).map_err(io_err)?;
        result.push_str(&String::from_utf8_lossy(&buf));
    }
    let mut failed = false;
    let mut code = "NONE".to_string();
    let mut abnormal = false;
    for (c, st) in children.iter().zip(statuses.iter()) {
        let Some(st) = st else { continue };
        if let Some(sig) = st.signal() {
            let (name, msg) = signal_name(sig);
            result.push_str(&format!("child killed: {msg}\n"));
            code = format!(
                "CHILDKILLED {} {name} {}",
                c.id(),
                list::quote_element(msg, false)
            );
            failed = true;
        } else if let Some(x) = st.code() {
            if x != 0 {
                abnormal = true;
                failed = true;
                code = format!("CHILDSTATUS {} {x}", c.id());
            }
        }
    }
    let mut any_err = false;
    if let (ErrDst::Capture, Some(mut f)) = (&stderr, err_file) {
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(io_err)?;
        f.read_to_end(&mut buf).map_err(io_err)?;
        if !buf.is_empty() {
            any_err = true;
            failed = true;
            result.push_str(&String::from_utf8_lossy(&buf));
        }
    }
    if abnormal && !any_err {
        result.push_str("child process exited abnormally");
    }
    if !keep_newline && result.ends_with('\n') {
        result.pop();
    }
    if failed {
        return Err(TclError::with_code(result, code).into());
    }
    Ok(result)
}
