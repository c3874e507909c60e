#!/usr/bin/env bash
# The test command of the README and of CI: installs what the tests need when it can, says
# loudly what it could not, builds the programs and runs every test of the workspace.
#
#   scripts/test.sh            all tests
#   scripts/test.sh -p failover-core    extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n=== [%d s] %s\n' "$SECONDS" "$*"; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*" >&2; }

# command -> Debian package that provides it
declare -A PACKAGE_OF=(
  [tclsh]=tcl8.6 [ip]=iproute2 [ping]=iputils-ping [tcpdump]=tcpdump
  [chromium]=chromium [setpriv]=util-linux [ps]=procps [bridge]=iproute2 [nft]=nftables
  [promtool]=prometheus [man]=man-db [lintian]=lintian [systemd-analyze]=systemd
  [dpkg-deb]=dpkg [dpkg-shlibdeps]=dpkg-dev
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
    if ! apt-get install -y -qq --no-install-recommends $packages >/dev/null 2>&1; then
      # One package this release lacks must not keep the others out: one at a time.
      for package in $packages; do
        apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
          || loud "could not install $package (tests that need it will fail or say SKIPPED)"
      done
    fi
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

# tests/tests/failmon_refresh.rs loads failmon's page in /usr/bin/chromium (Debian's package;
# on Ubuntu the package may be a snap stub, which does not run in a container): say so now if
# it is missing or cannot render a page headless, not only in the middle of the test output.
if [ ! -x /usr/bin/chromium ]; then
  loud "/usr/bin/chromium is missing (apt-get install chromium): failmon_refresh (failmon's HTML page in headless Chromium) is SKIPPED"
  export FAILOVER_ALLOW_SKIP=1
else
  profile=$(mktemp -d)
  dom=$(timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$profile" --dump-dom 'data:text/html,<p>ok</p>' 2>/dev/null || true)
  rm -rf "$profile"
  case "$dom" in
    *'<p>ok</p>'*) ;;
    *) loud "/usr/bin/chromium does not render a page headless: failmon_refresh will FAIL";;
  esac
fi

say "building the programs (debug, and release for the cross-crate tests)"
cargo build --workspace --bins --quiet
# The cross-crate tests run the programs as operators run them, the release build: the
# stories that hold them to the issue's time bars (netns_push: an operator's FAIL taken over
# within 50 ms; netns_browser) measure the programs, not a debug build that takes several
# times longer to answer a poll or start a procedure.
cargo build --release --workspace --bins --quiet
say "running the tests"
status=0
FAILOVER_BIN_DIR="$PWD/target/release" cargo test --workspace --no-fail-fast "$@" || status=$?

