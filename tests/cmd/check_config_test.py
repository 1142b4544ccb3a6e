#!/usr/bin/env python3
"""`mlspace-controller --check-config` (issue 14): validates flags, files and
credentials' presence without starting; exit 0, or one line per problem and
exit 2. Runs the real binary (MLSPACE_CONTROLLER) in temp dirs.
"""
import os
import subprocess
import tempfile
import unittest

CONTROLLER = os.environ["MLSPACE_CONTROLLER"]
CLEAN_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run(*args, env=None):
    return subprocess.run([CONTROLLER, "--check-config", *args], capture_output=True, text=True,
                          env=env or CLEAN_ENV, timeout=30)


def git_work_tree(root):
    repo = os.path.join(root, "repo")
    os.makedirs(os.path.join(repo, "jobs"))
    subprocess.run(["git", "init", "-q", repo], check=True)
    return os.path.join(repo, "jobs")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_local_gateway_config_is_ok_and_nothing_is_created(self):
        manifests = git_work_tree(self.root)
        state = os.path.join(self.root, "state", "deeper")
        r = run("--manifests", manifests, "--state-dir", state, "--api-bind-address", "127.0.0.1:0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "mlspace-controller: configuration OK\n")
        self.assertEqual(r.stderr, "")
        self.assertFalse(os.path.exists(os.path.join(self.root, "state")))

    def test_real_gateway_with_credentials_from_the_secrets_dir(self):
        secrets = os.path.join(self.root, "secrets")
        write(os.path.join(secrets, "mlspace", "workspace-id"), "ws-1\n")
        write(os.path.join(secrets, "mlspace", "client-id"), "id\n")
        write(os.path.join(secrets, "mlspace", "client-secret"), "s3cr3t-value\n")
        write(os.path.join(secrets, "git", "token"), "glpat-abc\n")
        write(os.path.join(self.root, "api-token"), "tok\n")
        # A non-loopback API needs TLS as well as a token (docs/api-access.md).
        crt, key = os.path.join(self.root, "tls.crt"), os.path.join(self.root, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=check-config"],
                       check=True, capture_output=True)
        args = ["--api-tls-cert-file", crt, "--api-tls-private-key-file", key,
                "--git-url", "https://git.example.com/ml/jobs.git", "--git-ref", "main",
                "--state-dir", os.path.join(self.root, "state"), "--secrets-dir", secrets,
                "--gateway-url", "https://api.ai.cloud.ru", "--api-bind-address", "0.0.0.0:8081",
                "--api-token-file", os.path.join(self.root, "api-token"), "--prune=false",
                "--log-format=json"]
        r = run(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Without the secret half of the service account: one line naming it.
        os.remove(os.path.join(secrets, "mlspace", "client-secret"))
        r = run(*args)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.splitlines(), [
            "mlspace-controller: gateway credentials: MLSPACE_CLIENT_ID and "
            "MLSPACE_CLIENT_SECRET must be set together"])
        # Credentials from the environment count as present too.
        env = dict(CLEAN_ENV, MLSPACE_CLIENT_SECRET="s3cr3t-value")
        self.assertEqual(run(*args, env=env).returncode, 0)

    def test_backends_file_is_validated_with_file_and_line(self):
        # docs/backends.md: --backends replaces the gateway flags; every
        # problem of the file is one "file:line: field: message" line.
        manifests = git_work_tree(self.root)
        state = os.path.join(self.root, "state")
        good = os.path.join(self.root, "backends.yaml")
        emu_secrets = os.path.join(self.root, "emu-secrets")
        write(os.path.join(emu_secrets, "mlspace", "workspace-id"), "ws-1\n")
        write(os.path.join(emu_secrets, "mlspace", "api-key"), "key-1\n")
        write(good, "default: lab\nbackends:\n  - name: lab\n    type: local\n"
                    "    stateDir: %s\n  - name: emu\n    type: mlspace\n"
                    "    url: http://127.0.0.1:9\n    regions: [SR006]\n    secretsDir: %s\n"
                    % (os.path.join(self.root, "lab"), emu_secrets))
        r = run("--manifests", manifests, "--state-dir", state, "--backends", good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "lab")), "nothing created")
        # Each backend's credentials must be present, as they are at start:
        # a secretsDir without them is one line naming the backend.
        os.remove(os.path.join(emu_secrets, "mlspace", "workspace-id"))
        r = run("--manifests", manifests, "--state-dir", state, "--backends", good)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "mlspace-controller: %s:6: backends[emu]: gateway credentials: MLSPACE_WORKSPACE_ID "
            "not found in the environment or %s" % (good, emu_secrets)])
        # With a secretsDir the environment does not count (it belongs to the
        # flag-described gateway, docs/backends.md).
        env = dict(CLEAN_ENV, MLSPACE_WORKSPACE_ID="ws-env")
        r = run("--manifests", manifests, "--state-dir", state, "--backends", good, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        bad = os.path.join(self.root, "bad.yaml")
        write(bad, "backends:\n  - name: lab\n    type: lsf\n  - name: emu\n    type: mlspace\n"
                   "    url: ftp://x\n    colour: red\n")
        r = run("--manifests", manifests, "--state-dir", state, "--backends", bad,
                "--gateway-url", "https://api.ai.cloud.ru")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "mlspace-controller: --gateway-url: not with --backends (name it there)",
            "mlspace-controller: %s:3: backends[lab].type: unknown type \"lsf\" (one of local, mlspace, slurm)" % bad,
            "mlspace-controller: %s:7: backends[emu].colour: unknown field for type mlspace (known: "
            "burst, default, insecure, instanceTypes, maxWorkers, name, rate, regions, secretsDir, "
            "type, url)" % bad,
            "mlspace-controller: %s:6: backends[emu].url: expected an http:// or https:// URL" % bad,
        ])

    def test_slurm_backend_restd_token_file_must_be_readable(self):
        manifests = git_work_tree(self.root)
        token = os.path.join(self.root, "slurm", "jwt")
        cfg = os.path.join(self.root, "backends.yaml")
        write(cfg, "backends:\n  - name: hpc\n    type: slurm\n    slurm:\n"
                   "      partitions: {debug: debug}\n      outputDir: /shared/out\n"
                   "      restd:\n        url: http://127.0.0.1:6820\n"
                   "        tokenFile: %s\n        userName: mlspace\n" % token)
        args = ["--manifests", manifests, "--state-dir", os.path.join(self.root, "state"),
                "--backends", cfg]
        r = run(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        [line] = r.stderr.splitlines()
        self.assertTrue(line.startswith("mlspace-controller: %s:2: backends[hpc].slurm.restd."
                                        "tokenFile: " % cfg), line)
        self.assertIn(token, line)
        write(token, "\n")
        r = run(*args)
        self.assertEqual(r.stderr.splitlines(), [
            "mlspace-controller: %s:2: backends[hpc].slurm.restd.tokenFile: \"%s\" is empty"
            % (cfg, token)])
        write(token, "SLURM_JWT=eyJ.secret-token.x\n")
        r = run(*args)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_every_problem_is_reported_one_line_each(self):
        a_file = os.path.join(self.root, "a-file")
        write(a_file, "x")
        r = run("--state-dir", os.path.join(a_file, "state"), "--log-level", "loud",
                "--gateway-url", "https://api.ai.cloud.ru", "--api-bind-address", "0.0.0.0:8081",
                "--secrets-dir", os.path.join(self.root, "no-secrets"), "extra-arg")
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.splitlines()
        for line in lines:
            self.assertTrue(line.startswith("mlspace-controller: "), line)
        text = "\n".join(lines)
        for needle in ['unexpected argument "extra-arg"', '"loud": expected debug, info, warn or error',
                       "give exactly one of --manifests DIR or --git-url URL",
                       "--secrets-dir", "--state-dir", "cannot be created",
                       "MLSPACE_WORKSPACE_ID not found",
                       "a non-loopback API needs --api-token-file"]:
            self.assertIn(needle, text)
        self.assertEqual(len(lines), 7, text)
        self.assertEqual(r.stdout, "")

    def test_manifests_must_be_inside_a_git_work_tree(self):
        plain = os.path.join(self.root, "plain")
        os.makedirs(plain)
        r = run("--manifests", plain, "--state-dir", os.path.join(self.root, "s"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(f'--manifests "{plain}": not inside a git work tree', r.stderr)
        r = run("--manifests", os.path.join(self.root, "missing"),
                "--state-dir", os.path.join(self.root, "s"))
        self.assertIn("not a readable directory", r.stderr)

    def test_bad_git_url_is_named_with_its_password_masked(self):
        r = run("--git-url", "ftp://bot:hunter2@git.example.com/jobs.git",
                "--state-dir", os.path.join(self.root, "s"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--git-url", r.stderr)
        self.assertNotIn("hunter2", r.stderr)
        for ok in ("git@git.example.com:ml/jobs.git", "ssh://git@h/x.git", "file:///srv/x.git"):
            r = run("--git-url", ok, "--state-dir", os.path.join(self.root, "s"))
            self.assertEqual(r.returncode, 0, f"{ok}: {r.stderr}")

    def test_instance_must_be_a_dns_label(self):
        manifests = git_work_tree(self.root)
        state = os.path.join(self.root, "s")
        r = run("--manifests", manifests, "--state-dir", state, "--instance", "ops.mlspace")
        self.assertEqual(r.returncode, 2)
        self.assertIn('--instance "ops.mlspace": expected a DNS-1123 label', r.stderr)
        r = run("--manifests", manifests, "--state-dir", state, "--instance", "ops-mlspace")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_empty_token_file_and_flag_errors_exit_2(self):
        manifests = git_work_tree(self.root)
        write(os.path.join(self.root, "empty"), "\n")
        r = run("--manifests", manifests, "--state-dir", os.path.join(self.root, "s"),
                "--api-token-file", os.path.join(self.root, "empty"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--api-token-file", r.stderr)
        r = run("--manifests", manifests, "--workers", "many")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("--workers", r.stderr)


    def test_api_write_and_git_author(self):
        manifests = git_work_tree(self.root)
        state = os.path.join(self.root, "s")
        for ok in (["--api-write", "off"], ["--api-write", "commit"], ["--api-write=push"],
                   ["--git-author", "Deploy Bot <bot@example.com>"]):
            r = run("--manifests", manifests, "--state-dir", state, *ok)
            self.assertEqual(r.returncode, 0, f"{ok}: {r.stderr}")
        r = run("--manifests", manifests, "--state-dir", state, "--api-write", "yes",
                "--git-author", "bot")
        self.assertEqual(r.returncode, 2)
        self.assertIn('--api-write "yes": expected one of off|commit|push', r.stderr)
        self.assertIn('--git-author "bot": expected "Name <email>"', r.stderr)
        # A --git-url clone has no work tree: commit is refused, push is fine.
        r = run("--git-url", "file:///srv/jobs.git", "--state-dir", state, "--api-write", "commit")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--api-write=commit", r.stderr)
        r = run("--git-url", "file:///srv/jobs.git", "--state-dir", state, "--api-write", "push")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Outside --check-config the same mistakes are usage errors (exit 2).
        r = subprocess.run([CONTROLLER, "--manifests", manifests, "--api-write", "maybe"],
                           capture_output=True, text=True, env=CLEAN_ENV, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--api-write", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
