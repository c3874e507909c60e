# IP address failover on host lukretia (the master), for Linux: /etc/failover/lukretia.tcl
#
# This is the seed's configuration with its lost parts filled in (the service is named after
# its failover address 198.18.0.50, and so is its script /etc/init.d/198.18.0.50) and three
# changes for real Linux hosts:
#   - the service script is named once in `script`, so an installation elsewhere changes one
#     line;
#   - `interval 1` instead of 5: a one-second poll costs nothing today (see docs/deploy.md
#     for faster settings);
#   - `failhost macbeth address ...` so that failover does not depend on name resolution
#     (a DNS server that is down must not delay or prevent a takeover);
#   - the procedures live once, in procedures.tcl next to this file, for both hosts.

set script /etc/init.d/198.18.0.50

# what stopservice returns here: the master stays FAIL until an operator or the boot
# script says RECOVER
set stopped FAIL

# startservice, stopservice and reclaimservice, shared with macbeth.tcl
source [file join [file dirname [info script]] procedures.tcl]

failsvc 198.18.0.50 create
failsvc 198.18.0.50 interval 1
failsvc 198.18.0.50 start startservice
failsvc 198.18.0.50 stop stopservice
failsvc 198.18.0.50 reclaim reclaimservice
failsvc 198.18.0.50 slaves macbeth

# faild's port, the same on both hosts: PORT of /etc/default/failover, which
# failsh.service and failsh.init pass on to failsh, or the seed's 1291
set port [expr {[info exists ::env(PORT)] ? $::env(PORT) : 1291}]

failhost macbeth address 198.18.0.2
failhost macbeth port $port
failhost macbeth protocol tcp
failhost macbeth community public

failhost localhost port $port
failhost localhost protocol tcp
failhost localhost community genesis
