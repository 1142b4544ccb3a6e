#!/bin/sh
# The job container contract (DESIGN.md section 6), applied as root inside
# the target root file system: by images/job-base/Dockerfile (RUN) and by
# tests/images (chroot into a debootstrapped Debian 12), so the two cannot
# drift.
#   setup-job-base.sh LAUNCHER [HPCX_TARBALL]
# LAUNCHER: the mlspace-launch binary to install at /opt/mlspace/bin.
# HPCX_TARBALL: optional NVIDIA HPC-X tarball (hpcx-v2.18+...tbz), unpacked
# into /opt/hpcx; PATH, LD_LIBRARY_PATH and OPAL_PREFIX for it are set by the
# Dockerfile's ENV and by /etc/profile.d/hpcx.sh for ssh logins.
set -eu
launcher=$1
hpcx=${2:-}

# openssh-server without PAM; a debootstrap --include already has it.
if ! dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q "install ok installed"; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openssh-server ca-certificates bzip2
  rm -rf /var/lib/apt/lists/*
fi

# user 1000:1000, home /home/user.
getent group user >/dev/null || groupadd --gid 1000 user
getent passwd user >/dev/null ||
  useradd --uid 1000 --gid 1000 --home-dir /home/user --create-home --shell /bin/bash user
for d in /home/user /home/jovyan /tmp/.jupyter /tmp/.jupyter_data; do
  install -d -o 1000 -g 1000 -m 0755 "$d"
done
install -d -o 1000 -g 1000 -m 0700 /home/user/.ssh

# sshd in userspace: run as the user on an unprivileged port, no PAM,
# ssh-rsa keys accepted, pid file /run/sshd/sshd.pid; all its files belong
# to the user (sshd refuses host keys readable by others).
install -d -o 1000 -g 1000 -m 0755 /run/sshd /etc/mlspace/ssh
for t in rsa ed25519; do
  key=/etc/mlspace/ssh/ssh_host_${t}_key
  [ -f "$key" ] || ssh-keygen -q -t "$t" -N '' -f "$key"
done
cat >/etc/mlspace/ssh/sshd_config <<'CONF'
# Userspace sshd of the MLSpace job image: start it as the user, e.g.
#   /usr/sbin/sshd -f /etc/mlspace/ssh/sshd_config [-p PORT]
Port 2222
HostKey /etc/mlspace/ssh/ssh_host_rsa_key
HostKey /etc/mlspace/ssh/ssh_host_ed25519_key
PidFile /run/sshd/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PubkeyAcceptedAlgorithms +ssh-rsa
HostKeyAlgorithms +ssh-rsa
AuthorizedKeysFile .ssh/authorized_keys
StrictModes no
PrintMotd no
Subsystem sftp internal-sftp
CONF
chown -R 1000:1000 /etc/mlspace/ssh
chmod 0600 /etc/mlspace/ssh/ssh_host_*_key

# mlspace-launch (its copy for one-off jobs that put it on the NFS).
install -D -m 0755 "$launcher" /opt/mlspace/bin/mlspace-launch

# HPC-X from NVIDIA's tarball, when given.
cat >/etc/profile.d/hpcx.sh <<'PROFILE'
export OPAL_PREFIX=/opt/hpcx/ompi
export PATH=/opt/hpcx/ompi/bin:/opt/hpcx/ucx/bin:/opt/hpcx/ucc/bin:$PATH
export LD_LIBRARY_PATH=/opt/hpcx/ompi/lib:/opt/hpcx/ucx/lib:/opt/hpcx/ucc/lib:/opt/hpcx/nccl_rdma_sharp_plugin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PROFILE
if [ -n "$hpcx" ]; then
  # NVIDIA's tarballs hold one directory hpcx-vMAJOR.MINOR[.PATCH]-...; >= 2.18 is required.
  top=$(tar -tf "$hpcx" | head -n 1 | cut -d/ -f1)
  version=$(echo "$top" | sed -n 's/^hpcx-v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
  [ -n "$version" ] || { echo "setup-job-base.sh: $hpcx: no hpcx-vX.Y directory (found \"$top\")" >&2; exit 1; }
  set -- $version
  if [ "$1" -lt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -lt 18 ]; }; then
    echo "setup-job-base.sh: $hpcx is HPC-X $1.$2; 2.18 or newer is required" >&2
    exit 1
  fi
  install -d /opt/hpcx
  tar -xf "$hpcx" -C /opt/hpcx --strip-components=1
  [ -x /opt/hpcx/ompi/bin/mpirun ] || { echo "setup-job-base.sh: $hpcx has no ompi/bin/mpirun" >&2; exit 1; }
fi
