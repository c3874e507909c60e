#!/bin/bash
# Failover outage benchmark on the network-namespace bed of tests/src/netns.rs:
# a switch namespace with a bridge, lukretia (198.18.0.1, master), macbeth (198.18.0.2,
# slave) and a client (198.18.0.100) probing the failover address 198.18.0.50 every 10 ms
# (vip-probe: an ICMP echo every 10 ms on an exact schedule). The outage of one run is the
# longest gap between two answered probes.
#
# Systems: failover (the real faild+failsh with examples/linux, at `interval 1` and at
# $FAST), keepalived (VRRP, advert 1 s and $KEEPALIVED_FAST), ucarp (advbase 1 s, its
# minimum). Scenarios (one fault each):
#   cut       lukretia's link is cut on the switch (its carrier goes down: host death as the
#             others see it)
#   cutback   the same, then the link returns: the outage and dual holding after the return
#   partition lukretia and macbeth cannot reach each other (bridge port isolation, carriers
#             up), both take the address; then it heals: outage and dual holding after the heal
#   kill      SIGKILL of the master's faild and failsh (failover's supervisor cleans up)
#   killall   SIGKILL of every process of the master (daemons and supervisor): nothing is
#             left to take the address down but a kernel lease
#   hang      SIGSTOP of the master's failsh (keepalived, ucarp: of the daemon)
#   term      SIGTERM of the master's daemon: clean handover
# Per run: the outage (the client's longest gap between answered 10 ms probes, after the
# fault, or after the heal for cutback and partition), what a browser saw in the same window
# (http-keepalive: one keep-alive connection to http-answer on the address in both hosts, a
# GET every 10 ms, each given 200 ms: its longest gap between answers and its failed
# requests), and the longest time both hosts held
# the address (from `ip -ts monitor address` in both namespaces, to the microsecond, in the
# same window; a stretch still open when the run ends counts up to then and is marked).
# Then a soak at the fastest failover setting with lukretia's CPUs saturated (stress-ng),
# counting false takeovers (macbeth bringing the address up while lukretia is healthy).
#
#   sudo bench/failover.sh                 # everything: 10 runs each, 600 s soak
#   RUNS=3 SOAK_S=60 bench/failover.sh     # a reduced run
#   SYSTEMS="failover" SCENARIOS="cut" bench/failover.sh
#
# Settings (environment):
#   RUNS (10), SOAK_S (600; 0 skips the soak), SYSTEMS ("failover keepalived ucarp"),
#   SCENARIOS ("cut cutback partition kill killall hang term"), SETTINGS ("slow fast":
#   interval 1 and/or the fast setting).
#   FAST (0.005), MISSES (4), TIMEOUT (0.005; "" = the interval): the fast failover setting,
#     i.e. `failsvc S interval $FAST`, `misses $MISSES`, `timeout $TIMEOUT`. The slow setting
#     is `interval 1` (misses 1, timeout = interval).
#   FAST_CONFIG (fast), SLOW_CONFIG (fast): the configurations of each setting: "fast" is
#     lukretia-fast.tcl and macbeth-fast.tcl (procedures with the built-in ipaddr and grarp,
#     `track eth0`, `lease 1`) with the setting's timing, "script" the examples'
#     lukretia.tcl and macbeth.tcl (procedures that run the service script; no track, no
#     lease).
#   PRIO ("chrt -r 10"): command prefix that starts the daemons of every system (faild,
#     failsh, keepalived, ucarp) with a higher CPU priority, as docs/deploy.md advises;
#     "" runs them at the default priority. FAILD_OPTS ("-m"): extra faild options.
#   MON_PRIO ("chrt -r 20"): the priority of the address monitors, above the daemons'.
#   KEEPALIVED_FAST (0.01): keepalived's fast advert_int (VRRPv3, centiseconds).
#   SOAK_SYSTEMS ("failover"; add keepalived for its soak at KEEPALIVED_FAST).
#   WITNESS (""): "1" adds a fourth namespace, dunsinane (198.18.0.3), running only faild,
#     as the witness of the service (`failsvc S witness dunsinane`, docs/design.md "Quorum
#     with a witness"); failover's labels then end in "+witness". The silent partition
#     (bridge port isolation of lukretia and macbeth) leaves the witness reaching both: with
#     a witness nothing moves, so that fault is measured over the whole partition
#     (WITNESS_HOLD_S, 8) and its heal instead of from the heal only.
#   KEEP_WORK: set to keep the work directory (configurations and logs of the last setting).
#   FAILOVER_BIN_DIR: use the programs there; unset, the script builds the release ones
#     (cargo build --release -p failover-cli --bins) and uses target/release.
#
# Network safety: everything happens inside namespaces fo-bench-<pid>-* created here, with
# 198.18.0.0/24 only; nothing is added to the root namespace; a trap kills every process in
# the namespaces and deletes them on any exit. Every wait is bounded.
# Needs root, iproute2, iputils-ping, and for the comparison keepalived, ucarp, stress-ng
# (Debian packages of those names).
set -u

