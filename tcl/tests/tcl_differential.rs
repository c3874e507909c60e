//! Differential tests: random scripts run by our interpreter and by the real
//! `tclsh` (8.6) must print the same, return the same, and fail with the
//! same message on the same line.
//!
//! All scripts of a run go to ONE tclsh process: a driver script sources
//! each file in a fresh child interpreter and captures stdout with a
//! stacked channel transform.
//!
//! Environment: FAILOVER_TCL_SEED (default 1), FAILOVER_TCL_COUNT (valid
//! scripts, default 5000; broken ones are a fifth of that, at least 1000),
//! FAILOVER_ALLOW_SKIP=1 to pass when tclsh is missing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use failover_tcl::Interp;

#[path = "differential/commands.rs"]
mod commands;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

const STR_VARS: &[&str] = &["a", "b", "c"];
const INT_VARS: &[&str] = &["n", "m"];

struct Gen {
    r: Rng,
    depth: usize,
    procs: Vec<(String, usize, bool)>,
}

impl Gen {
    fn lit_char(&mut self) -> String {
        let plain = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_.-:=,+/@%!?*";
        let c = plain.as_bytes()[self.r.below(plain.len())] as char;
        if self.r.chance(85) {
            return c.to_string();
        }
        self.r
            .pick(&[
                "\\n", "\\t", "\\{", "\\}", "\\$", "\\[", "\\]", "\\\\", "\\\"", "\\x41", "\\101",
                "\\u0042", "\\ ", "\\;", "\\a", "\\x7a", "\\q", "\\0",
            ])
            .to_string()
    }

