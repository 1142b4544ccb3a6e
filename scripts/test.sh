#!/usr/bin/env bash
# `make test`: everything CI checks, in the order that fails fastest.
#   1. default build (one build shared by unit, integration and e2e tests)
#   2. unit + integration tests        ctest -LE e2e
#   3. ASan+UBSan build of the unit tests, run
#   4. TSan build of the concurrent code's tests, run
#   5. each libFuzzer target for FUZZ_SECONDS (default 30) on its corpus
#   6. end-to-end suites               ctest -L e2e
# Set MLSPACE_TEST_STAGES to a subset ("unit asan tsan fuzz e2e") to run less.
# A test that skips fails the run unless tests/skip_allowlist.txt allows it
# for that stage (scripts/check_skips.py reads each stage's gtest and ctest
# reports).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
STAGES=${MLSPACE_TEST_STAGES:-"unit asan tsan fuzz e2e"}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
# ccache lives outside the checkout so fresh clones on this machine reuse it.
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlspace-operator/ccache}
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
# Fetched tools (helm, kubectl, schema packages, the debootstrapped image rootfs) too.
export MLSPACE_TOOLS_DIR=${MLSPACE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlspace-operator/tools}

has() { [[ " $STAGES " == *" $1 "* ]]; }
step() { echo; echo "=== $* ==="; }

# run_ctest STAGE BUILD_DIR ctest-args...: ctest with every gtest binary
# writing an XML report, then the skip check over those reports.
run_ctest() {
  local stage=$1 dir=$2
  shift 2
  local reports=$PWD/$dir/test-reports/$stage
  rm -rf "$reports"
  mkdir -p "$reports"
  GTEST_OUTPUT="xml:$reports/" ctest --test-dir "$dir" --output-junit "$reports/ctest-junit.xml" "$@"
  python3 scripts/check_skips.py "$stage" "$reports" tests/skip_allowlist.txt
}

step "build (default preset)"
cmake --preset default >/dev/null
cmake --build --preset default -j "$JOBS"

if has unit; then
  step "unit and integration tests"
  run_ctest unit build/default -LE e2e --output-on-failure -j "$JOBS"
fi

if has asan; then
  step "ASan+UBSan unit tests"
  cmake --preset asan >/dev/null
  cmake --build build/asan --target unit_tests -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest asan build/asan -L unit --output-on-failure -j "$JOBS"
fi

if has tsan; then
  step "TSan tests of the concurrent code"
  cmake --preset tsan >/dev/null
  cmake --build build/tsan --target tsan_tests -j "$JOBS"
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp \
    run_ctest tsan build/tsan -L tsan --output-on-failure -j "$JOBS"
fi

if has fuzz; then
  step "fuzz targets (${FUZZ_SECONDS}s each)"
  cmake --preset fuzz >/dev/null
  cmake --build build/fuzz --target fuzz_targets -j "$JOBS"
  for target in build/fuzz/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    name=$(basename "$target")
    corpus=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "--- $name"
    "$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 "$work" 2>&1 | tail -n 12
    rm -rf "$work"
  done
fi

if has e2e; then
  step "end-to-end tests"
  run_ctest e2e build/default -L e2e --output-on-failure
fi
