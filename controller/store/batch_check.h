#pragma once

// Checks every StateStore implementation applies to a WriteBatch before
// touching storage, so the SQLite store and the test fake refuse the same
// batches with the same messages.

#include <string>
#include <string_view>

#include "controller/core/redact.h"
#include "controller/core/status.h"
#include "controller/store/state_store.h"

namespace mlspace::store {

// Default bound of the per-object event history.
inline constexpr size_t kDefaultMaxEventsPerObject = 100;

namespace internal {

// A string that Redact() would change holds a registered secret value: the
// store never persists one (DESIGN.md section 4). The message names the field
// but never the value.
inline Status CheckNoSecret(std::string_view value, std::string_view field, const ObjectKey& key) {
  if (value.empty()) return OkStatus();
  if (Redact(value) == value) return OkStatus();
  return InvalidArgumentError("state store: refusing to store a secret value in " +
                              std::string(field) + " of " + key.ToString());
}

inline Status CheckKey(const ObjectKey& key, std::string_view what) {
  if (key.name.empty() || key.namespace_name.empty()) {
    return InvalidArgumentError("state store: " + std::string(what) +
                                " with an empty namespace or name");
  }
  return OkStatus();
}

}  // namespace internal

// OK when the batch may be stored: keys and markers are set and no string
// contains a registered secret value.
inline Status ValidateBatch(const WriteBatch& batch) {
  using internal::CheckKey;
  using internal::CheckNoSecret;
  for (const ObjectRecord& r : batch.upserts) {
    MLSPACE_RETURN_IF_ERROR(CheckKey(r.key, "record"));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(r.spec_json, "spec_json", r.key));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(r.source_path, "source_path", r.key));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(r.region, "region", r.key));
    for (const auto& [k, v] : r.labels) {
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(k, "labels", r.key));
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(v, "labels", r.key));
    }
    for (const auto& [k, v] : r.annotations) {
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(k, "annotations", r.key));
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(v, "annotations", r.key));
    }
    const api::JobStatus& s = r.status;
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(s.remote_job_name, "status.remoteJobName", r.key));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(s.synced_revision, "status.syncedRevision", r.key));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(s.last_error, "status.lastError", r.key));
    for (const api::Condition& c : s.conditions) {
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(c.type, "status.conditions.type", r.key));
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(c.reason, "status.conditions.reason", r.key));
      MLSPACE_RETURN_IF_ERROR(CheckNoSecret(c.message, "status.conditions.message", r.key));
    }
  }
  for (const ObjectKey& k : batch.deletes) {
    MLSPACE_RETURN_IF_ERROR(CheckKey(k, "delete"));
  }
  for (const SubmitIntent& i : batch.intents) {
    MLSPACE_RETURN_IF_ERROR(CheckKey(i.key, "intent"));
    if (i.marker.empty()) {
      return InvalidArgumentError("state store: intent of " + i.key.ToString() +
                                  " has an empty marker");
    }
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(i.remote_job_name, "intent.remoteJobName", i.key));
  }
  for (const Event& e : batch.events) {
    MLSPACE_RETURN_IF_ERROR(CheckKey(e.key, "event"));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(e.reason, "event.reason", e.key));
    MLSPACE_RETURN_IF_ERROR(CheckNoSecret(e.message, "event.message", e.key));
  }
  return OkStatus();
}

}  // namespace mlspace::store
