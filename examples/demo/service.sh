#!/bin/sh
# The demo's service script: the seed's /etc/init.d/<address> with the address replaced by a
# file, so that the demo needs no root and touches no interface. "Holding" the service
# 198.18.0.50 means that the file $DEMO_ROOT/holds.$DEMO_HOST exists; every action is appended
# to $DEMO_ROOT/service.log. faildemo sets the environment for each host:
#   DEMO_HOST     lukretia or macbeth          DEMO_ROOT   the demo's temporary directory
#   DEMO_FAILC    path of failc                DEMO_PORT   the host's faild port
#   DEMO_ADDRESS  the host's loopback address  DEMO_PEER   the other host (backup name)
#
#   boot     the address is configured down; register RECOVER in the local faild (at boot)
#   fail     take the address down and mark the service FAIL (the operator's `fail`)
#   recover  mark the service RECOVER so that failsh may bring it up again
#   up       bring the address up (failsh's start procedure); faild is not touched
#   down     take the address down (failsh's stop procedure); faild is not touched
#   reclaim  re-announce the address after an erratic slave was up (grarp in real life)
#
# failsh runs up, down and reclaim through Tcl's exec, which counts output on stderr as a
# failure: this script stays silent unless something is wrong.
set -u
service=198.18.0.50
holds="$DEMO_ROOT/holds.$DEMO_HOST"
log() { echo "$DEMO_HOST $1" >> "$DEMO_ROOT/service.log"; }
failc() {
	"$DEMO_FAILC" -H "$DEMO_ADDRESS" -p "$DEMO_PORT" -c public -T -t 1000 \
		-s "$1" -b "$DEMO_PEER" "$service" > /dev/null
}

case ".${1:-}" in
.boot)
	rm -f "$holds"
	failc RECOVER
	log "boot: registered RECOVER";;
.fail)
	rm -f "$holds"
	failc FAIL
	log "fail: address down, FAIL";;
.recover)
	failc RECOVER
	log "recover: RECOVER";;
.up)
	echo "$DEMO_HOST" > "$holds"
	log "up: holds $service";;
.down)
	rm -f "$holds"
	log "down: released $service";;
.reclaim)
	echo "$DEMO_HOST" > "$holds"
	log "reclaim: re-announced $service";;
*)
	echo "usage: $0 boot|fail|recover|up|down|reclaim" >&2
	exit 2;;
esac
exit 0