# The simulator's random exploration, as a release build (a debug build takes ten times as
# long): 10,000 seeds, each a scenario of faults (crashes, partitions, lost messages, frozen
# hosts, cut links, killed daemons, a hung failsh, a stalled faild, full disks, clock
# drift) whose invariants must hold, and as many with a witness, held to never two holders.
# A failing seed prints the command that reproduces it.
if [ $# -eq 0 ]; then
  # The minimal build an old Unix host gets: blocking runtime only, no smol, no curses.
  # Its programs go to their own target directory so the default ones stay in place; the
  # cross-crate tests then run against them, leaving out the tests named for smol.
  say "minimal build (failover-cli --no-default-features): its crates, its tests, and the cross-crate tests on its programs"
  crates=$(cargo tree -p failover-cli -e normal --no-default-features --prefix none | awk '{print $1}' | sort -u | wc -l)
  echo "minimal build: $crates crates"
  if [ "$crates" -gt 40 ]; then loud "the minimal build pulls $crates crates (at most 40)"; status=1; fi
  if cargo tree -p failover-cli -e normal --no-default-features --prefix none \
      | grep -E '^(smol|async-io|async-signal|polling|ratatui|crossterm) '; then
    loud "the minimal build depends on a crate it must not (above)"; status=1
  fi
  minimal=target/minimal
  # Warnings are errors here: code only the minimal build compiles (cfg(not(feature))) gets
  # no other check, and a clippy pass of its own cost CI a full check build of it.
  with_minimal_flags() { RUSTFLAGS="${RUSTFLAGS:-} -D warnings" "$@"; }
  with_minimal_flags cargo build --quiet -p failover-cli --no-default-features --bins --target-dir "$minimal" || status=1
  # The probe, the browser and its web server the netns tests run are the tests' own, not
  # programs.
  cargo build --quiet -p failover-tests --bins \
    && cp target/debug/vip-probe target/debug/http-answer target/debug/http-keepalive "$minimal/debug/" \
    || status=1
  # failsim is not a failover-cli program; the man-page test runs its --help from there too.
  cp target/debug/failsim "$minimal/debug/" || status=1
  with_minimal_flags cargo test --quiet -p failover-cli --no-default-features --target-dir "$minimal" --no-fail-fast || status=1
  # The core with its portable HMAC (the minimal build's): RFC 4231 vectors, the codec.
  with_minimal_flags cargo test --quiet -p failover-core --no-default-features --lib --target-dir "$minimal" || status=1
  # The cross-crate tests on loopback, not the network-namespace stories: those ran above
  # on the same blocking runtime (the release programs, which the time bars are for), and
  # what the minimal build leaves out (smol, curses) is not on their path; they would cost
  # CI almost four minutes of its thirty.
  loopback_tests=()
  for file in tests/tests/*.rs; do
    name=$(basename "$file" .rs)
    case $name in netns_*) ;; *) loopback_tests+=(--test "$name") ;; esac
  done
  echo "minimal build: the cross-crate tests on loopback ($(( ${#loopback_tests[@]} / 2 )) files), not the netns stories"
  FAILOVER_BIN_DIR="$PWD/$minimal/debug" FAILOVER_RUNTIMES=blocking \
    cargo test -p failover-tests --no-fail-fast "${loopback_tests[@]}" -- --skip _smol || status=1

  seeds=${FAILOVER_SEEDS:-10000}
  cargo build --release --quiet -p failover-sim --bin failsim
  # A master, a slave and a witness under partitions (one or both ways, any host from any
  # others), lost and duplicated messages, frozen hosts, hung and killed daemons and clock
  # drift: never two holders, not even for a millisecond. The two sweeps are one thread
  # each: side by side on the two cores, printed one after the other.
  say "exploring $seeds random simulator seeds, and as many witness seeds held to never two holders (release build, side by side)"
  start=$(date +%s)
  sweeps=$(mktemp -d)
  target/release/failsim seeds 0 "$seeds" > "$sweeps/plain" 2>&1 & plain=$!
  target/release/failsim seeds 0 "$seeds" --witness > "$sweeps/witness" 2>&1 & witness=$!
  wait $plain || { status=1; loud "the simulator sweep failed (below)"; }
  echo "--- plain seeds"; cat "$sweeps/plain"
  wait $witness || { status=1; loud "the witness sweep failed (below)"; }
  echo "--- witness seeds"; cat "$sweeps/witness"
  rm -rf "$sweeps"
  echo "simulator sweeps: $(( $(date +%s) - start )) s"

  # The Debian package (issue 17): built from the release programs (the failsim above
  # shares their dependencies), lintian without errors, and its units verified by systemd
  # against the unpacked package, with its man pages and programs in place.
  say "Debian package: scripts/package.sh, lintian, systemd-analyze verify"
  # The release programs are built already; the package of the dist build (what ships)
  # holds the same files, only smaller programs.
  if deb=$(FAILOVER_PACKAGE_PROFILE=release scripts/package.sh | tail -n 1) && [ -f "$deb" ]; then
    echo "package: $deb"
    if command -v lintian >/dev/null 2>&1; then
      # Errors fail; warnings are printed (overrides in scripts/package.sh say why).
      lintian --fail-on error --tag-display-limit 0 "$deb" || { loud "lintian reports errors in $deb"; status=1; }
    else
      loud "lintian is not installed: the package is NOT checked"; [ "${FAILOVER_ALLOW_SKIP:-}" = 1 ] || status=1
    fi
    if command -v systemd-analyze >/dev/null 2>&1; then
      unpacked=$(mktemp -d)
      dpkg-deb -x "$deb" "$unpacked"
      # --root resolves ExecStart= and the other programs inside the unpacked package;
      # MANPATH lets it find the man pages the units' Documentation= names (only the
      # package's: a page missing from it is an error). What a real root has and the package
      # does not bring, the host lends: the targets and slices the units are ordered
      # against, and /bin/sh and /bin/kill of ExecStopPost= and ExecReload=.
      cp -n /lib/systemd/system/*.target /lib/systemd/system/*.slice "$unpacked/lib/systemd/system/" 2>/dev/null || true
      mkdir -p "$unpacked/bin" && cp /bin/sh /bin/kill "$unpacked/bin/"
      if ! out=$(MANPATH="$unpacked/usr/share/man" systemd-analyze verify --man=yes \
          --root="$unpacked" "$unpacked"/lib/systemd/system/faild.service \
          "$unpacked"/lib/systemd/system/failsh.service 2>&1) || [ -n "$out" ]; then
        printf '%s\n' "$out"; loud "systemd-analyze verify complains about the packaged units"; status=1
      else
        echo "systemd-analyze verify: the packaged units are clean"
      fi
      rm -rf "$unpacked"
    else
      loud "systemd-analyze is not installed (package systemd): the packaged units are NOT verified"
      [ "${FAILOVER_ALLOW_SKIP:-}" = 1 ] || status=1
    fi
  else
    loud "scripts/package.sh failed"; status=1
  fi
fi
exit $status
