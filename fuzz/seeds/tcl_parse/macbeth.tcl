# IP Address failover on host macbeth (the slave)

# that startservice procedure starts the IP address on the virtual
# interface
proc	startservice {} {
	exec /etc/init.d/198.18.0.50 up
	return "UP"
}

# the giveip procedure stops the IP service on the interface eth0:1
proc	stopservice {} {
	exec /etc/init.d/198.18.0.50 down
	return "RECOVER"
}

# the recoverservice procedure recovers from a spurious slave
proc    reclaimservice {} {
        exec /etc/init.d/198.18.0.50 reclaim
        return "UP"
}

failsvc 198.18.0.50 create
failsvc 198.18.0.50 interval 5
failsvc 198.18.0.50 start startservice
failsvc 198.18.0.50 stop stopservice
failsvc 198.18.0.50 reclaim reclaimservice
failsvc 198.18.0.50 masters lukretia

failhost lukretia port 1291
failhost lukretia protocol tcp
failhost lukretia community public

failhost localhost port 1291
failhost localhost protocol tcp
failhost localhost community genesis
