#!/usr/bin/env bash
# Regenerates the README's pictures from a real run on loopback (no root needed):
#
#   docs/failmon.png    the page of `failmon -h` for lukretia's failsh, in headless Chromium
#   docs/timeline.svg   lukretia's recorded failsh trace, drawn by `failsim replay --timeline`
#   docs/timeline.png   the same timeline rendered by Chromium
#
# Two faild+failsh pairs run with the demo's configurations (examples/demo/, the address is a
# file): lukretia (the master) on 127.0.0.1 records its trace; the operator sets it FAIL
# (macbeth takes over) and RECOVER (the handshake gives the service back); macbeth's daemons
# are killed and restarted; then lukretia's failsh gets SIGTERM (it hands the service over).
# Everything started is killed on exit, also on failure.
#
#   scripts/screenshots.sh [--keep]    --keep: keep the temporary directory and say where
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[ "${1:-}" = --keep ] && keep=1

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "screenshots.sh: chromium is missing (apt-get install chromium)" >&2
  exit 1
fi

echo "building the programs"
cargo build --quiet -p failover-cli --bins
cargo build --quiet -p failover-sim --bin failsim
bin=$root/target/debug

work=$(mktemp -d /tmp/failover-screenshots.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A port that nothing listens on (TCP) right now, below the ephemeral range.
used_ports=" "
free_port() {
  local port tries=0
  while [ $tries -lt 200 ]; do
    tries=$((tries + 1))
    port=$((20000 + RANDOM % 8000))
    case "$used_ports" in *" $port "*) continue;; esac
    if ! (exec 3<>"/dev/tcp/$1/$port") 2>/dev/null; then
      used_ports="$used_ports$port "
      echo "$port"
      return
    fi
  done
  echo "screenshots.sh: no free port on $1" >&2
  return 1
}

interval=0.5
service=198.18.0.50
l_ip=127.0.0.1 m_ip=127.0.0.2
l_port=$(free_port $l_ip) m_port=$(free_port $m_ip) monitor=$(free_port 127.0.0.1)
cp examples/demo/communities examples/demo/service.sh "$work/"
for name in lukretia macbeth; do
  sed -e "s|@SCRIPT@|$work/service.sh|" -e "s|@INTERVAL@|$interval|" \
      -e "s|@LUKRETIA_ADDRESS@|$l_ip|" -e "s|@LUKRETIA_PORT@|$l_port|" \
      -e "s|@MACBETH_ADDRESS@|$m_ip|" -e "s|@MACBETH_PORT@|$m_port|" \
      "examples/demo/$name.tcl" > "$work/$name.tcl"
done

# Runs a command in the background with a host's environment; its pid goes to pids.
l_faild= m_faild= l_failsh= m_failsh=
spawn() { # host ip port log command...
  local host=$1 ip=$2 port=$3 log=$4 peer=macbeth
  shift 4
  [ "$host" = macbeth ] && peer=lukretia
  DEMO_HOST=$host DEMO_PEER=$peer DEMO_ROOT=$work DEMO_FAILC=$bin/failc \
    DEMO_PORT=$port DEMO_ADDRESS=$ip "$@" >>"$work/$log" 2>&1 </dev/null &
  pids+=($!)
  spawned=$!
}
failc() { # ip port state
  "$bin/failc" -H "$1" -p "$2" -c genesis -T -t 1000 -s "$3" "$service" >/dev/null
}
state() { # ip port
  "$bin/failstat" -H "$1" -p "$2" -c genesis -T --json "$service" 2>/dev/null \
    | sed -n 's/.*"state": *"\([A-Z]*\)".*/\1/p' | head -n1
}
wait_for() { # what ip port state
  local i
  for i in $(seq 1 200); do
    [ "$(state "$2" "$3")" = "$4" ] && return 0
    sleep 0.05
  done
  echo "screenshots.sh: timed out waiting for $1 (logs in $work)" >&2
  keep=1
  exit 1
}
start_faild() { # host ip port
  spawn "$1" "$2" "$3" "$1.faild.log" "$bin/faild" -F -c "$work/communities" \
    -s "$work/$1.faild.state" -a "$2" -p "$3"
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$2/$3") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "screenshots.sh: faild of $1 does not answer" >&2
  exit 1
}

