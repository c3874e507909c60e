#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ (fuzz/fuzz_targets/*.rs) for SECONDS each, bounded
# in time, and fails on a crash (a panic, an abort, a leak or a timeout of one input) or on
# a run that does not stop by itself.
#
#   scripts/fuzz.sh            30 s per target
#   scripts/fuzz.sh 600        10 minutes per target
#
# Environment: FUZZ_TARGETS="tcl_parse" runs only those; CARGO_BUILD_JOBS limits the build
# (default 1); CARGO_TARGET_DIR is honoured (default fuzz/target).
#
# The targets are built by cargo itself with the flags `cargo fuzz build -O -a -s none`
# passes to rustc, rather than by cargo-fuzz: installing cargo-fuzz on a fresh machine
# compiles it for minutes, a sixth of CI's thirty. fuzz/ stays a cargo-fuzz project, so
# `cargo fuzz run TARGET` works where it is installed.
#
# Crashing inputs are left in fuzz/artifacts/TARGET/ (ignored by git); reproduce one with
#   fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release/TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
[ "$seconds" -ge 1 ] || { echo "SECONDS must be at least 1" >&2; exit 2; }

say() { printf '\n=== %s\n' "$*"; }

# The coverage instrumentation libFuzzer steers by (what cargo-fuzz passes): 8-bit edge
# counters, the table of their PCs, comparison operands and the stack depth; `--cfg
# fuzzing` for code that fuzzes differently; dead code linked so that the PC table is whole.
# -Cdebug-assertions and -Coverflow-checks make an arithmetic overflow a crash. No
# sanitizer: the code under test has no unsafe code, and AddressSanitizer would find
# nothing more than the panics libFuzzer reports. RUSTC_BOOTSTRAP=1 as the cargo-fuzz runs
# had it (the machines have only the stable toolchain).
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Clink-dead-code -Cdebug-assertions -Coverflow-checks"
# The host triple as --target keeps RUSTFLAGS off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')

cd fuzz
targets=${FUZZ_TARGETS:-$(cd fuzz_targets && ls *.rs | sed 's/\.rs$//')}
[ -n "$targets" ] || { echo "fuzz/fuzz_targets holds no target" >&2; exit 1; }

say "building the fuzz targets: $(echo $targets)"
cargo build --release --target "$host" --bins
bin_dir=${CARGO_TARGET_DIR:-target}/$host/release

failed=()
for target in $targets; do
  corpus=corpus/$target
  mkdir -p "$corpus" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="artifacts/$target/")
  [ -f "dict/$target.dict" ] && options+=(-dict="dict/$target.dict")
  say "fuzzing $target for $seconds s"
  # libFuzzer stops after -max_total_time; the outer timeout is the bound if it does not
  # (a hang inside one input is caught by -timeout and reported as a crash).
  status=0
  timeout --kill-after=30 $((seconds + 120)) \
    "$bin_dir/$target" "${options[@]}" "$corpus" "${seeds[@]}" \
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
