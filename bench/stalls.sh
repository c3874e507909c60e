#!/bin/bash
# How long this machine leaves a daemon waiting when it should run: the floor under any
# detection time (issue 14, part 3). A detector that declares its master dead after D ms of
# silence takes over falsely whenever the master's host stops running it for more than D ms,
# however the D is split into interval, misses and timeout. So the longest scheduling stall
# seen in a soak bounds from below the fastest setting that can have zero false takeovers.
#
# What it runs: cyclictest (rt-tests), one thread per CPU at the daemons' priority in the
# bench (SCHED_RR 10, memory locked), waking every WAKE_US microseconds for SOAK_S seconds
# while stress-ng saturates every CPU at the default priority (the soak of failover.sh). It
# prints, per CPU and in all, the longest wake-up latency and how many wake-ups were late
# by more than each of THRESHOLDS_MS.
#
#   sudo bench/stalls.sh                    # 600 s, both CPUs saturated
#   sudo SOAK_S=60 bench/stalls.sh
#   sudo STRESS=0 SOAK_S=60 bench/stalls.sh # the idle machine, for comparison
#
# Needs root (real-time priority), rt-tests and stress-ng (installed here when missing).
# Network: none. Every process it starts is killed when it ends, also on failure.
set -u
SOAK_S=${SOAK_S:-600}
WAKE_US=${WAKE_US:-1000}
PRIO=${PRIO:-10}
STRESS=${STRESS:-1}
THRESHOLDS_MS=${THRESHOLDS_MS:-"1 2 5 8 10 15 20 30"}
# The histogram's range (µs); later wake-ups count as overflows, which are above every
# threshold.
RANGE_US=100000

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "stalls.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (real-time priority for cyclictest)"
need=()
command -v cyclictest >/dev/null || need+=(rt-tests)
command -v stress-ng >/dev/null || need+=(stress-ng)
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
		|| die "cannot install ${need[*]}"
fi

# shellcheck source=bench/loopback.sh
. "$here/loopback.sh"
loopback_work stalls

ncpu=$(nproc)
if [ "$STRESS" = 1 ]; then
	for c in $(seq 0 $((ncpu - 1))); do
		taskset -c "$c" stress-ng --cpu 1 --timeout "$((SOAK_S + 5))s" --quiet &
		pids+=($!)
	done
fi
# -S: one thread per CPU, each bound to it; -m: mlockall, as faild -m.
timeout $((SOAK_S + 30)) cyclictest -S -m -q --policy=rr -p "$PRIO" -i "$WAKE_US" \
	-D "${SOAK_S}s" -h "$RANGE_US" >"$work/hist" 2>"$work/err" &
pids+=($!)
wait "${pids[-1]}" || die "cyclictest failed: $(cat "$work/err")"

awk -v thresholds="$THRESHOLDS_MS" -v soak="$SOAK_S" -v stress="$STRESS" -v wake="$WAKE_US" '
	/^[0-9]+/ {
		us = $1 + 0
		for (i = 2; i <= NF; i++) {
			n = $i + 0
			total[i - 1] += n
			for (t = 1; t <= nt; t++) if (us > th[t] * 1000) late[i - 1, t] += n
		}
		next
	}
	/^# Histogram Overflows:/ {
		for (i = 4; i <= NF; i++) { overflow[i - 3] = $i + 0; total[i - 3] += $i + 0 }
		next
	}
	/^# Max Latencies:/ { for (i = 4; i <= NF; i++) { max[i - 3] = $i + 0; ncpu = i - 3 } }
	BEGIN { nt = split(thresholds, th, " ") }
	END {
		printf "%d s, %s, SCHED_RR wake-ups every %d us on each of %d CPUs:\n", soak,
			(stress == 1 ? "every CPU saturated by stress-ng" : "idle"), wake, ncpu
		header = "| CPU | wake-ups | longest (ms) |"
		for (t = 1; t <= nt; t++) header = header sprintf(" > %s ms |", th[t])
		print header
		for (c = 1; c <= ncpu; c++) {
			line = sprintf("| %d | %d | %.1f |", c - 1, total[c], max[c] / 1000)
			for (t = 1; t <= nt; t++) line = line sprintf(" %d |", late[c, t] + overflow[c])
			print line
			all_total += total[c]
			if (max[c] > all_max) all_max = max[c]
			for (t = 1; t <= nt; t++) all_late[t] += late[c, t] + overflow[c]
		}
		line = sprintf("| all | %d | %.1f |", all_total, all_max / 1000)
		for (t = 1; t <= nt; t++) line = line sprintf(" %d |", all_late[t])
		print line
	}' "$work/hist"
