#!/usr/bin/env python3
"""Unit tests of e2e/metrics/dashboard_queries.py (extraction, substitution,
the HTTP check against a fake Prometheus) and a PromQL syntax check of every
substituted query with promtool."""
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse
from contextlib import redirect_stdout

SOURCE_DIR = os.environ.get("MLSPACE_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SOURCE_DIR, "e2e", "metrics"))
import dashboard_queries as dq  # noqa: E402

DASHBOARD = os.path.join(SOURCE_DIR, "charts", "mlspace-operator", "dashboards",
                         "mlspace-operator.json")


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


class SubstituteTest(unittest.TestCase):
    def test_all_spellings(self):
        v = {"namespace": ".*", "__rate_interval": "1m"}
        self.assertEqual(dq.substitute('a{n=~"$namespace"}[$__rate_interval]', v),
                         'a{n=~".*"}[1m]')
        self.assertEqual(dq.substitute('a{n=~"${namespace}"}', v), 'a{n=~".*"}')
        self.assertEqual(dq.substitute('a{n=~"${namespace:regex}"}', v), 'a{n=~".*"}')
        self.assertEqual(dq.substitute('a{n=~"[[namespace]]"}', v), 'a{n=~".*"}')

    def test_unknown_variable_is_an_error(self):
        with self.assertRaises(dq.DashboardError) as e:
            dq.substitute('a{x="$nope"}', {})
        self.assertIn("$nope", str(e.exception))


class ExtractTest(unittest.TestCase):
    def test_every_target_and_variable_is_extracted_without_variables_left(self):
        d = load()
        targets = sum(len(p.get("targets", [])) for p in dq.panels(d))
        variables = [v for v in d["templating"]["list"] if v["type"] == "query"]
        queries = dq.extract_queries(d, "2m")
        self.assertEqual(len(queries), targets + len(variables))
        for q in queries:
            self.assertNotIn("$", q["expr"], q)
            self.assertNotIn("[[", q["expr"], q)
        exprs = [q["expr"] for q in queries]
        self.assertTrue(any("[2m]" in e for e in exprs))
        self.assertIn("count by (namespace) (mlspacejob_info)", exprs)

    def test_nested_row_panels_and_custom_variables(self):
        d = {"templating": {"list": [
                {"name": "datasource", "type": "datasource"},
                {"name": "ns", "type": "query", "allValue": "team-.*",
                 "query": "label_values(up{job=\"x\"}, ns)"}]},
             "panels": [{"type": "row", "title": "r", "collapsed": True, "panels": [
                 {"id": 2, "title": "inner", "targets": [
                     {"refId": "A", "expr": "rate(a_total{ns=~\"$ns\"}[$__rate_interval])"},
                     {"refId": "B", "expr": " "}]}]}]}
        q = dq.extract_queries(d)
        self.assertEqual(q[0], {"panel": "inner", "ref": "A",
                                "expr": 'rate(a_total{ns=~"team-.*"}[1m])'})
        self.assertEqual(q[1]["expr"], 'count by (ns) (up{job="x"})')
        self.assertEqual(len(q), 2)

    def test_dry_run_prints_one_line_per_query(self):
        out = io.StringIO()
        with redirect_stdout(out):
            rc = dq.main(["--dry-run", "--dashboard", DASHBOARD])
        self.assertEqual(rc, 0)
        lines = out.getvalue().strip().split("\n")
        self.assertEqual(len(lines), len(dq.extract_queries(load())))
        self.assertEqual(len(lines[0].split("\t")), 3)


class FakePrometheus(http.server.BaseHTTPRequestHandler):
    empty = set()
    errors = set()

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        expr = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        if url.path != "/api/v1/query":
            self.send_response(404)
            self.end_headers()
            return
        if any(e in expr for e in self.errors):
            code, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
        else:
            result = [] if any(e in expr for e in self.empty) else [
                {"metric": {}, "value": [0, "1"]}]
            code, body = 200, {"status": "success",
                               "data": {"resultType": "vector", "result": result}}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class HttpCheckTest(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        FakePrometheus.empty, FakePrometheus.errors = set(), set()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def run_main(self, *extra):
        out = io.StringIO()
        with redirect_stdout(out):
            rc = dq.main(["--dashboard", DASHBOARD, "--prometheus", self.url, "--timeout", "0"]
                         + list(extra))
        return rc, out.getvalue()

    def test_all_queries_with_data_pass(self):
        rc, out = self.run_main()
        self.assertEqual(rc, 0, out)
        n = len(dq.extract_queries(load()))
        self.assertIn("%d of %d dashboard queries returned data" % (n, n), out)

    def test_an_empty_result_fails_and_names_the_panel(self):
        FakePrometheus.empty = {"mlspace_gateway_throttled_total"}
        rc, out = self.run_main()
        self.assertEqual(rc, 1)
        self.assertIn("FAILED Throttling (429) and credentials (401/403) [A]: empty result", out)
        rc, out = self.run_main("--allow-empty", "Throttling (429) and credentials (401/403)")
        self.assertEqual(rc, 0, out)

    def test_a_query_error_fails(self):
        FakePrometheus.errors = {"gitops_manifests"}
        rc, out = self.run_main()
        self.assertEqual(rc, 1)
        self.assertIn("bad_data: parse error", out)


@unittest.skipUnless(shutil.which("promtool"), "promtool not installed")
class PromQLSyntaxTest(unittest.TestCase):
    def test_every_substituted_query_parses(self):
        # promtool has no offline query checker; recording rules are parsed
        # with the same PromQL parser.
        queries = dq.extract_queries(load())
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, q in enumerate(queries):
                f.write("      - record: dashboard:query_%d\n        expr: %s\n"
                        % (i, json.dumps(q["expr"])))
            path = f.name
        try:
            r = subprocess.run(["promtool", "check", "rules", path], capture_output=True,
                               text=True)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(queries), r.stdout)


if __name__ == "__main__":
    unittest.main()
