#!/usr/bin/env python3
"""Runs every query of the Grafana dashboard against a real Prometheus.

Extracts each panel target's expr (and each query variable, as
`count by (label) (selector)`), substitutes the template variables the way
Grafana would with "All" selected, asks Prometheus's HTTP API
(/api/v1/query) and fails unless every query returns a non-empty result.

  dashboard_queries.py --prometheus http://127.0.0.1:9090 [--timeout 60]
  dashboard_queries.py --dry-run            # print the substituted queries

Python 3 standard library only.
"""
import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_DASHBOARD = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "charts", "mlspace-operator",
    "dashboards", "mlspace-operator.json")

# Grafana's built-in variables and what they become in a one-shot query.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$")


class DashboardError(Exception):
    pass


def substitute(expr, variables):
    """Replaces $var, ${var}, ${var:fmt} and [[var]]; unknown names raise."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in variables:
            raise DashboardError("unknown template variable $%s in: %s" % (name, expr))
        return variables[name]
    return _VAR.sub(repl, expr)


def template_values(dashboard, rate_interval):
    """Every dashboard variable as "All" (regex .*) plus the built-ins."""
    values = dict(BUILTINS)
    values["__rate_interval"] = rate_interval
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") == "datasource":
            continue  # only used in datasource fields, never in expressions
        values[v["name"]] = v.get("allValue") or ".*"
    return values


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        for child in p.get("panels", []):
            yield child


def extract_queries(dashboard, rate_interval="1m", include_variables=True):
    """Returns [{"panel", "ref", "expr"}] with variables substituted."""
    values = template_values(dashboard, rate_interval)
    out = []
    for p in panels(dashboard):
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            if not expr.strip():
                continue
            out.append({"panel": p.get("title", "#%s" % p.get("id")), "ref": t.get("refId", ""),
                        "expr": substitute(expr, values)})
    if include_variables:
        for v in dashboard.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v.get("query")
            definition = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = _LABEL_VALUES.match(definition)
            if not m:
                raise DashboardError("variable %s: only label_values(selector, label) is "
                                     "supported, got: %s" % (v.get("name"), definition))
            selector = substitute(m.group(1), values)
            out.append({"panel": "variable $%s" % v["name"], "ref": "",
                        "expr": "count by (%s) (%s)" % (m.group(2), selector)})
    return out


def query(base_url, expr, timeout=10):
    """Returns (ok, number of results, error message)."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return False, 0, "HTTP %d" % e.code
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, 0, str(e)
    if body.get("status") != "success":
        return False, 0, "%s: %s" % (body.get("errorType"), body.get("error"))
    data = body.get("data", {})
    result = data.get("result")
    if data.get("resultType") == "scalar":
        return True, 1, ""
    return True, len(result or []), ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboard", default=DEFAULT_DASHBOARD)
    ap.add_argument("--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--dry-run", action="store_true", help="print the substituted queries only")
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds to keep retrying queries that are still empty")
    ap.add_argument("--allow-empty", action="append", default=[], metavar="PANEL",
                    help="panel title whose queries may be empty (repeatable)")
    ap.add_argument("--no-variables", action="store_true", help="skip variable queries")
    args = ap.parse_args(argv)

    try:
        with open(args.dashboard) as f:
            dashboard = json.load(f)
        queries = extract_queries(dashboard, args.rate_interval, not args.no_variables)
    except (OSError, ValueError, KeyError, DashboardError) as e:
        print("dashboard_queries: %s: %s" % (args.dashboard, e), file=sys.stderr)
        return 2

    if args.dry_run:
        for q in queries:
            print("%s\t%s\t%s" % (q["panel"], q["ref"], q["expr"]))
        return 0
    if not args.prometheus:
        print("dashboard_queries: --prometheus URL is required (or --dry-run)", file=sys.stderr)
        return 2

    pending = list(queries)
    deadline = time.monotonic() + args.timeout
    failures = {}
    while True:
        still = []
        for q in pending:
            ok, n, err = query(args.prometheus, q["expr"])
            if ok and (n > 0 or q["panel"] in args.allow_empty):
                print("ok     %-40s %-2s %d series" % (q["panel"], q["ref"], n))
            else:
                failures[id(q)] = err or "empty result"
                still.append(q)
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1)
    for q in pending:
        print("FAILED %s [%s]: %s\n       %s" % (q["panel"], q["ref"], failures[id(q)], q["expr"]))
    print("%d of %d dashboard queries returned data" % (len(queries) - len(pending), len(queries)))
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main())