RUNS=${RUNS:-10}
SOAK_S=${SOAK_S:-600}
FAST=${FAST:-0.005}
MISSES=${MISSES:-4}
TIMEOUT=${TIMEOUT-0.005}
FAST_CONFIG=${FAST_CONFIG:-fast}
PRIO=${PRIO-chrt -r 10}
FAILD_OPTS=${FAILD_OPTS--m}
KEEPALIVED_FAST=${KEEPALIVED_FAST:-0.01}
SYSTEMS=${SYSTEMS:-failover keepalived ucarp}
SCENARIOS=${SCENARIOS:-cut cutback partition kill killall hang term}
SLOW_CONFIG=${SLOW_CONFIG:-fast}
MON_PRIO=${MON_PRIO-chrt -r 20}
SETTINGS=${SETTINGS:-slow fast}
SOAK_SYSTEMS=${SOAK_SYSTEMS:-failover}
WITNESS=${WITNESS:-}
WITNESS_HOLD_S=${WITNESS_HOLD_S:-8}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
examples=$repo/examples/linux
service=198.18.0.50
vip=198.18.0.50

die() { echo "failover.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip ping awk; do command -v $t >/dev/null || die "missing $t (apt-get install iproute2 iputils-ping)"; done

# Release binaries: debug ones are several times slower at starting a procedure and answering
# a poll, which shows in the outage and under CPU saturation. cargo rebuilds only what changed.
if [ -n "${FAILOVER_BIN_DIR:-}" ]; then
	bindir=$FAILOVER_BIN_DIR
else
	echo "building the release programs (cargo build --release -p failover-cli --bins; vip-probe, http-answer, http-keepalive)" >&2
	(cd "$repo" && cargo build --release -q -p failover-cli --bins && cargo build --release -q -p failover-tests --bins) || die "build failed"
	bindir=$repo/target/release
fi
[ -x "$bindir/failsh" ] && [ -x "$bindir/faild" ] || die "no faild/failsh in $bindir"
for tool in vip-probe http-answer http-keepalive; do
	[ -x "$bindir/$tool" ] || die "no $tool in $bindir (cargo build --release -p failover-tests --bins)"
done
# shellcheck disable=SC2086
[ -z "$PRIO" ] || $PRIO true || die "PRIO=\"$PRIO\" does not work here"

base=fo-bench-$$
sw=$base-sw; lu=$base-lu; ma=$base-ma; cl=$base-cl; wi=$base-wi
work=$(mktemp -d "/tmp/$base.XXXX")

nspids() { ip netns pids "$1" 2>/dev/null; }
killns() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(nspids "$1")
		[ -z "$p" ] && return
		# shellcheck disable=SC2086
		kill -KILL $p 2>/dev/null
		sleep 0.05
	done
}
cleanup() {
	for ns in $lu $ma $cl $wi $sw; do killns "$ns"; ip netns del "$ns" 2>/dev/null; done
	if [ -n "${KEEP_WORK:-}" ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of a crashed earlier run (namespaces whose pid is gone).
for ns in $(ip netns list | awk '{print $1}' | grep '^fo-bench-'); do
	pid=${ns#fo-bench-}; pid=${pid%%-*}
	if [ ! -d "/proc/$pid" ]; then killns "$ns"; ip netns del "$ns"; fi
done

# ---- the bed ----
ip netns add $sw
ip -n $sw link set lo up
ip -n $sw link add br0 type bridge
ip -n $sw link set br0 type bridge stp_state 0 forward_delay 0
ip -n $sw link set br0 up
mk_host() { # ns port mac addr
	ip netns add "$1"
	ip -n $sw link add "$2" type veth peer name eth0 netns "$1"
	ip -n $sw link set "$2" master br0
	ip -n $sw link set "$2" up
	ip -n "$1" link set eth0 address "$3"
	ip -n "$1" link set lo up
	ip -n "$1" addr add "$4/24" dev eth0
	ip -n "$1" link set eth0 up
}
mk_host $lu lu0 02:fa:00:00:01:01 198.18.0.1
mk_host $ma ma0 02:fa:00:00:01:02 198.18.0.2
mk_host $cl cl0 02:fa:00:00:01:64 198.18.0.100
[ -n "$WITNESS" ] && mk_host $wi wi0 02:fa:00:00:01:03 198.18.0.3
mac_lu=02:fa:00:00:01:01
mac_ma=02:fa:00:00:01:02

holds() { ip -n "$1" -o addr show dev eth0 to $vip | grep -q .; }
# wait_until SECONDS COMMAND...: polls every 10 ms, bounded.
wait_until() {
	local limit=$1; shift
	local end=$(( $(date +%s%N) + ${limit%.*} * 1000000000 ))
	until "$@"; do
		[ "$(date +%s%N)" -gt $end ] && return 1
		sleep 0.01
	done
}
only_lu() { holds $lu && ! holds $ma; }
only_ma() { holds $ma && ! holds $lu; }
ma_holds() { holds $ma; }
client_ok() { ip netns exec $cl ping -n -q -c 1 -W 0.2 $vip >/dev/null 2>&1; }

stop_all() {
	killns $lu; killns $ma
	for ns in $lu $ma; do ip -n "$ns" addr del $vip/24 dev eth0 2>/dev/null; done
	ip -n $cl neigh flush dev eth0 2>/dev/null
	ip -n $sw link set lu0 up
	if [ -n "${KEEP_WORK:-}" ] && [ -d "$work/lukretia" ]; then
		local old
		old=$work/old.$(date +%s%N)
		mkdir -p "$old"; mv "$work/lukretia" "$work/macbeth" "$old/" 2>/dev/null
	fi
	rm -rf "$work/lukretia" "$work/macbeth"
	if [ -n "$WITNESS" ]; then killns $wi; rm -rf "$work/dunsinane"; fi
}

# The witness: faild only, with the example communities (the pair's `public` reads).
wi_start() {
	local d=$work/dunsinane
	mkdir -p "$d"
	cp "$examples/communities" "$d/"
	# shellcheck disable=SC2086
	ip netns exec $wi $PRIO "$bindir/faild" -F -p 1291 -c "$d/communities" -s "$d/faild.state" \
		$FAILD_OPTS >"$d/faild.log" 2>&1 &
	disown $!
	wait_until 10 wi_listens || die "the witness's faild does not start"
}
wi_listens() { ip netns exec $wi ss -ltn 2>/dev/null | grep -q ':1291 '; }

# ---- failover (faild + failsh with the example scripts) ----
fo_configure() { # interval [misses [timeout [script|fast]]]
	local extra=""
	[ -n "${2:-}" ] && extra="failsvc $service misses $2\n"
	[ -n "${3:-}" ] && extra="${extra}failsvc $service timeout $3\n"
	for node in lukretia macbeth; do
		d=$work/$node
		mkdir -p "$d/etc" "$d/var" "$d/run" "$d/log"
		cat >"$d/failover.default" <<-EOF
		NODE=$node
		SBINDIR=$bindir
		BINDIR=$bindir
		ETCDIR=$d/etc
		VARDIR=$d/var
		RUNDIR=$d/run
		LOGDIR=$d/log
		LOGTO=file
		SERVICES="$service"
		SERVICEDIR=$examples
		INTERFACE=eth0
		GRARP_OPTS="-c 3 -i 100"
		FAILSH_OPTS="-l $d/run/failsh.dump"
		FAILD_OPTS="$FAILD_OPTS"
		EOF
		cp "$examples/communities" "$d/etc/"
		if [ "${4:-script}" = fast ]; then
			# The fast example: its own interval, misses and timeout lines get ours.
			sed -e "s|^failsvc $service interval .*|failsvc $service interval $1|" \
				-e "s|^failsvc $service misses .*|failsvc $service misses ${2:-1}|" \
				-e "s|^failsvc $service timeout .*|failsvc $service timeout ${3:-$1}|" \
				"$examples/$node-fast.tcl" >"$d/etc/$node.tcl"
			cp "$examples/procedures-fast.tcl" "$d/etc/"
		else
			sed -e "s|^set script /etc/init.d/$service|set script $examples/$service|" \
				-e "s|^failsvc $service interval 1\$|failsvc $service interval $1\n$extra|" \
				"$examples/$node.tcl" >"$d/etc/$node.tcl"
			cp "$examples/procedures.tcl" "$d/etc/"
		fi
		grep -q "^failsvc $service interval $1\$" "$d/etc/$node.tcl" || die "$d/etc/$node.tcl: no \"failsvc $service interval $1\" line"
		if [ -n "$WITNESS" ]; then
			cat >>"$d/etc/$node.tcl" <<-EOF
			failsvc $service lease 1
			failsvc $service witness dunsinane
			failhost dunsinane address 198.18.0.3
			failhost dunsinane community public
			failhost localhost name $node
			EOF
		fi
	done
}
fo_run() { # ns node script action
	# shellcheck disable=SC2086
	FAILOVER_DEFAULTS=$work/$2/failover.default ip netns exec "$1" $PRIO sh "$examples/$3" "$4" >>"$work/$2/log/scripts.log" 2>&1
}
fo_boot() { # ns node
	fo_run "$1" "$2" faild.init start && fo_run "$1" "$2" $service start && fo_run "$1" "$2" failsh.init start
}
fo_start() { # interval [misses [timeout [script|fast]]]
	fo_configure "$@"
	if [ -n "$WITNESS" ]; then wi_start; fi
	fo_boot $lu lukretia || die "lukretia does not boot"
	wait_until 15 only_lu || die "lukretia does not take the address"
	fo_boot $ma macbeth || die "macbeth does not boot"
}
fo_pid() { cat "$work/$1/run/$2.pid" 2>/dev/null; }
fo_event() { # scenario
	case $1 in
	kill)	kill -KILL "$(fo_pid lukretia failsh)" "$(fo_pid lukretia faild)";;
	killall) killhost;;
	hang)	kill -STOP "$(fo_pid lukretia failsh)";;
	term)	kill -TERM "$(fo_pid lukretia failsh)";;
	*)	common_event "$1";;
	esac
}
fo_restore() { # scenario
	case $1 in
	kill|killall) killns $lu; ip -n $lu addr del $vip/24 dev eth0 2>/dev/null; fo_boot $lu lukretia;;
	# The lease ran out in faild (FAIL, "lease expired"): the operator's recover.
	hang)	kill -CONT "$(fo_pid lukretia failsh)"; fo_run $lu lukretia $service recover;;
	term)	fo_run $lu lukretia $service recover; fo_run $lu lukretia failsh.init start;;
	*)	common_restore "$1";;
	esac
}
# Faults of the network, the same for every system.
common_event() {
	case $1 in
	cut|cutback) ip -n $sw link set lu0 down;;
	partition) isolate on;;
	esac
}
common_heal() {
	case $1 in
	cutback) ip -n $sw link set lu0 up;;
	partition) isolate off;;
	esac
}
common_restore() {
	case $1 in
	cut|cutback) ip -n $sw link set lu0 up;;
	partition) isolate off;;
	esac
}
# Both bridge ports isolated: lukretia and macbeth cannot reach each other, the client
# reaches both, every carrier stays up (a silent partition).
isolate() {
	ip netns exec $sw bridge link set dev lu0 isolated "$1"
	ip netns exec $sw bridge link set dev ma0 isolated "$1"
}
# SIGKILL of every process of lukretia's but the address monitor (`ip -n` enters the
# namespace): the daemons and whatever supervises them, at once.
# One kill for all of them, with no fork in between: a supervisor that outlives its child by
# a few milliseconds (keepalived's parent, failsh.init's shell) would clean up after it.
killhost() {
	local p c pids=""
	for p in $(nspids $lu); do
		c=""; read -r c <"/proc/$p/comm" 2>/dev/null
		[ "$c" = ip ] || pids="$pids $p"
	done
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
}
# Every process of lukretia's namespace called $1.
signal_comm() { # signal comm
	local p
	for p in $(nspids $lu); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && kill "-$1" "$p"
	done
}

