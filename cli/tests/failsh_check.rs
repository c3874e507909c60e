//! `failsh -t` on the seed's configurations (issue 5), `failsvc NAME limit`, and the Tcl
//! `grarp` command inside failsh (issue 7): its argument errors need no root.

use failover_cli::config::{load_str, DEFAULT_LIMIT_MS};
use failover_cli::failsh::{grarp, load};
use failover_tcl::Interp;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn temp_file(tag: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("failsh-check-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.tcl");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the real `failsh -t -f FILE` (bounded: it only reads and resolves).
fn failsh_t(file: &PathBuf) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_failsh"))
        .args(["-t", "-f"])
        .arg(file)
        // The Linux examples read faild's port from PORT: the default 1291 is expected.
        .env_remove("PORT")
        .output()
        .expect("run failsh -t");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_seed_example(file: &str, peer: &str, relation: &str) {
    let path = example(file);
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(
        code, 0,
        "failsh -t -f {file}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for wanted in [
        "service 198.18.0.50: interval 5s, timeout 5s (interval), misses 1 (default), limit 30s (default)",
        &format!("  {relation}: {peer}"),
        "procedures: start startservice, stop stopservice, reclaim reclaimservice",
        &format!("host {peer}: address (name), port 1291, protocol tcp, community ***"),
        "host localhost: address (name), port 1291, protocol tcp, community ***",
        "faild of localhost: 127.0.0.1:1291 (local faild)",
    ] {
        assert!(stdout.contains(wanted), "missing {wanted:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("genesis"), "community printed:\n{stdout}");
    // The check never asks the resolver (no query may leave the machine in a test): the
    // peer is shown by name, to be resolved when failsh starts.
    assert!(stderr.is_empty(), "unexpected stderr:\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "faild of {peer}: {peer}:1291 (name resolved when failsh starts; or set `failhost {peer} address ...`)"
        )),
        "no faild line for {peer}:\n{stdout}"
    );
}

#[test]
fn failsh_t_loads_lukretia() {
    check_seed_example("lukretia.tcl", "macbeth", "slaves");
}

#[test]
fn failsh_t_loads_macbeth() {
    check_seed_example("macbeth.tcl", "lukretia", "masters");
}

#[test]
fn failsh_t_still_fails_on_a_broken_configuration() {
    let path = temp_file(
        "broken",
        "proc up {} { return UP }\nfailsvc S create\nfailsvc S start up\n",
    );
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 1, "stdout:\n{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "failsh: {}:2: service \"S\" has no stop procedure (failsvc S stop procName)\n",
            path.display()
        )
    );
}

#[test]
fn the_core_rules_are_checked_too() {
    // The local faild cannot be one of the polled hosts: the core rejects it, -t must too.
    let path = temp_file(
        "local",
        "proc up {} { return UP }\nfailsvc S create\nfailsvc S start up\nfailsvc S stop up\nfailsvc S slaves localhost\n",
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "failsh: {}: service S: localhost is the local faild; list only the other hosts as masters, slaves and witnesses\n",
            path.display()
        )
    );
}

#[test]
fn an_explicit_address_is_used_without_the_resolver() {
    let path = temp_file(
        "address",
        "proc up {} { return UP }\nfailsvc S create\nfailsvc S start up\nfailsvc S stop up\nfailsvc S slaves macbeth\nfailhost macbeth address 127.0.0.2\nfailhost macbeth port 4000\nfailhost localhost port 4001\n",
    );
    let loaded = load::load(&path, "localhost").unwrap();
    let address = |name: &str| {
        let host = loaded.core.hosts.iter().find(|h| h.name == name).unwrap();
        host.address.unwrap().to_string()
    };
    assert_eq!(address("macbeth"), "127.0.0.2:4000");
    assert_eq!(address("localhost"), "127.0.0.1:4001");
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        stdout.contains("faild of macbeth: 127.0.0.2:4000\n"),
        "{stdout}"
    );
}

