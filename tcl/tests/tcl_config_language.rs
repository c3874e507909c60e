//! What issue 18 added for real configurations, beyond what the
//! differential test can check against tclsh: the env array's own copy and
//! exec'd children, `source` with file and line, `exit`, check mode,
//! `current_location` inside a sourced file, reading files safely, local
//! time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use failover_tcl::{Exception, Interp, TclError};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("failover-tcl-lang-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(it: &mut Interp, s: &str) -> String {
    match it.eval(s) {
        Ok(v) => v,
        Err(e) => panic!("{s}: {e:?}"),
    }
}

fn fails(it: &mut Interp, s: &str) -> TclError {
    match it.eval(s) {
        Err(Exception::Error(e)) => *e,
        other => panic!("{s}: expected an error, got {other:?}"),
    }
}

#[test]
fn env_is_the_interpreters_own_copy_and_reaches_exec() {
    let mut it = Interp::new();
    assert_eq!(
        ok(&mut it, "set ::env(PATH)"),
        std::env::var("PATH").unwrap_or_default()
    );
    ok(&mut it, "set env(FAILOVER_TCL_LANG_TEST) {a b}");
    assert!(
        std::env::var("FAILOVER_TCL_LANG_TEST").is_err(),
        "the process environment must not change"
    );
    assert_eq!(
        ok(
            &mut it,
            "exec sh -c {printf %s \"$FAILOVER_TCL_LANG_TEST\"}"
        ),
        "a b"
    );
    ok(
        &mut it,
        "proc port {} { return $::env(FAILOVER_TCL_LANG_TEST) }",
    );
    assert_eq!(ok(&mut it, "port"), "a b");
    ok(&mut it, "unset env(FAILOVER_TCL_LANG_TEST)");
    assert_eq!(
        ok(
            &mut it,
            "exec sh -c {printf %s \"${FAILOVER_TCL_LANG_TEST-gone}\"}"
        ),
        "gone"
    );
    // a clone has its own copy too
    let mut other = it.clone();
    ok(&mut other, "set env(ONLY_IN_CLONE) 1");
    assert_eq!(ok(&mut it, "info exists env(ONLY_IN_CLONE)"), "0");
}

#[test]
fn source_reports_the_sourced_file_and_line_then_the_caller() {
    let dir = temp_dir("source");
    std::fs::write(
        dir.join("common.tcl"),
        "proc shared {} {\n    return [file tail [info script]]\n}\nset here [file tail [info script]]\n\nnosuch arg\n",
    )
    .unwrap();
    let main = dir.join("main.tcl");
    std::fs::write(
        &main,
        "set a 1\nsource [file join [file dirname [info script]] common.tcl]\n",
    )
    .unwrap();
    let mut it = Interp::new();
    let e = it.eval_file(&main).unwrap_err();
    assert_eq!(e.message, "invalid command name \"nosuch\"");
    assert_eq!(e.line, Some(2), "the caller's line");
    let common = dir.join("common.tcl");
    assert_eq!(
        e.info,
        format!(
            "invalid command name \"nosuch\"\n    while executing\n\"nosuch arg\"\n    (file \"{}\" line 6)\n    invoked from within\n\"source [file join [file dirname [info script]] common.tcl]\"\n    (file \"{}\" line 2)",
            common.display(),
            main.display()
        )
    );
    assert_eq!(ok(&mut it, "set here"), "common.tcl");
    // after loading, info script is empty again
    assert_eq!(ok(&mut it, "info script"), "");
    assert_eq!(ok(&mut it, "shared"), "");
    let e = fails(&mut it, "source /nonexistent/x.tcl");
    assert_eq!(
        e.message,
        "couldn't read file \"/nonexistent/x.tcl\": no such file or directory"
    );
}

