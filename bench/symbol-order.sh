#!/bin/bash
# Writes cli/symbol-order/faild.txt and failsh.txt: the functions the idle daemons run, which
# the linker then places together at the start of the program's code (cli/build.rs passes them
# to lld as --symbol-ordering-file when building the dist profile, what the Debian package ships).
#
# Why: the kernel maps a program's code 64 KiB at a time around each page used ("fault
# around"), so what an idle daemon keeps resident is the number of 64 KiB windows its loop
# touches, not the size of the code it runs. Scattered over the whole program, failsh's idle
# loop (167 functions, 238 KB of code) touched 21 windows: 1.3 MB resident. Together it needs 4.
# Issue 14: faild + failsh idle at most 5 MB (bench/memory.sh measures it).
#
# How: lukretia's and macbeth's faild and failsh (the dist build, on loopback, one service at
# `interval 1`, lukretia master and UP, macbeth slave) run under valgrind's callgrind on each
# runtime; after the first start the counters are zeroed, PROFILE_S seconds later dumped, and
# every function of the program that ran in between is listed (mangled, as the linker names
# it): the idle loop, and the second release of the startup pages with its thread's end.
# The names carry hashes of the build (its dependencies, the crate's metadata), so the list
# is written from the dist build itself.
# Run it again after changing the daemons: a name that is no longer in the program is skipped
# by the linker (--no-warn-symbol-ordering), so a stale list costs memory, never a build;
# bench/memory.sh prints how many of the listed names the measured programs still have.
#
#   bench/symbol-order.sh                 # needs valgrind (apt-get install valgrind)
#   PROFILE_S=60 bench/symbol-order.sh
#
# Network safety: everything listens and sends on 127.0.0.1 only; every process started is
# killed on exit, also on failure.
set -u
PROFILE_S=${PROFILE_S:-30}
# Past the first start, and before the daemons' second release of their startup pages, 10 s
# after each one starts (cli/src/resident.rs, SETTLE): the release's own code and its
# thread's end run after it and would bring windows back, so they are listed too.
SETTLE_S=${SETTLE_S:-6}
RUNTIMES=${RUNTIMES:-blocking smol}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$repo/cli/symbol-order
die() { echo "symbol-order.sh: $*" >&2; exit 1; }
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	die "valgrind is not installed (apt-get install valgrind)"
if [ -n "${FAILOVER_BIN_DIR:-}" ]; then
	bindir=$FAILOVER_BIN_DIR
else
	echo "building the programs as packaged (cargo build --profile dist)" >&2
	(cd "$repo" && cargo build --profile dist -q -p failover-cli --bins) || die "build failed"
	bindir=$repo/target/dist
fi
# shellcheck source=bench/loopback.sh
. "$here/loopback.sh"
loopback_work symbol-order

# config NODE PEER ROLE LOCAL_PORT PEER_PORT
config() {
	cat >"$work/$1.tcl" <<-EOF
	proc startservice {} { return "UP" }
	proc stopservice {} { return "FAIL" }
	failsvc 198.18.0.50 create
	failsvc 198.18.0.50 interval 1
	failsvc 198.18.0.50 start startservice
	failsvc 198.18.0.50 stop stopservice
	failsvc 198.18.0.50 $3 $2
	failhost $2 address 127.0.0.1
	failhost $2 port $5
	failhost $2 community public
	failhost localhost address 127.0.0.1
	failhost localhost port $4
	failhost localhost community genesis
	EOF
}

# The names of the functions of program $2 that ran, from callgrind output $1. Callgrind
# compresses names: "fn=(12) name" defines number 12, "fn=(12)" refers to it; "ob=" says
# which object (program or library) the functions that follow belong to.
ran_in() {
	awk -v prog="$2" '
		function name(kind, s,   id, rest) {
			id = s; sub(/\).*/, "", id); sub(/^\(/, "", id)
			rest = s; sub(/^\([0-9]+\) ?/, "", rest)
			if (rest != "") names[kind, id] = rest
			return names[kind, id]
		}
		/^c?ob=/ { v = $0; sub(/^c?ob=/, "", v); o = name("ob", v); if ($0 ~ /^ob=/) ob = o }
		/^c?fn=/ { v = $0; sub(/^c?fn=/, "", v); f = name("fn", v)
			if ($0 ~ /^fn=/ && ob ~ ("/" prog "$")) print f }
	' "$1"
}

cp "$repo/examples/demo/communities" "$work/communities"
for runtime in $RUNTIMES; do
	pl=$(port); pm=$(port)
	config lukretia macbeth slaves "$pl" "$pm"
	config macbeth lukretia masters "$pm" "$pl"
	vg=(valgrind --tool=callgrind --demangle=no)
	for node in lukretia macbeth; do
		p=$pl; [ $node = macbeth ] && p=$pm
		"${vg[@]}" --callgrind-out-file="$work/$runtime.$node.faild.out" \
			"$bindir/faild" -F -a 127.0.0.1 -p "$p" -c "$work/communities" \
			-s "$work/$runtime.$node.state" --runtime "$runtime" \
			>"$work/$runtime.$node.faild.log" 2>&1 &
		pids+=($!)
	done
	sleep 1.5
	for node in lukretia macbeth; do
		p=$pl; [ $node = macbeth ] && p=$pm
		"$bindir/failc" -H 127.0.0.1 -p "$p" -c genesis -s RECOVER 198.18.0.50 ||
			die "failc RECOVER on $node failed (logs: $work)"
	done
	for node in lukretia macbeth; do
		"${vg[@]}" --callgrind-out-file="$work/$runtime.$node.failsh.out" \
			"$bindir/failsh" -F -f "$work/$node.tcl" -m 0 -l "$work/$runtime.$node.dump" \
			--runtime "$runtime" >"$work/$runtime.$node.failsh.log" 2>&1 &
		pids+=($!)
	done
	sleep "$SETTLE_S"
	for p in "${pids[@]}"; do callgrind_control -z "$p" >/dev/null 2>&1 || die "callgrind_control -z $p"; done
	echo "$runtime: profiling the idle daemons for $PROFILE_S s" >&2
	sleep "$PROFILE_S"
	for p in "${pids[@]}"; do callgrind_control -d "$p" >/dev/null 2>&1 || die "callgrind_control -d $p"; done
	sleep 1
	grep -q "RECOVER -> UP" "$work/$runtime.lukretia.failsh.log" ||
		{ cat "$work/$runtime.lukretia.failsh.log" >&2; die "lukretia did not start the service ($runtime)"; }
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
done

mkdir -p "$out"
for prog in faild failsh; do
	# Only the dumps taken after zeroing (file.out.1, .2, ...): the start is not idle.
	for f in "$work"/*."$prog".out.*; do
		[ -s "$f" ] && ran_in "$f" "$prog"
	done | LC_ALL=C sort -u >"$work/$prog.txt"
	count=$(wc -l <"$work/$prog.txt")
	[ "$count" -gt 20 ] || die "only $count functions of $prog ran: is this a build with symbols?"
	# Only names the program has (the linker's own names, not callgrind's "0x..." for code
	# without a symbol).
	nm --defined-only "$bindir/$prog" | awk '{ print $3 }' | LC_ALL=C sort -u >"$work/$prog.syms"
	LC_ALL=C comm -12 "$work/$prog.txt" "$work/$prog.syms" >"$out/$prog.txt"
	echo "$prog: $(wc -l <"$out/$prog.txt") functions ran idle ($count names seen) -> $out/$prog.txt" >&2
done
