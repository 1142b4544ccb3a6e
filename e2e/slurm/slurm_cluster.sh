#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for the e2e suite and the benchmark.
#
#   slurm_cluster.sh start DIR [MIN_JOB_AGE]   starts munged, slurmctld, slurmd
#                                              under DIR; prints SLURM_CONF=...
#   slurm_cluster.sh stop DIR                  stops them (by their pid files)
#
# Needs root (slurmd runs jobs as their submitter) and the Debian packages
# slurmctld slurmd slurm-client munge (scripts/deps.sh). No systemd: every
# daemon runs in the foreground-less mode with its pid, log, state and spool
# under DIR, munged on its own socket (AuthInfo=socket=...), the Slurm ports
# picked free, the cluster name unique, so two runs never share anything.
set -euo pipefail

cmd=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=${2:?usage: slurm_cluster.sh start|stop DIR}

stop_pidfile() {
  local f=$1
  [ -s "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

if [ "$cmd" = stop ]; then
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/munged.pid"
  if [ -s "$dir/munge.path" ]; then
    case $(cat "$dir/munge.path") in
      /tmp/mlspace-munge.*) rm -rf "$(cat "$dir/munge.path")" ;;
    esac
    rm -f "$dir/munge.path"
  fi
  exit 0
fi
[ "$cmd" = start ] || { echo "slurm_cluster.sh: unknown command $cmd" >&2; exit 2; }
min_job_age=${3:-300}

[ "$(id -u)" -eq 0 ] || { echo "slurm_cluster.sh: needs root (slurmd)" >&2; exit 1; }
for b in munged slurmctld slurmd sinfo; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || {
    echo "slurm_cluster.sh: $b missing; run scripts/deps.sh" >&2; exit 1; }
done
id munge >/dev/null 2>&1 || { echo "slurm_cluster.sh: no munge user" >&2; exit 1; }

mkdir -p "$dir"/{state,spool,log}
dir=$(cd "$dir" && pwd)
# munged runs as the munge user, which cannot enter a caller's 0700 temp
# dir: its key, socket, pid and log live in a directory of their own.
mdir=$(mktemp -d /tmp/mlspace-munge.XXXXXX)
chmod 755 "$mdir"
echo "$mdir" >"$dir/munge.path"

# munged refuses group/world-writable key and socket directories.
key="$mdir/munge.key"
if [ -s /etc/munge/munge.key ]; then
  cp /etc/munge/munge.key "$key"
else
  dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
fi
chown -R munge:munge "$mdir"
chmod 400 "$key"
sock="$mdir/munge.socket"
runuser -u munge -- /usr/sbin/munged --key-file="$key" --socket="$sock" \
  --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log" \
  --seed-file="$mdir/munged.seed" --force
for _ in $(seq 1 50); do [ -S "$sock" ] && [ -s "$mdir/munged.pid" ] && break; sleep 0.1; done
cp "$mdir/munged.pid" "$dir/munged.pid"

# Below the kernel's ephemeral range (outgoing connections of other tests
# on 127.x.y.z take ephemeral ports, and their TIME-WAIT entries make
# slurmctld's bind to 0.0.0.0 fail), checked on 0.0.0.0 like Slurm binds.
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
cluster="mls$(date +%s)$$"

cat >"$dir/slurm.conf.in" <<CONF
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=@CTLD_PORT@
SlurmdPort=@SLURMD_PORT@
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=$min_job_age
MaxJobCount=20000
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF

export SLURM_CONF="$dir/slurm.conf"
# A port picked free can be taken before slurmctld binds it: then it exits
# at once ("Address already in use") and the start is retried on new ports.
for attempt in 1 2 3 4 5; do
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
  sed "s/@CTLD_PORT@/$ctld_port/; s/@SLURMD_PORT@/$slurmd_port/" "$dir/slurm.conf.in" >"$SLURM_CONF"
  /usr/sbin/slurmctld -f "$SLURM_CONF" -i
  sleep 0.3
  if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    break
  fi
  rm -f "$dir/slurmctld.pid"
  [ "$attempt" = 5 ] && { echo "slurm_cluster.sh: slurmctld did not start" >&2;
                          tail -5 "$dir/log/slurmctld.log" >&2; exit 1; }
done
/usr/sbin/slurmd -f "$SLURM_CONF" -N "$host"
for _ in $(seq 1 100); do
  if timeout 5 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  for d in slurmctld slurmd; do
    if ! { [ -s "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null; }; then
      sleep 0.5  # slurmd writes its pid file a moment after forking
      [ -s "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null && continue
      echo "slurm_cluster.sh: $d exited; logs in $dir/log" >&2
      tail -5 "$dir/log/$d.log" >&2 || true
      exit 1
    fi
  done
  sleep 0.2
done
echo "slurm_cluster.sh: the node did not become idle; logs in $dir/log" >&2
timeout 5 sinfo >&2 || true
tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