# ---- keepalived ----
ka_start() { # advert version
	for node in lukretia macbeth; do
		d=$work/$node; mkdir -p "$d"
		if [ $node = lukretia ]; then st=MASTER; pr=150; ns=$lu; else st=BACKUP; pr=100; ns=$ma; fi
		sed -e "s/@NODE@/$node/" -e "s/@STATE@/$st/" -e "s/@PRIORITY@/$pr/" \
			-e "s/@ADVERT@/$1/" -e "s/@VERSION@/$2/" \
			"$here/keepalived/keepalived.conf.in" >"$d/keepalived.conf"
		ip netns exec $ns $PRIO keepalived --vrrp --dont-fork --log-console --use-file="$d/keepalived.conf" \
			--pid="$d/keepalived.pid" --vrrp_pid="$d/vrrp.pid" >"$d/keepalived.log" 2>&1 &
		disown $!
		[ $node = lukretia ] && { wait_until 15 only_lu || die "keepalived: lukretia does not take the address"; }
	done
	sleep 2
}
ka_event() {
	case $1 in
	kill|killall) killhost;;
	# Every keepalived process of lukretia's namespace (by id): its pid file can be missing
	# for a moment after a restart.
	hang)	signal_comm STOP keepalived;;
	term)	signal_comm TERM keepalived;;
	*)	common_event "$1";;
	esac
}
ka_restore() { # scenario advert version
	case $1 in
	hang)	signal_comm CONT keepalived;;
	kill|killall|term)
		killns $lu
		ip -n $lu addr del $vip/24 dev eth0 2>/dev/null
		# A SIGKILLed keepalived leaves its pid files; a new one that finds them may say
		# "daemon is already running" and exit.
		rm -f "$work/lukretia/keepalived.pid" "$work/lukretia/vrrp.pid"
		ip netns exec $lu $PRIO keepalived --vrrp --dont-fork --log-console --use-file="$work/lukretia/keepalived.conf" \
			--pid="$work/lukretia/keepalived.pid" --vrrp_pid="$work/lukretia/vrrp.pid" >>"$work/lukretia/keepalived.log" 2>&1 &
		disown $!
		;;
	*)	common_restore "$1";;
	esac
}

