#pragma once

// The submit marker, put into a job's job_desc before POST /jobs, so a job
// whose submit answer was lost (or sent just before a crash) is found again
// in a list by its marker:
//
//   mlsj:<instance>:<namespace>/<name>/<hash8>/<attempt>
//
// <instance> names the controller (--instance, recorded in its state store),
// so several controllers can share one workspace without mixing their jobs.
// Instance, namespace and name are DNS-1123 labels, which never contain ':'
// or '/', so the first ':' after the prefix ends the instance and the format
// cannot be confused with the one before it:
//
//   mlsj:<namespace>/<name>/<hash8>/<attempt>      (legacy, no instance)
//
// Legacy markers are still parsed: jobs submitted by earlier versions stay
// with the controller whose store holds their intents (docs/reconcile.md).

#include <optional>
#include <string>
#include <string_view>

#include "controller/core/object_key.h"

namespace mlspace::reconciler {

inline constexpr std::string_view kMarkerPrefix = "mlsj:";

struct ParsedMarker {
  std::string instance;  // empty for a legacy marker
  ObjectKey key;
  std::string hash8;
  int attempt = 0;

  bool legacy() const { return instance.empty(); }
};

// An instance identity: a DNS-1123 label (1..63 of [a-z0-9-], alphanumeric
// at both ends), like a Helm release or Kubernetes object name.
bool IsValidInstance(std::string_view instance);

// mlsj:<instance>:<ns>/<name>/<first 8 chars of spec_hash>/<attempt>.
// `instance` must satisfy IsValidInstance; an empty one writes the legacy
// format (only tests of legacy behaviour do that).
std::string MakeMarker(std::string_view instance, const ObjectKey& key, std::string_view spec_hash,
                       int attempt);

// Parses a marker exactly as MakeMarker writes it, in either format.
std::optional<ParsedMarker> ParseMarker(std::string_view marker);

// The first whitespace-delimited token of `job_desc` that starts with
// "mlsj:" and parses as a marker (job_desc may carry other text around it).
std::optional<std::string> FindMarker(std::string_view job_desc);

}  // namespace mlspace::reconciler
