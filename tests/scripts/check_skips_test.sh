#!/usr/bin/env bash
# scripts/check_skips.py on real GoogleTest and CTest reports: an unexpected
# skip fails (exit 1, naming the test), an allow-listed one for the stage
# passes, an entry for another stage does not help, a run without skips passes.
set -uo pipefail
fixture=$1
check=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

GTEST_OUTPUT="xml:$tmp/skipped/" "$fixture" >/dev/null || fail "fixture run failed"
[ -f "$tmp/skipped/$(basename "$fixture").xml" ] || fail "fixture wrote no report"

python3 "$check" unit "$tmp/skipped" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "unexpected skip: want exit 1, got $rc"
grep -q "unexpected skip: SkipFixture.Skips (skip_check_fixture) skipped: .*fixture skip reason" \
  "$tmp/err" || fail "message does not name the skip: $(cat "$tmp/err")"
grep -q "SkipFixture.Passes" "$tmp/err" && fail "a passed test was reported"

echo "unit SkipFixture.Skips the fixture skips on purpose" >"$tmp/allow"
python3 "$check" unit "$tmp/skipped" "$tmp/allow" >/dev/null 2>&1 || fail "allowed skip failed"
echo "asan SkipFixture.Skips only allowed under asan" >"$tmp/allow-asan"
python3 "$check" unit "$tmp/skipped" "$tmp/allow-asan" >/dev/null 2>&1 &&
  fail "another stage's allow-list entry was honoured"

GTEST_OUTPUT="xml:$tmp/clean/" "$fixture" --gtest_filter=SkipFixture.Passes >/dev/null ||
  fail "filtered fixture run failed"
python3 "$check" unit "$tmp/clean" >/dev/null || fail "a run without skips failed"

# A CTest-level skip (SKIP_RETURN_CODE) as ctest --output-junit reports it.
mkdir -p "$tmp/ctest"
cat >"$tmp/ctest/ctest-junit.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux" tests="2" failures="0" disabled="0" skipped="1" hostname="" time="0">
  <testcase name="runs_fine" classname="runs_fine" time="0.1" status="run"><system-out/></testcase>
  <testcase name="needs_tool" classname="needs_tool" time="0.1" status="notrun">
    <skipped message="SKIP_RETURN_CODE=77"/><system-out>tool not installed</system-out>
  </testcase>
</testsuite>
XML
python3 "$check" e2e "$tmp/ctest" 2>"$tmp/err2"
rc=$?
[ $rc -eq 1 ] || fail "ctest skip: want exit 1, got $rc"
grep -q "unexpected skip: needs_tool (ctest-junit) skipped" "$tmp/err2" ||
  fail "ctest skip not named: $(cat "$tmp/err2")"
echo "PASS"
