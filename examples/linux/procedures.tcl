# The procedures lukretia.tcl and macbeth.tcl share: /etc/failover/procedures.tcl, read by
# `source` from the host's file (which sets `script` and `stopped` first). The host files
# keep what differs: the role, the peer and what a stop leaves behind.

# the startservice procedure starts the IP address on the virtual interface
proc	startservice {} {
	global script
	exec $script up
	return "UP"
}

# the stopservice procedure stops the IP service on the virtual interface and returns what
# the host's file set: FAIL on the master, RECOVER on the slave (so that it may take over
# again the next time the master fails)
proc	stopservice {} {
	global script stopped
	exec $script down
	return $stopped
}

# the reclaimservice procedure recovers from a spurious slave
proc    reclaimservice {} {
	global script
	exec $script reclaim
	return "UP"
}
