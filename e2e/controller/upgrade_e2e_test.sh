#!/usr/bin/env bash
# Upgrade end to end (issue 14): version N's binaries, then this version's, on
# the same state directory.
#   1. Version N is commit $MLSPACE_UPGRADE_FROM (default bd95ba9: main before
#      instance identities, state store schema 2, the version
#      fixtures/legacy-v2 came from). Its mlspace-controller,
#      mlspace-gateway-emulator and mlspace-launch are built from this
#      repository's history (`git archive`, so a shallow clone fails here with
#      a message) into $MLSPACE_TOOLS_DIR/upgrade/<commit> and cached there.
#   2. fixtures/legacy-v2/make_fixture.sh runs them: `hello` submitted and
#      Succeeded, `lost-answer` submitted with its answer lost (an open
#      intent), then N's controller stops.
#   3. This version's controller_instance_e2e_test
#      (LegacyFixtureIsAdoptedWithoutDuplicates) takes over that state
#      directory and emulator state: schema migrated in place, no second
#      POST, both jobs adopted, the next generation submitted once.
# Environment: MLSPACE_SOURCE_DIR, MLSPACE_BINARY_DIR (from CMake),
# MLSPACE_TOOLS_DIR (cache; default <repo>/.tools).
set -euo pipefail

src=${MLSPACE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MLSPACE_BINARY_DIR:-$src/build/default}
from=${MLSPACE_UPGRADE_FROM:-bd95ba99d28c81c676808b18b0df7f46c479d25c}
tools=${MLSPACE_TOOLS_DIR:-$src/.tools}

fail() { echo "FAIL: $*" >&2; exit 1; }

commit=$(git -C "$src" rev-parse --verify -q "$from^{commit}") || {
  # A shallow or single-branch clone: fetch version N from where the clone
  # came from (a full SHA-1 is asked for by name, which GitHub allows).
  echo "commit $from is not in this clone; fetching it from origin"
  git -C "$src" fetch -q --depth=1 origin "$from" 2>/dev/null ||
    git -C "$src" fetch -q --unshallow origin 2>/dev/null || true
  commit=$(git -C "$src" rev-parse --verify -q "$from^{commit}") ||
    fail "commit $from (version N) is not in $src's history and could not be fetched from origin: the upgrade test needs it (git fetch --unshallow)"
}
short=${commit:0:12}
old=$tools/upgrade/$short
mkdir -p "$tools/upgrade"
exec 9>"$tools/upgrade/.lock"
flock 9
if [ ! -f "$old/.complete" ]; then
  echo "building version N ($short) into $old (cached for later runs)"
  rm -rf "$old"
  mkdir -p "$old/src"
  git -C "$src" archive "$commit" | tar -x -C "$old/src"
  (
    cd "$old/src"
    export CCACHE_BASEDIR=$PWD
    # A fixed artefact: its warnings are not this version's to fix.
    unset MLSPACE_WARNINGS_AS_ERRORS
    cmake --preset default -DMLSPACE_BENCH=OFF >"$old/build.log" 2>&1 &&
      cmake --build build/default -j "${JOBS:-2}" \
        --target mlspace-controller mlspace-gateway-emulator mlspace-launch >>"$old/build.log" 2>&1
  ) || fail "building version N failed: $(tail -n 20 "$old/build.log")"
  # Keep the three binaries in make_fixture.sh's build-tree layout, not the tree.
  b=$old/src/build/default
  install -D "$b/controller/cmd/mlspace-controller" "$old/build/controller/cmd/mlspace-controller"
  install -D "$b/controller/cmd/mlspace-gateway-emulator" \
    "$old/build/controller/cmd/mlspace-gateway-emulator"
  install -D "$b/launcher/mlspace-launch" "$old/build/launcher/mlspace-launch"
  rm -rf "$old/src"
  touch "$old/.complete"
fi
flock -u 9
old_build=$old/build
echo "version N:   commit $short, $old_build"
echo "version N+1: $("$bin/controller/cmd/mlspace-controller" --version)"
cmp -s "$old_build/controller/cmd/mlspace-controller" "$bin/controller/cmd/mlspace-controller" &&
  fail "version N and N+1 are the same binary"

work=$(mktemp -d "${TMPDIR:-/tmp}/mlspace-upgrade-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
bash "$src/e2e/controller/fixtures/legacy-v2/make_fixture.sh" "$old_build" "$work/fixture"
[ -f "$work/fixture/state/state.db" ] || fail "version N left no state.db"

# The gtest report (scripts/test.sh's skip check) under this test's own name.
case ${GTEST_OUTPUT:-} in xml:*/) export GTEST_OUTPUT=${GTEST_OUTPUT}upgrade_e2e_test.xml ;; esac
MLSPACE_LEGACY_FIXTURE=$work/fixture "$bin/e2e/controller_instance_e2e_test" \
  --gtest_filter=ControllerInstanceE2eTest.LegacyFixtureIsAdoptedWithoutDuplicates |
  tee "$work/gtest.log"
# A filter matching nothing passes in gtest: insist that the one test ran.
grep -q '^\[  PASSED  \] 1 test\.' "$work/gtest.log" ||
  fail "LegacyFixtureIsAdoptedWithoutDuplicates did not run and pass"
