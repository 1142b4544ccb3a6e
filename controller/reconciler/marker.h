#pragma once

// The submit marker `mlsj:<namespace>/<name>/<hash8>/<attempt>`: put into a
// job's job_desc before POST /jobs, so a job whose submit answer was lost
// (or sent just before a crash) is found again in a list by its marker.

#include <optional>
#include <string>
#include <string_view>

#include "controller/core/object_key.h"

namespace mlspace::reconciler {

inline constexpr std::string_view kMarkerPrefix = "mlsj:";

struct ParsedMarker {
  ObjectKey key;
  std::string hash8;
  int attempt = 0;
};

// mlsj:<ns>/<name>/<first 8 chars of spec_hash>/<attempt>.
std::string MakeMarker(const ObjectKey& key, std::string_view spec_hash, int attempt);

// Parses a marker exactly as MakeMarker writes it.
std::optional<ParsedMarker> ParseMarker(std::string_view marker);

// The first whitespace-delimited token of `job_desc` that starts with
// "mlsj:" and parses as a marker (job_desc may carry other text around it).
std::optional<std::string> FindMarker(std::string_view job_desc);

}  // namespace mlspace::reconciler
