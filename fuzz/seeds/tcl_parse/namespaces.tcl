namespace eval cfg {
    variable port 1291
    proc addr {h} { variable port; return $h:$port }
}
puts [cfg::addr x]/$cfg::port/$::cfg::port/[namespace exists cfg]
proc cfg::more {} { return [addr y] }
puts [namespace qualifiers ::a::b::c][namespace tail ::a::b][namespace current]
set ::env(X) 1; puts $env(X); unset env(X)
apply {{a {b 2}} {expr {$a + $b}}} 1
puts [info script][info procs cfg::*][info globals e*]
