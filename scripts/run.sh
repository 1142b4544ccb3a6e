#!/usr/bin/env bash
# `make run`: placeholder until the controller lands (see README).
set -euo pipefail
echo "mlspace-operator: nothing to run yet"
