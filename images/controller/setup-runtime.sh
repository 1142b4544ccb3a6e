#!/bin/sh
# The controller image's runtime stage, applied as root inside the target root
# file system: by images/controller/Dockerfile (RUN) and by tests/images
# (chroot into a debootstrapped Debian 12), so the two cannot drift.
#   setup-runtime.sh PACKAGES_FILE
# Installs the packages listed in PACKAGES_FILE that are missing (a
# debootstrap with --include already has them), creates the non-root user
# mlspace (65532:65532, no login shell) and the directories the chart mounts.
set -eu
packages=$(grep -v '^#' "$1" | tr '\n' ' ')
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
fi
# 65532 (distroless' nonroot) lies above login.defs' UID_MAX: widen the range for it (no warning).
getent group mlspace >/dev/null || groupadd -K GID_MAX=65535 --gid 65532 mlspace
getent passwd mlspace >/dev/null ||
  useradd -K UID_MAX=65535 --uid 65532 --gid 65532 --home-dir /var/lib/mlspace --no-create-home \
    --shell /usr/sbin/nologin mlspace
install -d -o 65532 -g 65532 -m 0750 /var/lib/mlspace
install -d -m 0755 /etc/mlspace /etc/mlspace/secrets
