#pragma once

// Request bodies of the write verbs: which patch a Content-Type names, and
// the JSON algorithms (RFC 7386 merge patch, RFC 6902 JSON patch) applied to
// an object's document. Pure functions over nlohmann::json (its
// merge_patch() and patch() do the work); thread-safe.

#include <nlohmann/json.hpp>
#include <string_view>

#include "controller/core/result.h"

namespace mlspace::apiserver {

enum class PatchType {
  kMerge,      // application/merge-patch+json (kubectl apply, edit, label, ...)
  kJson,       // application/json-patch+json (kubectl patch --type=json)
  kApply,      // application/apply-patch+yaml (server-side apply)
  kStrategic,  // application/strategic-merge-patch+json: refused (415)
  kUnknown,
};

// The patch type of a Content-Type header value (parameters such as
// "; charset=utf-8" ignored, case-insensitive).
PatchType PatchTypeFromContentType(std::string_view content_type);

// The accepted patch media types, as kube-apiserver lists them in a 415.
inline constexpr char kAcceptedPatchTypes[] =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

// Parses a request body: JSON, or YAML when `allow_yaml` (an apply patch is
// YAML by its media type; kubectl sends JSON, which is YAML too). Exactly
// one document. kInvalidArgument naming the problem otherwise.
Result<nlohmann::json> ParseBody(std::string_view body, bool allow_yaml);

// Applies `patch` (a parsed body) of type kMerge or kJson to `doc`.
//   kInvalidArgument     the patch is malformed (not an object / not an
//                        array of operations, unknown op, bad pointer) — 400
//   kFailedPrecondition  a well-formed JSON patch does not apply (a "test"
//                        fails, a path is missing) — 422
Result<nlohmann::json> ApplyPatch(PatchType type, const nlohmann::json& doc,
                                  const nlohmann::json& patch);

}  // namespace mlspace::apiserver
