#pragma once

// Server-side apply (application/apply-patch+yaml): field ownership by
// manager, conflicts and force, in the metadata.managedFields format
// (fieldsType FieldsV1) kubectl reads. Pure functions; thread-safe.
//
// Simplifications against kube-apiserver's structured-merge-diff, stated
// in docs/api.md: lists are atomic (whoever sets a list owns all of it; the
// CRD declares no list-map keys), and a document that carries no
// managedFields yet (written by hand, by kubectl apply without
// --server-side, or by the API before any server-side apply) is treated as
// owned entirely by the manager "before-first-apply" (operation Update), as
// kube-apiserver does for objects that predate field management.

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "controller/core/result.h"

namespace mlspace::apiserver {

// A field: the member names from the object's root, e.g. {"spec","region"}.
using FieldPath = std::vector<std::string>;
using FieldSet = std::set<FieldPath>;

inline constexpr char kBeforeFirstApply[] = "before-first-apply";

struct ManagedEntry {
  std::string manager;
  std::string operation;  // "Apply" | "Update"
  std::string api_version;
  std::string time;  // RFC 3339; "" = omitted
  FieldSet fields;
};

// ".spec.region", as kube-apiserver prints field paths.
std::string FieldPathString(const FieldPath& path);

// The leaf fields a document sets (scalars, lists and empty objects),
// without apiVersion, kind, status and the server-owned metadata
// (name, namespace, uid, resourceVersion, generation, creationTimestamp,
// managedFields, selfLink).
FieldSet LeafFields(const nlohmann::json& object);

// fieldsV1 <-> FieldSet. "k:"/"v:" list-item keys (from other servers) make
// their list atomic.
nlohmann::json ToFieldsV1(const FieldSet& fields);
FieldSet FromFieldsV1(const nlohmann::json& fields_v1);

// metadata.managedFields <-> entries. kInvalidArgument naming the item when
// the list is malformed.
Result<std::vector<ManagedEntry>> ParseManagedFields(const nlohmann::json& managed_fields);
nlohmann::json ManagedFieldsToJson(const std::vector<ManagedEntry>& entries);

struct ApplyConflict {
  std::string manager;  // as kubectl prints it: "\"m\"" or "\"m\" using group/version"
  FieldPath path;
};

struct ApplyOutcome {
  // Non-empty: refused (409); `object`/`managed` unset.
  std::vector<ApplyConflict> conflicts;
  nlohmann::json object;
  std::vector<ManagedEntry> managed;
};

// Applies `config` (the caller's intent) as `manager` to `live` (null =
// the object does not exist yet) whose ownership is `managed`. Fields the
// manager applied before and no longer applies are removed unless another
// manager owns them; a field another manager owns with a different value
// is a conflict unless `force`, which takes it over. `now` stamps the
// manager's entry.
ApplyOutcome ServerSideApply(const nlohmann::json* live, const std::vector<ManagedEntry>& managed,
                             const nlohmann::json& config, const std::string& manager, bool force,
                             const std::string& api_version, const std::string& now);

// kube-apiserver's conflict message: "Apply failed with 1 conflict:
// conflict with \"m\" using mlspace.io/v1alpha1: .spec.region".
std::string ConflictMessage(const std::vector<ApplyConflict>& conflicts);

// Records a non-apply write (update, merge/JSON patch) by `manager`: the
// fields it changed, added or removed leave every other entry and the
// changed and added ones join the manager's Update entry. Empty entries
// are dropped.
void TrackUpdate(std::vector<ManagedEntry>& managed, const nlohmann::json& before,
                 const nlohmann::json& after, const std::string& manager,
                 const std::string& api_version, const std::string& now);

}  // namespace mlspace::apiserver
