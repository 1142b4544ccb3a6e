#!/usr/bin/env bash
# The images' contracts without a container engine (issue 14): debootstrap
# Debian 12 from Debian's mirror into a cached, project-local directory
# (<repo>/.tools/rootfs, or MLSPACE_TOOLS_DIR/rootfs), apply the same setup
# script the Dockerfile runs, then check in a chroot:
#   job-base:   user 1000:1000 and its directories; sshd started as uid 1000
#               with its pid file at /run/sshd/sshd.pid accepts an ssh-rsa
#               key login on a loopback port; mlspace-launch runs an encoded
#               spec as that user.
#   controller: the runtime stage (runtime-packages.txt only) starts
#               mlspace-controller, mlspace-gateway-emulator and mlspacectl
#               (--help; all four binaries answer --version) and passes
#               --check-config, as the non-root user 65532.
# HPC-X itself is not checked (NVIDIA's tarball is not fetched here); its
# install step is, with stand-in tarballs.
# Needs root (debootstrap, chroot, mount). Exit 77 (ctest SKIP) when not root
# or debootstrap is missing; scripts/deps.sh installs debootstrap.
set -euo pipefail

src=${MLSPACE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MLSPACE_BINARY_DIR:-$src/build/default}
cache=${MLSPACE_TOOLS_DIR:-$src/.tools}/rootfs
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { echo "ok: $*"; }

