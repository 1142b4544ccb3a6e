#!/usr/bin/env bash
# Starts a real Prometheus on loopback scraping the given targets every second.
#
#   start_prometheus.sh [--port N] [--dir DIR] [--rules FILE]... \
#       --target [JOB=]HOST:PORT [--target ...]
#
# JOB defaults to "mlspace-operator" (the job name the alerts expect). Port 0
# or no --port picks a free port. DIR (default: a new temp dir) holds
# prometheus.yml, the TSDB, prometheus.log and prometheus.pid. Prints
#   PROMETHEUS_URL=http://127.0.0.1:<port>
#   PROMETHEUS_PID=<pid>
#   PROMETHEUS_DIR=<dir>
# once /-/ready answers, so callers can `eval "$(start_prometheus.sh ...)"`.
# Stop it with: kill "$PROMETHEUS_PID".
set -euo pipefail

die() { echo "start_prometheus.sh: $*" >&2; exit 2; }

port=0
dir=""
rules=()
targets=()
prometheus=${PROMETHEUS_BIN:-/usr/bin/prometheus}
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --rules) rules+=("$(readlink -f "${2:?--rules needs a file}")"); shift 2 ;;
    --target) targets+=("${2:?--target needs [JOB=]HOST:PORT}"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || die "at least one --target [JOB=]HOST:PORT is required"
[ -x "$prometheus" ] || die "$prometheus not found (scripts/deps.sh installs Debian's prometheus)"
for r in "${rules[@]}"; do [ -f "$r" ] || die "--rules $r: no such file"; done

if [ "$port" = 0 ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/prometheus.XXXXXX")
fi
mkdir -p "$dir/data"

{
  echo "global:"
  echo "  scrape_interval: 1s"
  echo "  scrape_timeout: 1s"
  echo "  evaluation_interval: 1s"
  if [ ${#rules[@]} -gt 0 ]; then
    echo "rule_files:"
    for r in "${rules[@]}"; do echo "  - '$r'"; done
  fi
  echo "scrape_configs:"
  # One job per distinct JOB name; honor_labels keeps the controller's own
  # "namespace"/"name" labels as exported.
  declare -A jobs=()
  for t in "${targets[@]}"; do
    if [[ "$t" == *=* ]]; then job=${t%%=*}; addr=${t#*=}; else job=mlspace-operator; addr=$t; fi
    [[ "$addr" == *:* ]] || die "--target $t: expected [JOB=]HOST:PORT"
    jobs[$job]+="'$addr', "
  done
  for job in "${!jobs[@]}"; do
    echo "  - job_name: '$job'"
    echo "    honor_labels: true"
    echo "    static_configs:"
    echo "      - targets: [${jobs[$job]%, }]"
  done
} > "$dir/prometheus.yml"

"$prometheus" \
  --config.file="$dir/prometheus.yml" \
  --storage.tsdb.path="$dir/data" \
  --storage.tsdb.retention.time=1d \
  --web.listen-address="127.0.0.1:$port" \
  --log.level=warn \
  >"$dir/prometheus.log" 2>&1 &
pid=$!
echo "$pid" > "$dir/prometheus.pid"

for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start_prometheus.sh: prometheus exited; log follows" >&2
    cat "$dir/prometheus.log" >&2
    exit 1
  fi
  if python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/-/ready" % sys.argv[1], timeout=1).read()
PY
  then
    echo "PROMETHEUS_URL=http://127.0.0.1:$port"
    echo "PROMETHEUS_PID=$pid"
    echo "PROMETHEUS_DIR=$dir"
    exit 0
  fi
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
die "prometheus on 127.0.0.1:$port not ready after 30 s (log: $dir/prometheus.log)"