# ---- ucarp ----
uc_start_one() { # ns node srcip skew
	ip netns exec "$1" $PRIO ucarp -i eth0 -s "$3" -v 50 -p benchsecret -a $vip -b 1 -k "$4" -P -z -n \
		-u "$here/ucarp/vip-up.sh" -d "$here/ucarp/vip-down.sh" >"$work/$2.ucarp.log" 2>&1 &
	echo $! >"$work/$2.ucarp.pid"
	disown $!
}
uc_start() {
	uc_start_one $lu lukretia 198.18.0.1 0
	wait_until 15 only_lu || die "ucarp: lukretia does not take the address"
	uc_start_one $ma macbeth 198.18.0.2 10
	sleep 3
}
uc_event() {
	case $1 in
	kill|killall) killhost;;
	hang)	kill -STOP "$(cat "$work/lukretia.ucarp.pid")";;
	term)	kill -TERM "$(cat "$work/lukretia.ucarp.pid")";;
	*)	common_event "$1";;
	esac
}
uc_restore() {
	case $1 in
	hang)	kill -CONT "$(cat "$work/lukretia.ucarp.pid")";;
	kill|killall|term)
		killns $lu
		ip -n $lu addr del $vip/24 dev eth0 2>/dev/null
		uc_start_one $lu lukretia 198.18.0.1 0;;
	*)	common_restore "$1";;
	esac
}

