set d [dict create a 1 b 2 a 3]
dict set d c x y 4; dict unset d a; dict incr d b; dict lappend d l 1
dict for {k v} $d { puts $k=$v }
puts [dict merge $d {q 1}][dict keys $d *][dict values $d][dict exists $d c x y][dict size $d]
puts [regexp -all -inline -nocase {(\d+)-(\w)} {12-a 34-B} ]
regexp -indices {([a-z]+)([0-9]*)} abc123 m g1 g2
puts [regsub -all {o} {foo boo} {<&\0\1>} out]$out
puts [lsearch -all -regexp -inline {abc a1 b2} {\d}][lsearch -index 1 {{a x} {b y}} y]
switch -regexp -- abc { ^a {puts a} default {puts d} }
puts [string map {a A} abc][string is integer -strict 12][lreverse {1 2}]
