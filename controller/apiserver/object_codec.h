#pragma once

// Kubernetes-shaped JSON for what the store records: objects, ages and
// metav1.Status errors (lists and Tables: handler.cc, table.h). Pure functions (no I/O), so
// the HTTP layer stays thin and these stay unit-testable.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/api/types.h"
#include "controller/core/clock.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

// A stable object uid derived from namespace/name and creation time, so it
// survives restarts without being stored separately.
std::string ObjectUid(const store::ObjectRecord& r);

// The full MLSpaceJob object: apiVersion, kind, metadata (name, namespace,
// uid, resourceVersion, generation, creationTimestamp, labels,
// annotations), spec (from the record's canonical spec JSON) and status.
nlohmann::json RecordToObject(const store::ObjectRecord& r);

// kubectl's age format: "42s", "5m", "3h12m", "2d4h", "400d".
std::string FormatAge(Duration d);

// metav1.Status with status Failure. `reason` is the Kubernetes reason
// (NotFound, Invalid, BadRequest, Unauthorized, MethodNotAllowed, ...).
nlohmann::json StatusFailure(int code, std::string_view reason, std::string_view message);
// NotFound for one mlspacejob, shaped like the real apiserver's:
// mlspacejobs.mlspace.io "x" not found.
nlohmann::json NotFoundStatus(std::string_view name);

}  // namespace mlspace::apiserver
