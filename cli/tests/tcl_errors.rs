//! Error messages for typical configuration mistakes, word for word, with
//! the file line and the errorInfo-style trace failsh prints.

use failover_cli::config::load_str;
use failover_cli::tcl::{Interp, TclError};

fn fail(text: &str) -> TclError {
    match load_str(text, "x.tcl") {
        Ok(_) => panic!("configuration unexpectedly loaded:\n{text}"),
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
fn failsvc_with_a_bad_interval() {
    check(
        "failsvc S create\nfailsvc S interval fast\n",
        "bad interval \"fast\": must be a number of seconds greater than 0",
        2,
    );
    check(
        "failsvc S create\nfailsvc S interval 0\n",
        "bad interval \"0\": must be a number of seconds greater than 0",
        2,
    );
    check(
        "failsvc S create\nfailsvc S interval -1\n",
        "bad interval \"-1\": must be a number of seconds greater than 0",
        2,
    );
    check(
        "failsvc S create\nfailsvc S timeout 0.0001\n",
        "bad timeout \"0.0001\": must be at least 0.001 seconds",
        2,
    );
}

#[test]
fn failsvc_without_the_service_name() {
    check(
        "# the seed lost the address\nfailsvc create\n",
        "missing service name: should be \"failsvc serviceName create ...\"",
        2,
    );
    check(
        "failsvc interval 5\n",
        "missing service name: should be \"failsvc serviceName interval ...\"",
        1,
    );
}

#[test]
fn unknown_host_option() {
    check(
        "failhost macbeth colour blue\n",
        "bad option \"colour\": must be address, community, port, or protocol",
        1,
    );
}

#[test]
fn bad_host_values() {
    check(
        "failhost m protocol sctp\n",
        "bad protocol \"sctp\": must be tcp or udp",
        1,
    );
    check(
        "failhost m port 70000\n",
        "bad port \"70000\": must be an integer from 1 to 65535",
        1,
    );
    check(
        "failhost m port\n",
        "wrong # args: should be \"failhost hostName option value\"",
        1,
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
fn bad_misses() {
    check(
        "failsvc S create\nfailsvc S misses 0\n",
        "bad misses \"0\": must be an integer of at least 1",
        2,
    );
}

#[test]
fn unknown_failsvc_subcommand() {
    check(
        "failsvc S create\nfailsvc S intervall 5\n",
        "bad subcommand \"intervall\": must be check, create, fence, interval, lease, limit, masters, misses, reclaim, slaves, start, stop, timeout, or track",
        2,
    );
}

#[test]
fn failsvc_before_create_and_twice() {
    check(
        "failsvc S interval 5\n",
        "no service \"S\": create it first with \"failsvc S create\"",
        1,
    );
    check(
        "failsvc S create\nfailsvc S create\n",
        "service \"S\" already exists",
        2,
    );
    check(
        "failsvc S create\nfailsvc S interval\n",
        "wrong # args: should be \"failsvc serviceName interval seconds\"",
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
fn failtrap_usage() {
    check(
        "failsvc S create\nfailtrap S\n",
        "wrong # args: should be \"failtrap serviceName procName\"",
        2,
    );
    check(
        "failtrap T notify\n",
        "no service \"T\": create it first with \"failsvc T create\"",
        1,
    );
}

#[test]
fn a_failing_procedure_reports_the_procedure_line() {
    let text = format!("{GOOD_PROCS}proc broken {{}} {{\n    set x 1\n    nosuch $x\n}}\n");
    let mut loaded = load_str(&text, "x.tcl").unwrap();
    let e = loaded.interp.call_proc("broken", &[]).unwrap_err();
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
