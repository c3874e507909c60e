//! `exec`: pipelines, redirections, background jobs and Tcl's error rules.

use failover_tcl::{Exception, Interp};

fn ok(it: &mut Interp, s: &str) -> String {
    match it.eval(s) {
        Ok(v) => v,
        Err(e) => panic!("{s}: {e:?}"),
    }
}

fn fails(it: &mut Interp, s: &str) -> String {
    match it.eval(s) {
        Err(Exception::Error(e)) => e.message,
        other => panic!("{s}: expected an error, got {other:?}"),
    }
}

#[test]
fn results_pipelines_and_newlines() {
    let mut it = Interp::new();
    assert_eq!(ok(&mut it, "exec echo hello world"), "hello world");
    assert_eq!(ok(&mut it, "exec echo hello | tr a-z A-Z"), "HELLO");
    assert_eq!(ok(&mut it, "exec -keepnewline echo x"), "x\n");
    assert_eq!(ok(&mut it, "exec sh -c {echo e >&2} 2>@1"), "e");
    assert_eq!(
        ok(&mut it, "exec -ignorestderr sh -c {echo e >&2; echo o}"),
        "o"
    );
    assert_eq!(ok(&mut it, "exec cat << {some text}"), "some text");
}

#[test]
fn tcl_error_rules() {
    let mut it = Interp::new();
    assert_eq!(
        fails(&mut it, "exec sh -c {echo out; exit 3}"),
        "out\nchild process exited abnormally"
    );
    assert_eq!(fails(&mut it, "exec sh -c {echo err >&2}"), "err");
    assert_eq!(
        fails(&mut it, "exec sh -c {echo out; echo err >&2}"),
        "out\nerr"
    );
    assert_eq!(
        fails(&mut it, "exec sh -c {kill -9 $$}"),
        "child killed: kill signal"
    );
    assert_eq!(
        fails(&mut it, "exec /nonexistent/cmd"),
        "couldn't execute \"/nonexistent/cmd\": no such file or directory"
    );
    assert_eq!(
        fails(&mut it, "exec echo a |"),
        "illegal use of | or |& in command"
    );
}

#[test]
fn redirections_and_background() {
    let dir = std::env::temp_dir().join(format!("failover-tclexec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("out").display().to_string();
    let mut it = Interp::new();
    it.set_var("f", f.clone()).unwrap();
    assert_eq!(ok(&mut it, "exec echo one > $f"), "");
    ok(&mut it, "exec echo two >> $f");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\ntwo\n");
    assert_eq!(ok(&mut it, "exec cat < $f"), "one\ntwo");
    ok(&mut it, "exec sh -c {echo oops >&2} 2> $f");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "oops\n");
    ok(&mut it, "exec >$f echo glued");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "glued\n");
    let pid = ok(&mut it, "exec sleep 0 &");
    assert!(pid.parse::<u32>().is_ok(), "{pid}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_can_be_disabled() {
    let mut it = Interp::new();
    it.set_exec_enabled(false);
    assert_eq!(
        fails(&mut it, "exec true"),
        "exec is disabled in this interpreter"
    );
}