start_faild lukretia $l_ip "$l_port"; l_faild=$spawned
start_faild macbeth $m_ip "$m_port"; m_faild=$spawned
failc $l_ip "$l_port" RECOVER
failc $m_ip "$m_port" RECOVER
trace=$work/lukretia.trace.jsonl
spawn lukretia $l_ip "$l_port" lukretia.failsh.log "$bin/failsh" -F -f "$work/lukretia.tcl" \
  -m "$monitor" -l "$work/lukretia.dump" -i "$work/lukretia.pid" --seed 1 --record "$trace"
l_failsh=$spawned
spawn macbeth $m_ip "$m_port" macbeth.failsh.log "$bin/failsh" -F -f "$work/macbeth.tcl" \
  -m 0 -l "$work/macbeth.dump" -i "$work/macbeth.pid" --seed 2
m_failsh=$spawned

echo "lukretia UP, macbeth RECOVER"
wait_for "lukretia UP" $l_ip "$l_port" UP
wait_for "macbeth RECOVER" $m_ip "$m_port" RECOVER
sleep 2
echo "the operator sets lukretia FAIL: macbeth takes over"
failc $l_ip "$l_port" FAIL
wait_for "macbeth UP" $m_ip "$m_port" UP
sleep 2
echo "the operator sets lukretia RECOVER: the handshake gives it back"
failc $l_ip "$l_port" RECOVER
wait_for "lukretia UP again" $l_ip "$l_port" UP
wait_for "macbeth RECOVER again" $m_ip "$m_port" RECOVER
sleep 2
echo "macbeth crashes (faild and failsh killed) and comes back"
kill -KILL "$m_failsh" "$m_faild"
wait "$m_failsh" "$m_faild" 2>/dev/null || true
sleep 2
start_faild macbeth $m_ip "$m_port"
failc $m_ip "$m_port" RECOVER
spawn macbeth $m_ip "$m_port" macbeth.failsh.log "$bin/failsh" -F -f "$work/macbeth.tcl" \
  -m 0 -l "$work/macbeth.dump" -i "$work/macbeth.pid" --seed 3
sleep 2

echo "failmon's page of lukretia"
"$bin/failmon" -h -r 0 -p "$monitor" 127.0.0.1 > "$work/failmon.html"
grep -q '<td class="state UP">UP' "$work/failmon.html" || {
  echo "screenshots.sh: failmon's page does not show lukretia UP" >&2; keep=1; exit 1; }
shoot() { # html png width height
  timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$work/chromium" \
    --window-size="$3,$4" --screenshot="$2" "file://$1" >/dev/null 2>&1
  [ -s "$2" ] || { echo "screenshots.sh: chromium wrote no $2" >&2; exit 1; }
}
shoot "$work/failmon.html" "$root/docs/failmon.png" 1000 860

echo "SIGTERM to lukretia's failsh: it hands the service over"
kill -TERM "$l_failsh"
for _ in $(seq 1 200); do kill -0 "$l_failsh" 2>/dev/null || break; sleep 0.05; done
wait_for "macbeth UP after the handover" $m_ip "$m_port" UP

echo "lukretia's trace, replayed and drawn"
"$bin/failsim" replay "$trace" --host lukretia --timeline "$root/docs/timeline.svg"
width=$(sed -n 's/^<svg [^>]* width="\([0-9.]*\)".*/\1/p' docs/timeline.svg | head -n1)
height=$(sed -n 's/^<svg [^>]* height="\([0-9.]*\)".*/\1/p' docs/timeline.svg | head -n1)
shoot "$root/docs/timeline.svg" "$root/docs/timeline.png" "${width%.*}" "${height%.*}"
echo "written: docs/failmon.png docs/timeline.svg docs/timeline.png"
