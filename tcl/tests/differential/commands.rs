//! The generator's statements for the commands of issue 18 ("Tcl for real
//! configurations"): env, namespaces, source and info script, clock,
//! regexp/regsub, string map, dict, subst, scan, array, file, channels,
//! lmap, try, apply, lsearch options, lreverse, string is; and broken
//! scripts that fail inside them.

use super::Gen;

/// Files the scripts use, written next to them by the test.
pub const LIB_OK: &str =
    "proc libproc {x} {\n    return \"lib:$x\"\n}\nset libvar [file tail [info script]]\n";
pub const LIB_BAD: &str = "set a 1\n\nnosuchlibcmd here\nset b 2\n";
pub const DATA: &str = "first line\nsecond\r\n\nlast without newline";

const HERE: &str = "[file dirname [info script]]";

const REGEXPS: &[&str] = &[
    r"{\d+}",
    r"{([a-z]+)([0-9]*)}",
    r"{^[a-z]}",
    r"{[0-9]$}",
    r"{[[:alpha:]]+}",
    r"{\mab}",
    r"{x?y*}",
    r"{(?i)AB}",
    r"{[^ ]+}",
    r"{\s+}",
    r"{(\w)(\w)}",
    r"{\.}",
    r"{[a-c]{2}}",
    r"{^$}",
];

const SUBJECTS: &[&str] = &[
    "abc123",
    "{ab cd ef}",
    "x12-34y",
    "{}",
    "ABab",
    "{a.b.c}",
    "{  spaced  out  }",
    "xyyy",
    "{tab\there}",
    "9",
];

const CLOCK_FORMATS: &[&str] = &[
    "{%Y-%m-%d %H:%M:%S}",
    "{%a %b %d %H:%M:%S %Z %Y}",
    "%s",
    "{%j %e %k %l %p %u %w %y}",
    "{%D %T %R %c}",
    "{%A %B %h %I %M %%}",
    "{%x %X %C %z}",
    "{%U %W %V %G %g}",
    "{[%d/%m]}",
];

impl Gen {
    fn dict_lit(&mut self) -> String {
        let keys = ["a", "b", "c", "{x y}", "7"];
        let n = self.r.below(4);
        let mut s = String::new();
        for _ in 0..n {
            let k = self.r.pick(&keys);
            s.push_str(&format!("{k} {} ", self.bare_plain()));
        }
        format!("[list {s}]")
    }

