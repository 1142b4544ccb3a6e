#!/usr/bin/env bash
# `make run`: until the controller lands, demonstrates mlspace-launch — encodes
# a launch spec the way the controller does (JSON -> base64 -> parts + sha256,
# here with coreutils), prints the flags, then runs the spec through the
# launcher built by `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=build/${PRESET:-default}/launcher/mlspace-launch
[ -x "$launcher" ] || { echo "run: $launcher missing; run 'make build' first" >&2; exit 1; }

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
spec=$(cat <<JSON
{"executable":"sh","args":["-c","echo \"hello from \$(pwd) as \$GREETING_USER\"; echo \"args: \$*\"; exit 3","sh","a b","it's"],"env":{"GREETING_USER":"demo","API_TOKEN":"not-printed"},"work_dir":"$workdir"}
JSON
)
b64=$(printf %s "$spec" | base64 -w0)
sha=$(printf %s "$b64" | sha256sum | cut -d' ' -f1)
flags=(--spec-version=1 --spec-num-parts=1 "--spec-part-0=$b64" "--spec-sha256=$sha")

echo "== spec JSON"; echo "$spec"
echo; echo "== command line (as the Gateway passes the flags)"
echo "$launcher ${flags[*]}" | cut -c1-160
echo; echo "== mlspace-launch --print-spec (env values masked)"
"$launcher" --print-spec "${flags[@]}"
echo; echo "== mlspace-launch (runs the command; exit code passes through)"
set +e
"$launcher" "${flags[@]}"
code=$?
set -e
echo "exit code: $code"
echo; echo "== a corrupted spec is refused with a reserved exit code"
set +e
bad_sha=$([ "${sha:0:1}" = 0 ] && echo 1 || echo 0)${sha:1}
"$launcher" --spec-version=1 --spec-num-parts=1 "--spec-part-0=$b64" "--spec-sha256=$bad_sha"
echo "exit code: $?"
"$launcher" --spec-version=1 --spec-num-parts=2 "--spec-part-0=$b64"
echo "exit code: $?"
set -e
echo; echo "See '$launcher --help' and docs/launch-protocol.md."
