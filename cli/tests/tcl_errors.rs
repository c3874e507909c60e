//! Error messages of the configuration commands (failsvc, failhost, failtrap)
//! for typical mistakes, word for word, with the file line and the
//! errorInfo-style trace failsh prints. The interpreter's own messages are
//! tested in the failover-tcl crate.

use failover_cli::config::load_str;
use failover_tcl::TclError;

fn fail(text: &str) -> TclError {
    match load_str(text, "x.tcl", "localhost") {
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
        "bad option \"colour\": must be address, community, name, port, or protocol",
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
        "bad subcommand \"intervall\": must be check, create, fall, fence, interval, lease, limit, masters, misses, preempt, preempt_delay, reclaim, reset, rise, slaves, start, startup_delay, stop, timeout, track, or witness",
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
