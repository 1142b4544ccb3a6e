#pragma once

// MLSpaceJob <-> JSON in the Kubernetes shape the API serves and kubectl
// reads (apiVersion, kind, metadata, spec, status with conditions, RFC 3339
// times), and the spec hash that is the object's generation.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/api/types.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace::api {

// The canonical JSON of a spec: camelCase keys as in the CRD, every
// defaulted field present (workers, type, runPolicy.*), unset optionals and
// empty strings/lists omitted. Two specs that mean the same job encode to
// the same bytes (nlohmann objects are key-sorted).
nlohmann::json SpecToJson(const JobSpec& spec);

// The spec from JSON that passed CRD validation and defaulting (see
// ParseObject for untrusted input). Fails on a type mismatch, naming the
// field.
Result<JobSpec> SpecFromJson(const nlohmann::json& spec);

// Lowercase hex SHA-256 of SpecToJson(spec) with runPolicy.suspend removed,
// compact: suspending or resuming is not a new generation.
std::string SpecHash(const JobSpec& spec);

// Server-side metadata the manifest does not carry.
struct ServerMeta {
  std::string resource_version;  // "" = omitted
  std::string uid;
  std::optional<TimePoint> creation_timestamp;
  int64_t generation = 0;  // 0 = omitted
};

nlohmann::json ConditionToJson(const Condition& c);
nlohmann::json StatusToJson(const JobStatus& status);
// Accepts what StatusToJson writes; unknown keys are ignored.
Result<JobStatus> StatusFromJson(const nlohmann::json& status);

// The whole object as the API serves it. `status` null = no status key.
// Annotations also carry mlspace.io/spec-hash and mlspace.io/source-path
// (when known) so `kubectl get -o yaml` shows where a job came from.
nlohmann::json ToJson(const MLSpaceJob& job, const JobStatus* status = nullptr,
                      const ServerMeta& meta = {});

inline constexpr char kSpecHashAnnotation[] = "mlspace.io/spec-hash";
inline constexpr char kSourcePathAnnotation[] = "mlspace.io/source-path";

}  // namespace mlspace::api
