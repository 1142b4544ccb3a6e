#!/usr/bin/env python3
"""The Dockerfiles and the setup scripts the image test applies cannot drift
(label unit, no tools): each Dockerfile runs its setup script, the runtime
stage installs exactly runtime-packages.txt through it, and the HPC-X
environment of the job-base image's ENV equals what the script writes for
login shells.
"""
import os
import re
import unittest

SRC = os.environ.get("MLSPACE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGES = os.path.join(SRC, "images")


def read(*parts):
    with open(os.path.join(IMAGES, *parts)) as f:
        return f.read()


def dockerfile_env(text):
    """ENV k=v pairs of a Dockerfile (with line continuations)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    env = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for k, v in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[k] = v
    return env


class DockerfileStaticTest(unittest.TestCase):
    def test_controller_runtime_stage_uses_the_shared_script(self):
        df = read("controller", "Dockerfile")
        runtime = df[df.index("AS runtime"):]
        self.assertIn("setup-runtime.sh /tmp/setup/runtime-packages.txt", runtime)
        self.assertIn("COPY images/controller/runtime-packages.txt images/controller/setup-runtime.sh",
                      runtime)
        self.assertIn("USER 65532:65532", runtime)
        self.assertIn('ENTRYPOINT ["/usr/local/bin/mlspace-controller"]', runtime)
        self.assertNotIn("-dev", runtime)  # runtime libraries only
        for binary in ("mlspace-controller", "mlspace-gateway-emulator", "mlspace-launch",
                       "mlspacectl"):
            self.assertIn(f"/out/usr/local/bin/{binary}", df)

    def test_job_base_uses_the_shared_script_and_its_environment(self):
        df = read("job-base", "Dockerfile")
        self.assertIn("sh /tmp/setup-job-base.sh /tmp/mlspace-launch /tmp/hpcx.tbz", df)
        self.assertIn("USER 1000:1000", df)
        env = dockerfile_env(df)
        script = read("job-base", "setup-job-base.sh")
        profile = dict(re.findall(r"^export (\w+)=(\S+)$", script, re.M))
        self.assertEqual(env["OPAL_PREFIX"], profile["OPAL_PREFIX"])
        self.assertTrue(profile["PATH"].startswith(env["PATH"].split(":/usr/local/sbin")[0] + ":"))
        self.assertEqual(env["LD_LIBRARY_PATH"],
                         profile["LD_LIBRARY_PATH"].split("${LD_LIBRARY_PATH")[0])
        self.assertIn("/run/sshd/sshd.pid", script)
        self.assertIn("/opt/mlspace/bin/mlspace-launch", script)


if __name__ == "__main__":
    unittest.main(verbosity=2)
