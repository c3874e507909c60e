# IP address failover on host macbeth (the slave): the seed's configuration for the demo.
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
	return "RECOVER"
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
failsvc 198.18.0.50 masters lukretia

failhost lukretia address @LUKRETIA_ADDRESS@
failhost lukretia port @LUKRETIA_PORT@
failhost lukretia protocol tcp
failhost lukretia community public

failhost localhost address @MACBETH_ADDRESS@
failhost localhost port @MACBETH_PORT@
failhost localhost protocol tcp
failhost localhost community genesis