    fn bare(&mut self) -> String {
        let n = 1 + self.r.below(6);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(&self.lit_char());
        }
        if s.starts_with('#') || s.starts_with('{') || s.starts_with('"') {
            s.insert(0, 'x');
        }
        s
    }

    fn braced_content(&mut self, depth: usize) -> String {
        let n = self.r.below(6);
        let mut s = String::new();
        for _ in 0..n {
            match self.r.below(12) {
                0 if depth < 2 => {
                    s.push('{');
                    s.push_str(&self.braced_content(depth + 1));
                    s.push('}');
                }
                1 => s.push(' '),
                2 => s.push_str(
                    self.r
                        .pick(&["$a", "[x]", "\"", ";", "\\n", "\\}", "\\{", "#", "]"]),
                ),
                3 => s.push('\n'),
                4 => s.push_str("\\\n  "),
                _ => s.push_str(&self.bare_plain()),
            }
        }
        s
    }

    fn bare_plain(&mut self) -> String {
        let n = 1 + self.r.below(4);
        (0..n)
            .map(|_| {
                let plain = "abcdefxyz0123456789_.-";
                plain.as_bytes()[self.r.below(plain.len())] as char
            })
            .collect()
    }

    fn var_ref(&mut self) -> String {
        let v = self.r.pick(&["a", "b", "c", "n", "m", "l"]);
        match self.r.below(5) {
            0 => format!("${{{v}}}"),
            1 if self.depth == 0 => format!("$::{v}"),
            2 => "$arr(k1)".to_string(),
            3 => "$arr($k)".to_string(),
            _ => format!("${v}"),
        }
    }

    fn cmd_subst(&mut self) -> String {
        self.depth += 1;
        let inner = match self.r.below(9) {
            0 => format!("list {} {}", self.word(), self.word()),
            1 => format!("string length {}", self.word()),
            2 => format!("expr {{{}}}", self.int_expr(2)),
            3 => format!("set {}", self.r.pick(STR_VARS)),
            4 => format!("string toupper {}", self.word()),
            5 => format!("concat {} {}", self.word(), self.word()),
            6 => format!(
                "lindex $l {}",
                self.r.pick(&["0", "1", "end", "end-1", "5"])
            ),
            7 => format!(
                "join [list {} {}] {}",
                self.word(),
                self.word(),
                self.r.pick(&["-", ",", "{ }", "\"\""])
            ),
            _ => format!("format %s-%d {} {}", self.word(), self.r.int(-50, 50)),
        };
        self.depth -= 1;
        format!("[{inner}]")
    }

    fn quoted(&mut self) -> String {
        let n = self.r.below(5);
        let mut s = String::from("\"");
        for _ in 0..n {
            match self.r.below(8) {
                0 => {
                    let v = self.var_ref();
                    // keep the name from running into following letters
                    if v.starts_with("${") || v.contains('(') {
                        s.push_str(&v);
                    } else {
                        s.push_str(&format!("${{{}}}", &v[1..]));
                    }
                }
                1 if self.depth < 2 => s.push_str(&self.cmd_subst()),
                2 => s.push(' '),
                3 => s.push_str(
                    self.r
                        .pick(&[";", "\\{", "\\}", "\\\"", "\\n", "\\\n ", "\n", "#", "]"]),
                ),
                _ => s.push_str(&self.lit_char()),
            }
        }
        s.push('"');
        s
    }

    fn word(&mut self) -> String {
        match self.r.below(10) {
            0 | 1 => self.bare(),
            2 => format!("{{{}}}", self.braced_content(0)),
            3 => self.quoted(),
            4 => self.var_ref(),
            5 if self.depth < 2 => self.cmd_subst(),
            6 => format!("{}{}", self.bare(), self.var_ref()),
            7 if self.depth < 2 => format!("{}{}x", self.var_ref(), self.cmd_subst()),
            8 => "{}".into(),
            _ => self.bare(),
        }
    }

    fn int_atom(&mut self) -> String {
        match self.r.below(6) {
            0 => format!("${}", self.r.pick(INT_VARS)),
            1 => format!("[string length ${}]", self.r.pick(STR_VARS)),
            2 => format!("{}", self.r.int(-20, 20)),
            3 => self
                .r
                .pick(&["0x1f", "0b101", "017", "0o7", "\"12\"", "{7}"])
                .to_string(),
            4 => "[llength $l]".into(),
            _ => format!("{}", self.r.int(0, 9)),
        }
    }

    fn int_expr(&mut self, d: usize) -> String {
        if d == 0 || self.r.chance(30) {
            return self.int_atom();
        }
        let a = self.int_expr(d - 1);
        let b = self.int_expr(d - 1);
        match self.r.below(16) {
            0 => format!("({a} + {b})"),
            1 => format!("({a} - {b})"),
            2 => format!("({a} * {b})"),
            3 => format!("({a}) / (({b}) == 0 ? 1 : ({b}))"),
            4 => format!("({a}) % (({b}) == 0 ? 7 : ({b}))"),
            5 => format!("({a}) & ({b})"),
            6 => format!("({a}) | ({b})"),
            7 => format!("({a}) ^ ({b})"),
            8 => format!("((({a}) & 15) << 2)"),
            9 => format!("(({a}) >> 1)"),
            10 => format!("~({a})"),
            11 => format!("-({a})"),
            12 => format!("abs({a})"),
            13 => format!("{}({a}, {b})", self.r.pick(&["min", "max"])),
            14 => format!("(({a}) % 5) ** 3"),
            _ => format!("!({a})"),
        }
    }

    fn float_expr(&mut self) -> String {
        let a = self.int_expr(1);
        let b = self.int_expr(1);
        match self.r.below(10) {
            0 => format!("double({a}) / 3"),
            1 => format!("({a}) * 1.5"),
            2 => format!("sqrt(abs({a}))"),
            3 => format!("round(({a}) / 2.0)"),
            4 => format!("int(({a}) * 2.7)"),
            5 => format!("floor(({a}) / 4.0) + ceil(({b}) / 3.0)"),
            6 => format!("pow(2, abs({a}) % 8)"),
            7 => format!("fmod(({a}) + 0.5, 3)"),
            8 => format!("({a}) * 1e-7"),
            _ => format!("({a}) * 1e17 + 0.5"),
        }
    }

    fn bool_expr(&mut self) -> String {
        let a = self.int_expr(1);
        let b = self.int_expr(1);
        let op = self.r.pick(&["<", ">", "<=", ">=", "==", "!="]);
        match self.r.below(8) {
            0 => format!("${} eq ${}", self.r.pick(STR_VARS), self.r.pick(STR_VARS)),
            1 => format!("${} ne {{x}}", self.r.pick(STR_VARS)),
            2 => format!("{a} {op} {b} && {b} != 3"),
            3 => format!("{a} {op} {b} || [string length $a] > 2"),
            4 => format!("{{{}}} in $l", self.bare_plain()),
            5 => format!("\"$a\" {op} \"$b\""),
            6 => format!("{a} {op} {b} ? 1 : 0"),
            _ => format!("{a} {op} {b}"),
        }
    }

    fn block(&mut self, n: usize) -> String {
        self.depth += 1;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str("\n    ");
            s.push_str(&self.stmt());
        }
        self.depth -= 1;
        s.push('\n');
        s
    }

    fn stmt(&mut self) -> String {
        if self.r.chance(30) {
            return self.new_stmt();
        }
        let deep = self.depth >= 2;
        match self.r.below(if deep { 14 } else { 24 }) {
            0 => format!("set {} {}", self.r.pick(STR_VARS), self.word()),
            1 => format!("puts {}", self.word()),
            2 => format!(
                "puts [list {} {} {}]",
                self.word(),
                self.word(),
                self.word()
            ),
            3 => format!("lappend l {}", self.word()),
            4 => format!("incr {} {}", self.r.pick(INT_VARS), self.r.int(-3, 5)),
            5 => format!(
                "set {} [expr {{{}}}]",
                self.r.pick(INT_VARS),
                self.int_expr(3)
            ),
            6 => format!("puts [expr {{{}}}]", self.float_expr()),
            7 => self.string_stmt(),
            8 => self.list_stmt(),
            9 => {
                let (f, second) = match self.r.below(7) {
                    0 => ("{%5d|%-4s|}", "abc"),
                    1 => ("%x-%o", "66"),
                    2 => ("{%05.1f %s}", "1.25"),
                    3 => ("%3s%%%c", "120"),
                    4 => ("{%e %g}", "1.25"),
                    5 => ("{%+d %s}", "7"),
                    _ => ("%.3s|%d", "-3"),
                };
                format!("puts [format {f} {} {second}]", self.r.int(-300, 300))
            }
            10 => format!(
                "set arr({}) {}",
                self.r.pick(&["k1", "k2", "$k", "x\\ y"]),
                self.word()
            ),
            11 => "puts [lsort [array names arr]]".to_string(),
            12 => format!(
                "catch {{{}}} res; puts \"caught: $res\"",
                self.r.pick(&[
                    "error boom",
                    "set nosuch",
                    "expr {1/0}",
                    "lindex",
                    "incr a",
                    "string repeat",
                    "nosuchcmd 1 2",
                    "error {a b} info code"
                ])
            ),
            13 => format!(
                "puts [string {} {}]",
                self.r
                    .pick(&["tolower", "toupper", "length", "trim", "reverse"]),
                self.word()
            ),
            14 => format!(
                "if {{{}}} {{{}}} elseif {{{}}} {{{}}} else {{{}}}",
                self.bool_expr(),
                self.block(2),
                self.bool_expr(),
                self.block(1),
                self.block(1)
            ),
            15 => format!(
                "foreach {} {} {{{}}}",
                self.r.pick(&["x", "{x y}", "{x y z}"]),
                self.list_word(),
                self.block(2)
            ),
            16 => {
                let i = format!("i{}", self.depth);
                format!("for {{set {i} 0}} {{${i} < {}}} {{incr {i}}} {{{}    if {{${i} == 2}} {{ {} }}\n}}", self.r.int(0, 4), self.block(2), self.r.pick(&["continue", "break", "puts two", "set n $@"]).replace('@', &i))
            }
            17 => {
                let w = format!("w{}", self.depth);
                format!(
                    "set {w} 0\nwhile {{${w} < {}}} {{{}    incr {w}\n}}",
                    self.r.int(0, 3),
                    self.block(1)
                )
            }
            18 => format!(
                "switch {} {} {{{}}}",
                self.r.pick(&["-exact --", "-glob", "--", ""]),
                self.r.pick(&["$a", "abc", "$n", "x1"]),
                self.switch_arms()
            ),
            19 if self.depth == 0 => self.proc_def(),
            20 => self.proc_call(),
            21 => format!("puts [list {{*}}$l {{*}}{{1 2}} {}]", self.word()),
            22 => format!("array set arr [list k2 {} k1 {}]", self.word(), self.word()),
            _ => format!(
                "puts [concat {} {} [list {}]]",
                self.word(),
                self.list_word(),
                self.word()
            ),
        }
    }

    fn list_word(&mut self) -> String {
        match self.r.below(5) {
            0 => "$l".into(),
            1 => format!("[list {} {} {}]", self.word(), self.word(), self.word()),
            2 => "{a {b c} d}".into(),
            3 => "{1 2 3 4 5 6 7}".into(),
            _ => format!(
                "{{{} {} {}}}",
                self.bare_plain(),
                self.bare_plain(),
                self.bare_plain()
            ),
        }
    }

    fn switch_arms(&mut self) -> String {
        let mut s = String::new();
        let n = 1 + self.r.below(3);
        for _ in 0..n {
            let p = self.r.pick(&["abc", "a*", "x?", "[0-9]*", "1", "3"]);
            s.push_str(&format!("\n    {p} {{puts {}}}", self.bare_plain()));
            if self.r.chance(20) {
                s.push_str(&format!("\n    {} -", self.r.pick(&["zz", "q*"])));
            }
        }
        if self.r.chance(60) {
            s.push_str(&format!("\n    default {{puts def-{}}}", self.bare_plain()));
        } else {
            s.push_str("\n    never {puts never}");
        }
        s.push('\n');
        s
    }

    fn string_stmt(&mut self) -> String {
        let w = self.word();
        match self.r.below(14) {
            0 => format!("puts [string length {w}]"),
            1 => format!(
                "puts [string range {w} {} {}]",
                self.r.pick(&["0", "1", "end-2"]),
                self.r.pick(&["end", "2", "end-1", "10"])
            ),
            2 => format!(
                "puts [string index {w} {}]",
                self.r.pick(&["0", "end", "2", "end-1", "9"])
            ),
            3 => format!(
                "puts [string first {} {w}]",
                self.r.pick(&["a", "b", "ab", "\\n"])
            ),
            4 => format!("puts [string last {} {w}]", self.r.pick(&["a", "1", ":"])),
            5 => format!("puts [string map {{a A b {{}} c cc}} {w}]"),
            6 => format!(
                "puts [string match {} {w}]",
                self.r
                    .pick(&["*", "a*", "{*[0-9]*}", "??", "\\**", "{[a-c]*}"])
            ),
            7 => format!(
                "puts [string equal {} {w} {}]",
                self.r.pick(&["", "-nocase"]),
                self.word()
            ),
            8 => format!("puts [string compare {w} {}]", self.word()),
            9 => format!("puts [string repeat {w} {}]", self.r.int(0, 3)),
            10 => format!(
                "puts [string trim {w} {}]",
                self.r.pick(&["a", "{ }", "xyz.", "\\n"])
            ),
            11 => format!("puts [string trimleft {w}]"),
            12 => format!("puts [string is integer {w}]"),
            _ => format!("puts [string map -nocase {{A 1}} {w}]"),
        }
    }

    fn list_stmt(&mut self) -> String {
        let l = self.list_word();
        match self.r.below(10) {
            0 => format!("puts [llength {l}]"),
            1 => format!(
                "puts [lindex {l} {}]",
                self.r.pick(&["0", "1", "end", "end-1", "7", "-1"])
            ),
            2 => format!(
                "puts [lrange {l} {} {}]",
                self.r.pick(&["0", "1", "end-1"]),
                self.r.pick(&["end", "1", "0", "3"])
            ),
            3 => format!(
                "puts [lsearch {} {l} {}]",
                self.r.pick(&["", "-exact", "-glob", "-all", "-inline"]),
                self.r.pick(&["a", "b*", "2", "x", "*"])
            ),
            4 => format!("puts [join {l} {}]", self.r.pick(&["-", "{, }", ""])),
            5 => format!(
                "puts [split {} {}]",
                self.word(),
                self.r.pick(&["", "a", "{}", "{ :}", "."])
            ),
            6 => format!(
                "puts [lsort {} {l}]",
                self.r.pick(&["", "-decreasing", "-unique"])
            ),
            7 => format!("puts [lreverse {l}]"),
            8 => format!("puts [lreplace {l} 1 1 X]"),
            _ => format!("puts [linsert {l} 1 {}]", self.word()),
        }
    }

    fn proc_def(&mut self) -> String {
        let name = format!("p{}", self.procs.len());
        let (params, nfixed, has_args) = match self.r.below(4) {
            0 => ("{}", 0, false),
            1 => ("x", 1, false),
            2 => ("{x {y dflt}}", 1, false),
            _ => ("{x args}", 1, true),
        };
        let saved = self.depth;
        self.depth = 1;
        let mut body = String::new();
        body.push_str("\n    global n m l");
        if nfixed > 0 {
            body.push_str("\n    set a $x; set b [string length $x]; set c x");
        } else {
            body.push_str("\n    set a 1; set b 2; set c 3");
        }
        body.push_str("\n    set k k1; array set arr {k1 v1}");
        body.push_str(&self.block(2));
        if has_args {
            body.push_str("    puts \"args=$args\"\n");
        }
        if self.r.chance(30) {
            body.push_str("    upvar 1 n nn; incr nn\n");
        }
        let ret = match self.r.below(3) {
            0 => format!("    return {}\n", self.word()),
            1 => "    return -code ok [list $a $b]\n".to_string(),
            _ => format!("    set r {}\n", self.word()),
        };
        body.push_str(&ret);
        self.depth = saved;
        self.procs.push((name.clone(), nfixed, has_args));
        format!("proc {name} {params} {{{body}}}")
    }

    fn proc_call(&mut self) -> String {
        if self.procs.is_empty() {
            return "puts noproc".into();
        }
        let (name, nfixed, has_args) = self.procs[self.r.below(self.procs.len())].clone();
        let mut s = format!("puts [{name}");
        let extra = if has_args { self.r.below(3) } else { 0 };
        for _ in 0..(nfixed + extra) {
            s.push(' ');
            s.push_str(&self.word());
        }
        s.push(']');
        s
    }

    fn script(&mut self) -> String {
        self.procs.clear();
        let mut s = String::new();
        if self.r.chance(30) {
            s.push_str("# a comment \\\n continued\n");
        }
        s.push_str("set c {x y}; set n 3; set m -2; set l {a {b c} 1}\n");
        s.push_str("set k k1; array set arr {k1 v1 k2 v2}\n");
        let _ = writeln!(s, "set a {}; set b {}", self.bare(), self.bare());
        let _ = writeln!(s, "set b {}", self.quoted());
        let n = 2 + self.r.below(6);
        for _ in 0..n {
            s.push_str(&self.stmt());
            s.push('\n');
            if self.r.chance(10) {
                s.push_str("  # comment ; with [brackets] {\n");
            }
        }
        if self.r.chance(50) {
            s.push_str(&format!("set result {}\n", self.word()));
        }
        s
    }

    fn broken(&mut self) -> String {
        self.procs.clear();
        let mut lines: Vec<String> = Vec::new();
        lines.push("set a 1; set b 2; set c 3; set n 3; set m 4; set l {a b}; set k k1".into());
        lines.push("array set arr {k1 v1}".into());
        let before = self.r.below(4);
        for _ in 0..before {
            lines.push(self.stmt());
        }
        let bad = if self.r.chance(45) {
            self.new_broken()
        } else {
            self.old_broken()
        };
        let at = lines.len();
        lines.push(bad);
        if self.r.chance(60) {
            lines.insert(at, format!("# comment {}", self.bare_plain()));
        }
        let after = self.r.below(3);
        for _ in 0..after {
            lines.push(self.stmt());
        }
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }

    fn old_broken(&mut self) -> String {
        match self.r.below(18) {
            0 => "proc f {} {\n    set x 1\n    if {$x} {\n        puts yes\n    \n}\nputs after"
                .to_string(),
            1 => format!("set x \"abc {}", self.bare_plain()),
            2 => format!("nosuch{} {}", self.bare_plain(), self.word()),
            3 => "set x {a}b".into(),
            4 => "set x \"a\"b".into(),
            5 => format!("set x [list a {}", self.bare_plain()),
            6 => format!(
                "set {} {} {}",
                self.bare_plain(),
                self.bare_plain(),
                self.bare_plain()
            ),
            7 => format!("puts ${}zz", self.bare_plain().replace(['.', '-'], "_")),
            8 => format!(
                "proc g {{}} {{\n    set x 1\n    error {{boom {}}}\n}}\nputs [g]",
                self.bare_plain()
            ),
            9 => "expr {1 / 0}".into(),
            10 => "lindex {a b} x".into(),
            11 => "incr a 1.5".into(),
            12 => format!(
                "if {{1}} {{\n    puts ok\n    set q $undefined{}\n}}",
                self.r.below(9)
            ),
            13 => "set x {a {b}".into(),
            14 => "foreach {} {1 2} {puts x}".into(),
            15 => "string repeat".into(),
            16 => format!("proc h {{a b}} {{return $a}}\nh {}", self.bare_plain()),
            _ => "set l [lindex {a {b} c\n".into(),
        }
    }
}

