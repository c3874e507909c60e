#!/bin/sh
# faild benchmarks on loopback: UDP queries per second for each runtime (median of 5 runs of
# a one-thread load generator with 64 requests in flight), and faild's idle resident memory.
#
#   bench/faild_udp.sh [seconds_per_run] [runs]
#
# Builds release binaries first. Traffic goes to 127.0.0.1 only. Numbers are reported, never
# asserted. On a 2-core machine faild and the load generator share the cores, so the
# figure is a lower bound of what faild serves on one core.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-3}
runs=${2:-5}
cargo build --release --quiet -p failover-cli --bin faild
cargo build --release --quiet -p failover-runtime-blocking --example faild_udp_load
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap '[ "$pid" = 0 ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=0
printf '* public RW 127.0.0.1/32\n' >"$work/communities"

for runtime in smol blocking; do
	rm -f "$work/state" "$work/log"
	"$target/faild" -F -a 127.0.0.1 -p 0 --runtime "$runtime" -c "$work/communities" \
		-s "$work/state" 2>"$work/log" &
	pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on udp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log")
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { cat "$work/log"; exit 1; }
	sleep 1
	idle_rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
	results=
	for _ in $(seq "$runs"); do
		results="$results $("$target/examples/faild_udp_load" "127.0.0.1:$port" "$seconds" 64)"
	done
	median=$(echo $results | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	loaded_rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
	echo "faild $runtime: UDP queries/s median $median (runs:$results); VmRSS idle ${idle_rss} KiB, after load ${loaded_rss} KiB"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=0
done