#[test]
fn addresses_are_resolved_in_one_place_and_nothing_else_changes() {
    // Literal addresses only: no query may leave the machine in a test.
    let text = "proc up {} { return UP }\nfailsvc S create\nfailsvc S start up\nfailsvc S stop up\nfailsvc S slaves macbeth\nfailhost macbeth address 127.0.0.2\nfailhost localhost address 127.0.0.5\nfailhost localhost port 4001\n";
    let loaded = load_str(text, "x.tcl", "localhost").unwrap();
    let mut resolved = loaded.config.clone();
    load::resolve_addresses(&mut resolved).unwrap();
    let address = |name: &str| resolved.host(name).unwrap().address.unwrap().to_string();
    assert_eq!(address("macbeth"), "127.0.0.2:1291");
    assert_eq!(address("localhost"), "127.0.0.5:4001");
    for host in &mut resolved.hosts {
        host.address = None;
    }
    assert_eq!(resolved, loaded.config);
}

#[test]
fn limit_is_parsed_and_reaches_the_core() {
    let text = "proc up {} { return UP }\nfailsvc S create\nfailsvc S start up\nfailsvc S stop up\nfailsvc S limit 2.5\nfailsvc T create\nfailsvc T start up\nfailsvc T stop up\n";
    // The loaded configuration is the core's: the default is applied when the file is read.
    let loaded = load_str(text, "x.tcl", "localhost").unwrap();
    let limit = |name: &str| loaded.config.service(name).unwrap().procedure_limit_ms;
    assert_eq!(limit("S"), 2500);
    assert_eq!(limit("T"), DEFAULT_LIMIT_MS);
    assert_eq!(DEFAULT_LIMIT_MS, 30_000);
    assert!(loaded.locations.given("S", "limit") && !loaded.locations.given("T", "limit"));
    let d = failover_cli::config::describe(&loaded.config, &loaded.locations);
    assert!(d.contains("misses 1 (default), limit 2.5s\n"), "{d}");
}

#[test]
fn bad_limits_are_errors_word_for_word() {
    for (value, message) in [
        (
            "0",
            "bad limit \"0\": must be a number of seconds greater than 0",
        ),
        (
            "-3",
            "bad limit \"-3\": must be a number of seconds greater than 0",
        ),
        (
            "soon",
            "bad limit \"soon\": must be a number of seconds greater than 0",
        ),
        (
            "0.0001",
            "bad limit \"0.0001\": must be at least 0.001 seconds",
        ),
    ] {
        let text = format!("failsvc S create\nfailsvc S limit {value}\n");
        let e = load_str(&text, "x.tcl", "localhost").unwrap_err();
        assert_eq!(e.message, message);
        assert_eq!(
            e.info,
            format!(
                "{message}\n    while executing\n\"failsvc S limit {value}\"\n    (file \"x.tcl\" line 2)"
            )
        );
    }
    let e = load_str("failsvc S create\nfailsvc S limit\n", "x.tcl", "localhost").unwrap_err();
    assert_eq!(
        e.message,
        "wrong # args: should be \"failsvc serviceName limit seconds\""
    );
}

/// Evaluates `script` in an interpreter with failsh's `grarp`; returns (message, errorCode).
fn grarp_error(script: &str, deadline: Option<Instant>) -> (String, String) {
    let mut interp = Interp::new();
    grarp::register(&mut interp);
    interp.set_deadline(deadline);
    let e = interp
        .eval_source(script, "x.tcl")
        .expect_err("grarp must fail");
    (e.message, e.code)
}

#[test]
fn grarp_argument_errors_are_tcl_errors_with_the_class() {
    for (script, message, code) in [
        ("grarp", "missing INTERFACE and ADDRESS", "GRARP USAGE"),
        ("grarp eth0", "missing INTERFACE and ADDRESS", "GRARP USAGE"),
        (
            "grarp -c 0 eth0 198.18.0.50",
            "count must be between 1 and 100, not 0",
            "GRARP USAGE",
        ),
        (
            "grarp -x eth0 198.18.0.50",
            "unknown option \"-x\"",
            "GRARP USAGE",
        ),
        (
            "grarp eth0 service.example",
            "\"service.example\" is not an IPv4 or IPv6 address (no names, no prefix length)",
            "GRARP USAGE",
        ),
        (
            "grarp --request eth0 2001:db8::50",
            "address family mismatch: 2001:db8::50 is an IPv6 address: --request and --reply choose ARP forms, which exist for IPv4 only; IPv6 announces with unsolicited neighbour advertisements (leave the form at its default)",
            "GRARP FAMILY",
        ),
        (
            "grarp eth0/1 198.18.0.50",
            "invalid interface name \"eth0/1\": it contains '/', whitespace or NUL",
            "GRARP NOINTERFACE",
        ),
    ] {
        let (m, c) = grarp_error(script, None);
        assert_eq!((m.as_str(), c.as_str()), (message, code), "{script}");
    }
    // A procedure catches the error and reads the class from errorCode.
    let mut interp = Interp::new();
    grarp::register(&mut interp);
    let r = interp
        .eval_source(
            "proc startservice {} {\n    if {[catch {grarp -c 0 eth0 198.18.0.50} msg]} {\n        return \"$::errorCode: $msg\"\n    }\n    return UP\n}\nstartservice\n",
            "x.tcl",
        )
        .unwrap();
    assert_eq!(r, "GRARP USAGE: count must be between 1 and 100, not 0");
}

