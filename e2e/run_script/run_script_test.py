"""scripts/run.sh (what `make run` runs) on one demo directory, four times.

1. A fresh demo directory: the samples settle, the script says where to
   watch (kubectl -w, the log, the metrics URL with its bound port), exit 0.
2. hello.yaml removed and a job whose secret is missing (stuck Pending,
   Stalled=True SubmitBlocked) added: the run settles on that, exit 0.
3. Restarted on the state directory now holding a Removed record and the
   stuck Pending job: settles again, exit 0 (this used to time out and
   exit 1 after 3 minutes).
4. `make run` itself in a terminal (a pty), without MLSPACE_RUN_EXIT: the
   build is one progress line, and Ctrl-C once it runs stops the controller
   and make exits 0.
Before those, a build that fails: one progress line, the log's tail, exit 1.

The build steps run a stand-in `cmake` (first on PATH) that prints what
cmake and make print for a build of this tree (a configure, ~180 "Entering
directory" and "[ NN%] Building ..." lines): the real build of the tree
this test runs from is not redone inside its own test. The controller is
the real one (MLSPACE_CONTROLLER), so the demo runs as `make run` runs it.

Env: MLSPACE_SOURCE_DIR (the checkout), MLSPACE_CONTROLLER (the binary).
Ports are 0 (any free port); everything lives in a temporary directory.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ["MLSPACE_SOURCE_DIR"]
RUN = os.path.join(SRC, "scripts", "run.sh")
FAILURES = []


def check(cond, what, detail=""):
    if not cond:
        FAILURES.append(what)
        print("FAIL: %s\n%s" % (what, detail), file=sys.stderr)
    else:
        print("ok: " + what)


FAKE_CMAKE = r"""#!/bin/bash
# Stand-in for cmake (see the test's docstring): prints a build's output.
if [ "$1" = "--preset" ]; then
  echo "Preset CMake variables:"; echo "-- Configuring done"; echo "-- Generating done"
  echo "-- Build files have been written to: /tmp/fake-build"
  exit 0
fi
for i in $(seq 0 59); do
  echo "gmake[2]: Entering directory '/tmp/fake-build'"
  printf '[%3d%%] Building CXX object controller/f%d.cc.o\n' $((i * 100 / 60)) "$i"
  echo "gmake[2]: Leaving directory '/tmp/fake-build'"
done
if [ -n "${FAKE_CMAKE_FAIL:-}" ]; then
  echo "controller/f60.cc:1:1: error: expected unqualified-id"
  echo "gmake: *** [Makefile:146: all] Error 2"
  exit 2
fi
echo "[100%] Built target mlspace-controller"
"""


def fake_cmake_dir(tmp):
    d = os.path.join(tmp, "fake-bin")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "cmake")
    with open(path, "w") as f:
        f.write(FAKE_CMAKE)
    os.chmod(path, 0o755)
    return d


def env_for(demo):
    env = dict(os.environ)
    # As in a user's terminal: not a sub-make of whatever runs this test.
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    env.update({"MLSPACE_DEMO_DIR": demo, "API_PORT": "0", "METRICS_PORT": "0",
                "MLSPACE_RUN_SETTLE_SECONDS": "150", "MLSPACE_RUN_EXIT": "1"})
    env.pop("MLSPACE_RUN_BUILD", None)
    return env


def run_exit(demo, label):
    t0 = time.time()
    p = subprocess.run(["bash", RUN], env=env_for(demo), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    took = time.time() - t0
    print("--- %s (%.1f s) ---\n%s" % (label, took, p.stdout))
    check(p.returncode == 0, label + ": exit 0", "exit %d" % p.returncode)
    check("== settled" in p.stdout, label + ": settled (not the bounded wait)")
    ports = json.load(open(os.path.join(demo, "ports.json")))
    check("kubectl --server http://127.0.0.1:%d get msj -A -w" % ports["api"] in p.stdout,
          label + ": says how to watch with kubectl")
    check("http://127.0.0.1:%d/metrics" % ports["metrics"] in p.stdout and ports["metrics"] > 0,
          label + ": says the metrics URL with its bound port")
    check(os.path.join(demo, "controller.log") in p.stdout, label + ": names the log file")
    return p.stdout


def build_fails(demo, fake_bin):
    env = env_for(demo)
    env.update({"MLSPACE_RUN_BUILD": "1", "FAKE_CMAKE_FAIL": "1",
                "PATH": fake_bin + os.pathsep + env["PATH"]})
    # Bytes, not text=True: universal newlines would turn the \r into lines.
    p = subprocess.run(["bash", RUN], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    print("--- a failing build ---\n" + out.replace("\r", "\n"))
    check(p.returncode == 1, "failing build: exit 1", "exit %d" % p.returncode)
    lines = out.split("\n")
    check(lines[0].startswith("\r== building (default):") and "Entering directory" not in lines[0],
          "failing build: one progress line first", repr(lines[:2]))
    check("error: expected unqualified-id" in out and "the build failed" in out,
          "failing build: says so, with the log's tail")
    check("== starting" not in out, "failing build: nothing started")


def phases(out):
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+/\S+)\s+(Pending|Submitted|Running|Succeeded|Failed|Suspended|"
                     r"Removed|Invalid)\b(.*)$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.test"]
                   + list(args), check=True)


STUCK = """apiVersion: mlspace.io/v1alpha1
kind: MLSpaceJob
metadata:
  name: stuck
  namespace: samples
