"""Prints an MLSpaceJobList (stdin) as a table; exit 0 once every job settled.

Settled: the phase does not change by itself (Succeeded, Failed, Suspended,
Invalid, Removed), or the object is blocked until someone changes something
(condition Stalled=True, e.g. SubmitBlocked for a missing secret). An empty
list is settled too (the caller checks /readyz first). Exit 3 otherwise, or
when the input is not a list (the API is not answering yet).
"""
import json
import sys

STEADY = ("Succeeded", "Failed", "Suspended", "Invalid", "Removed")


def stalled(obj):
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == "Stalled" and c.get("status") == "True":
            return c.get("reason") or "Stalled"
    return ""


def main():
    try:
        items = json.load(sys.stdin)["items"]
    except (ValueError, KeyError, TypeError):
        return 3
    print("%-28s %-10s %-7s %-24s %s" % ("NAMESPACE/NAME", "PHASE", "ATTEMPT", "REMOTE JOB",
                                         "NOTE"))
    waiting = []
    for o in items:
        m, s = o["metadata"], o.get("status", {})
        phase = s.get("phase", "")
        why = stalled(o)
        print("%-28s %-10s %-7s %-24s %s" % (m["namespace"] + "/" + m["name"], phase,
                                             s.get("attempt", 0), s.get("remoteJobName", ""),
                                             why))
        if phase not in STEADY and not why:
            waiting.append(m["namespace"] + "/" + m["name"])
    if waiting:
        print("waiting for: " + ", ".join(waiting))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