# The function prefix of a system.
prefix() { case $1 in failover) echo fo;; keepalived) echo ka;; ucarp) echo uc;; esac; }

# ---- one measurement ----
now_s() { date +%s.%N; }
# Longest gap (ms) between answered probes in vip-probe's output ("answer SEQ UNIX_TIME")
# that ends after FROM (unix seconds): the outage the fault (or the heal) caused.
longest_gap() { # file from
	awk -v from="$2" '$1 == "answer" { t = $3
		if (n++ && t > from && (t - last) * 1000 > max) max = (t - last) * 1000
		last = t }
		END { if (n < 2) print "NA"; else printf "%.0f\n", max }' "$1"
}
# Longest stretch (ms) in which both hosts held the address between FROM and END (unix
# seconds), from the `ip -ts monitor address` logs of both namespaces (UTC timestamps; an
# address renewal is an add line too) and who held it when the monitors started. Prints
# "MS OPEN": OPEN is "open" when both still held it at END.
longest_dual() { # lu.log ma.log lu_initial ma_initial from end
	awk -v vip="inet $vip/" -v l0="$3" -v m0="$4" -v from="$5" -v end="$6" '
	function days(y, m, d) { # days from civil (1970-01-01 = 0)
		y -= (m <= 2); era = int(y / 400); yoe = y - era * 400
		doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
		doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
		return era * 146097 + doe - 719468 }
	function unix(ts,   p) { # [2026-12-06T20:10:43.468839]
		gsub(/[\[\]]/, "", ts); split(ts, p, /[-T:]/)
		return days(p[1] + 0, p[2] + 0, p[3] + 0) * 86400 + p[4] * 3600 + p[5] * 60 + p[6] }
	index($0, vip) && $1 ~ /^\[/ { n++; t[n] = unix($1); h[n] = FILENAME; add[n] = ($2 != "Deleted") }
	END {
		# sort by time (insertion sort: few events)
		for (i = 2; i <= n; i++) { j = i
			while (j > 1 && t[j - 1] > t[j]) {
				x = t[j]; t[j] = t[j - 1]; t[j - 1] = x; x = h[j]; h[j] = h[j - 1]; h[j - 1] = x
				x = add[j]; add[j] = add[j - 1]; add[j - 1] = x; j-- } }
		lu = l0; ma = m0; since = (lu && ma) ? from : -1; max = 0
		for (i = 1; i <= n; i++) {
			if (h[i] == ARGV[1]) lu = add[i]; else ma = add[i]
			both = lu && ma
			if (both && since < 0) since = t[i]
			if (!both && since >= 0) { s = (since > from ? since : from); e = t[i]
				if (e > from && (e - s) * 1000 > max) max = (e - s) * 1000; since = -1 } }
		open = "closed"
		if (since >= 0) { s = (since > from ? since : from)
			if ((end - s) * 1000 > max) max = (end - s) * 1000; open = "open" }
		printf "%.0f %s\n", max, open }' "$1" "$2"
}

# Failed requests of http-keepalive's output ("failed SEQ UNIX_TIME WHY") after FROM.
failed_requests() { # file from
	awk -v from="$2" '$1 == "failed" && $3 > from { n++ } END { print n + 0 }' "$1"
}
# The web server on the address: http-answer on port 8080 of both hosts (started again after
# stop_all has killed everything in their namespaces).
web_up() {
	local ns
	for ns in $lu $ma; do
		ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q ':8080 ' && continue
		ip netns exec "$ns" "$bindir/http-answer" -w 7200 8080 "$ns" >/dev/null 2>&1 &
	done
	wait_until 5 web_listening || die "http-answer does not listen"
}
web_listening() {
	ip netns exec $lu ss -ltn 2>/dev/null | grep -q ':8080 ' && ip netns exec $ma ss -ltn 2>/dev/null | grep -q ':8080 '
}

# measure SYSTEM SCENARIO: prints "gap_ms dual_ms open http_gap_ms http_failed", or "NA NA NA
# NA NA" if the run did not start from lukretia alone or macbeth never took over within 20 s.
measure() {
	local sys=$(prefix "$1") sc=$2 out=$work/ping.out http=$work/http.out
	# A run that does not start from "lukretia alone holds the address" (the previous
	# settle failed) would measure nothing: it counts as NA.
	wait_until 10 only_lu || { echo "NA NA NA NA NA"; return; }
	web_up
	ip -n $cl neigh flush dev eth0 2>/dev/null
	client_ok; client_ok
	# vip-probe, not `ping -i 0.01`: iputils ping sends every 16 ms here, not every 10.
	ip netns exec $cl "$bindir/vip-probe" -i 10 -w 60 $vip >"$out" 2>"$out.err" &
	local ping_pid=$!
	ip netns exec $cl "$bindir/http-keepalive" -i 10 -t 200 -w 60 $vip:8080 >"$http" 2>"$http.err" &
	local http_pid=$!
	# ip stamps a change when it reads it: above the daemons' priority, so that it reads
	# at once even when they keep both CPUs busy.
	TZ=UTC $MON_PRIO ip -ts -n $lu monitor address >"$work/lu.mon" 2>/dev/null &
	local mon_lu=$!
	TZ=UTC $MON_PRIO ip -ts -n $ma monitor address >"$work/ma.mon" 2>/dev/null &
	local mon_ma=$!
	# A random phase (0-999 ms more) against the daemons' rounds: the fault must not land at
	# the same point of an interval in every run (the detection time at `interval 1` ranges
	# over a whole interval).
	sleep "1.$(printf '%03d' $(( RANDOM % 1000 )))"
	local from ok=yes
	from=$(now_s)
	${sys}_event "$sc"
	if [ -n "$WITNESS" ] && [ "$sys" = fo ] && [ "$sc" = partition ]; then
		# The witness still reaches both: nothing may move. The whole partition and its
		# heal are measured.
		sleep "$WITNESS_HOLD_S"
		common_heal "$sc"
		wait_until 20 only_lu || ok=no
		sleep 1
	elif ! wait_until 20 ma_holds; then
		ok=no
	else
		case $sc in
		cutback|partition)
			# Both (or macbeth alone) hold it while cut off: then the heal, measured alone.
			sleep 1
			from=$(now_s)
			common_heal "$sc"
			wait_until 20 only_lu || ok=no
			sleep 1;;
		killall|hang)
			# Nothing may take the address down but a lease: wait for it (5 s at most).
			wait_until 5 holds_not_lu
			sleep 0.5;;
		*)
			sleep 0.3
			wait_until 20 client_ok
			sleep 0.5;;
		esac
	fi
	local end
	end=$(now_s)
	# TERM: a background job of a script ignores INT.
	kill -TERM $ping_pid $http_pid $mon_lu $mon_ma 2>/dev/null; wait $ping_pid $http_pid $mon_lu $mon_ma 2>/dev/null
	if [ $ok = no ]; then echo "NA NA NA NA NA"; return; fi
	echo "$(longest_gap "$out" "$from") $(longest_dual "$work/lu.mon" "$work/ma.mon" 1 0 "$from" "$end") $(longest_gap "$http" "$from") $(failed_requests "$http" "$from")"
}
holds_not_lu() { ! holds $lu; }

