#!/usr/bin/env bash
# `make bench`: builds the release preset and runs every benchmark under
# bench/, each printing what it measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache lives outside the checkout so fresh clones on this machine reuse it.
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlspace-operator/ccache} CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake --preset release >/dev/null
cmake --build --preset release -j "${JOBS:-2}"
shopt -s nullglob
for b in build/release/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "=== $(basename "$b") ==="
  "$b"
done
