#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ (the list comes from `cargo fuzz list`) for SECONDS
# each, bounded in time, and fails on a crash (a panic, an abort, a leak or a timeout of one
# input) or on a run that does not stop by itself.
#
#   scripts/fuzz.sh            30 s per target
#   scripts/fuzz.sh 600        10 minutes per target
#
# Environment: FUZZ_TARGETS="tcl_parse" runs only those; CARGO_BUILD_JOBS limits the build
# (default 1); CARGO_TARGET_DIR is honoured (default fuzz/target).
#
# Crashing inputs are left in fuzz/artifacts/TARGET/ (ignored by git); reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a -s none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
[ "$seconds" -ge 1 ] || { echo "SECONDS must be at least 1" >&2; exit 2; }

say() { printf '\n=== %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked -j "${CARGO_BUILD_JOBS:-1}"
fi

# cargo fuzz passes nightly-only flags to rustc (-Zsanitizer, -Cllvm-args for the coverage
# instrumentation, ...). The machines have only the stable toolchain, so RUSTC_BOOTSTRAP=1
# lets stable rustc accept them. -s none: the code under test has no unsafe code, so
# AddressSanitizer finds nothing more than the panics libFuzzer already reports, and it would
# need a sanitizer runtime stable does not promise; -O -a: optimised (more executions per
# second) but with debug assertions and overflow checks, so an arithmetic overflow is a crash.
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
flags=(-O -a -s none)

cd fuzz
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
[ -n "$targets" ] || { echo "cargo fuzz list shows no target" >&2; exit 1; }

say "building the fuzz targets: $(echo $targets)"
cargo fuzz build "${flags[@]}"

failed=()
for target in $targets; do
  corpus=corpus/$target
  mkdir -p "$corpus"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "dict/$target.dict" ] && options+=(-dict="dict/$target.dict")
  say "fuzzing $target for $seconds s"
  # libFuzzer stops after -max_total_time; the outer timeout is the bound if it does not
  # (a hang inside one input is caught by -timeout and reported as a crash).
  status=0
  timeout --kill-after=30 $((seconds + 120)) \
    cargo fuzz run "${flags[@]}" "$target" "$corpus" "${seeds[@]}" -- "${options[@]}" \
    || status=$?
  if [ "$status" -ne 0 ]; then
    if [ "$status" -ge 124 ]; then
      echo "!!! $target did not stop within $((seconds + 120)) s" >&2
    else
      echo "!!! $target crashed (exit $status); the input is in fuzz/artifacts/$target/" >&2
    fi
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  say "FUZZING FAILED: ${failed[*]}"
  exit 1
fi
say "fuzzing passed: $(echo $targets), $seconds s each, no crash"