#[test]
fn grarp_refuses_a_burst_longer_than_the_procedures_limit() {
    let started = Instant::now();
    let (m, c) = grarp_error(
        "grarp -c 3 -i 1000 eth0 198.18.0.50",
        Some(Instant::now() + Duration::from_millis(500)),
    );
    assert_eq!(c, "GRARP TIMEOUT");
    assert!(
        m.starts_with("grarp: 3 rounds 1000 ms apart take 2000 ms, longer than the "),
        "{m}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "it must not send first"
    );
}

#[test]
fn failsh_procedures_and_t_know_grarp() {
    // A configuration whose start procedure calls grarp loads with -t and in the daemon's
    // loader; the interpreter failsh clones for procedures has the command.
    let path = temp_file(
        "grarp",
        "proc startservice {} {\n    grarp -c 1 eth0 198.18.0.50\n    return UP\n}\nproc stopservice {} { return FAIL }\nfailsvc 198.18.0.50 create\nfailsvc 198.18.0.50 start startservice\nfailsvc 198.18.0.50 stop stopservice\nfailsvc 198.18.0.50 limit 10\n",
    );
    let loaded = load::load(&path, "localhost").unwrap();
    assert!(loaded.procedures.interp.has_command("grarp"));
    assert_eq!(loaded.core.services[0].procedure_limit_ms, 10_000);
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("limit 10s"), "{stdout}");
    // Top-level use also works in -t: an argument error is reported with the file and line.
    let path = temp_file("grarp-top", "grarp -c 0 eth0 198.18.0.50\n");
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "failsh: {}:1: count must be between 1 and 100, not 0\n",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("line 1)"), "{stderr}");
}

/// The fast Linux examples load with their tuned timing and the built-in commands they use.
#[test]
fn failsh_t_loads_the_fast_linux_examples() {
    for (file, relation, peer, address) in [
        ("lukretia-fast.tcl", "slaves", "macbeth", "198.18.0.2"),
        ("macbeth-fast.tcl", "masters", "lukretia", "198.18.0.1"),
    ] {
        let path = example(&format!("linux/{file}"));
        let (code, stdout, stderr) = failsh_t(&path);
        assert_eq!(
            code, 0,
            "failsh -t -f {file}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for wanted in [
            "service 198.18.0.50: interval 0.005s, timeout 0.005s, misses 4, limit 30s (default)",
            &format!("  {relation}: {peer}"),
            "procedures: start startservice, stop stopservice, reclaim reclaimservice",
            &format!("host {peer}: address {address}, port 1291, protocol tcp, community ***"),
        ] {
            assert!(stdout.contains(wanted), "missing {wanted:?} in:\n{stdout}");
        }
        assert!(stderr.is_empty(), "unexpected stderr:\n{stderr}");
    }
}