spec:
  region: SR006
  image: cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40
  instanceType: cpu.2C.8G
  command: [/bin/true]
  env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: absent, key: token}}
"""


def ctrl_c_in_a_terminal(demo, fake_bin):
    """`make run` in a terminal: make, then scripts/run.sh, in a pty."""
    env = env_for(demo)
    del env["MLSPACE_RUN_EXIT"]
    env["PATH"] = fake_bin + os.pathsep + env["PATH"]
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(SRC)
        os.execvpe("make", ["make", "run"], env)
    out = b""
    deadline = time.time() + 200
    sent = False
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"Ctrl-C stops it" in out:
            time.sleep(0.5)
            os.write(fd, b"\x03")  # the terminal's interrupt character
            sent = True
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace").replace("\r\n", "\n")
    print("--- make run in a terminal, then Ctrl-C ---\n" + text)
    # The build is one line (progress rewritten with \r), then the run.
    build = text[:text.find("== starting")].split("\n")
    built = [l for l in build if "== built (default)" in l]
    check(len(built) == 1 and "\r== building (default): " in built[0]
          and built[0].rstrip().endswith("build.log"),
          "make run: the build is one progress line", repr(build))
    check("Entering directory" not in text and "Building CXX" not in text,
          "make run: no build chatter on the terminal")
    check(sent, "terminal run reached 'Ctrl-C stops it'")
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          "Ctrl-C: make run exits 0", "status %r" % status)
    check("stopping mlspace-controller" in text, "Ctrl-C: stops the controller")
    log = open(os.path.join(demo, "controller.log")).read()
    check(log.rstrip().endswith("stopped") or "INFO stopped" in log.splitlines()[-1],
          "Ctrl-C: the controller shut down cleanly", log[-500:])


def main():
    tmp = tempfile.mkdtemp(prefix="mlspace-run-script-")
    demo = os.path.join(tmp, "demo")
    fake_bin = fake_cmake_dir(tmp)
    try:
        build_fails(os.path.join(tmp, "failing-build"), fake_bin)
        out = run_exit(demo, "run 1 (fresh)")
        rows = phases(out)
        check(rows.get("samples/env-secret", ("",))[0] == "Succeeded", "run 1: env-secret Succeeded",
              repr(rows))
        check(rows.get("default/suspended", ("",))[0] == "Suspended", "run 1: suspended Suspended")

        repo = os.path.join(demo, "manifests")
        git(repo, "rm", "-q", "hello.yaml")
        with open(os.path.join(repo, "stuck.yaml"), "w") as f:
            f.write(STUCK)
        git(repo, "add", "stuck.yaml")
        git(repo, "commit", "-q", "-m", "remove hello, add a job whose secret is missing")

        out = run_exit(demo, "run 2 (a removal, a stuck job)")
        rows = phases(out)
        # A removed manifest's object leaves list/get once its job ended; the
        # store keeps its Removed record (history through events).
        check("default/hello" not in rows, "run 2: hello gone from the list", repr(rows))
        stuck = rows.get("samples/stuck", ("", ""))
        check(stuck[0] == "Pending" and "SubmitBlocked" in stuck[1],
              "run 2: stuck Pending, SubmitBlocked", repr(stuck))

        out = run_exit(demo, "run 3 (restart on Removed + stuck Pending)")
        rows = phases(out)
        check("default/hello" not in rows, "run 3: hello still gone (its Removed record kept)",
              repr(rows))
        check(rows.get("samples/stuck", ("",))[0] == "Pending", "run 3: stuck still Pending")

        ctrl_c_in_a_terminal(demo, fake_bin)
    finally:
        if not os.environ.get("MLSPACE_E2E_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    if FAILURES:
        print("%d check(s) failed: %s" % (len(FAILURES), "; ".join(FAILURES)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
