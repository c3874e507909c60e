#!/usr/bin/env bash
# The test command of the README and of CI: installs what the tests need when it can, says
# loudly what it could not, builds the programs and runs every test of the workspace.
#
#   scripts/test.sh            all tests
#   scripts/test.sh -p failover-core    extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n=== %s\n' "$*"; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*" >&2; }

# command -> Debian package that provides it
declare -A PACKAGE_OF=(
  [tclsh]=tcl8.6 [ip]=iproute2 [ping]=iputils-ping [tcpdump]=tcpdump
  [chromium]=chromium [setpriv]=util-linux [ps]=procps [bridge]=iproute2
)
missing=()
for command in "${!PACKAGE_OF[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$command]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing: $packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $packages >/dev/null 2>&1 \
      || loud "could not install some of: $packages (tests that need them will fail or say SKIPPED)"
  else
    loud "missing tools ($packages) and cannot install them (not root or no apt-get)"
  fi
fi

if [ "$(id -u)" != 0 ]; then
  loud "NOT ROOT: the network-namespace tests (real IP failover, grarp on veth) are SKIPPED. Run as root to run them."
  export FAILOVER_ALLOW_SKIP=1
fi
for command in "${!PACKAGE_OF[@]}"; do
  command -v "$command" >/dev/null 2>&1 || { loud "still missing: $command: tests that need it are SKIPPED"; export FAILOVER_ALLOW_SKIP=1; }
done

say "building the programs"
cargo build --workspace --bins --quiet
say "running the tests"
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?

# The simulator's random exploration, as a release build (a debug build takes ten times as
# long): 10,000 seeds, each a scenario of faults (crashes, partitions, lost messages, frozen
# hosts, cut links, killed daemons, a hung failsh, a stalled faild, full disks, clock
# drift) whose invariants must hold. A failing seed prints the command that reproduces it.
if [ $# -eq 0 ]; then
  seeds=${FAILOVER_SEEDS:-10000}
  say "exploring $seeds random simulator seeds (release build)"
  cargo build --release --quiet -p failover-sim --bin failsim
  start=$(date +%s)
  target/release/failsim seeds 0 "$seeds" || status=1
  echo "simulator sweep: $(( $(date +%s) - start )) s"
fi
exit $status
