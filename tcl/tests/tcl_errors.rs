//! Error messages of the interpreter for typical configuration mistakes,
//! word for word, with the file line and the errorInfo-style trace.

use failover_tcl::{Interp, TclError};

fn fail(text: &str) -> TclError {
    let mut it = Interp::new();
    it.set_capture_output(true);
    match it.eval_source(text, "x.tcl") {
        Ok(_) => panic!("script unexpectedly ran:\n{text}"),
        Err(e) => e,
    }
}

fn check(text: &str, message: &str, line: usize) -> TclError {
    let e = fail(text);
    assert_eq!(e.message, message, "message for:\n{text}");
    assert_eq!(e.line, Some(line), "line for:\n{text}\ninfo:\n{}", e.info);
    assert!(
        e.info.ends_with(&format!("(file \"x.tcl\" line {line})")),
        "trace:\n{}",
        e.info
    );
    e
}

const GOOD_PROCS: &str =
    "proc startservice {} {\n    return UP\n}\nproc stopservice {} {\n    return FAIL\n}\n";

#[test]
fn unbalanced_brace_in_a_proc() {
    let text = "failsvc S create\nproc startservice {} {\n    exec true\n    return UP\n\nfailsvc S start startservice\n";
    let e = check(text, "missing close-brace", 2);
    assert_eq!(
        e.info,
        "missing close-brace\n    while executing\n\"proc startservice {} {\"\n    (file \"x.tcl\" line 2)"
    );
}

#[test]
fn unbalanced_brace_inside_a_proc_body_is_found_before_anything_runs() {
    // the proc body's braces balance, but an `if` inside it does not parse
    let text = "puts before\nproc f {} {\n    set x \"abc\n}\n";
    let mut it = Interp::new();
    it.set_capture_output(true);
    let e = it.eval_source(text, "x.tcl").unwrap_err();
    assert_eq!(e.message, "missing \"");
    assert_eq!(e.line, Some(2));
    assert_eq!(it.take_stdout(), "", "nothing may run in a broken file");
}

#[test]
fn missing_quote() {
    check("set a 1\nset x \"abc\nset b 2\n", "missing \"", 2);
}

#[test]
fn unknown_command() {
    let e = check(
        "set a 1\n\nfailsrv 198.18.0.50 create\n",
        "invalid command name \"failsrv\"",
        3,
    );
    assert_eq!(
        e.info,
        "invalid command name \"failsrv\"\n    while executing\n\"failsrv 198.18.0.50 create\"\n    (file \"x.tcl\" line 3)"
    );
}

#[test]
fn wrong_number_of_args_to_set() {
    check(
        "set a b c\n",
        "wrong # args: should be \"set varName ?newValue?\"",
        1,
    );
}

#[test]
fn reading_an_unset_variable() {
    check(
        "set a 1\nputs $nosuch\n",
        "can't read \"nosuch\": no such variable",
        2,
    );
}

#[test]
fn extra_characters_after_close_brace_and_quote() {
    check(
        "proc f {} {return 1}x\n",
        "extra characters after close-brace",
        1,
    );
    check(
        "set a 1\nset b \"x\"y\n",
        "extra characters after close-quote",
        2,
    );
}

#[test]
fn missing_close_bracket() {
    check("set a [list 1 2\n", "missing close-bracket", 1);
}

#[test]
fn a_failing_procedure_reports_the_procedure_line() {
    let text = format!("{GOOD_PROCS}proc broken {{}} {{\n    set x 1\n    nosuch $x\n}}\n");
    let mut it = Interp::new();
    it.eval_source(&text, "x.tcl").unwrap();
    let e = it.call_proc("broken", &[]).unwrap_err();
    assert_eq!(e.message, "invalid command name \"nosuch\"");
    assert_eq!(
        e.info,
        "invalid command name \"nosuch\"\n    while executing\n\"nosuch $x\"\n    (procedure \"broken\" line 3)\n    invoked from within\n\"broken\""
    );
}

#[test]
fn errors_in_an_if_body_keep_the_inner_line_like_tcl_source() {
    let text = "set a 1\nif {$a} {\n    puts ok\n    incr a x\n}\n";
    let mut it = Interp::new();
    it.set_capture_output(true);
    let e = it.eval_source(text, "x.tcl").unwrap_err();
    assert_eq!(e.message, "expected integer but got \"x\"");
    assert_eq!(e.line, Some(4));
}