    /// One statement using the new commands (valid in tclsh).
    pub fn new_stmt(&mut self) -> String {
        match self.r.below(40) {
            0 => "puts [file tail [info script]]".into(),
            1 => format!(
                "source [file join {HERE} lib_ok.tcl]\nputs [libproc {}]; puts $libvar",
                self.word()
            ),
            2 => "puts [info exists ::env(HOME)][info exists ::env(NO_SUCH_VAR_FOR_TCL)][expr {[array size ::env] > 0}]".into(),
            3 => format!(
                "set ::env(FAILOVER_DIFF) {}\nputs [exec sh -c {{printf %s \"$FAILOVER_DIFF\"}}]\nunset ::env(FAILOVER_DIFF)\nputs [catch {{exec printenv FAILOVER_DIFF}} e]",
                self.bare_plain()
            ),
            4 => {
                let ns = self.r.pick(&["ns1", "cfg", "a::b"]);
                format!(
                    "namespace eval {ns} {{\n    variable v {}\n    proc get {{}} {{ variable v; return $v }}\n}}\nputs [{ns}::get]|${ns}::v|$::{ns}::v|[namespace eval {ns} {{namespace current}}]|[namespace exists {ns}]",
                    self.word()
                )
            }
            5 => format!(
                "puts [namespace qualifiers {}]|[namespace tail {}]|[namespace current]",
                self.r.pick(&["::a::b::c", "a::b", "c", "::x", "a:::b"]),
                self.r.pick(&["::a::b::c", "a::b", "c", "::"])
            ),
            6 => format!(
                "puts [clock format {} -format {} -gmt 1]",
                self.r.int(-2_000_000_000, 4_000_000_000),
                self.r.pick(CLOCK_FORMATS)
            ),
            7 => {
                let (y, mo, d) = (self.r.int(1902, 2100), self.r.int(1, 12), self.r.int(1, 28));
                let (h, mi, s) = (self.r.int(0, 23), self.r.int(0, 59), self.r.int(0, 59));
                match self.r.below(3) {
                    0 => format!("puts [clock scan {{{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}}} -format {{%Y-%m-%d %H:%M:%S}} -gmt 1]"),
                    1 => format!("puts [clock scan {{{y:04}-{mo:02}-{d:02}}} -gmt 1]"),
                    _ => format!("puts [clock format [clock scan {{{d:02}/{mo:02}/{y:04}}} -format %d/%m/%Y -gmt 1] -gmt 1]"),
                }
            }
            8 if self.r.chance(50) => "puts [expr {[clock seconds] > 1700000000}][expr {[clock milliseconds] > 1700000000000}]".into(),
            8 => {
                // local time through zone files (both read /usr/share/zoneinfo
                // or their own copy); within the files' transition tables and
                // away from the hours when clocks change
                let tz = self.r.pick(&[":Europe/Berlin", ":America/New_York", ":Asia/Tokyo", ":UTC"]);
                if self.r.chance(50) {
                    format!(
                        "puts [clock format {} -timezone {tz} -format {{%Y-%m-%d %H:%M:%S %Z %z}}]",
                        self.r.int(0, 2_100_000_000)
                    )
                } else {
                    let (y, mo, d) = (self.r.int(1971, 2036), self.r.int(1, 12), self.r.int(1, 28));
                    let (h, mi) = (self.r.int(4, 23), self.r.int(0, 59));
                    format!("puts [clock scan {{{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:00}} -format {{%Y-%m-%d %H:%M:%S}} -timezone {tz}]")
                }
            }
            9 | 10 => {
                let re = self.r.pick(REGEXPS);
                let s = self.r.pick(SUBJECTS);
                // Tcl starts each further -all search without looking back,
                // so \m right after a match inside a word differs (docs/tcl.md)
                let all_re = if re.contains("\\m") { r"{\d+}" } else { re };
                match self.r.below(5) {
                    0 => format!("set rm -; set rg1 -; set rg2 -\nputs [regexp {re} {s} rm rg1 rg2]|$rm|$rg1|$rg2"),
                    1 => format!("puts [regexp -all -inline {all_re} {s}]"),
                    2 => format!("puts [regexp -inline -nocase {re} {s}]"),
                    3 => format!("set rm -; puts [regexp -indices -- {re} {s} rm]|$rm"),
                    _ => format!("puts [regexp -all {all_re} {s}]"),
                }
            }
            11 => {
                let re = self.r.pick(REGEXPS);
                let s = self.r.pick(SUBJECTS);
                let spec = self.r.pick(&["{<&>}", r"{\1-\0}", "{}", r"{[\&]}", "_"]);
                let all_re = if re.contains("\\m") { r"{\d+}" } else { re };
                match self.r.below(3) {
                    0 => format!("puts [regsub {re} {s} {spec}]"),
                    1 => format!("puts [regsub -all {all_re} {s} {spec}]"),
                    _ => format!("puts [regsub -all -nocase {all_re} {s} {spec} out]|$out"),
                }
            }
            12 => format!(
                "puts [string map {} {}]",
                self.r.pick(&["{a A b {} c cc}", "{ab X a Y}", "{{ } _}", "{}"]),
                self.word()
            ),
            13 | 14 => {
                let d = self.dict_lit();
                match self.r.below(8) {
                    0 => format!("set d {d}; puts [dict size $d]|[dict keys $d]|[dict values $d]"),
                    1 => format!("set d {d}; dict set d a {}; puts [dict get $d a]|$d", self.word()),
                    2 => format!("set d {d}; dict set d x y z 1; puts [dict get $d x y]|[dict exists $d x y z]|[dict exists $d q]"),
                    3 => format!("set d {d}; dict unset d a; puts $d"),
                    4 => format!("puts [dict merge {d} {{b B c C}}]"),
                    5 => format!("dict for {{dk dv}} {d} {{ puts \"$dk=$dv\" }}"),
                    6 => format!("puts [dict keys {d} {}]", self.r.pick(&["a", "*", "{[ab]}"])),
                    _ => format!("set d [dict create {} 1 b 2]; dict incr d b 5; dict lappend d l x y; dict append d s p q; puts $d", self.r.pick(&["a", "b", "{x y}"])),
                }
            }
            15 => match self.r.below(4) {
                0 => "puts [subst {a=$a [string length $c] \\t|}]".into(),
                1 => "puts [subst -nocommands {[x] $n \\n}]".into(),
                2 => "puts [subst -novariables -nobackslashes {$n [expr {1+2}] \\n}]".into(),
                _ => format!("puts [subst {}]", self.quoted()),
            },
            16 | 17 => {
                let (s, f) = *[
                    ("{12 abc 3.5}", "{%d %s %f}"),
                    ("0x1f", "%x"),
                    ("{  42x}", "%d%s"),
                    ("abc", "%d"),
                    ("{}", "%d"),
                    ("7", "{%d %d}"),
                    ("a,b", "{%[^,],%s}"),
                    ("12345", "%2d%3d"),
                    ("x", "%c"),
                    ("{3 4}", "{%*d %d}"),
                    ("017", "%i"),
                    ("{1e3x}", "%f%s"),
                    ("{key=value}", "{%[a-z]=%s}"),
                ]
                .get(self.r.below(13))
                .unwrap_or(&("1", "%d"));
                if self.r.chance(50) {
                    format!("puts [scan {s} {f}]")
                } else {
                    let n = f.matches('%').count() - f.matches("%*").count();
                    let vars: Vec<String> = (1..=n).map(|i| format!("v{i}")).collect();
                    format!(
                        "unset -nocomplain v1 v2 v3\nputs [scan {s} {f} {}]|[info exists v1]",
                        vars.join(" ")
                    )
                }
            }
            18 => format!(
                "array set A [list {} 1 y 2]; puts [lsort [array names A]]|[array size A]|[array exists A]|[array get A y]; array unset A y; puts [array names A]; array unset A",
                self.r.pick(&["x", "{a b}", "y"])
            ),
            19 => {
                let parts = ["a", "/b", "c/", "d.e", "", "/", ".x", "f.tar.gz"];
                let p1 = self.r.pick(&parts);
                let p2 = self.r.pick(&parts);
                let p = format!("[file join {{{p1}}} {{{p2}}}]");
                format!(
                    "puts {p}|[file dirname {p}]|[file tail {p}]|[file extension {p}]|[file rootname {p}]"
                )
            }
            20 => format!(
                "puts [file exists [info script]][file isfile [info script]][file isdirectory {HERE}][file isfile {HERE}][file exists [file join {HERE} nosuch]][file readable [info script]]"
            ),
            21 | 22 => match self.r.below(3) {
                0 => format!("set f [open [file join {HERE} data.txt]]\nwhile {{[gets $f line] >= 0}} {{ puts \"<$line> [eof $f]\" }}\nputs [eof $f]; close $f"),
                1 => format!("set f [open [file join {HERE} data.txt] r]\nputs [gets $f]|[read $f 4]|[string length [read -nonewline $f]]|[eof $f]\nclose $f"),
                _ => format!("set f [open [file join {HERE} out.tmp] w]\nputs $f {}; puts -nonewline $f x; close $f\nset f [open [file join {HERE} out.tmp]]; puts [read $f]; close $f", self.word()),
            },
            23 => format!(
                "puts [lmap x {} {{if {{$x eq {{{}}}}} continue; string toupper $x}}]",
                self.list_word(),
                self.bare_plain()
            ),
            24 | 25 => match self.r.below(5) {
                0 => "puts [try {expr {1/0}} on error {tmsg topts} {set tmsg} finally {puts fin}]".into(),
                1 => "puts [try {error boom {} {MY CODE 1}} trap {MY} {tm to} {set tm \"trapped $tm [dict get $to -errorcode]\"}]".into(),
                2 => format!("puts [try {{set tx {}}} on ok {{tr}} {{set tr \"ok $tr\"}}]", self.word()),
                3 => "foreach i {1 2 3} { try { if {$i == 2} continue; puts $i } finally { puts f$i } }".into(),
                _ => "puts [catch {try {error inner} on error {tm} {error \"outer $tm\"}} tm]$tm".into(),
            },
            26 => format!(
                "puts [apply {{{{x {{y 2}}}} {{expr {{$x + $y}}}}}} {}]|[apply {{args {{llength $args}}}} a b]",
                self.r.int(-5, 5)
            ),
            27 | 28 => {
                let (opts, l, p) = *[
                    ("-exact -integer", "{1 02 3}", "2"),
                    ("-index 1", "{{a x} {b y} {c y}}", "y"),
                    ("-all -index 1", "{{a x} {b y} {c y}}", "y"),
                    ("-regexp", "{abc xyz x1}", "{^x.$}"),
                    ("-all -inline -not", "{a b c b}", "b"),
                    ("-start 2", "{a b a b}", "a"),
                    ("-nocase -exact", "{Ab aB}", "ab"),
                    ("-all -nocase", "{Ab aB c}", "a*"),
                    ("-inline -index 0 -subindices", "{{a x} {b y}}", "b"),
                    ("-sorted", "{a b c d}", "c"),
                    ("-all -regexp -inline", "{a1 b2 c}", "{\\d}"),
                ]
                .get(self.r.below(11))
                .unwrap_or(&("", "{}", "x"));
                format!("puts [lsearch {opts} {l} {p}]")
            }
            29 => format!("puts [lreverse {}]", self.list_word()),
            30 | 31 => format!(
                "puts [string is {} {}{}]",
                self.r.pick(&[
                    "integer", "wideinteger", "double", "boolean", "true", "false", "digit",
                    "alpha", "alnum", "space", "upper", "lower", "xdigit", "ascii", "wordchar",
                    "punct", "list"
                ]),
                self.r.pick(&["", "-strict "]),
                self.r.pick(&[
                    "12", "-7", "0x1f", "1.5", "1e3", "yes", "off", "abc", "ABC", "{ }", "{}",
                    "a_1", "4294967296", "x\\{y", "08", "true", "0", "x!",
                ])
            ),
            32 => "puts [string is integer -failindex fi 12x]|$fi".into(),
            33 => "proc nsx {} { return [namespace current] }\nnamespace eval q { proc r {} { return [nsx]|[namespace current] } }\nputs [q::r]|[info procs nsx]|[lsort [info commands q::*]]".into(),
            34 => format!(
                "set {} [list {}]; puts [info globals {}]",
                self.r.pick(&["g1", "g2"]),
                self.word(),
                self.r.pick(&["g1", "g*"])
            ),
            35 => format!(
                "switch -regexp -- {} {{\n    {{^a}} {{puts a}}\n    {{[0-9]}} {{puts digit}}\n    default {{puts other}}\n}}",
                self.r.pick(SUBJECTS)
            ),
            36 => "namespace eval cnt { variable n 0 }\nproc cnt::bump {} { variable n; incr n }\ncnt::bump; cnt::bump; puts $cnt::n".into(),
            37 => format!(
                "puts [dict get [dict create {} 1 b [dict create c 2]] b c]",
                self.r.pick(&["a", "{k k}"])
            ),
            38 => "set dr {}\ndict for {dk dv} {a 1 b 2 c 3} { if {$dk eq \"b\"} continue; append dr $dk$dv }\nputs $dr".into(),
            _ => format!(
                "puts [clock format [clock add {} {} days {} hours -gmt 1] -gmt 1]",
                self.r.int(0, 2_000_000_000),
                self.r.int(-400, 400),
                self.r.int(-30, 30)
            ),
        }
    }