const DRIVER: &str = r##"
fconfigure stdout -translation lf -encoding utf-8
set dir [lindex $argv 0]
set n [lindex $argv 1]
set outf [open [file join $dir results.txt] w]
fconfigure $outf -translation lf -encoding utf-8
namespace eval cap {
    variable buf ""
    proc initialize {h mode} { return {initialize finalize write flush} }
    proc finalize {h} {}
    proc write {h data} { variable buf; append buf $data; return "" }
    proc flush {h} { return "" }
    namespace export *
    namespace ensemble create
}
chan push stdout ::cap
for {set k 0} {$k < $n} {incr k} {
    set f [file join $dir s$k.tcl]
    set i [interp create]
    set ::cap::buf ""
    set rc [interp eval $i [list catch [list source $f] ::__r ::__o]]
    set r [interp eval $i {set ::__r}]
    set line 0
    if {$rc == 1} {
        set info [interp eval $i {dict get $::__o -errorinfo}]
        if {[regexp {\(file "[^"]*" line (\d+)\)} $info -> ln]} { set line $ln }
    }
    flush stdout
    interp delete $i
    set out [encoding convertfrom utf-8 $::cap::buf]
    puts $outf "#$k $rc $line"
    puts $outf [string length $out]
    puts -nonewline $outf $out
    puts $outf [string length $r]
    puts $outf $r
}
close $outf
"##;

struct Outcome {
    rc: u32,
    line: usize,
    stdout: String,
    result: String,
}

fn parse_results(text: &str, n: usize) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(n);
    let mut rest = text;
    let take_line = |rest: &mut &str| -> String {
        let i = rest.find('\n').expect("line");
        let l = rest[..i].to_string();
        *rest = &rest[i + 1..];
        l
    };
    let take_chars = |rest: &mut &str, n: usize| -> String {
        let end = rest
            .char_indices()
            .nth(n)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let s = rest[..end].to_string();
        *rest = &rest[end..];
        s
    };
    for k in 0..n {
        let head = take_line(&mut rest);
        let f: Vec<&str> = head.split(' ').collect();
        assert_eq!(f[0], format!("#{k}"), "driver output out of step");
        let rc = f[1].parse().unwrap();
        let line = f[2].parse().unwrap();
        let ol: usize = take_line(&mut rest).parse().unwrap();
        let stdout = take_chars(&mut rest, ol);
        let rl: usize = take_line(&mut rest).parse().unwrap();
        let result = take_chars(&mut rest, rl);
        take_line(&mut rest);
        out.push(Outcome {
            rc,
            line,
            stdout,
            result,
        });
    }
    out
}

fn tclsh() -> Option<PathBuf> {
    for p in [
        "/usr/bin/tclsh",
        "/usr/bin/tclsh8.6",
        "/usr/local/bin/tclsh",
    ] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    None
}

fn run_tclsh(tclsh: &Path, dir: &Path, scripts: &[String]) -> Vec<Outcome> {
    for (k, s) in scripts.iter().enumerate() {
        std::fs::write(dir.join(format!("s{k}.tcl")), s).unwrap();
    }
    std::fs::write(dir.join("driver.tcl"), DRIVER).unwrap();
    std::fs::write(dir.join("lib_ok.tcl"), commands::LIB_OK).unwrap();
    std::fs::write(dir.join("lib_bad.tcl"), commands::LIB_BAD).unwrap();
    std::fs::write(dir.join("data.txt"), commands::DATA).unwrap();
    let st = Command::new(tclsh)
        .arg(dir.join("driver.tcl"))
        .arg(dir)
        .arg(scripts.len().to_string())
        .status()
        .expect("run tclsh");
    assert!(st.success(), "tclsh driver failed");
    let text = std::fs::read_to_string(dir.join("results.txt")).unwrap();
    parse_results(&text, scripts.len())
}

fn run_ours(dir: &Path, k: usize, script: &str) -> Outcome {
    let mut it = Interp::new();
    it.set_capture_output(true);
    let path = dir.join(format!("s{k}.tcl"));
    let r = it.eval_source(script, &path.display().to_string());
    let stdout = it.take_stdout();
    match r {
        Ok(v) => Outcome {
            rc: 0,
            line: 0,
            stdout,
            result: v,
        },
        Err(e) => Outcome {
            rc: 1,
            // as the driver reads tclsh's: the first `(file "..." line N)`
            // of errorInfo (inside a sourced file, that file's line)
            line: info_line(&e.info).unwrap_or(0),
            stdout,
            result: e.message,
        },
    }
}

fn info_line(info: &str) -> Option<usize> {
    let i = info.find("(file \"")?;
    let rest = &info[i + 7..];
    let q = rest.find("\" line ")?;
    let digits: String = rest[q + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("failover-tcl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn differential_against_tclsh() {
    let Some(tclsh) = tclsh() else {
        eprintln!("SKIPPED: tclsh not found (install the Debian package tcl8.6)");
        assert!(
            std::env::var("FAILOVER_ALLOW_SKIP").as_deref() == Ok("1"),
            "tclsh not found and FAILOVER_ALLOW_SKIP is not 1"
        );
        return;
    };
    let seed = env_num("FAILOVER_TCL_SEED", 1);
    let valid_n = env_num("FAILOVER_TCL_COUNT", 5200) as usize;
    let broken_n = (valid_n / 5).max(1000);
    let mut g = Gen {
        r: Rng(seed),
        depth: 0,
        procs: Vec::new(),
    };
    let mut scripts = Vec::new();
    for _ in 0..valid_n {
        scripts.push(g.script());
    }
    for _ in 0..broken_n {
        scripts.push(g.broken());
    }
    let dir = temp_dir(&format!("diff-{seed}"));
    let t0 = Instant::now();
    let theirs = run_tclsh(&tclsh, &dir, &scripts);
    let t_tcl = t0.elapsed();
    let t1 = Instant::now();
    let mut failures = Vec::new();
    let (mut valid_ok, mut broken_ok, mut gen_mistakes) = (0, 0, 0);
    for (k, s) in scripts.iter().enumerate() {
        let ours = run_ours(&dir, k, s);
        let t = &theirs[k];
        // a script is valid if tclsh runs it without error (the generator
        // of valid scripts occasionally makes a mistake, e.g. reads a
        // variable before setting it: such scripts must fail identically)
        let is_valid = t.rc == 0;
        let same = if is_valid {
            ours.rc == 0 && ours.stdout == t.stdout && ours.result == t.result
        } else {
            t.rc == ours.rc && ours.result == t.result && ours.line == t.line
        };
        if k < valid_n && !is_valid && gen_mistakes < 8 {
            eprintln!(
                "generated as valid, failed in both: {:?} line {}",
                t.result, t.line
            );
        }
        if k >= valid_n && is_valid {
            eprintln!("broken script #{k} ran fine in tclsh");
        }
        if same {
            if is_valid {
                valid_ok += 1;
            } else if k < valid_n {
                gen_mistakes += 1;
            } else {
                broken_ok += 1;
            }
        } else if failures.len() < 5 {
            failures.push(format!(
                "script #{k} (seed {seed}):\n{s}\n--- tclsh: rc={} line={} result={:?}\nstdout={:?}\n--- ours: rc={} line={} result={:?}\nstdout={:?}",
                t.rc, t.line, t.result, t.stdout, ours.rc, ours.line, ours.result, ours.stdout
            ));
        }
    }
    let t_ours = t1.elapsed();
    eprintln!(
        "differential seed {seed}: {valid_ok} valid and {broken_ok} broken scripts agree ({gen_mistakes} generated as valid failed the same way in both); tclsh {:.2?}, ours {:.2?}",
        t_tcl, t_ours
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if valid_n >= 5200 {
        assert!(valid_ok >= 5000, "only {valid_ok} valid scripts compared");
        assert!(
            broken_ok >= 1000,
            "only {broken_ok} broken scripts compared"
        );
    }
}
