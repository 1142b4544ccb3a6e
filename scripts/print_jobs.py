"""Prints an MLSpaceJobList (stdin) as a table; exit 0 once every job settled."""
import json
import sys

try:
    items = json.load(sys.stdin)["items"]
except (ValueError, KeyError):
    sys.exit(3)  # the API is not answering yet
print("%-28s %-11s %-7s %s" % ("NAMESPACE/NAME", "PHASE", "ATTEMPT", "REMOTE JOB"))
for o in items:
    m, s = o["metadata"], o.get("status", {})
    print("%-28s %-11s %-7s %s" % (m["namespace"] + "/" + m["name"], s.get("phase", ""),
                                   s.get("attempt", 0), s.get("remoteJobName", "")))
settled = all(o.get("status", {}).get("phase") in ("Succeeded", "Failed", "Suspended", "Invalid")
              for o in items)
sys.exit(0 if items and settled else 3)
