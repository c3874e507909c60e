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

# announces every address: the first round of each now, the rest of each burst in the
# background (`grarp -b`, which stops once the address is removed), so that the start
# returns as soon as the addresses are announced: its UP is confirmed at once, and the old
# holder resets its clients' connections then (`failsvc S reset`); a failed announcement
# does not fail the procedure: the address is up, and clients find it when their neighbour
# entries expire
proc announce {} {
	global interface addresses grarp_rounds grarp_interval_ms
	foreach a $addresses {
		set host [lindex [split $a /] 0]
		if {[catch {grarp -b -c $grarp_rounds -i $grarp_interval_ms $interface $host} msg]} {
			puts stderr "grarp $interface $host failed (the address is up nevertheless): $msg"
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
