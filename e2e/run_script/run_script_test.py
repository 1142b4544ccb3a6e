"""scripts/run.sh (what `make run` runs) on one demo directory, four times.

1. A fresh demo directory: the samples settle, the script says where to
   watch (kubectl -w, the log, the metrics URL with its bound port), exit 0.
2. hello.yaml removed and a job whose secret is missing (stuck Pending,
   Stalled=True SubmitBlocked) added: the run settles on that, exit 0.
3. Restarted on the state directory now holding a Removed record and the
   stuck Pending job: settles again, exit 0 (this used to time out and
   exit 1 after 3 minutes).
4. In a terminal (a pty), without MLSPACE_RUN_EXIT: Ctrl-C once it runs
   stops the controller and exits 0.

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


def env_for(demo):
    env = dict(os.environ)
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


def ctrl_c_in_a_terminal(demo):
    env = env_for(demo)
    del env["MLSPACE_RUN_EXIT"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("bash", ["bash", RUN], env)
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
    text = out.decode(errors="replace")
    print("--- Ctrl-C in a terminal ---\n" + text)
    check(sent, "terminal run reached 'Ctrl-C stops it'")
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          "Ctrl-C: exit 0", "status %r" % status)
    check("stopping mlspace-controller" in text, "Ctrl-C: stops the controller")
    log = open(os.path.join(demo, "controller.log")).read()
    check(log.rstrip().endswith("stopped") or "INFO stopped" in log.splitlines()[-1],
          "Ctrl-C: the controller shut down cleanly", log[-500:])


def main():
    tmp = tempfile.mkdtemp(prefix="mlspace-run-script-")
    demo = os.path.join(tmp, "demo")
    try:
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

        ctrl_c_in_a_terminal(demo)
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
