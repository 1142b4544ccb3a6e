#!/usr/bin/env bash
# Installs exactly the Debian packages the project needs, skipping what is
# present. Idempotent; runs as root, or through sudo otherwise.
set -euo pipefail

PACKAGES=(
  g++ make cmake ccache git file pkg-config
  clang clang-format clang-tidy libclang-rt-14-dev   # fuzzing, format, lint
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev zlib1g-dev libpoco-dev libyaml-cpp-dev nlohmann-json3-dev rapidjson-dev
  prometheus-cpp-dev libgit2-dev libsqlite3-dev
  python3 python3-jsonschema                          # independent schema check
  python3-yaml openssl                                # chart tests (tests/charts; openssl makes TLS pairs)
  debootstrap openssh-client                          # image tests (tests/images)
  prometheus                                          # real Prometheus + promtool (e2e)
  unzip curl procps
  slurmctld slurmd slurm-client munge               # real single-node Slurm (e2e/slurm)
  slurmrestd slurm-wlm-jwt-plugin                   # its REST API with JWT auth (e2e/slurm)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The chart tests fetch helm and the kubernetes-models schemas with npm
# (scripts/tools.sh). Any node/npm on PATH will do (e.g. NodeSource's, whose
# nodejs conflicts with Debian's npm package), so only a missing npm installs one.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
