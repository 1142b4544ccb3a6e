#!/usr/bin/env bash
# The Slurm backend under load (bench/README.md, "slurm"): 500 manifests
# committed at once against a single-node Slurm (e2e/slurm/slurm_cluster.sh),
# then the steady state with all 500 jobs known.
#
#   bench/slurm_bench.sh [BUILD_DIR] [JOBS] [STEADY_SECONDS]
#
# Prints: time until every object has a Slurm job, slurmctld RPCs (sdiag,
# reset at start) and RPCs per second during the burst; in the steady state,
# squeue calls per poll (REQUEST_JOB_INFO per controller poll) and the
# controller's CPU time per poll (/proc/PID/stat). Needs root.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/default}
jobs=${2:-500}
steady=${3:-30}
poll_ms=1000

work=$(mktemp -d /tmp/mlspace-slurm-bench.XXXXXX)
ctl_pid=""
cleanup() {
  [ -n "$ctl_pid" ] && kill -TERM "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null || true
  SLURM_CONF="$work/cluster/slurm.conf" scancel --user=root 2>/dev/null || true
  "$src/e2e/slurm/slurm_cluster.sh" stop "$work/cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$src/e2e/slurm/slurm_cluster.sh" start "$work/cluster" 3600 >/dev/null
export SLURM_CONF="$work/cluster/slurm.conf"

mkdir -p "$work/repo/jobs"
git -C "$work/repo" init -q -b main
for i in $(seq 1 "$jobs"); do
  cat >"$work/repo/jobs/j$i.yaml" <<YAML
apiVersion: mlspace.io/v1alpha1
kind: MLSpaceJob
metadata:
  name: j$i
spec:
  region: SR006
  image: cr.ai.cloud.ru/base/py3.11:1
  instanceType: cpu.small
  command: [/bin/sleep, "3600"]
YAML
done
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@localhost commit -qm "$jobs jobs"

# squeue through a wrapper that timestamps each call: the calls in the
# steady window and the gaps between them show one squeue per poll.
mkdir -p "$work/bin"
cat >"$work/bin/squeue" <<SH
#!/bin/sh
date +%s.%N >>"$work/squeue.calls"
exec squeue "\$@"
SH
chmod +x "$work/bin/squeue"

cat >"$work/slurm.yaml" <<YAML
partitions: {SR006: debug}
instanceTypes: {cpu.small: {}}
workerLayout: task
outputDir: $work/out
launcherPath: $build/launcher/mlspace-launch
slurmConf: $SLURM_CONF
squeue: $work/bin/squeue
YAML

rpcs() {  # total RPCs and REQUEST_JOB_INFO count since the last reset
  sdiag | awk '/Remote Procedure Call statistics by message type/ {on=1; next}
               /Remote Procedure Call statistics by user/ {on=0}
               on && /count:/ {split($0, a, "count:"); split(a[2], b, " "); n += b[1];
                               if ($1 == "REQUEST_JOB_INFO") ji = b[1]}
               END {print n + 0, ji + 0}'
}
submitted() {  # objects with a remote job name
  curl -s "http://127.0.0.1:$api/apis/mlspace.io/v1alpha1/mlspacejobs" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for o in d.get("items",[]) if o.get("status",{}).get("remoteJobName")))' 2>/dev/null || echo 0
}
cpu_ticks() { awk '{print $14 + $15, $16 + $17}' "/proc/$ctl_pid/stat"; }

sdiag -r >/dev/null
start=$(date +%s.%N)
"$build/controller/cmd/mlspace-controller" --manifests "$work/repo" --state-dir "$work/state" \
  --gateway=slurm --slurm-config "$work/slurm.yaml" --instance bench \
  --api-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 \
  --ports-file "$work/ports.json" --poll-interval "${poll_ms}ms" >"$work/controller.log" 2>&1 &
ctl_pid=$!
for _ in $(seq 1 300); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' "$work/ports.json")
while [ "$(submitted)" -lt "$jobs" ]; do
  kill -0 "$ctl_pid" || { tail -20 "$work/controller.log"; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
read -r burst_rpcs burst_info < <(rpcs)
in_slurm=$(squeue -h -o %i | wc -l)
burst_s=$(python3 -c "print(f'{$end - $start:.2f}')")
echo "burst: $jobs manifests -> $jobs Slurm jobs (squeue shows $in_slurm) in ${burst_s} s"
echo "burst: slurmctld RPCs $burst_rpcs ($(python3 -c "print(f'{$burst_rpcs / ($end - $start):.0f}')")/s), REQUEST_JOB_INFO $burst_info"

# Steady state: every job known, nothing left to submit.
sleep 3
sdiag -r >/dev/null
read -r t0 c0 < <(cpu_ticks)
s0=$(date +%s.%N)
sleep "$steady"
read -r t1 c1 < <(cpu_ticks)
s1=$(date +%s.%N)
read -r st_rpcs st_info < <(rpcs)
hz=$(getconf CLK_TCK)
python3 - "$work/squeue.calls" <<PY
import sys
s0, s1 = $s0, $s1
calls = [float(l) for l in open(sys.argv[1]) if l.strip()]
win = [t for t in calls if s0 <= t <= s1]
gaps = [b - a for a, b in zip(win, win[1:])]
n = len(win)
cpu = ($t1 - $t0) / $hz
child = ($c1 - $c0) / $hz
print(f"steady: {$jobs} jobs known, {s1 - s0:.1f} s, --poll-interval ${poll_ms}ms")
print(f"steady: squeue calls {n}, gaps between them min {min(gaps):.2f} / median {sorted(gaps)[len(gaps)//2]:.2f} / max {max(gaps):.2f} s")
print(f"steady: slurmctld REQUEST_JOB_INFO {$st_info} ({$st_info / n:.2f} per squeue call), all RPCs {$st_rpcs}")
print(f"steady: controller CPU {cpu:.2f} s = {cpu / n * 1000:.1f} ms per poll ({cpu / (s1 - s0) * 100:.1f}% of a core); "
      f"its children (squeue and the wrapper) {child / n * 1000:.1f} ms per poll")
PY
