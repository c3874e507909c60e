# IP address failover on host macbeth (the slave), for Linux: /etc/failover/macbeth.tcl
#
# The seed's configuration with the same changes as lukretia.tcl (service name and script
# filled in, the script named once, `interval 1`, the master's address given, the procedures
# shared through procedures.tcl).

set script /etc/init.d/198.18.0.50

# what stopservice returns here: the slave goes back to RECOVER, so that it may take over
# again the next time the master fails
set stopped RECOVER

# startservice, stopservice and reclaimservice, shared with lukretia.tcl
source [file join [file dirname [info script]] procedures.tcl]

failsvc 198.18.0.50 create
failsvc 198.18.0.50 interval 1
failsvc 198.18.0.50 start startservice
failsvc 198.18.0.50 stop stopservice
failsvc 198.18.0.50 reclaim reclaimservice
failsvc 198.18.0.50 masters lukretia

# faild's port, the same on both hosts: PORT of /etc/default/failover, which
# failsh.service and failsh.init pass on to failsh, or the seed's 1291
set port [expr {[info exists ::env(PORT)] ? $::env(PORT) : 1291}]

failhost lukretia address 198.18.0.1
failhost lukretia port $port
failhost lukretia protocol tcp
failhost lukretia community public

failhost localhost port $port
failhost localhost protocol tcp
failhost localhost community genesis
