#!/bin/sh
# faild under mixed abuse on loopback, for each runtime: its resident memory before, every
# minute during and after `seconds` of abuse, and the time an authenticated TCP query takes
# meanwhile (issue 12.1: memory must stay bounded and pollers must be answered).
#
#   bench/faild_abuse.sh [seconds] [report_seconds] [runtimes]
#
# Defaults: 600 s of abuse, a report every 60 s, both runtimes ("smol blocking"). The abuse
# (tests/src/bin/faild-abuse.rs): 348 slow TCP connections from 25 loopback sources (the
# issue's 60000-byte prefix trickled every 10 s, a 1000-byte prefix trickled every 200 ms,
# silent ones, each reopened 200 ms after faild closes it), and every second 300 garbage
# datagrams, 300 queries under unknown communities, 300 queries asking for a challenge and
# 30 TCP sessions that authenticate (FAILD_ABUSE_OPTS=--large-frames: and then send a
# 60000-byte garbage frame, as only an authenticated client may). Traffic goes to
# 127.0.0.0/8 only. Builds release binaries first. Numbers are reported, never asserted.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
report=${2:-60}
runtimes=${3:-smol blocking}
cargo build --release --quiet -p failover-cli --bin faild --bin failc
cargo build --release --quiet -p failover-tests --bin faild-abuse
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pid=0
trap 'if [ "$pid" != 0 ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
printf '* public RW 127.0.0.1/32\n* public RO\n' >"$work/communities"

for runtime in $runtimes; do
	# Port 0: faild takes a free UDP port and the same number for TCP, which a client's
	# TCP connection may hold by chance; then it says so and exits, and we try again.
	port=
	for _ in 1 2 3 4 5; do
		rm -f "$work/state" "$work/state.lock" "$work/log"
		"$target/faild" -F -a 127.0.0.1 -p 0 --runtime "$runtime" -c "$work/communities" \
			-s "$work/state" 2>"$work/log" &
		pid=$!
		for _ in $(seq 100); do
			port=$(sed -n 's/.*listening on udp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log")
			[ -n "$port" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		[ -n "$port" ] && break
		wait "$pid" 2>/dev/null || true
		pid=0
	done
	[ -n "$port" ] || { cat "$work/log"; exit 1; }
	"$target/failc" -p "$port" -s UP svc
	sleep 1
	echo "== faild $runtime (pid $pid), $seconds s of abuse"
	# shellcheck disable=SC2086
	"$target/faild-abuse" --pid "$pid" --seconds "$seconds" --report "$report" \
		${FAILD_ABUSE_OPTS:-} "127.0.0.1:$port"
	echo "faild log: $(wc -l <"$work/log") lines, of which $(grep -c 'to make room' "$work/log" || true) TCP abuse summaries and $(grep -c 'refused' "$work/log" || true) about refused requests"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=0
done
