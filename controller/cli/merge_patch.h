#pragma once

// JSON merge patches (RFC 7386) the way kubectl's client-side apply builds
// them for a custom resource: a three-way patch from the last applied
// configuration (the kubectl.kubernetes.io/last-applied-configuration
// annotation), the manifest and the live object.

#include <nlohmann/json.hpp>

namespace mlspace::cli {

inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

// The patch that turns `current` into one that holds everything of
// `modified` and none of the fields `original` had and `modified` dropped
// (those become null). Fields only the server set (defaults, status) are
// left alone. Arrays are replaced whole. An empty object when nothing
// needs to change.
nlohmann::json ThreeWayMergePatch(const nlohmann::json& original, const nlohmann::json& modified,
                                  const nlohmann::json& current);

// RFC 7386 application (tests, and the client-side dry run).
nlohmann::json ApplyMergePatch(nlohmann::json target, const nlohmann::json& patch);

}  // namespace mlspace::cli