#[test]
fn current_location_is_inside_the_sourced_file() {
    let dir = temp_dir("location");
    std::fs::write(dir.join("lib.tcl"), "\n\nwhere\n").unwrap();
    let main = dir.join("main.tcl");
    std::fs::write(
        &main,
        format!("where\nsource {}\nwhere\n", dir.join("lib.tcl").display()),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut it = Interp::new();
    let s = seen.clone();
    it.register(
        "where",
        Arc::new(move |it: &mut Interp, _: &[String]| {
            let (f, l) = it.current_location().unwrap();
            let name = Path::new(&f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            s.lock().unwrap().push(format!("{name}:{l}"));
            Ok(String::new())
        }),
    );
    it.eval_file(&main).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["main.tcl:1", "lib.tcl:3", "main.tcl:3"]
    );
}

#[test]
fn exit_stops_loading_is_an_error_in_procedures_and_refused_in_check_mode() {
    let mut it = Interp::new();
    it.set_capture_output(true);
    let r = it.eval_source(
        "puts a\nproc f {} { exit 4 }\nif {1} { exit }\nputs b\n",
        "x.tcl",
    );
    assert_eq!(r, Ok(String::new()));
    assert_eq!(it.take_stdout(), "a\n");
    // exit cannot be caught while loading
    let e = it
        .eval_source("catch {exit 3}\nputs after\n", "x.tcl")
        .unwrap_err();
    assert_eq!(e.exit_code(), Some(3));
    assert_eq!(e.line, Some(1));
    assert_eq!(it.take_stdout(), "");
    // after loading, exit in a procedure is an ordinary error
    let e = it.call_proc("f", &[]).unwrap_err();
    assert_eq!(e.exit_code(), None);
    assert!(e
        .message
        .starts_with("exit is allowed only while a file is being loaded"));
    assert_eq!(ok(&mut it, "catch {exit 1}"), "1");
    // check mode
    let mut chk = Interp::new();
    chk.set_check_mode(true);
    let e = chk.eval_source("exit 0\n", "x.tcl").unwrap_err();
    assert_eq!(
        e.message,
        "exit refused: the configuration is being checked (exit 0)"
    );
    assert_eq!(e.line, Some(1));
}

#[test]
fn check_mode_refuses_writes_but_allows_reads() {
    let dir = temp_dir("check");
    let data = dir.join("status");
    std::fs::write(&data, "UP\n").unwrap();
    let out = dir.join("out");
    let mut it = Interp::new();
    it.set_check_mode(true);
    assert_eq!(
        ok(
            &mut it,
            &format!(
                "set f [open {}]; set s [gets $f]; close $f; set s",
                data.display()
            )
        ),
        "UP"
    );
    for script in [
        format!("open {} w", out.display()),
        format!("open {} a", out.display()),
        format!("open {} {{WRONLY CREAT}}", out.display()),
        format!("exec echo x > {}", out.display()),
        format!("exec echo x 2> {}", out.display()),
    ] {
        let e = fails(&mut it, &script);
        assert!(
            e.message
                .contains("refused while the configuration is checked"),
            "{script}: {}",
            e.message
        );
        assert_eq!(e.code, "TCL CHECK REFUSED");
    }
    assert!(!out.exists());
    // outside check mode, the same writes work
    let mut w = Interp::new();
    ok(
        &mut w,
        &format!("set f [open {} w]; puts $f hello; close $f", out.display()),
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n");
}

#[test]
fn open_reads_only_regular_files_and_translates_line_ends() {
    let dir = temp_dir("open");
    let p = dir.join("crlf");
    std::fs::write(&p, "a\r\nb\rc").unwrap();
    let mut it = Interp::new();
    assert_eq!(
        ok(&mut it, &format!("set f [open {}]; set r [list [gets $f] [gets $f] [gets $f] [eof $f] [gets $f]]; close $f; set r", p.display())),
        "a b c 1 {}"
    );
    let e = fails(&mut it, &format!("open {}", dir.display()));
    assert!(
        e.message.contains("illegal operation on a directory"),
        "{}",
        e.message
    );
    assert_eq!(
        ok(
            &mut it,
            "set f [open /dev/null]; set r [read $f]; close $f; set r"
        ),
        ""
    );
    let e = fails(&mut it, "gets nosuchchan");
    assert_eq!(e.message, "can not find channel named \"nosuchchan\"");
    let e = fails(&mut it, "open {|echo hi}");
    assert!(e.message.contains("use exec"), "{}", e.message);
}

#[test]
fn namespaces_hold_variables_and_procedures() {
    let mut it = Interp::new();
    ok(
        &mut it,
        "namespace eval svc {\n    variable addr 198.18.0.50\n    variable n 0\n    proc start {} {\n        variable addr\n        variable n\n        incr n\n        return $addr/$n\n    }\n}",
    );
    assert_eq!(ok(&mut it, "svc::start"), "198.18.0.50/1");
    assert_eq!(ok(&mut it, "::svc::start"), "198.18.0.50/2");
    assert_eq!(ok(&mut it, "set svc::n"), "2");
    assert_eq!(ok(&mut it, "set ::svc::addr"), "198.18.0.50");
    assert!(it.has_proc("svc::start"));
    assert!(it.has_proc("::svc::start"));
    assert_eq!(it.call_proc("svc::start", &[]).unwrap(), "198.18.0.50/3");
    ok(&mut it, "namespace delete svc");
    assert!(!it.has_proc("svc::start"));
    assert_eq!(
        fails(&mut it, "set nons::x 1").message,
        "can't set \"nons::x\": parent namespace doesn't exist"
    );
}

#[test]
fn local_time_follows_tz_in_the_env_array() {
    let mut it = Interp::new();
    ok(&mut it, "set env(TZ) :UTC");
    assert_eq!(
        ok(&mut it, "clock format 0"),
        "Thu Jan 01 00:00:00 UTC 1970"
    );
    ok(&mut it, "set env(TZ) +0130");
    assert_eq!(
        ok(&mut it, "clock format 0 -format {%H:%M %z}"),
        "01:30 +0130"
    );
    assert_eq!(ok(&mut it, "clock scan {1970-01-01 01:30:00}"), "0");
    if Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        ok(&mut it, "set env(TZ) :Europe/Berlin");
        // winter (CET) and summer (CEST)
        assert_eq!(
            ok(&mut it, "clock format 1700000000 -format {%H:%M %Z %z}"),
            "23:13 CET +0100"
        );
        assert_eq!(
            ok(&mut it, "clock format 1690000000 -format {%H:%M %Z}"),
            "06:26 CEST"
        );
        assert_eq!(
            ok(
                &mut it,
                "clock scan {2023-11-14 23:13:20} -format {%Y-%m-%d %H:%M:%S}"
            ),
            "1700000000"
        );
    }
    // -gmt wins over TZ
    assert_eq!(ok(&mut it, "clock format 0 -gmt 1 -format %H"), "00");
}

#[test]
fn regexp_features_the_regex_crate_lacks_are_clear_errors() {
    let mut it = Interp::new();
    let e = fails(&mut it, r"regexp {(a)\1} aa");
    assert!(
        e.message.contains("back references are not supported"),
        "{}",
        e.message
    );
    assert_eq!(ok(&mut it, r"regexp {\mfoo\M} {a foo b}"), "1");
    assert_eq!(ok(&mut it, r"regexp {\mfoo\M} {afoob}"), "0");
    assert_eq!(ok(&mut it, "regexp {***=a.b} a.b"), "1");
    assert_eq!(ok(&mut it, "regexp {***=a.b} axb"), "0");
}

/// Found by the tcl_parse fuzz target: a precision beyond 65,535 made Rust's formatter panic.
/// The digits a double has come first, then zeros, as tclsh prints them.
#[test]
fn format_with_a_precision_beyond_65535_pads_with_zeros() {
    let mut it = Interp::new();
    let fixed = ok(&mut it, "format %.70000f 0.5");
    assert_eq!(fixed.len(), 2 + 70000);
    assert!(fixed.starts_with("0.5") && fixed[3..].bytes().all(|b| b == b'0'));
    let exp = ok(&mut it, "format %2.222222e 1");
    assert_eq!(exp.len(), 2 + 222222 + 4);
    assert!(exp.starts_with("1.0") && exp.ends_with("0e+00"));
    let general = ok(&mut it, "format %#.70000g 0.25");
    assert!(general.starts_with("0.25") && general.len() > 70000);
    // The fuzzer's input as it was, through the whole script path.
    ok(
        &mut it,
        "# I host macbeth11s!x\nformat %2.222222else222f 1\nset x 1",
    );
}