    /// A statement that fails inside one of the new commands.
    pub fn new_broken(&mut self) -> String {
        match self.r.below(26) {
            0 => format!("source [file join {HERE} lib_bad.tcl]"),
            1 => "namespace eval nsb {\n    set x 1\n    error nsboom\n}".into(),
            2 => "dict get {a 1} zz".into(),
            3 => format!(
                "regexp {} x",
                self.r.pick(&["{(}", "{[a}", "{a)}", "{x{2,1}}"])
            ),
            4 => "clock scan 12x -format %H -gmt 1".into(),
            5 => "scan 1 %z".into(),
            6 => format!("open [file join {HERE} nosuch.txt]"),
            7 => "try {error a} finally {error b}".into(),
            8 => "apply {{x} {\n    set y 1\n    error bad$x\n}} 1".into(),
            9 => "lmap x {1 2} {\n    set y $x\n    nosuchlmap\n}".into(),
            10 => "dict for {k v} {a 1} {\n    error dfor\n}".into(),
            11 => "puts [subst {a [nosuchsubst] b}]".into(),
            12 => format!(
                "{} {} x",
                self.r
                    .pick(&["dict", "clock", "file", "namespace", "string is"]),
                self.r.pick(&["bogus", "frobnicate"])
            ),
            13 => "lsearch -bogus {a b} a".into(),
            14 => "puts $::nosuchns::v".into(),
            15 => "nosuchns::p 1".into(),
            16 => "proc nons::p {} {}".into(),
            17 => "set nons::v 1".into(),
            18 => "try {error x} on error {m} {\n    set q 1\n    nosuchhandler\n}".into(),
            19 => "dict create a".into(),
            20 => "regsub a".into(),
            21 => "scan 1 %d a b".into(),
            22 => "clock format abc".into(),
            23 => "dict get {a b c} a".into(),
            24 => {
                "namespace eval ns2 {\n    proc f {} {\n        error inf\n    }\n}\nns2::f".into()
            }
            _ => "puts [regexp -inline x x m]".into(),
        }
    }
}
