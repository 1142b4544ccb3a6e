#!/usr/bin/env python3
"""The Helm chart with the real tools (issue 14).

helm 3.17 and the kubernetes-models schemas are fetched and cached by
scripts/tools.sh. For the default values and every file in values/:
`helm lint --strict`, `helm template --include-crds`, every rendered object
validated against the Kubernetes and prometheus-operator schemas, and the
controller's rendered arguments passed to the real `mlspace-controller
--check-config` with the files the chart mounts stubbed in a temp dir (the
ConfigMap source's sync script runs for real). Values that break
values.schema.json must fail lint with a message naming the value, and
`helm package` must produce an archive.

Environment: MLSPACE_SOURCE_DIR (repository), MLSPACE_CONTROLLER (the
mlspace-controller binary).
"""
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

import yaml

SRC = os.environ.get("MLSPACE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(SRC, "charts", "mlspace-operator")
VALUES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "values")
CONTROLLER = os.environ.get("MLSPACE_CONTROLLER", "")
RELEASE, NAMESPACE = "ops", "mlspace"

# What the Secrets named in values/ hold in the "cluster" of this test: the
# files the chart's secret volumes would show.
SECRETS = {
    "mlspace-credentials": {"workspace-id": "ws-1", "api-key": "key-1"},
    "my-mlspace-sa": {"workspace-id": "ws-2", "client-id": "id-2", "client-secret": "sec-2"},
    "mlspace-git": {"username": "bot", "token": "glpat-1"},
    "mlspace-git-ssh": {"identity": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"},
    "mlspace-api-token": {"token": "api-token-1"},
    "wandb": {"api-key": "w"},
    "hf-token": {"token": "h"},
    # credentials.backendSecrets of values/backends.yaml: a second workspace
    # (the flat key names an mlspace backend's secretsDir accepts) and a
    # slurmrestd JWT.
    "mlspace-team-b": {"mlspace_workspace_id": "ws-b", "mlspace_api_key": "key-b"},
    "slurm-jwt": {"token": "SLURM_JWT=eyJhbGciOiJIUzI1NiJ9.e30.sig"},
}


def _tls_pair():
    """A kubernetes.io/tls Secret's data: a fresh self-signed pair (the
    controller's --check-config loads it)."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "/tls.key", "-out",
                        d + "/tls.crt", "-days", "1", "-subj", "/CN=mlspace-api"],
                       check=True, capture_output=True)
        with open(d + "/tls.crt") as c, open(d + "/tls.key") as k:
            return {"tls.crt": c.read(), "tls.key": k.read()}


SECRETS["mlspace-api-tls"] = _tls_pair()


def tools():
    out = subprocess.run([os.path.join(SRC, "scripts", "tools.sh")], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


TOOLS = tools()
HELM = TOOLS["HELM"]


def helm(*args, check=True):
    r = subprocess.run([HELM, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def values_files():
    return [None] + sorted(os.path.join(VALUES_DIR, f) for f in os.listdir(VALUES_DIR)
                           if f.endswith(".yaml"))


class StrictLoader(yaml.SafeLoader):
    """Refuses a mapping key given twice (the API server's decoder does too)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def render(values_file):
    args = ["template", RELEASE, CHART, "-n", NAMESPACE, "--include-crds"]
    if values_file:
        args += ["-f", values_file]
    return [d for d in yaml.load_all(helm(*args).stdout, Loader=StrictLoader) if d]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


class ChartToolsTest(unittest.TestCase):
    def test_lint_strict_every_values_file(self):
        for vf in values_files():
            with self.subTest(values=os.path.basename(vf or "defaults")):
                args = ["lint", "--strict", CHART, "-n", NAMESPACE]
                if vf:
                    args += ["-f", vf]
                r = helm(*args, check=False)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("0 chart(s) failed", r.stdout)

    def test_readme_example_values(self):
        # The values the README's "Deploy with Helm" section tells users to write.
        with open(os.path.join(SRC, "README.md")) as f:
            readme = f.read()
        m = re.search(r"cat > my-values.yaml <<'YAML'\n(.*?)\nYAML\n", readme, re.S)
        self.assertIsNotNone(m, "README.md: no my-values.yaml example")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "my-values.yaml")
            with open(path, "w") as f:
                f.write(m.group(1))
            r = helm("lint", "--strict", CHART, "-f", path, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            [dep] = by_kind(render(path), "Deployment")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--git-url=https://gitlab.example.com/ml/jobs.git", args)
        # Its "Several backends" example on top: lint, and the real
        # controller accepts the rendered arguments with the mounted file.
        m = re.search(r"cat > backends-values.yaml <<'YAML'\n(.*?)\nYAML\n", readme, re.S)
        self.assertIsNotNone(m, "README.md: no backends-values.yaml example")
        with tempfile.TemporaryDirectory() as tmp:
            mine, extra = os.path.join(tmp, "my-values.yaml"), os.path.join(tmp, "b.yaml")
            with open(mine, "w") as f:
                f.write(re.search(r"cat > my-values.yaml <<'YAML'\n(.*?)\nYAML\n", readme,
                                  re.S).group(1))
            with open(extra, "w") as f:
                f.write(m.group(1))
            r = helm("lint", "--strict", CHART, "-f", mine, "-f", extra, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            args = ["template", RELEASE, CHART, "-n", NAMESPACE, "-f", mine, "-f", extra]
            objs = [d for d in yaml.load_all(helm(*args).stdout, Loader=StrictLoader) if d]
            root = os.path.join(tmp, "root")
            args = self._stub_pod(objs, root)
            self.assertIn(f"--backends={root}/etc/mlspace/backends/backends.yaml", args)
            r = subprocess.run([CONTROLLER, *args, "--check-config"], capture_output=True,
                               text=True, env={"PATH": os.environ["PATH"]})
            self.assertEqual(r.returncode, 0, f"args {args}\n{r.stderr}")

    def test_rendered_objects_match_kubernetes_and_prometheus_operator_schemas(self):
        validator = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate_objects.mjs")
        for vf in values_files():
            with self.subTest(values=os.path.basename(vf or "defaults")):
                objs = render(vf)
                r = subprocess.run(["node", validator, TOOLS["NODE_MODULES"]],
                                   input=json.dumps(objs), capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(r.stdout.count("\nok ") + r.stdout.startswith("ok "), len(objs),
                                 r.stdout)

    def test_validator_rejects_a_broken_object(self):
        # The schema check can fail: a wrong type and an unmodelled kind.
        validator = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate_objects.mjs")
        objs = render(None)
        dep = by_kind(objs, "Deployment")[0]
        dep["spec"]["replicas"] = "one"
        objs.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
        r = subprocess.run(["node", validator, TOOLS["NODE_MODULES"]], input=json.dumps(objs),
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("spec/replicas must be integer", r.stdout)
        self.assertIn("no schema for example.com/v1 Widget", r.stdout)

    def test_deployment_shape(self):
        for vf in values_files():
            with self.subTest(values=os.path.basename(vf or "defaults")):
                objs = render(vf)
                deps = by_kind(objs, "Deployment")
                self.assertEqual(len(deps), 1)
                spec = deps[0]["spec"]
                self.assertEqual(spec["replicas"], 1)
                self.assertEqual(spec["strategy"], {"type": "Recreate"})
                pod = spec["template"]["spec"]
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
                for c in pod["containers"] + pod.get("initContainers", []):
                    sc = c["securityContext"]
                    self.assertTrue(sc["readOnlyRootFilesystem"], c["name"])
                    self.assertFalse(sc["allowPrivilegeEscalation"], c["name"])
                    self.assertEqual(sc["capabilities"]["drop"], ["ALL"], c["name"])
                ctl = pod["containers"][0]
                self.assertEqual(ctl["livenessProbe"]["httpGet"]["path"], "/healthz")
                self.assertEqual(ctl["readinessProbe"]["httpGet"]["path"], "/readyz")
                want = f"--instance={RELEASE}-{NAMESPACE}"
                if vf and "local-gateway" in vf:
                    want = "--instance=demo"
                self.assertIn(want, ctl["args"])
                labels = deps[0]["metadata"]["labels"]
                for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                          "app.kubernetes.io/version", "app.kubernetes.io/managed-by"):
                    self.assertIn(k, labels)
                crds = by_kind(objs, "CustomResourceDefinition")
                self.assertEqual([c["metadata"]["name"] for c in crds], ["mlspacejobs.mlspace.io"])

    def test_values_become_the_controller_flags(self):
        # Each value lands in its flag (check-config proves they parse; this,
        # that they are the values asked for).
        values = {
            "controller": {"instance": "team-a", "workers": 7, "pollInterval": "45s",
                           "resyncInterval": "20m", "sourcePollInterval": "40s",
                           "shutdownGrace": "2m", "logFormat": "text", "logLevel": "debug"},
            "prune": {"enabled": False, "maxFraction": 0.3},
            "gateway": {"url": "https://gw.example.com", "rate": 3, "burst": 9,
                        "launcherPath": "/nfs/launch"},
            "source": {"git": {"url": "https://git.example.com/x.git", "ref": "release",
                               "interval": "5m", "existingSecret": "mlspace-git"}},
            "metricsPort": 9090,
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "values.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(values, f)
            [dep] = by_kind(render(path), "Deployment")
        pod = dep["spec"]["template"]["spec"]
        ctl = pod["containers"][0]
        want = ["--instance=team-a", "--workers=7", "--poll-interval=45s", "--resync-interval=20m",
                "--source-poll-interval=40s", "--shutdown-grace=2m", "--log-format=text",
                "--log-level=debug", "--prune=false", "--prune-max-fraction=0.3",
                "--gateway-url=https://gw.example.com", "--gateway-rate=3", "--gateway-burst=9",
                "--launcher-path=/nfs/launch", "--git-url=https://git.example.com/x.git",
                "--git-ref=release", "--git-interval=5m", "--metrics-bind-address=:9090",
                "--secrets-dir=/etc/mlspace/secrets", "--state-dir=/var/lib/mlspace"]
        for flag in want:
            self.assertIn(flag, ctl["args"])
        self.assertEqual(pod["terminationGracePeriodSeconds"], 120 + 15)
        self.assertEqual(ctl["ports"][0], {"name": "metrics", "containerPort": 9090,
                                           "protocol": "TCP"})
        mounts = {m["mountPath"]: m["name"] for m in ctl["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(volumes[mounts["/etc/mlspace/secrets/git"]]["secret"]["secretName"],
                         "mlspace-git")
        self.assertEqual(
            volumes[mounts["/etc/mlspace/secrets/mlspace"]]["secret"]["secretName"],
            "mlspace-credentials")
        self.assertEqual(volumes[mounts["/var/lib/mlspace"]]["persistentVolumeClaim"]["claimName"],
                         f"{RELEASE}-mlspace-operator-state")

    def test_backends_value_becomes_a_mounted_file_and_the_flag(self):
        vf = os.path.join(VALUES_DIR, "backends.yaml")
        with open(vf) as f:
            values = yaml.safe_load(f)
        objs = render(vf)
        [cm] = [c for c in by_kind(objs, "ConfigMap")
                if c["metadata"]["name"] == f"{RELEASE}-mlspace-operator-backends"]
        # The file is the value, unchanged.
        self.assertEqual(list(cm["data"]), ["backends.yaml"])
        self.assertEqual(yaml.safe_load(cm["data"]["backends.yaml"]), values["backends"])
        [dep] = by_kind(objs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        ctl = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        [flag] = [a for a in ctl["args"] if a.startswith("--backends=")]
        path = flag.split("=", 1)[1]
        [mount] = [m for m in ctl["volumeMounts"] if m["mountPath"] == os.path.dirname(path)]
        self.assertTrue(mount["readOnly"])
        self.assertEqual(volumes[mount["name"]]["configMap"]["name"], cm["metadata"]["name"])
        # The gateway flags are replaced (the controller refuses both).
        self.assertFalse([a for a in ctl["args"] if a.startswith("--gateway")], ctl["args"])
        # Backend credentials: read-only, outside --secrets-dir (no
        # secretKeyRef reaches them), at the paths the values' file names.
        for name in values["credentials"]["backendSecrets"]:
            [m] = [m for m in ctl["volumeMounts"]
                   if m["mountPath"] == f"/etc/mlspace/backend-secrets/{name}"]
            self.assertTrue(m["readOnly"])
            self.assertEqual(volumes[m["name"]]["secret"]["secretName"], name)
        secrets_dir = [a for a in ctl["args"] if a.startswith("--secrets-dir=")][0].split("=")[1]
        self.assertFalse([m for m in ctl["volumeMounts"]
                          if m["mountPath"].startswith(secrets_dir + "/")
                          and m["name"].startswith("backend-secret-")])
        # The extra volume for the Slurm output directory.
        self.assertIn({"name": "slurm-out", "mountPath": "/shared/mlspace-slurm"},
                      ctl["volumeMounts"])
        self.assertIn("nfs", volumes["slurm-out"])
        # A change of the file rolls the pod; the same file does not.
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        checksum = annotations["checksum/backends"]
        self.assertRegex(checksum, "^[0-9a-f]{64}$")
        with tempfile.TemporaryDirectory() as tmp:
            changed = os.path.join(tmp, "changed.yaml")
            values["backends"]["backends"][1]["rate"] = 7
            with open(changed, "w") as f:
                yaml.safe_dump(values, f)
            [dep2] = by_kind(render(changed), "Deployment")
        self.assertNotEqual(dep2["spec"]["template"]["metadata"]["annotations"]["checksum/backends"],
                            checksum)
        [dep3] = by_kind(render(vf), "Deployment")
        self.assertEqual(dep3["spec"]["template"]["metadata"]["annotations"]["checksum/backends"],
                         checksum)
        # Default values: today's single backend from the gateway values.
        objs = render(None)
        [dep] = by_kind(objs, "Deployment")
        ctl = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertIn("--gateway-url=https://api.ai.cloud.ru", ctl["args"])
        self.assertFalse([a for a in ctl["args"] if a.startswith("--backends")])
        self.assertNotIn("checksum/backends", dep["spec"]["template"]["metadata"]["annotations"])
        self.assertFalse([c for c in by_kind(objs, "ConfigMap")
                          if c["metadata"]["name"].endswith("-backends")])

    def test_service_account_resources_and_pvc(self):
        objs = render(None)
        [sa] = by_kind(objs, "ServiceAccount")
        [dep] = by_kind(objs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], sa["metadata"]["name"])
        self.assertFalse(pod["automountServiceAccountToken"])
        with open(os.path.join(CHART, "values.yaml")) as f:
            defaults = yaml.safe_load(f)
        self.assertEqual(pod["containers"][0]["resources"], defaults["resources"])
        [pvc] = by_kind(objs, "PersistentVolumeClaim")
        self.assertEqual(pvc["spec"]["resources"]["requests"]["storage"],
                         defaults["persistence"]["size"])
        # An existing claim and an existing ServiceAccount: neither is created.
        objs = render(os.path.join(VALUES_DIR, "git-ssh-existing-secrets.yaml"))
        self.assertFalse(by_kind(objs, "ServiceAccount"))
        self.assertFalse(by_kind(objs, "PersistentVolumeClaim"))
        [dep] = by_kind(objs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], "mlspace")
        [state] = [v for v in pod["volumes"] if v["name"] == "state"]
        self.assertEqual(state["persistentVolumeClaim"]["claimName"], "mlspace-state")

    def test_helm_test_pod_checks_readyz_through_the_service(self):
        for vf in values_files():
            with self.subTest(values=os.path.basename(vf or "defaults")):
                objs = render(vf)
                [pod] = by_kind(objs, "Pod")
                [svc] = by_kind(objs, "Service")
                self.assertEqual(pod["metadata"]["annotations"]["helm.sh/hook"], "test")
                self.assertEqual(pod["spec"]["restartPolicy"], "Never")
                [c] = pod["spec"]["containers"]
                url = c["command"][-1]
                metrics = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "metrics"]
                self.assertEqual(url, f"http://{svc['metadata']['name']}.{NAMESPACE}.svc:"
                                      f"{metrics[0]}/readyz")
                self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
                self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])

    def test_notes_say_how_to_reach_metrics_and_the_api(self):
        """NOTES.txt, rendered by helm itself (a copy of the chart renders it
        through tpl: `helm template` skips NOTES and `helm install
        --dry-run` needs a cluster). Every port-forward it gives must reach a
        port the rendered Service or container declares."""
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "mlspace-operator")
            shutil.copytree(CHART, copy)
            os.makedirs(os.path.join(copy, "notes-src"))
            shutil.copy(os.path.join(CHART, "templates", "NOTES.txt"),
                        os.path.join(copy, "notes-src", "NOTES.txt"))
            with open(os.path.join(copy, "templates", "zz-notes.yaml"), "w") as f:
                f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rendered-notes\n'
                        'data:\n  NOTES.txt: {{ tpl (.Files.Get "notes-src/NOTES.txt") . '
                        '| toJson }}\n')
            for vf, api in ((None, False), (os.path.join(VALUES_DIR, "git-https.yaml"), True),
                            (os.path.join(VALUES_DIR, "backends.yaml"), False)):
                with self.subTest(values=os.path.basename(vf or "defaults")):
                    args = ["template", RELEASE, copy, "-n", NAMESPACE]
                    if vf:
                        args += ["-f", vf]
                    objs = [d for d in yaml.safe_load_all(helm(*args).stdout) if d]
                    [notes] = [o["data"]["NOTES.txt"] for o in by_kind(objs, "ConfigMap")
                               if o["metadata"]["name"] == "rendered-notes"]
                    [svc] = by_kind(objs, "Service")
                    [dep] = by_kind(objs, "Deployment")
                    svc_ports = {p["port"] for p in svc["spec"]["ports"]}
                    ctl_ports = {p["containerPort"]
                                 for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
                    forwards = re.findall(r"port-forward (svc|deploy)/(\S+) (\d+)", notes)
                    self.assertTrue(forwards, notes)
                    for kind, name, port in forwards:
                        if kind == "svc":
                            self.assertEqual(name, svc["metadata"]["name"])
                            self.assertIn(int(port), svc_ports, notes)
                        else:
                            self.assertEqual(name, dep["metadata"]["name"])
                            self.assertIn(int(port), ctl_ports, notes)
                    self.assertIn("curl -s http://127.0.0.1:8080/metrics", notes)
                    self.assertIn(f"helm test {RELEASE} -n {NAMESPACE}", notes)
                    if vf and vf.endswith("backends.yaml"):
                        self.assertIn("\nBackends:  cloud (mlspace, default), team-b (mlspace), "
                                      "hpc (slurm)\n", notes)
                        self.assertNotIn("Gateway:", notes)
                    else:
                        self.assertRegex(notes, r"\nGateway:   \S")
                    if api:
                        self.assertIn("port-forward svc/%s 8081" % svc["metadata"]["name"], notes)
                        self.assertIn("--server https://127.0.0.1:8081", notes)
                        self.assertIn("get secret mlspace-api-token", notes)
                        self.assertIn("get secret mlspace-api-tls", notes)
                    else:
                        self.assertNotIn("8081", [p for _, _, p in forwards])
                        self.assertIn("API is off", notes)

    def test_instance_identity_is_a_bounded_label(self):
        label = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
        seen = set()
        for release in ("a" * 53, "a" * 52 + "b"):
            args = helm("template", release, CHART, "-n", "n" * 40).stdout
            [inst] = re.findall(r"--instance=(\S+)", args)
            self.assertRegex(inst, label)
            seen.add(inst)
        self.assertEqual(len(seen), 2, seen)

    def test_monitoring_objects_package_the_single_source_files(self):
        objs = render(os.path.join(VALUES_DIR, "monitoring-on.yaml"))
        with open(os.path.join(CHART, "alerts", "mlspace-operator.rules.yaml")) as f:
            rules = yaml.safe_load(f)
        with open(os.path.join(CHART, "dashboards", "mlspace-operator.json")) as f:
            dashboard = json.load(f)
        [rule] = by_kind(objs, "PrometheusRule")
        self.assertEqual(rule["spec"]["groups"], rules["groups"])
        self.assertEqual(rule["metadata"]["labels"]["release"], "kube-prometheus-stack")
        [sm] = by_kind(objs, "ServiceMonitor")
        [svc] = by_kind(objs, "Service")
        # Prometheus names the job after this Service label: the alerts use it.
        self.assertEqual(svc["metadata"]["labels"][sm["spec"]["jobLabel"]], "mlspace-operator")
        for k, v in sm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(svc["metadata"]["labels"][k], v)
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "metrics")
        self.assertTrue(sm["spec"]["endpoints"][0]["honorLabels"])  # docs/metrics.md, Scraping
        [cm] = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
        self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(json.loads(cm["data"]["mlspace-operator.json"]), dashboard)

        off = render(os.path.join(VALUES_DIR, "monitoring-off.yaml"))
        kinds = {o["kind"] for o in off}
        self.assertNotIn("ServiceMonitor", kinds)
        self.assertNotIn("PrometheusRule", kinds)
        self.assertFalse([c for c in by_kind(off, "ConfigMap")
                          if c["metadata"]["name"].endswith("-dashboard")])

    def test_network_policy(self):
        objs = render(os.path.join(VALUES_DIR, "networkpolicy.yaml"))
        [np] = by_kind(objs, "NetworkPolicy")
        ports = {p["port"] for p in np["spec"]["ingress"][0]["ports"]}
        self.assertEqual(ports, {"metrics", "api"})
        self.assertEqual(np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"],
                         {"kubernetes.io/metadata.name": "monitoring"})
        # The helm test pod may reach /readyz; it is no endpoint of the Service.
        [test_pod] = by_kind(objs, "Pod")
        [svc] = by_kind(objs, "Service")
        peer = np["spec"]["ingress"][0]["from"][1]["podSelector"]["matchLabels"]
        self.assertLessEqual(peer.items(), test_pod["metadata"]["labels"].items())
        self.assertFalse(svc["spec"]["selector"].items() <= test_pod["metadata"]["labels"].items())
        egress = [p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]]
        self.assertEqual(egress, [53, 53, 443, 22])
        self.assertFalse(by_kind(render(None), "NetworkPolicy"))

    def test_schema_violations_fail_lint_naming_the_value(self):
        cases = [
            ({"controller": {"workers": "four"}},
             "controller.workers: Invalid type. Expected: integer, given: string"),
            ({"controller": {"wrokers": 2}}, "controller: Additional property wrokers is not allowed"),
            ({"prune": {"maxFraction": 2}}, "prune.maxFraction: Must be less than or equal to 1"),
            ({"controller": {"pollInterval": "30 seconds"}}, "controller.pollInterval: Does not match"),
            ({"gateway": {"url": "api.ai.cloud.ru"}}, "gateway.url: Does not match"),
            ({"unknownTopLevel": True}, "(root): Additional property unknownTopLevel is not allowed"),
            ({"controller": {"instance": "Prod.Team"}}, "controller.instance: Does not match"),
            ({"credentials": {"jobSecrets": "wandb"}},
             "credentials.jobSecrets: Invalid type. Expected: array, given: string"),
            ({"backends": "hpc"}, "backends: Invalid type. Expected: object, given: string"),
            ({"backends": {"backends": {"hpc": {"type": "slurm"}}}},
             "backends.backends: Invalid type. Expected: array, given: object"),
            ({"backends": {"default": True, "backends": [{"name": "a", "type": "local"}]}},
             "backends.default: Invalid type. Expected: string, given: boolean"),
            ({"backends": {"backends": [{"name": "a", "type": "local", "maxWorkers": "8"}]}},
             "backends.backends.0.maxWorkers: Invalid type. Expected: integer, given: string"),
            ({"backends": {"backends": [{"name": "a"}]}}, "backends.backends.0: type is required"),
            ({"backends": {"backends": [{"name": "a", "type": "slurm", "slurm": "x"}]}},
             "backends.backends.0.slurm: Invalid type. Expected: object, given: string"),
            ({"backends": {"defualt": "a", "backends": [{"name": "a", "type": "local"}]}},
             "backends: Additional property defualt is not allowed"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for values, needle in cases:
                with self.subTest(values=values):
                    path = os.path.join(tmp, "bad.yaml")
                    with open(path, "w") as f:
                        yaml.safe_dump(values, f)
                    r = helm("lint", "--strict", CHART, "-f", path, check=False)
                    self.assertNotEqual(r.returncode, 0, r.stdout)
                    out = r.stdout + r.stderr
                    self.assertIn("values don't meet the specifications of the schema", out)
                    self.assertIn(needle, out)

    def test_template_refuses_inconsistent_values(self):
        cases = [
            (["--set", "api.enabled=true"], "api.tokenSecret: required"),
            (["--set", "api.enabled=true", "--set", "api.tokenSecret=t"],
             "api.tlsSecret: required"),
            (["--set", "credentials.existingSecret="], "credentials.existingSecret: required"),
            (["--set", "source.git.url=https://x/y.git", "--set", "source.configMap.name=cm"],
             "either source.git.url or source.configMap"),
            (["--set", "backends.default=hpc"], "backends.backends: required"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = helm("template", RELEASE, CHART, *args, check=False)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(needle, r.stderr)

    def test_rendered_arguments_pass_check_config(self):
        self.assertTrue(CONTROLLER and os.access(CONTROLLER, os.X_OK),
                        "MLSPACE_CONTROLLER must name the mlspace-controller binary")
        for vf in values_files():
            with self.subTest(values=os.path.basename(vf or "defaults")):
                with tempfile.TemporaryDirectory() as root:
                    args = self._stub_pod(render(vf), root)
                    r = subprocess.run([CONTROLLER, *args, "--check-config"], capture_output=True,
                                       text=True, env={"PATH": os.environ["PATH"]})
                    self.assertEqual(r.returncode, 0, f"args {args}\n{r.stderr}")
                    self.assertIn("configuration OK", r.stdout)
                    # The same pod without its credentials is refused, one line each.
                    if any(a.startswith("--gateway-url") for a in args):
                        shutil.rmtree(os.path.join(root, "etc/mlspace/secrets/mlspace"))
                        r = subprocess.run([CONTROLLER, *args, "--check-config"],
                                           capture_output=True, text=True,
                                           env={"PATH": os.environ["PATH"]})
                        self.assertEqual(r.returncode, 2, r.stderr)
                        self.assertIn("MLSPACE_WORKSPACE_ID not found", r.stderr)
                    # With --backends: each backend's credentials, where the
                    # mounted file says they are, and only there.
                    if any(a.startswith("--backends=") for a in args):
                        self.assertFalse(any(a.startswith("--gateway") for a in args), args)
                        secrets = os.path.join(root, "etc/mlspace/backend-secrets")
                        for name in os.listdir(secrets):
                            shutil.rmtree(os.path.join(secrets, name))
                        r = subprocess.run([CONTROLLER, *args, "--check-config"],
                                           capture_output=True, text=True,
                                           env={"PATH": os.environ["PATH"]})
                        self.assertEqual(r.returncode, 2, r.stderr)
                        lines = r.stderr.splitlines()
                        self.assertEqual(len(lines), 2, r.stderr)
                        self.assertIn("backends[team-b]: gateway credentials: "
                                      "MLSPACE_WORKSPACE_ID not found", lines[0])
                        self.assertIn("backends[hpc].slurm.restd.tokenFile: ", lines[1])

    def _stub_pod(self, objs, root):
        """Creates what the pod's volumes would show under root; returns the
        controller's arguments with their absolute paths moved under root."""
        [dep] = by_kind(objs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        ctl = pod["containers"][0]
        configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in by_kind(objs, "ConfigMap")}
        for m in ctl["volumeMounts"]:
            path = root + m["mountPath"]
            os.makedirs(path, exist_ok=True)
            secret = volumes[m["name"]].get("secret")
            if secret:
                data = SECRETS[secret["secretName"]]
                items = secret.get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    with open(os.path.join(path, item["path"]), "w") as f:
                        f.write(data[item["key"]])
        # The ConfigMap source: run the init container's script for real.
        for init in pod.get("initContainers", []):
            script = init["args"][0]
            mounts = sorted(init["volumeMounts"], key=lambda m: -len(m["mountPath"]))
            for i, m in enumerate(mounts):  # via placeholders: /tmp is a mount too
                script = script.replace(m["mountPath"], f"@MOUNT{i}@")
            for i, m in enumerate(mounts):
                script = script.replace(f"@MOUNT{i}@", root + m["mountPath"])
            for m in init["volumeMounts"]:
                os.makedirs(root + m["mountPath"], exist_ok=True)
                cm = volumes[m["name"]].get("configMap")
                if cm:
                    for name, text in configmaps[cm["name"]].items():
                        with open(os.path.join(root + m["mountPath"], name), "w") as f:
                            f.write(text)
            env = dict(os.environ, **{e["name"]: e["value"] for e in init["env"]})
            env["HOME"] = root
            subprocess.run(["/bin/sh", "-c", script], check=True, env=env)
            # Every file of the ConfigMap is committed at HEAD.
            cm_name = volumes["manifests-src"]["configMap"]["name"]
            repo = root + "/var/lib/mlspace-manifests/repo"
            committed = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", "HEAD"],
                                       capture_output=True, text=True, check=True).stdout.split()
            self.assertEqual(sorted(committed),
                             sorted("manifests/" + name for name in configmaps[cm_name]))
        # The controller's ConfigMap volumes (the --backends file): their
        # files at the mount path, with the paths they name under the
        # container's mounts moved under root like the arguments below, so a
        # file naming a path the pod does not mount is checked as missing.
        for m in ctl["volumeMounts"]:
            cm = volumes[m["name"]].get("configMap")
            if not cm:
                continue
            data = configmaps[cm["name"]]
            items = cm.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                with open(os.path.join(root + m["mountPath"], item["path"]), "w") as f:
                    f.write(self._under_root(data[item["key"]], ctl["volumeMounts"], root))
        args = []
        for a in ctl["args"]:
            flag, eq, value = a.partition("=")
            if eq and value.startswith("/"):
                a = f"{flag}={root}{value}"
            args.append(a)
        return args

    @staticmethod
    def _under_root(text, mounts, root):
        """text with every path at or below a mount path moved under root
        (longest mount first, via placeholders: /tmp is a mount too)."""
        paths = sorted({m["mountPath"] for m in mounts}, key=len, reverse=True)
        for i, p in enumerate(paths):
            text = re.sub(re.escape(p) + r"(?=/|\s|$|[\"'])", f"@MOUNT{i}@", text, flags=re.M)
        for i, p in enumerate(paths):
            text = text.replace(f"@MOUNT{i}@", root + p)
        return text


class ChartUpgradeTest(unittest.TestCase):
    def test_next_version_replaces_the_pod_and_keeps_the_state(self):
        """`helm upgrade` to chart N+1: the fields Kubernetes will not change
        in place stay equal, the pod template changes (new image), the state
        PVC and the instance identity are the same."""
        with tempfile.TemporaryDirectory() as tmp:
            nxt = os.path.join(tmp, "mlspace-operator")
            shutil.copytree(CHART, nxt)
            with open(os.path.join(nxt, "Chart.yaml")) as f:
                chart = yaml.safe_load(f)
            major, minor, _ = chart["version"].split(".")
            bumped = f"{major}.{int(minor) + 1}.0"
            chart["version"] = chart["appVersion"] = bumped
            with open(os.path.join(nxt, "Chart.yaml"), "w") as f:
                yaml.safe_dump(chart, f)
            vf = os.path.join(VALUES_DIR, "git-https.yaml")
            old = render(vf)
            new = [d for d in yaml.load_all(helm("template", RELEASE, nxt, "-n", NAMESPACE,
                                                 "--include-crds", "-f", vf).stdout,
                                            Loader=StrictLoader) if d]
        [d0], [d1] = by_kind(old, "Deployment"), by_kind(new, "Deployment")
        self.assertEqual(d0["spec"]["selector"], d1["spec"]["selector"])
        self.assertEqual(d1["spec"]["strategy"], {"type": "Recreate"})
        c0, c1 = d0["spec"]["template"]["spec"]["containers"][0], d1["spec"]["template"]["spec"]["containers"][0]
        self.assertTrue(c1["image"].endswith(":" + bumped), c1["image"])
        self.assertNotEqual(c0["image"], c1["image"])
        self.assertEqual([a for a in c0["args"] if a.startswith("--instance=")],
                         [a for a in c1["args"] if a.startswith("--instance=")])
        self.assertEqual(d0["spec"]["template"]["spec"]["volumes"], d1["spec"]["template"]["spec"]["volumes"])
        [p0], [p1] = by_kind(old, "PersistentVolumeClaim"), by_kind(new, "PersistentVolumeClaim")
        self.assertEqual((p0["metadata"]["name"], p0["spec"]), (p1["metadata"]["name"], p1["spec"]))
        self.assertEqual(p1["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")
        [s0], [s1] = by_kind(old, "Service"), by_kind(new, "Service")
        self.assertEqual(s0["spec"]["selector"], s1["spec"]["selector"])


class ChartPackageTest(unittest.TestCase):
    def test_helm_package_produces_an_archive(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = helm("package", CHART, "-d", tmp)
            with open(os.path.join(CHART, "Chart.yaml")) as f:
                version = yaml.safe_load(f)["version"]
            archive = os.path.join(tmp, f"mlspace-operator-{version}.tgz")
            self.assertIn(archive, r.stdout)
            with tarfile.open(archive) as t:
                names = set(t.getnames())
            for want in ("Chart.yaml", "values.yaml", "values.schema.json", "crds/mlspace.io_mlspacejobs.yaml",
                         "dashboards/mlspace-operator.json", "alerts/mlspace-operator.rules.yaml",
                         "templates/deployment.yaml", "templates/tests/test-readyz.yaml"):
                self.assertIn("mlspace-operator/" + want, names)
            self.assertNotIn("mlspace-operator/alerts/tests.yaml", names)
            # The archive renders the same objects as the chart directory.
            self.assertEqual(helm("template", RELEASE, archive, "--include-crds").stdout,
                             helm("template", RELEASE, CHART, "--include-crds").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
