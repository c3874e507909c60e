# IP address failover on host lukretia (the master): the seed's configuration for the demo.
# faildemo fills in the @...@ words: the service script, the addresses and the ports of this
# demo's daemons. The "address" 198.18.0.50 is a file, see service.sh.

set script "@SCRIPT@"

# the startservice procedure starts the IP address on the virtual interface
proc	startservice {} {
	global script
	exec /bin/sh $script up
	return "UP"
}

# the stopservice procedure stops the IP service on the virtual interface
proc	stopservice {} {
	global script
	exec /bin/sh $script down
	return "FAIL"
}

# the reclaimservice procedure recovers from a spurious slave
proc    reclaimservice {} {
	global script
	exec /bin/sh $script reclaim
	return "UP"
}

failsvc 198.18.0.50 create
failsvc 198.18.0.50 interval @INTERVAL@
failsvc 198.18.0.50 start startservice
failsvc 198.18.0.50 stop stopservice
failsvc 198.18.0.50 reclaim reclaimservice
failsvc 198.18.0.50 slaves macbeth

failhost macbeth address @MACBETH_ADDRESS@
failhost macbeth port @MACBETH_PORT@
failhost macbeth protocol tcp
failhost macbeth community public

failhost localhost address @LUKRETIA_ADDRESS@
failhost localhost port @LUKRETIA_PORT@
failhost localhost protocol tcp
failhost localhost community genesis