# Brings lukretia back and waits until it alone holds the address again.
settle() { # sys scenario
	"$(prefix "$1")_restore" "$2"
	wait_until 30 only_lu || echo "  (warning: lukretia did not get the address back alone)" >&2
	sleep 2
}

stats() { # values... -> "median p90 max"
	printf '%s\n' "$@" | grep -v NA | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "NA NA NA"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		i = int(0.9 * NR + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%d %d %d\n", m, v[i], v[NR] }'
}

results=$work/results
: >"$results"
run_setting() { # sys label start-args...
	local sys=$1 label=$2; shift 2
	local start_args=("$@")
	for sc in $SCENARIOS; do
		stop_all
		case $sys in
		failover) fo_start "${start_args[@]}";;
		keepalived) ka_start "${start_args[@]}";;
		ucarp) uc_start;;
		esac
		local gaps=() duals=() hgaps=() hfails=() opens=0 i
		for i in $(seq 1 "$RUNS"); do
			local m gap dual open hgap hfail
			m=$(measure "$sys" "$sc"); read -r gap dual open hgap hfail <<<"$m"
			gaps+=("$gap"); duals+=("$dual"); hgaps+=("$hgap"); hfails+=("$hfail")
			[ "$open" = open ] && opens=$((opens + 1))
			echo "  $label $sc run $i: outage $gap ms, both held it $dual ms ($open), browser $hgap ms with $hfail failed" >&2
			settle "$sys" "$sc"
		done
		local valid
		valid=$(printf '%s\n' "${gaps[@]}" | grep -cv NA)
		echo "$label $sc $(stats "${gaps[@]}") $(stats "${duals[@]}") $opens/$valid $(stats "${hgaps[@]}") $(stats "${hfails[@]}")" >>"$results"
	done
	stop_all
}

