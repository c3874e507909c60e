#!/bin/bash
# Idle resident memory of faild + failsh (issue 14: at most 5 MB together), per runtime, on
# loopback (no root needed): lukretia's and macbeth's faild and failsh with the demo's
# configurations (examples/demo, procedures that only return), polling each other at
# `interval 1`, both set to RECOVER so that lukretia starts and holds the service (UP) and
# macbeth watches as its slave; after SETTLE_S seconds of idling the VmRSS (and PSS, which shares libc among the
# processes that map it) of lukretia's two daemons (and their
# threads) is read from /proc, RUNS times, and the median printed. Then the same with 1,000
# services (lukretia master of all, macbeth slave).
#
#   bench/memory.sh                 # both runtimes, 1 and 1,000 services
#   RUNS=5 SETTLE_S=20 bench/memory.sh
#   FAILOVER_BIN_DIR=target/release bench/memory.sh   # the release build the tests use
#
# Network safety: everything listens and sends on 127.0.0.1 only; every process started is
# killed on exit, also on failure.
set -u
RUNS=${RUNS:-3}
# Past the daemons' second release of the pages the start used (cli/src/resident.rs, SETTLE).
SETTLE_S=${SETTLE_S:-15}
RUNTIMES=${RUNTIMES:-blocking smol}
SERVICES=${SERVICES:-1 1000}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
die() { echo "memory.sh: $*" >&2; exit 1; }
if [ -n "${FAILOVER_BIN_DIR:-}" ]; then
	bindir=$FAILOVER_BIN_DIR
else
	# What the Debian package ships: the dist profile (Cargo.toml).
	echo "building the programs as packaged (cargo build --profile dist)" >&2
	(cd "$repo" && cargo build --profile dist -q -p failover-cli --bins) || die "build failed"
	bindir=$repo/target/dist
fi
# shellcheck source=bench/loopback.sh
. "$here/loopback.sh"
loopback_work memory

# config NODE PEER ROLE LOCAL_PORT PEER_PORT COUNT: a failsh configuration of COUNT services.
config() {
	local node=$1 peer=$2 role=$3 lport=$4 pport=$5 count=$6 i name
	{
		echo 'proc startservice {} { return "UP" }'
		echo 'proc stopservice {} { return "FAIL" }'
		for i in $(seq 1 "$count"); do
			name=$(printf '198.18.%d.%d' $(( i / 250 )) $(( i % 250 + 1 )))
			echo "failsvc $name create"
			echo "failsvc $name interval 1"
			echo "failsvc $name start startservice"
			echo "failsvc $name stop stopservice"
			echo "failsvc $name $role $peer"
		done
		echo "failhost $peer address 127.0.0.1"
		echo "failhost $peer port $pport"
		echo "failhost $peer community public"
		echo "failhost localhost address 127.0.0.1"
		echo "failhost localhost port $lport"
		echo "failhost localhost community genesis"
	} >"$work/$node.tcl"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# Proportional set size: shared pages (libc's code) divided among the processes using them.
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cp "$repo/examples/demo/communities" "$work/communities"
# Each host's daemons from a copy of their own: on a real host nobody else maps faild's or
# failsh's code, so its pages must not be shared with the peer's daemons here (PSS would halve
# them).
for node in lukretia macbeth; do
	mkdir -p "$work/$node-bin"
	cp "$bindir/faild" "$bindir/failsh" "$work/$node-bin/"
done
# The functions cli/build.rs places together (bench/symbol-order.sh): how many of those
# listed the programs still have; a list written before the daemons changed keeps fewer.
for prog in faild failsh; do
	list=$repo/cli/symbol-order/$prog.txt
	[ -f "$list" ] || continue
	have=$(nm --defined-only "$bindir/$prog" 2>/dev/null | awk '{ print $3 }' | LC_ALL=C sort -u |
		LC_ALL=C comm -12 - <(LC_ALL=C sort -u "$list") | wc -l)
	echo "$prog: $have of the $(wc -l <"$list") functions in cli/symbol-order/$prog.txt"
done
printf '%-9s %8s %12s %12s %12s %12s %9s\n' runtime services "faild KiB" "failsh KiB" "total KiB" "total PSS" threads
for runtime in $RUNTIMES; do
	for count in $SERVICES; do
		fa=() fs=() tot=() pss=() th=""
		for run in $(seq 1 "$RUNS"); do
			pl=$(port); pm=$(port)
			config lukretia macbeth slaves "$pl" "$pm" "$count"
			config macbeth lukretia masters "$pm" "$pl" "$count"
			for node in lukretia macbeth; do
				p=$pl; [ $node = macbeth ] && p=$pm
				rm -f "$work/$node.state"
				"$work/$node-bin/faild" -F -a 127.0.0.1 -p "$p" -c "$work/communities" \
					-s "$work/$node.state" --runtime "$runtime" >"$work/$node.faild.log" 2>&1 &
				pids+=($!); eval "${node}_faild=$!"
			done
			sleep 0.3
			for node in lukretia macbeth; do
				p=$pl; [ $node = macbeth ] && p=$pm
				for i in $(seq 1 "$count"); do
					printf '198.18.%d.%d\n' $(( i / 250 )) $(( i % 250 + 1 ))
				done | xargs -P 4 -I{} "$bindir/failc" -H 127.0.0.1 -p "$p" -c genesis -s RECOVER {} ||
					die "failc RECOVER on $node failed"
			done
			for node in lukretia macbeth; do
				"$work/$node-bin/failsh" -F -f "$work/$node.tcl" -m 0 -l "$work/$node.dump" \
					--runtime "$runtime" >"$work/$node.failsh.log" 2>&1 &
				pids+=($!); eval "${node}_failsh=$!"
			done
			sleep "$SETTLE_S"
			# 1,000 starts take longer than SETTLE_S: measured once all are UP (bounded).
			for _ in $(seq 1 90); do
				[ "$(grep -c "RECOVER -> UP" "$work/lukretia.failsh.log")" -ge "$count" ] && break
				sleep 1
			done
			# shellcheck disable=SC2154
			a=$(rss_kib "$lukretia_faild"); b=$(rss_kib "$lukretia_failsh")
			[ -n "$a" ] && [ -n "$b" ] || die "a daemon died (logs in $work; kept)"
			ups=$(grep -c "RECOVER -> UP" "$work/lukretia.failsh.log")
			[ "$ups" -eq "$count" ] || die "lukretia started $ups of $count services"
			fa+=("$a"); fs+=("$b"); tot+=($(( a + b )))
			pss+=($(( $(pss_kib "$lukretia_faild") + $(pss_kib "$lukretia_failsh") )))
			th="$(threads "$lukretia_faild")+$(threads "$lukretia_failsh")"
			for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
			for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
			pids=()
		done
		printf '%-9s %8s %12s %12s %12s %12s %9s\n' "$runtime" "$count" "$(median "${fa[@]}")" \
			"$(median "${fs[@]}")" "$(median "${tot[@]}")" "$(median "${pss[@]}")" "$th"
	done
done
