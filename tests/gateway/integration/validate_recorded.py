#!/usr/bin/env python3
"""Checks recorded Gateway v2 requests against the service's OpenAPI document.

An independent check of the HTTP client: the emulator's --record file holds
every request it received (one JSON object per line: method, path, query,
headers, body). Each request is matched to an operation of the OpenAPI
document and checked with python3-jsonschema (not the project's own
validator):

  * the JSON body against the operation's requestBody schema, with every
    $ref resolved inside the whole OpenAPI document;
  * each query parameter against its declared schema (unknown query
    parameters are failures: the client must not invent any);
  * required query, path and header parameters are present.

Usage: validate_recorded.py OPENAPI_JSON RECORD_JSONL
Prints one line per failure and a final JSON summary line
{"checked": N, "failures": M, "operations": {"POST /public/v2/jobs": k, ...}}.
Exit status: 0 when every request is valid, 1 on failures, 2 on bad input.
"""
import json
import re
import sys

import jsonschema

# Requests the emulator serves that are not part of the public API.
SKIPPED_PREFIXES = ("/_emulator/",)


def load_lines(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not JSON: {e}")


def compile_paths(api):
    """[(regex, literal_segments, template, operations)], most literal first."""
    out = []
    for template, ops in api["paths"].items():
        parts = template.strip("/").split("/")
        pattern = "^/" + "/".join(
            "[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
        literal = sum(1 for p in parts if not p.startswith("{"))
        out.append((re.compile(pattern), literal, template, ops))
    out.sort(key=lambda t: -t[1])
    return out


def find_operation(paths, method, path):
    for regex, _, template, ops in paths:
        if regex.match(path) and method.lower() in ops:
            return template, ops[method.lower()]
    return None, None


def coerce(value, schema, resolve):
    """A query string value as the type its schema declares."""
    schema = resolve(schema)
    types = schema.get("type")
    if types is None and "allOf" in schema:
        for sub in schema["allOf"]:
            sub = resolve(sub)
            if "type" in sub:
                types = sub["type"]
                break
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), None)
    if types == "integer":
        try:
            return int(value)
        except ValueError:
            return value  # the schema check reports the type error
    if types == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if types == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        api = json.load(f)
    cls = jsonschema.validators.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema"})
    resolver = jsonschema.RefResolver(base_uri="", referrer=api)

    def resolve(schema):
        while isinstance(schema, dict) and "$ref" in schema:
            _, schema = resolver.resolve(schema["$ref"])
        return schema

    def errors_of(instance, schema):
        validator = cls(schema, resolver=resolver)
        return sorted(validator.iter_errors(instance), key=lambda e: list(e.path))

    paths = compile_paths(api)
    checked = 0
    failures = []
    operations = {}
    for number, rec in load_lines(argv[2]):
        method = rec.get("method", "")
        path = rec.get("path", "")
        if path.startswith(SKIPPED_PREFIXES):
            continue
        where = f"line {number}: {method} {path}"
        checked += 1
        template, op = find_operation(paths, method, path)
        if op is None:
            failures.append(f"{where}: no such operation in the OpenAPI document")
            continue
        key = f"{method} {template}"
        operations[key] = operations.get(key, 0) + 1

        params = {}
        for p in op.get("parameters", []):
            p = resolve(p)
            params[(p["in"], p["name"].lower() if p["in"] == "header" else p["name"])] = p
        query = rec.get("query") or {}
        headers = {k.lower(): v for k, v in (rec.get("headers") or {}).items()}
        for (where_in, name), p in params.items():
            if not p.get("required"):
                continue
            present = (name in query if where_in == "query" else
                       name in headers if where_in == "header" else True)
            if not present:
                failures.append(f"{where}: required {where_in} parameter {name} missing")
        for name, values in query.items():
            p = params.get(("query", name))
            if p is None:
                failures.append(f"{where}: query parameter {name} is not declared")
                continue
            schema = p.get("schema", {})
            resolved = resolve(schema)
            if resolved.get("type") == "array":
                instance = [coerce(v, resolved.get("items", {}), resolve) for v in values]
            else:
                if len(values) != 1:
                    failures.append(f"{where}: query parameter {name} repeated {len(values)} times")
                    continue
                instance = coerce(values[0], schema, resolve)
            for e in errors_of(instance, schema):
                failures.append(f"{where}: query {name}={values}: {e.message}")

        body_spec = op.get("requestBody")
        body = rec.get("body")
        if body_spec is None:
            if body not in (None, ""):
                failures.append(f"{where}: the operation takes no body, got {json.dumps(body)[:120]}")
            continue
        if body is None:
            if body_spec.get("required"):
                failures.append(f"{where}: required body missing")
            continue
        schema = body_spec["content"]["application/json"]["schema"]
        for e in errors_of(body, schema):
            loc = "/".join(str(x) for x in e.absolute_path) or "<root>"
            failures.append(f"{where}: body {loc}: {e.message}")

    for f in failures:
        print(f)
    print(json.dumps({"checked": checked, "failures": len(failures), "operations": operations},
                     sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
