#!/usr/bin/env bash
# `make run`: the controller on the sample manifests, with the embedded
# LocalGateway (jobs run as local processes through mlspace-launch; no
# MLSpace account needed). Creates, once, a demo git repository from
# crd/samples/ under the demo directory, starts mlspace-controller on it,
# waits until the jobs settle (or a bounded time), says where to watch,
# then keeps running until Ctrl-C (exit 0).
#
#   MLSPACE_DEMO_DIR (.demo)              demo repository, state, logs
#   API_PORT (8081), METRICS_PORT (8080)  where to listen (loopback; 0 = any free port)
#   MLSPACE_RUN_BUILD=1                   build first (one progress line; `make run` sets it)
#   MLSPACE_RUN_SETTLE_SECONDS (120)      longest wait for the jobs to settle
#   MLSPACE_RUN_EXIT=1                    stop once settled (tests)
#   MLSPACE_CONTROLLER                    the binary (default build/$PRESET/...)
#
# "Settled" = every object is in a phase that does not move by itself
# (Succeeded, Failed, Suspended, Invalid, Removed) or is blocked until you
# change something (Stalled=True, e.g. a missing secret). A job that is
# still Pending or Running after the bounded wait is listed, not an error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Ctrl-C under `make run` reaches every process of the terminal's foreground
# group, make included, and make exits 130 on SIGINT whatever its recipe
# does. So, on a terminal, run this script as its own job in the foreground
# (job control gives it a process group of its own): Ctrl-C reaches only
# it, it stops the controller and exits 0, and so does make.
if [ -t 0 ] && [ -z "${MLSPACE_RUN_CHILD:-}" ]; then
  set -m
  MLSPACE_RUN_CHILD=1 bash "$0" "$@" &
  fg %1 >/dev/null
  exit $?
fi

preset=${PRESET:-default}
bin=${MLSPACE_CONTROLLER:-build/$preset/controller/cmd/mlspace-controller}
demo=${MLSPACE_DEMO_DIR:-$root/.demo}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
repo=$demo/manifests
log=$demo/controller.log
api_port=${API_PORT:-8081}
metrics_port=${METRICS_PORT:-8080}
settle_seconds=${MLSPACE_RUN_SETTLE_SECONDS:-120}

if [ "${MLSPACE_RUN_BUILD:-0}" = 1 ]; then
  # One progress line; the whole output goes to a log, its tail on failure.
  # MAKEFLAGS from an outer `make` would make the inner one print every
  # "Entering directory".
  build_log=$demo/build.log
  : >"$build_log"
  set +e
  {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake --preset "$preset" &&
      env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake --build --preset "$preset" -j "${JOBS:-2}"
  } 2>&1 | tee -a "$build_log" | while IFS= read -r line; do
    if [[ $line =~ ^\[\ *([0-9]+)%\] ]]; then
      printf '\r== building (%s): %3s%%' "$preset" "${BASH_REMATCH[1]}"
    fi
  done
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" != 0 ]; then
    printf '\n' >&2
    echo "run: the build failed; last lines of $build_log:" >&2
    tail -n 30 "$build_log" >&2
    exit 1
  fi
  printf '\r== built (%s); full output in %s\n' "$preset" "$build_log"
fi
[ -x "$bin" ] || { echo "run: $bin missing; run 'make build' first" >&2; exit 1; }

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

echo "== starting mlspace-controller (log: $log)"
ports_file=$demo/ports.json
rm -f "$ports_file"
"$bin" --manifests "$repo" --state-dir "$demo/state" --gateway=local \
  --secrets-dir "$demo/secrets" --poll-interval 2s --source-poll-interval 5s \
  --api-bind-address "127.0.0.1:$api_port" --metrics-bind-address "127.0.0.1:$metrics_port" \
  --ports-file "$ports_file" >>"$log" 2>&1 &
pid=$!

stop() {
  trap - INT TERM EXIT
  if kill -0 "$pid" 2>/dev/null; then
    echo
    echo "== stopping mlspace-controller"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

controller_died() {
  echo "run: the controller exited; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

# The bound ports (API_PORT/METRICS_PORT may be 0).
for _ in $(seq 1 100); do
  [ -s "$ports_file" ] && break
  kill -0 "$pid" 2>/dev/null || controller_died
  sleep 0.1
done
[ -s "$ports_file" ] || controller_died
read -r api_port metrics_port < <(python3 -c \
  'import json,sys; p=json.load(open(sys.argv[1])); print(p["api"], p["metrics"])' "$ports_file")
server=http://127.0.0.1:$api_port
api=$server/apis/mlspace.io/v1alpha1/mlspacejobs

settled=0
last=""
deadline=$((SECONDS + settle_seconds))
while [ "$SECONDS" -lt "$deadline" ]; do
  kill -0 "$pid" 2>/dev/null || controller_died
  # /readyz turns 200 after the first sync: an empty list means "no jobs"
  # only from then on.
  if curl -fsS -o /dev/null "$server/readyz" 2>/dev/null; then
    rc=0
    out=$(curl -fsS "$api" 2>/dev/null | python3 "$root/scripts/print_jobs.py") || rc=$?
    if [ -n "$out" ] && [ "$out" != "$last" ]; then
      [ -t 1 ] && clear 2>/dev/null || true
      echo "$out"
      last=$out
    fi
    if [ "$rc" = 0 ]; then settled=1; break; fi
  fi
  sleep 1
done
if [ "$settled" = 1 ]; then
  echo "== settled"
else
  echo "== still moving after ${settle_seconds}s (shown above); the controller keeps at it"
fi

cat <<TXT

== where to watch:
  jobs      kubectl --server $server get msj -A -w
            kubectl --server $server describe msj -n samples env-secret
  log       tail -f $log   (job output: $demo/state/local-jobs/)
  metrics   http://127.0.0.1:$metrics_port/metrics
  manifests $repo: edit, git commit, and watch the controller react
            (e.g. set runPolicy.suspend: false in suspended.yaml and commit)
TXT
[ "${MLSPACE_RUN_EXIT:-0}" = 1 ] && exit 0
echo
echo "controller running (pid $pid); Ctrl-C stops it"
# `wait` returns early when a trapped signal arrives; the trap then exits 0.
set +e
wait "$pid"
rc=$?
trap - EXIT
[ "$rc" = 0 ] || controller_died
exit 0
