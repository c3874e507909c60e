//! Fuzz the Tcl parser, list parser and (with exec disabled, in check mode
//! so that no file is written, under a deadline) the interpreter: none may
//! panic. The seeds (fuzz/seeds/tcl_parse) and the dictionary
//! (fuzz/dict/tcl_parse.dict) bring in every command, the new ones of
//! issue 18 too (namespaces, dict, regexp, clock, scan, file, channels, ...).
#![no_main]

use std::time::{Duration, Instant};

use failover_tcl::{parse_list, parse_script, Interp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_script(s);
    let _ = parse_list(s);
    let mut it = Interp::new();
    it.set_exec_enabled(false);
    it.set_check_mode(true);
    it.set_capture_output(true);
    it.set_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let _ = it.eval_source(s, "fuzz.tcl");
});
