# The procedures lukretia-fast.tcl and macbeth-fast.tcl share: /etc/failover/procedures-fast.tcl,
# read by `source` from the host's file, which sets `interface`, `addresses`, the grarp
# rounds and `stopped` first. They move the addresses with failsh's built-in `ipaddr`
# (rtnetlink) and announce them with the built-in `grarp`.

# configures every address on the interface (the label keeps `ip addr` output readable)
proc address_up {} {
	global interface addresses
	foreach a $addresses {
		if {[string first : $a] >= 0} {
			# IPv6: added without duplicate address detection (nodad), usable at once
			ipaddr add $a dev $interface
		} else {
			ipaddr add $a dev $interface label $interface:1
		}
	}
	announce
}

# removes every address (`ipaddr del` returns 0 for one that is not configured: already
# what we want)
proc address_down {} {
	global interface addresses
	foreach a $addresses {
		ipaddr del $a dev $interface
	}
}

# announces every address, one round for all addresses at a time, so that a second address
# is not held back by the first one's whole burst; a failed announcement does not fail the
# procedure: the address is up, and clients find it when their neighbour entries expire
proc announce {} {
	global interface addresses grarp_rounds grarp_interval_ms
	for {set round 0} {$round < $grarp_rounds} {incr round} {
		if {$round > 0} {
			after $grarp_interval_ms
		}
		foreach a $addresses {
			set host [lindex [split $a /] 0]
			if {[catch {grarp -c 1 $interface $host} msg]} {
				puts stderr "grarp $interface $host failed (the address is up nevertheless): $msg"
			}
		}
	}
}

# the startservice procedure starts the IP address on the virtual interface
proc	startservice {} {
	address_up
	return "UP"
}

# the stopservice procedure stops the IP service on the virtual interface and returns what
# the host's file set: FAIL on the master, RECOVER on the slave (so that it may take over
# again the next time the master fails)
proc	stopservice {} {
	global stopped
	address_down
	return $stopped
}

# the reclaimservice procedure recovers from a spurious slave
proc    reclaimservice {} {
	announce
	return "UP"
}
