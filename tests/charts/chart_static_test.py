#!/usr/bin/env python3
"""Checks of the Helm chart that need no tools (label unit):
the packaged CRD is a byte-identical copy of crd/, the chart's version is the
project's, every value in values.yaml is commented and values.yaml passes
its own values.schema.json, which rejects wrong types and unknown keys.

Environment: MLSPACE_SOURCE_DIR, MLSPACE_PROJECT_VERSION (from CMake).
"""
import json
import os
import re
import unittest

import jsonschema
import yaml

SRC = os.environ.get("MLSPACE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(SRC, "charts", "mlspace-operator")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


class ChartStaticTest(unittest.TestCase):
    def test_crd_copy_is_byte_identical(self):
        src = os.path.join(SRC, "crd", "mlspace.io_mlspacejobs.yaml")
        copy = os.path.join(CHART, "crds", "mlspace.io_mlspacejobs.yaml")
        self.assertTrue(read(src, "rb") == read(copy, "rb"),
                        f"{copy} differs from {src}: run cp {src} {copy}")

    def test_chart_version_is_the_project_version(self):
        chart = yaml.safe_load(read(os.path.join(CHART, "Chart.yaml")))
        want = os.environ.get("MLSPACE_PROJECT_VERSION")
        if not want:
            m = re.search(r"project\(mlspace-operator VERSION ([0-9.]+)",
                          read(os.path.join(SRC, "CMakeLists.txt")))
            want = m.group(1)
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["version"], want)
        self.assertEqual(chart["appVersion"], want)

    def test_every_value_is_commented(self):
        lines = read(os.path.join(CHART, "values.yaml")).splitlines()
        key = re.compile(r"^(\s*)([A-Za-z][A-Za-z0-9_]*):(.*)$")
        documented = {}  # indent -> whether the enclosing key at that indent had a comment
        missing = []
        for i, line in enumerate(lines):
            m = key.match(line)
            if not m:
                continue
            indent = len(m.group(1))
            prev = next((l for l in reversed(lines[:i]) if l.strip()), "")
            commented = prev.strip().startswith("#")
            parent = any(v for k, v in documented.items() if k < indent)
            documented = {k: v for k, v in documented.items() if k < indent}
            documented[indent] = commented or parent
            if m.group(3).strip() and not (commented or parent):
                missing.append(f"values.yaml:{i + 1}: {line.strip()}")
        self.assertEqual(missing, [], "values without a comment")

    def test_values_match_their_schema_and_the_schema_rejects_bad_values(self):
        schema = json.loads(read(os.path.join(CHART, "values.schema.json")))
        values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))
        jsonschema.validate(values, schema)
        # Every top-level value is described, and only those.
        self.assertEqual(set(values) | {"global"}, set(schema["properties"]))
        bad = [
            {**values, "replicaCount": 2},
            {**values, "controller": {**values["controller"], "workers": "4"}},
            {**values, "controller": {**values["controller"], "logFormat": "xml"}},
            {**values, "persistence": {**values["persistence"], "size": "lots"}},
            {**values, "backends": {"backends": [{"name": "Bad_Name", "type": "local"}]}},
            {**values, "backends": {"backends": []}},
        ]
        for b in bad:
            with self.subTest(value=b):
                with self.assertRaises(jsonschema.ValidationError):
                    jsonschema.validate(b, schema)

    def test_schema_refuses_unknown_keys_at_every_level(self):
        # Every object of the chart's own values is closed; open only where
        # the value is passed to Kubernetes as is (validated after rendering
        # against the Kubernetes schemas, tests/charts/chart_tools_test.py),
        # and the entries of the --backends file, whose keys depend on the
        # backend type and are checked by the controller's own rules
        # (`--check-config` on the rendered file, chart_tools_test.py).
        passthrough = {"global", "affinity", "controller.extraEnv[]", "tolerations[]",
                       "networkPolicy.allowedFrom[]", "controller.extraVolumes[]",
                       "controller.extraVolumeMounts[]", "backends.backends[]",
                       "backends.backends[].slurm"}
        schema = json.loads(read(os.path.join(CHART, "values.schema.json")))
        open_objects = []

        def walk(node, path):
            if node.get("type") == "object" or "properties" in node:
                if node.get("additionalProperties", True) is True and path not in passthrough:
                    open_objects.append(path or "(root)")
                for key, sub in node.get("properties", {}).items():
                    walk(sub, f"{path}.{key}" if path else key)
            if node.get("type") == "array" and isinstance(node.get("items"), dict):
                walk(node["items"], path + "[]")

        walk(schema, "")
        self.assertEqual(open_objects, [], "values.schema.json: objects without "
                         "additionalProperties (false, or a schema for map values)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
