#!/usr/bin/env python3
"""Fails when a GoogleTest test was skipped and the skip is not allowed.

`make test` (scripts/test.sh) runs every ctest stage with
GTEST_OUTPUT=xml:<dir>/, so each test binary leaves a report there; this
reads them all. A skip is allowed only when tests/skip_allowlist.txt lists
it for the stage:

    <stage> <Suite.Name> <why>      (stage: unit, asan, tsan, e2e or *)

Usage: scripts/check_skips.py STAGE REPORT_DIR [ALLOWLIST]
Exit 0: no unexpected skip. Exit 1: one line per unexpected skip, naming the
test, its binary and gtest's message. Exit 2: bad usage or unreadable report.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def load_allowlist(path, stage):
    allowed = set()
    if not path or not os.path.exists(path):
        return allowed
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                sys.exit(f"{path}:{n}: expected '<stage> <Suite.Name> <why>'")
            if parts[0] in (stage, "*"):
                allowed.add(parts[1])
    return allowed


def skipped_tests(report):
    """Yields (Suite.Name, message) for each skipped testcase of one report."""
    try:
        root = ET.parse(report).getroot()
    except (ET.ParseError, OSError) as e:
        print(f"check_skips: {report}: unreadable gtest report: {e}", file=sys.stderr)
        sys.exit(2)
    for case in root.iter("testcase"):
        skip = case.find("skipped")
        if case.get("result") == "skipped" or skip is not None:
            message = ""
            if skip is not None:
                message = skip.get("message") or (skip.text or "")
            cls, test = case.get("classname"), case.get("name")
            # ctest --output-junit: one testcase per ctest test, classname == name.
            name = test if cls == test else f"{cls}.{test}"
            yield name, " ".join(message.split())


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    stage, report_dir = sys.argv[1], sys.argv[2]
    allowlist = sys.argv[3] if len(sys.argv) == 4 else None
    if not os.path.isdir(report_dir):
        print(f"check_skips: {report_dir}: no such report directory", file=sys.stderr)
        return 2
    allowed = load_allowlist(allowlist, stage)
    unexpected = []
    reports = sorted(glob.glob(os.path.join(report_dir, "*.xml")))
    for report in reports:
        binary = os.path.splitext(os.path.basename(report))[0]
        for name, message in skipped_tests(report):
            if name not in allowed:
                unexpected.append(f"{name} ({binary}) skipped: {message}")
    for line in unexpected:
        print(f"check_skips [{stage}]: unexpected skip: {line}", file=sys.stderr)
    if unexpected:
        print(f"check_skips [{stage}]: {len(unexpected)} unexpected skip(s); fix the cause "
              f"or list the test in {allowlist or 'tests/skip_allowlist.txt'}", file=sys.stderr)
        return 1
    print(f"check_skips [{stage}]: {len(reports)} reports, no unexpected skip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
