#!/usr/bin/python3
"""Independent verdicts for the schema cross-check test (validator_crosscheck_test.cc).

Usage: jsonschema_check.py SCHEMA_DOC CASES OUT
  SCHEMA_DOC  a JSON document (an OpenAPI document or a bare schema)
  CASES       JSON lines: {"schema": "#/json/pointer" or "", "instance": ...}
  OUT         written with one line per case: "valid" or "invalid"

Uses Debian's python3-jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1).
OpenAPI 3.0's `nullable: true` is not a JSON-schema keyword, so it is
rewritten to the meaning the service's pydantic models give it: null is
accepted, anything else must match the rest of the schema.
"""
import json
import sys

import jsonschema


def rewrite_nullable(node):
    if isinstance(node, list):
        return [rewrite_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: rewrite_nullable(v) for k, v in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [{"type": "null"}, out]}
    return out


def main():
    with open(sys.argv[1]) as f:
        doc = rewrite_nullable(json.load(f))
    validators = {}
    verdicts = []
    with open(sys.argv[2]) as f:
        for line in f:
            if not line.strip():
                continue
            case = json.loads(line)
            ptr = case["schema"]
            if ptr not in validators:
                root = dict(doc)
                if ptr:
                    root["$ref"] = ptr
                jsonschema.Draft202012Validator.check_schema(root)
                validators[ptr] = jsonschema.Draft202012Validator(root)
            ok = validators[ptr].is_valid(case["instance"])
            verdicts.append("valid" if ok else "invalid")
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(verdicts) + "\n")


if __name__ == "__main__":
    main()
