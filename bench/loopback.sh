# Sourced by the loopback benchmarks (memory.sh, stalls.sh, symbol-order.sh): a work
# directory, the processes they start, removed and killed on every exit, also on failure,
# and free loopback ports. Needs `die` defined first.

# loopback_work NAME: sets $work to a new directory /tmp/failover-NAME.XXXXXX and $pids
# (append every process started) and cleans both up on exit.
loopback_work() {
	work=$(mktemp -d "/tmp/failover-$1.XXXXXX")
	pids=()
	trap loopback_cleanup EXIT
	trap 'exit 130' INT TERM
}

loopback_cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}

# A free TCP+UDP port on loopback (bounded tries).
port() {
	local p
	for _ in $(seq 1 50); do
		p=$(( 20000 + RANDOM % 20000 ))
		if ! ss -ltnu 2>/dev/null | grep -q ":$p "; then echo $p; return; fi
	done
	die "no free port"
}