# --- inside a private mount namespace: the chroot checks ---------------------
if [ "${1:-}" = --inner ]; then
  work=$2
  jb=$work/job-base
  ctl=$work/controller
  mount -t proc proc "$jb/proc"
  mount --bind /dev "$jb/dev"
  mount -t proc proc "$ctl/proc"
  mount --bind /dev "$ctl/dev"

  # job-base: the setup script, then the contract.
  cp "$bin/launcher/mlspace-launch" "$jb/tmp/mlspace-launch"
  cp "$src/images/job-base/setup-job-base.sh" "$jb/tmp/"
  chroot "$jb" sh /tmp/setup-job-base.sh /tmp/mlspace-launch

  [ "$(chroot "$jb" id -u user):$(chroot "$jb" id -g user)" = 1000:1000 ] || fail "user is not 1000:1000"
  [ "$(chroot "$jb" getent passwd user | cut -d: -f6)" = /home/user ] || fail "home is not /home/user"
  check "user 1000:1000 with home /home/user"
  for d in /home/user /home/jovyan /tmp/.jupyter /tmp/.jupyter_data /run/sshd; do
    [ "$(stat -c %u:%g "$jb$d")" = 1000:1000 ] || fail "$d is owned by $(stat -c %u:%g "$jb$d")"
  done
  check "/home/user /home/jovyan /tmp/.jupyter /tmp/.jupyter_data /run/sshd owned by 1000:1000"
  others=$(find "$jb/etc/mlspace/ssh" "$jb/run/sshd" ! -user 1000 -printf '%P ' 2>&1)
  [ -s "$jb/etc/mlspace/ssh/sshd_config" ] || fail "no /etc/mlspace/ssh/sshd_config"
  [ -z "$others" ] || fail "sshd files not owned by the user: $others"
  check "sshd's config, host keys and pid directory owned by the user"
  [ -x "$jb/opt/mlspace/bin/mlspace-launch" ] || fail "no /opt/mlspace/bin/mlspace-launch"

  ssh-keygen -q -t rsa -b 3072 -N '' -f "$work/id_rsa"
  install -o 1000 -g 1000 -m 0600 "$work/id_rsa.pub" "$jb/home/user/.ssh/authorized_keys"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  chroot --userspec=1000:1000 "$jb" /usr/sbin/sshd -f /etc/mlspace/ssh/sshd_config \
    -o ListenAddress=127.0.0.1 -p "$port" -E /tmp/sshd.log
  for _ in $(seq 100); do [ -s "$jb/run/sshd/sshd.pid" ] && break; sleep 0.1; done
  [ -s "$jb/run/sshd/sshd.pid" ] || fail "no pid file /run/sshd/sshd.pid: $(cat "$jb/tmp/sshd.log" 2>/dev/null)"
  pid=$(cat "$jb/run/sshd/sshd.pid")
  trap 'kill "$pid" 2>/dev/null || true' EXIT
  [ "$(stat -c %u "/proc/$pid")" = 1000 ] || fail "sshd runs as uid $(stat -c %u "/proc/$pid")"
  check "sshd runs as uid 1000, pid file /run/sshd/sshd.pid"
  out=$(ssh -i "$work/id_rsa" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no \
          -o UserKnownHostsFile=/dev/null -o PubkeyAcceptedAlgorithms=ssh-rsa \
          -o HostKeyAlgorithms=ssh-rsa -o LogLevel=ERROR user@127.0.0.1 'id -u; echo "$HOME"') ||
    fail "ssh-rsa login refused: $(cat "$jb/tmp/sshd.log")"
  [ "$out" = "$(printf '1000\n/home/user')" ] || fail "ssh login ran as: $out"
  check "ssh-rsa key login on 127.0.0.1:$port runs as 1000 in /home/user"

  # mlspace-launch with an encoded spec (docs/launch-protocol.md), as the user.
  mapfile -t flags < <(python3 - <<'PY'
import base64, hashlib, json
spec = {"executable": "sh", "args": ["-c", 'echo "$(id -u) $(pwd) $GREETING" > launched.txt'],
        "env": {"GREETING": "hello"}, "work_dir": "/home/user"}
b64 = base64.b64encode(json.dumps(spec, separators=(",", ":")).encode()).decode()
print("--spec-version=1"); print("--spec-num-parts=1"); print("--spec-part-0=" + b64)
print("--spec-sha256=" + hashlib.sha256(b64.encode()).hexdigest())
PY
)
  chroot --userspec=1000:1000 "$jb" /opt/mlspace/bin/mlspace-launch "${flags[@]}" ||
    fail "mlspace-launch exited $?"
  [ "$(cat "$jb/home/user/launched.txt")" = "1000 /home/user hello" ] ||
    fail "mlspace-launch ran: $(cat "$jb/home/user/launched.txt")"
  [ "$(stat -c %u "$jb/home/user/launched.txt")" = 1000 ] || fail "launched.txt not owned by 1000"
  check "mlspace-launch ran the encoded spec as 1000 in /home/user"
  kill "$pid"

  # The HPC-X step with stand-in tarballs (NVIDIA's is not fetched): an old
  # version is refused, a 2.18 layout lands in /opt/hpcx and a login shell
  # gets OPAL_PREFIX, PATH and LD_LIBRARY_PATH for it.
  for v in 2.17 2.18; do
    d=$work/hpcx/hpcx-v$v-gcc-inbox-ubuntu22.04-cuda12-x86_64
    mkdir -p "$d/ompi/bin" "$d/ompi/lib" "$d/ucx/lib"
    printf '#!/bin/sh\necho "stand-in mpirun"\n' >"$d/ompi/bin/mpirun"
    chmod +x "$d/ompi/bin/mpirun"
    tar -cjf "$jb/tmp/hpcx-v$v.tbz" -C "$work/hpcx" "$(basename "$d")"
  done
  if chroot "$jb" sh /tmp/setup-job-base.sh /tmp/mlspace-launch /tmp/hpcx-v2.17.tbz 2>"$work/hpcx.err"; then
    fail "HPC-X 2.17 was accepted"
  fi
  grep -q "2.18 or newer is required" "$work/hpcx.err" || fail "HPC-X 2.17 refused with: $(cat "$work/hpcx.err")"
  chroot "$jb" sh /tmp/setup-job-base.sh /tmp/mlspace-launch /tmp/hpcx-v2.18.tbz
  out=$(chroot --userspec=1000:1000 "$jb" /bin/bash -lc 'echo "$OPAL_PREFIX"; command -v mpirun; echo "$LD_LIBRARY_PATH"')
  [ "$(echo "$out" | sed -n 1p)" = /opt/hpcx/ompi ] || fail "OPAL_PREFIX in a login shell: $out"
  [ "$(echo "$out" | sed -n 2p)" = /opt/hpcx/ompi/bin/mpirun ] || fail "mpirun on PATH: $out"
  echo "$out" | sed -n 3p | grep -q "^/opt/hpcx/ompi/lib:" || fail "LD_LIBRARY_PATH: $out"
  check "HPC-X step: 2.17 refused, a 2.18 layout installed into /opt/hpcx with its environment (stand-in tarball)"

  # controller runtime stage.
  cp "$src/images/controller/setup-runtime.sh" "$src/images/controller/runtime-packages.txt" "$ctl/tmp/"
  chroot "$ctl" sh /tmp/setup-runtime.sh /tmp/runtime-packages.txt
  install -m 0755 "$bin/controller/cmd/mlspace-controller" "$bin/controller/cmd/mlspace-gateway-emulator" \
    "$bin/launcher/mlspace-launch" "$bin/controller/cli/mlspacectl" "$ctl/usr/local/bin/"
  for b in mlspace-controller mlspace-gateway-emulator mlspacectl; do
    chroot --userspec=65532:65532 "$ctl" "/usr/local/bin/$b" --help >/dev/null ||
      fail "$b --help exited $? in the runtime stage"
  done
  for b in mlspace-controller mlspace-gateway-emulator mlspacectl mlspace-launch; do
    out=$(chroot --userspec=65532:65532 "$ctl" "/usr/local/bin/$b" --version 2>&1) ||
      fail "$b --version exited $? in the runtime stage: $out"
    case $out in "$b "[0-9]*) ;; *) fail "$b --version said: $out" ;; esac
  done
  check "mlspace-controller, mlspace-gateway-emulator and mlspacectl start (--help), all four answer --version, with runtime-packages.txt"
  install -d -o 65532 -g 65532 "$ctl/etc/mlspace/secrets/mlspace"
  printf ws-1 >"$ctl/etc/mlspace/secrets/mlspace/workspace-id"
  printf key-1 >"$ctl/etc/mlspace/secrets/mlspace/api-key"
  out=$(chroot --userspec=65532:65532 "$ctl" /usr/local/bin/mlspace-controller --check-config \
          --git-url https://git.example.com/ml/jobs.git --state-dir /var/lib/mlspace/state \
          --secrets-dir /etc/mlspace/secrets --gateway-url https://api.ai.cloud.ru 2>&1) ||
    fail "--check-config in the runtime stage: $out"
  check "mlspace-controller --check-config in the runtime stage: $out"
  out=$(chroot --userspec=65532:65532 "$ctl" /usr/local/bin/mlspace-controller --check-config \
          --manifests /var/lib/mlspace --state-dir /nonexistent/state 2>&1) && fail "--check-config passed a bad config"
  check "--check-config refuses a bad config there too"
  exit 0
fi

# --- outside: cached debootstrap, fresh copies, then the namespace ------------
[ "$(id -u)" = 0 ] || { echo "needs root (debootstrap, chroot): skipping"; exit 77; }
command -v debootstrap >/dev/null || { echo "debootstrap not installed: skipping"; exit 77; }
for f in "$bin/launcher/mlspace-launch" "$bin/controller/cmd/mlspace-controller" \
         "$bin/controller/cmd/mlspace-gateway-emulator" "$bin/controller/cli/mlspacectl"; do
  [ -x "$f" ] || fail "$f not built"
done

# rootfs NAME INCLUDES: a cached minbase Debian 12 with INCLUDES (comma list).
rootfs() {
  local key dir
  key=$(printf '%s' "$2" | sha256sum | cut -c1-12)
  dir=$cache/$1-$key
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir.tmp"
    debootstrap --variant=minbase --include="$2" bookworm "$dir.tmp" "$mirror" >"$cache/$1.log" 2>&1 ||
      fail "debootstrap $1 failed: $(tail -5 "$cache/$1.log")"
    rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
  fi
  echo "$dir"
}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
jb_base=$(rootfs job-base openssh-server,ca-certificates,bzip2)
ctl_base=$(rootfs controller "$(grep -v '^#' "$src/images/controller/runtime-packages.txt" | paste -sd, -)")
flock -u 9

work=$(mktemp -d "${TMPDIR:-/tmp}/mlspace-image-test.XXXXXX")
cleanup() {
  # The mounts lived in the inner namespace; refuse to delete through one anyway.
  if ! grep -q " $work/" /proc/self/mounts; then rm -rf "$work"; fi
}
trap cleanup EXIT
cp -a "$jb_base" "$work/job-base"
cp -a "$ctl_base" "$work/controller"
unshare --mount --propagation private "$0" --inner "$work"
echo "PASS (HPC-X not checked: see README, Images)"
