#!/usr/bin/env bash
# promtool check rules + promtool test rules on charts/mlspace-operator/alerts.
# Exit 77 (ctest SKIP) only when promtool is absent; scripts/deps.sh installs it.
set -euo pipefail
src=${MLSPACE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v promtool >/dev/null || { echo "promtool not installed: skipping"; exit 77; }
cd "$src/charts/mlspace-operator/alerts"
promtool check rules mlspace-operator.rules.yaml
promtool test rules tests.yaml
