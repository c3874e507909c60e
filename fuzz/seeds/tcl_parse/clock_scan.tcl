puts [clock format 1700000000 -format {%a %A %b %B %d %e %H %I %j %k %l %m %M %p %S %s %u %w %y %Y %Z %z %% %T %R %D %c %x %X %C %G %V %U %W} -gmt 1]
puts [clock scan {2024-02-29 13:45:10} -format {%Y-%m-%d %H:%M:%S} -gmt 1][clock scan 2024-02-29 -gmt 1]
puts [clock add 0 3 days 2 hours -gmt 1][clock seconds][clock milliseconds]
puts [scan {12 abc 3.5} {%d %s %f}][scan 0x1f %x][scan a,b {%[^,],%s} p q]
puts [subst {a $p [expr 1] \t}][subst -nocommands {[x]}]
puts [lmap x {1 2 3} {if {$x == 2} continue; expr {$x*2}}]
puts [try {error boom {} {E 1}} trap E {m o} {set m} on error {m} {set m} finally {puts f}]
set f [open /dev/null]; puts [gets $f line][eof $f][read $f]; close $f
puts [file join a /b c][file dirname /a/b][file tail a/b][file extension x.tcl][file rootname x.tcl][file exists /][file isdirectory /]
catch {source /nonexistent} m; catch {exit 1} m; catch {open x w} m
