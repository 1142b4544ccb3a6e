#!/usr/bin/env bash
# `make lint`: clang-format (no diffs allowed) and clang-tidy on the product
# sources, against the default build's compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files 'controller/*.cc' 'controller/*.h' 'launcher/*.cc' 'launcher/*.h' \
  'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'e2e/*.cc' 'e2e/*.h' 'fuzz/*.cc')
echo "clang-format: checking $(echo "$files" | wc -w) files"
if ! clang-format --dry-run --Werror $files; then fail=1; fi
srcs=$(git ls-files 'controller/*.cc' 'launcher/*.cc')
echo "clang-tidy: checking $(echo "$srcs" | wc -w) files"
if ! printf '%s\n' $srcs | xargs -P 2 -n 4 clang-tidy -p build/default --quiet 2>/dev/null; then
  fail=1
fi
exit $fail