fast_label="failover/i$FAST-m$MISSES-t${TIMEOUT:-$FAST}"
[ "$FAST_CONFIG" = fast ] || fast_label="$fast_label-script"
witness_suffix=""
[ -n "$WITNESS" ] && witness_suffix="+witness"
fast_label="$fast_label$witness_suffix"
for sys in $SYSTEMS; do
	case $sys in
	failover)
		slow_label="failover/interval-1"
		[ "$SLOW_CONFIG" = fast ] || slow_label="$slow_label-script"
		slow_label="$slow_label$witness_suffix"
		[[ " $SETTINGS " == *" slow "* ]] && run_setting failover "$slow_label" 1 1 "" "$SLOW_CONFIG"
		[[ " $SETTINGS " == *" fast "* ]] && run_setting failover "$fast_label" "$FAST" "$MISSES" "$TIMEOUT" "$FAST_CONFIG";;
	keepalived)
		command -v keepalived >/dev/null || { echo "keepalived missing (apt-get install keepalived): skipped" >&2; continue; }
		[[ " $SETTINGS " == *" slow "* ]] && run_setting keepalived "keepalived/advert-1" 1 2
		[[ " $SETTINGS " == *" fast "* ]] && run_setting keepalived "keepalived/advert-$KEEPALIVED_FAST" "$KEEPALIVED_FAST" 3;;
	ucarp)
		command -v ucarp >/dev/null || { echo "ucarp missing (apt-get install ucarp): skipped" >&2; continue; }
		run_setting ucarp "ucarp/advbase-1";;
	esac
done

