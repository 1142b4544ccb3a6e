#!/usr/bin/env bash
# `make run`: the controller on the sample manifests, with the embedded
# LocalGateway (jobs run as local processes through mlspace-launch; no
# MLSpace account needed). Creates, once, a demo git repository from
# crd/samples/ under .demo/, starts mlspace-controller on it, shows the jobs
# converge, then keeps running so you can edit and commit manifests.
#
#   API_PORT (8081), METRICS_PORT (8080)  where to listen (loopback)
#   MLSPACE_RUN_EXIT=1                     stop once the samples converged
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=build/${PRESET:-default}/controller/cmd/mlspace-controller
[ -x "$bin" ] || { echo "run: $bin missing; run 'make build' first" >&2; exit 1; }
api_port=${API_PORT:-8081}
metrics_port=${METRICS_PORT:-8080}
demo=$root/.demo
repo=$demo/manifests

if [ ! -d "$repo/.git" ]; then
  echo "== creating the demo repository $repo from crd/samples/"
  mkdir -p "$repo"
  cp crd/samples/*.yaml "$repo"/
  git -C "$repo" init -q -b main
  git -C "$repo" -c user.name=demo -c user.email=demo@example.test add -A
  git -C "$repo" -c user.name=demo -c user.email=demo@example.test commit -q -m "samples"
fi
# The secret the env-secret sample references (a mounted Secret's layout).
mkdir -p "$demo/secrets/wandb"
[ -f "$demo/secrets/wandb/api-key" ] || printf 'demo-wandb-key-%s' "$RANDOM$RANDOM" >"$demo/secrets/wandb/api-key"

echo "== starting mlspace-controller (log: $demo/controller.log)"
"$bin" --manifests "$repo" --state-dir "$demo/state" --gateway=local \
  --secrets-dir "$demo/secrets" --poll-interval 2s --source-poll-interval 5s \
  --api-bind-address "127.0.0.1:$api_port" --metrics-bind-address "127.0.0.1:$metrics_port" \
  >>"$demo/controller.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM

api=http://127.0.0.1:$api_port/apis/mlspace.io/v1alpha1/mlspacejobs
table() {
  curl -fsS "$api" 2>/dev/null | python3 "$root/scripts/print_jobs.py"
}

for i in $(seq 1 90); do
  if ! kill -0 $pid 2>/dev/null; then
    echo "run: the controller exited; last log lines:" >&2; tail -n 20 "$demo/controller.log" >&2; exit 1
  fi
  out=$(table) && { echo "$out"; converged=1; break; } || true
  [ -n "$out" ] && { clear 2>/dev/null || true; echo "$out"; }
  sleep 2
done
[ "${converged:-0}" = 1 ] || { echo "run: samples did not converge within 3 minutes" >&2; exit 1; }

cat <<TXT

== the samples converged. Where to look:
  API       curl $api
            kubectl --server http://127.0.0.1:$api_port get mlspacejobs -A
  metrics   curl http://127.0.0.1:$metrics_port/metrics
  logs      $demo/controller.log   (job output: $demo/state/local-jobs/)
  manifests $repo — edit, git commit, and watch the controller react
            (e.g. set runPolicy.suspend: false in suspended.yaml and commit)
TXT
[ "${MLSPACE_RUN_EXIT:-0}" = 1 ] && exit 0
echo; echo "controller running (pid $pid); Ctrl-C stops it"
wait $pid