/// Runs `failsh -t -f FILE` with extra environment variables.
fn failsh_t_env(file: &PathBuf, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_failsh"))
        .args(["-t", "-f"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .expect("run failsh -t");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_configuration_reads_its_environment_and_sources_shared_procedures() {
    let path = temp_file(
        "source-env",
        "source [file join [file dirname [info script]] common.tcl]\n\
         failsvc $::env(FAILOVER_TEST_VIP) create\n\
         failsvc $::env(FAILOVER_TEST_VIP) start startservice\n\
         failsvc $::env(FAILOVER_TEST_VIP) stop stopservice\n\
         failsvc $::env(FAILOVER_TEST_VIP) slaves macbeth\n\
         failhost macbeth port $env(FAILOVER_TEST_PORT)\n\
         failhost macbeth address 198.18.0.2\n",
    );
    std::fs::write(
        path.parent().unwrap().join("common.tcl"),
        "proc startservice {} {\n    return UP\n}\nproc stopservice {} {\n    return FAIL\n}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = failsh_t_env(
        &path,
        &[
            ("FAILOVER_TEST_VIP", "198.18.0.77"),
            ("FAILOVER_TEST_PORT", "1391"),
        ],
    );
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(stdout.contains("198.18.0.77"), "{stdout}");
    assert!(
        stdout.contains("faild of macbeth: 198.18.0.2:1391"),
        "{stdout}"
    );
    // an error inside the sourced file names that file and its line
    std::fs::write(
        path.parent().unwrap().join("common.tcl"),
        "proc startservice {} {\n    return UP\n}\nnosuchcommand\n",
    )
    .unwrap();
    let (code, _, stderr) = failsh_t_env(
        &path,
        &[
            ("FAILOVER_TEST_VIP", "198.18.0.77"),
            ("FAILOVER_TEST_PORT", "1391"),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("invalid command name \"nosuchcommand\""),
        "{stderr}"
    );
    assert!(stderr.contains("common.tcl\" line 4)"), "{stderr}");
    assert!(stderr.contains("x.tcl\" line 1)"), "{stderr}");
}

#[test]
fn failsh_t_refuses_file_writes_and_exit() {
    let dir = std::env::temp_dir().join(format!("failsh-check-refuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("written.txt");
    let path = temp_file(
        "refuse-open",
        &format!(
            "set f [open {} w]\nputs $f hello\nclose $f\n",
            out.display()
        ),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("writing files is refused while the configuration is checked"),
        "{stderr}"
    );
    assert!(!out.exists(), "failsh -t wrote a file");
    let path = temp_file(
        "refuse-exec",
        &format!("exec echo hi > {}\n", out.display()),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("refused while the configuration is checked"),
        "{stderr}"
    );
    assert!(!out.exists(), "failsh -t wrote a file");
    let path = temp_file("refuse-exit", "puts loading\nexit 0\n");
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(stderr.contains("exit refused"), "{stderr}");
}

#[test]
fn exit_stops_loading_and_is_an_error_in_a_procedure() {
    let text = "proc startservice {} {\n    exit 3\n}\nproc stopservice {} {\n    return FAIL\n}\nfailsvc S create\nfailsvc S start startservice\nfailsvc S stop stopservice\nexit 0\nfailsvc T create\n";
    let mut loaded = load_str(text, "x.tcl", "localhost").unwrap();
    assert!(loaded.config.service("S").is_some());
    assert!(
        loaded.config.service("T").is_none(),
        "loading stops at exit 0"
    );
    // in a procedure failsh runs, exit is an error, not the end of failsh
    let e = loaded.interp.call_proc("startservice", &[]).unwrap_err();
    assert!(
        e.message
            .contains("exit is allowed only while a file is being loaded"),
        "{}",
        e.message
    );
    let e = load_str("exit 2\n", "x.tcl", "localhost").unwrap_err();
    assert_eq!(e.exit_code(), Some(2));
}

/// A configuration with working start and stop procedures (the one with `ipaddr` or not),
/// then `extra`.
fn service_with(extra: &str, start_body: &str) -> String {
    format!(
        "proc startservice {{}} {{\n\t{start_body}\n\treturn UP\n}}\n\
         proc stopservice {{}} {{\n\treturn FAIL\n}}\n\
         failsvc 198.18.0.50 create\n\
         failsvc 198.18.0.50 start startservice\n\
         failsvc 198.18.0.50 stop stopservice\n\
         failsvc 198.18.0.50 slaves macbeth\n\
         failhost macbeth address 198.18.0.2\n\
         {extra}"
    )
}

#[test]
fn bad_leases_are_errors_with_file_and_line() {
    for (value, tag) in [("0", "lease0"), ("0.5", "lease-half"), ("-1", "lease-neg")] {
        let path = temp_file(
            tag,
            &service_with(&format!("failsvc 198.18.0.50 lease {value}\n"), ""),
        );
        let (code, _, stderr) = failsh_t(&path);
        assert_eq!(code, 1, "lease {value}: {stderr}");
        let line = format!(
            "{}:13: bad lease \"{value}\": must be a whole number of seconds",
            path.display()
        );
        assert!(
            stderr.contains(&line),
            "lease {value}: expected {line:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_tracked_interface_that_does_not_exist_is_a_warning_with_its_line() {
    let path = temp_file(
        "track-missing",
        &service_with("failsvc 198.18.0.50 track nosuchif7\n", ""),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    let line = format!(
        "{}:13: warning: service \"198.18.0.50\": tracked interface \"nosuchif7\" does not exist on this host",
        path.display()
    );
    assert!(stderr.contains(&line), "expected {line:?} in:\n{stderr}");
    // A name that cannot be an interface is an error at once.
    let path = temp_file(
        "track-bad",
        &service_with("failsvc 198.18.0.50 track a/b\n", ""),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(":13: bad interface \"a/b\""), "{stderr}");
}

#[test]
fn a_lease_whose_procedures_never_call_ipaddr_is_a_warning_with_its_line() {
    let path = temp_file(
        "lease-no-ipaddr",
        &service_with("failsvc 198.18.0.50 lease 1\n", "exec true"),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:13: warning: service \"198.18.0.50\": lease 1: its procedures never call ipaddr",
            path.display()
        )),
        "{stderr}"
    );
    // A start that calls a procedure that calls ipaddr is fine.
    let text = format!(
        "proc up {{}} {{ ipaddr add 198.18.0.50/24 dev eth0 }}\n{}",
        service_with("failsvc 198.18.0.50 lease 1\n", "up")
    );
    let path = temp_file("lease-ipaddr", &text);
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("never call ipaddr"), "{stderr}");
}

#[test]
fn validation_errors_name_the_line_of_the_command_that_made_them() {
    let text = service_with(
        "failsvc 198.18.0.50 check nosuchproc\nfailsvc 198.18.0.50 masters macbeth\nfailtrap 198.18.0.50 nosuchtrap\nfailsvc 198.18.0.50 fence wait\n",
        "",
    );
    let path = temp_file("validation-lines", &text);
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1, "{stderr}");
    let file = path.display();
    for wanted in [
        format!(
            "{file}:13: service \"198.18.0.50\": check procedure \"nosuchproc\" is not defined"
        ),
        format!(
            "{file}:14: service \"198.18.0.50\": host \"macbeth\" is both a master and a slave"
        ),
        format!("{file}:15: service \"198.18.0.50\": trap procedure \"nosuchtrap\" is not defined"),
        format!("{file}:16: service \"198.18.0.50\": fence wait needs a lease"),
    ] {
        assert!(
            stderr.contains(&wanted),
            "expected {wanted:?} in:\n{stderr}"
        );
    }
}

#[test]
fn crlf_line_endings_are_accepted_as_if_they_were_newlines() {
    let text = service_with("failsvc 198.18.0.50 interval 0.5\n", "").replace('\n', "\r\n");
    let path = temp_file("crlf", &text);
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("interval 0.5s"), "{stdout}");
    assert!(
        stdout.contains("slaves: macbeth\n"),
        "a \\r stayed in a name:\n{stdout}"
    );
}

/// `failsvc S witness HOST` and `failhost localhost name NAME`: what failsh -t shows, and the
/// mistakes it refuses with the line (no lease, a witness that is also a peer, a name for
/// another host).
#[test]
fn a_witnessed_service_shows_its_group_and_refuses_what_cannot_be_safe() {
    let base = "proc startservice {} { return UP }\n\
                proc stopservice {} { return FAIL }\n\
                failsvc 198.18.0.50 create\n\
                failsvc 198.18.0.50 interval 1\n\
                failsvc 198.18.0.50 start startservice\n\
                failsvc 198.18.0.50 stop stopservice\n\
                failsvc 198.18.0.50 slaves macbeth\n\
                failhost macbeth address 198.18.0.2\n\
                failhost dunsinane address 198.18.0.3\n\
                failhost localhost name lukretia\n";
    let path = temp_file(
        "witness-ok",
        &format!("{base}failsvc 198.18.0.50 lease 1\nfailsvc 198.18.0.50 witness dunsinane\n"),
    );
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // interval 1, misses 1, timeout 1, lease 1: 2 + 2 + 1 + 1.25 s, plus 5 % and 50 ms.
    assert!(
        stdout.contains("  witnesses: dunsinane; this host asks as lukretia; held only with 2 of the 3 hosts; a silent member is replaced 6.612s after the majority last heard it"),
        "{stdout}"
    );
    assert!(
        stdout.contains("faild of dunsinane: 198.18.0.3:1291"),
        "{stdout}"
    );

    let path = temp_file(
        "witness-no-lease",
        &format!("{base}failsvc 198.18.0.50 witness dunsinane\n"),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("x.tcl:11: service \"198.18.0.50\": a witness needs a lease"),
        "{stderr}"
    );

    let path = temp_file(
        "witness-peer",
        &format!("{base}failsvc 198.18.0.50 lease 1\nfailsvc 198.18.0.50 witness macbeth\n"),
    );
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("x.tcl:12: service \"198.18.0.50\": host \"macbeth\" is both a witness and a master or slave"),
        "{stderr}"
    );

    let path = temp_file("witness-name", "failhost macbeth name lukretia\n");
    let (code, _, stderr) = failsh_t(&path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("only the local host (localhost) has a name in the group to set"),
        "{stderr}"
    );
}

/// `failsvc S reset`: the service's own address by default, a list, or off; the Tcl value
/// read back is the list in force.
#[test]
fn reset_addresses_default_to_the_service_address_and_can_be_listed_or_off() {
    let path = temp_file(
        "reset-good",
        &service_with(
            "set default [failsvc 198.18.0.50 reset]\nif {$default ne \"198.18.0.50\"} { error \"default $default\" }\nfailsvc 198.18.0.50 reset 198.18.0.50 2001:db8::50 198.18.0.50\n",
            "",
        ),
    );
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("  reset: 198.18.0.50 2001:db8::50"),
        "{stdout}"
    );
    let path = temp_file(
        "reset-off",
        &service_with("failsvc 198.18.0.50 reset off\n", ""),
    );
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("  reset: off"), "{stdout}");
}

/// Issue 16: the operator controls' wrong values name the file and line.
#[test]
fn bad_operator_controls_are_errors_with_file_and_line() {
    for (setting, expected, tag) in [
        (
            "rise 0",
            "bad rise \"0\": must be an integer of at least 1",
            "rise0",
        ),
        (
            "fall x",
            "bad fall \"x\": must be an integer of at least 1",
            "fallx",
        ),
        (
            "preempt maybe",
            "bad preempt \"maybe\": must be on or off",
            "preempt",
        ),
        (
            "preempt_delay -1",
            "bad preempt_delay \"-1\": must be a number of seconds from 0 to 86400",
            "pdelay",
        ),
        (
            "reset 198.18.0.50/24",
            "bad reset address \"198.18.0.50/24\": must be an IPv4 or IPv6 address (no prefix length), or off",
            "reset",
        ),
        (
            "startup_delay -0.5",
            "bad startup_delay \"-0.5\": must be a number of seconds from 0 to 86400",
            "sdelay",
        ),
    ] {
        let path = temp_file(
            tag,
            &service_with(&format!("failsvc 198.18.0.50 {setting}\n"), ""),
        );
        let (code, _, stderr) = failsh_t(&path);
        assert_eq!(code, 1, "{setting}: {stderr}");
        let line = format!("{}:13: {expected}", path.display());
        assert!(
            stderr.contains(&line),
            "{setting}: expected {line:?} in:\n{stderr}"
        );
    }
    // Good values are described.
    let path = temp_file(
        "controls-good",
        &service_with(
            "proc checkservice {} { return 1 }\nfailsvc 198.18.0.50 check checkservice\nfailsvc 198.18.0.50 preempt off\nfailsvc 198.18.0.50 preempt_delay 2.5\nfailsvc 198.18.0.50 startup_delay 5\nfailsvc 198.18.0.50 rise 2\nfailsvc 198.18.0.50 fall 3\n",
            "",
        ),
    );
    let (code, stdout, stderr) = failsh_t(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("preempt: off; preempt_delay: 2.5s; startup_delay: 5s"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("  reset:"),
        "the default is not shown: {stdout}"
    );
    assert!(
        stdout.contains(
            "acts after 3 failures in a row (fall), back to RECOVER after 2 passes in a row (rise)"
        ),
        "{stdout}"
    );
}