if [ -s "$results" ]; then
	echo
	echo "Per fault, $RUNS runs each: the outage the client saw (longest gap between answered 10 ms"
	echo "probes, after the fault or, for cutback and partition, after the heal) and the longest"
	echo "time both hosts held the address in the same window; \"still both\" counts runs that"
	echo "ended (5 s after the takeover) with both holding it. The browser: http-keepalive's"
	echo "longest gap between answered GETs and its failed requests in the same window."
	echo "Daemons started with PRIO=\"$PRIO\", faild options \"$FAILD_OPTS\"."
	printf '%-30s %-9s %21s %21s  %-10s %21s %14s\n' setting fault "outage med/p90/max" "both med/p90/max" "still both" "browser med/p90/max" "failed m/p/max"
	while read -r label sc med p90 max dmed dp90 dmax opens hmed hp90 hmax fmed fp90 fmax; do
		printf '%-30s %-9s %21s %21s  %-10s %21s %14s\n' "$label" "$sc" "$med/$p90/$max" "$dmed/$dp90/$dmax" "$opens" "$hmed/$hp90/$hmax" "$fmed/$fp90/$fmax"
	done <"$results"
fi

# ---- soak ----
# soak SYSTEM: SOAK_S seconds at the system's fast setting with every CPU saturated by
# stress-ng started in lukretia's namespace (the namespaces share the CPUs, so macbeth's
# daemons are starved as well). A false takeover is macbeth bringing the address up while
# lukretia is healthy: counted by sampling macbeth's address every 50 ms and, exactly, from
# macbeth's own log (faild: RECOVER -> UP; keepalived: Entering MASTER STATE).
soak() {
	local sys=$1 setting log pattern
	stop_all
	case $sys in
	failover)
		fo_start "$FAST" "$MISSES" "$TIMEOUT" "$FAST_CONFIG"
		setting="interval $FAST, misses $MISSES, timeout ${TIMEOUT:-$FAST}, $FAST_CONFIG configuration, PRIO \"$PRIO\", faild \"$FAILD_OPTS\""
		log=$work/macbeth/log/faild.log; pattern='RECOVER -> UP';;
	keepalived)
		ka_start "$KEEPALIVED_FAST" 3
		setting="advert_int $KEEPALIVED_FAST, PRIO \"$PRIO\""
		log=$work/macbeth/keepalived.log; pattern='Entering MASTER STATE';;
	esac
	sleep 2
	only_lu || die "soak $sys: lukretia does not hold the address alone at the start"
	local before
	before=$(grep -c "$pattern" "$log" 2>/dev/null)
	local ncpu c
	ncpu=$(nproc)
	# One stress-ng worker pinned to each CPU, at the default priority.
	for c in $(seq 0 $((ncpu - 1))); do
		ip netns exec $lu taskset -c "$c" stress-ng --cpu 1 --timeout "${SOAK_S}s" --quiet &
	done
	local false_takeovers=0 was=no samples=0 end
	end=$(( $(date +%s) + SOAK_S ))
	while [ "$(date +%s)" -lt $end ]; do
		if holds $ma; then
			[ $was = no ] && false_takeovers=$((false_takeovers + 1))
			was=yes
		else
			was=no
		fi
		samples=$((samples + 1))
		sleep 0.05
	done
	local ups end_state=lukretia-alone
	ups=$(( $(grep -c "$pattern" "$log" 2>/dev/null) - before ))
	only_lu || end_state="NOT lukretia alone"
	echo
	echo "Soak $sys: ${SOAK_S} s at $setting, $ncpu CPUs saturated by stress-ng:"
	echo "  false takeovers seen by sampling macbeth's address every 50 ms: $false_takeovers ($samples samples)"
	echo "  macbeth's own log, \"$pattern\": $ups"
	echo "  at the end: $end_state"
	if [ "$ups" -gt 0 ] && [ $sys = failover ]; then
		echo "  macbeth's faild transitions and failsh's view of lukretia during the soak:"
		grep -- '->' "$work/macbeth/log/faild.log" | tail -n 20 | sed 's/^/    /'
		grep -i 'lukretia' "$work/macbeth/log/failsh.log" | grep -iv 'poll ok' | tail -n 20 | sed 's/^/    /'
	fi
	killns $lu >/dev/null 2>&1 # (stress-ng and the daemons)
	stop_all
}

if [ "$SOAK_S" -gt 0 ]; then
	command -v stress-ng >/dev/null || die "stress-ng missing (apt-get install stress-ng)"
	command -v taskset >/dev/null || die "taskset missing (apt-get install util-linux)"
	for sys in $SOAK_SYSTEMS; do soak "$sys"; done
fi
