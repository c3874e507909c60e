//! Arbitrary input never panics the parser or the interpreter (exec is
//! disabled, check mode keeps it from writing files, and a deadline bounds
//! loops).

use std::time::{Duration, Instant};

use failover_tcl::{parse_list, parse_script, Interp};
use proptest::prelude::*;

fn run(s: &str) {
    let _ = parse_script(s);
    let _ = parse_list(s);
    let mut it = Interp::new();
    it.set_exec_enabled(false);
    it.set_check_mode(true);
    it.set_capture_output(true);
    it.set_deadline(Some(Instant::now() + Duration::from_millis(50)));
    let _ = it.eval_source(s, "fuzz.tcl");
    let _ = it.eval(s);
}

fn tclish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        "$",
        "\\",
        "\n",
        ";",
        " ",
        "#",
        "(",
        ")",
        "{*}",
        "set x ",
        "puts ",
        "proc p {a} {",
        "p 1",
        "if {1} {",
        "expr {",
        "1+",
        "$x",
        "${y}",
        "$a(",
        "::",
        "\\\n",
        "\\x4",
        "\\u",
        "lindex ",
        "string ",
        "format %",
        "foreach i {1 2} {",
        "while 0 {",
        "catch {",
        "return -code ",
        "error x",
        "switch x {",
        "incr x",
        "after 1",
        "upvar ",
        "uplevel ",
        "rename p q",
        "namespace eval n {",
        "variable v ",
        "n::p ",
        "$::n::v",
        "dict set d a ",
        "dict get ",
        "regexp -all -inline {",
        "regsub -all ",
        "clock format 0 -format %",
        "clock scan ",
        "scan ",
        "subst {",
        "lmap x {1 2} {",
        "try {",
        "} on error {m} {",
        "} finally {",
        "apply {{x} {",
        "source ",
        "file join ",
        "open /dev/null",
        "gets ",
        "exit ",
        "$env(",
        "string is integer -strict ",
        "lsearch -regexp -index 0 ",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_do_not_panic(s in ".{0,200}") {
        run(&s);
    }

    #[test]
    fn tcl_like_strings_do_not_panic(s in tclish()) {
        run(&s);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(5000);
    assert!(parse_script(&deep).is_err());
    let mut it = Interp::new();
    assert!(it.eval("proc f {} {f}; f").is_err());
    let e = format!(
        "{:?}",
        it.eval(&format!(
            "expr {{{}1{}}}",
            "(".repeat(5000),
            ")".repeat(5000)
        ))
    );
    assert!(e.contains("nested too deeply"), "{e}");
}

#[test]
fn huge_values_are_errors_not_allocations() {
    // found by fuzzing: `format %2222222222s` asked for 2 GB
    let mut it = Interp::new();
    it.set_deadline(Some(Instant::now() + Duration::from_secs(20)));
    let too_big = "max size for a Tcl value exceeded";
    for s in [
        "format %2222222222s x",
        "format %.2222222222f 1",
        "format %*s 100000000 x",
        "format %99999999999999999999999d 1",
        "set b [string repeat x 1000000]; string map [list x $b] [string repeat x 100]",
        "set b [string repeat x 1000000]; regsub -all x [string repeat x 100] $b",
        "set b [string repeat x 1000000]; join [lrepeat_free] $b",
        "set b [string repeat x 1000000]; subst [string repeat {$b} 100]",
        "set b [string repeat x 1000000]; set c [string repeat {$b} 100]; eval \"set d $c\"",
        "set b [string repeat x 30000000]; append b $b $b $b",
    ] {
        let s = s.replace("[lrepeat_free]", "[string repeat {a } 100]");
        match it.eval(&s) {
            Err(failover_tcl::Exception::Error(e)) => {
                assert_eq!(e.message, too_big, "{s}")
            }
            other => panic!("{s}: {other:?}"),
        }
    }
    assert_eq!(it.eval("string length [format %1000s x]").unwrap(), "1000");
}
