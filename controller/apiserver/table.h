#pragma once

// meta.k8s.io/v1 Table answers for MLSpaceJobs and field selectors: what
// `kubectl get` prints (NAME, REGION, PHASE, REASON, ATTEMPTS, AGE; -o wide
// adds REMOTE JOB, IMAGE, MESSAGE) and what `--sort-by`/`--field-selector`
// need. Pure functions, unit-tested without sockets.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/apiserver/change_log.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace::apiserver {

// ?includeObject= on a Table request: what each row's `object` holds.
// Metadata (the default) is a PartialObjectMetadata; Object the whole
// MLSpaceJob (kubectl --sort-by on spec/status fields needs it).
enum class IncludeObject { kNone, kMetadata, kObject };
Result<IncludeObject> ParseIncludeObject(std::string_view text);

// The column definitions (Name, Region, Phase, Reason, Attempts, Age, then
// priority-1 Remote Job, Image, Message).
nlohmann::json TableColumns();

// One row for `v`.
nlohmann::json TableRow(const ObjectVersion& v, TimePoint now, IncludeObject include);

// A Table of `versions` at `resource_version`. `column_definitions` false
// sends null columns (watch events after the first).
nlohmann::json VersionsToTable(const std::vector<VersionPtr>& versions, int64_t resource_version,
                               TimePoint now, IncludeObject include,
                               bool column_definitions = true);

// VersionsToTable(...).dump() built from the versions' encoded text: what a
// 10,000-row list answers without copying every object into a JSON tree.
std::string TableBody(const std::vector<VersionPtr>& versions, int64_t resource_version,
                      TimePoint now, IncludeObject include);

// The REASON/MESSAGE a user needs at a glance: the condition behind the
// current phase (Stalled=True first), e.g. Failed's reason for a failed job.
std::pair<std::string, std::string> PhaseReason(const api::JobStatus& s);

// A fieldSelector: comma-separated `field=value`, `field==value` and
// `field!=value` terms over the fields a caller allows.
class FieldSelector {
 public:
  // Fails with a one-line error naming the term or the unsupported field.
  static Result<FieldSelector> Parse(std::string_view text,
                                     const std::vector<std::string_view>& allowed);
  // `lookup` returns a field's value for the candidate (nullopt: absent,
  // which matches only `!=`).
  template <typename Lookup>
  bool Matches(const Lookup& lookup) const {
    for (const auto& t : terms_) {
      std::optional<std::string> v = lookup(t.field);
      bool eq = v && *v == t.value;
      if (eq == t.negate) return false;
    }
    return true;
  }
  // The value an equality term fixes for `field`, or "" (lets callers
  // narrow a scan, e.g. by name).
  std::string Equal(std::string_view field) const;
  bool empty() const { return terms_.empty(); }

 private:
  struct Term {
    std::string field;
    std::string value;
    bool negate = false;
  };
  std::vector<Term> terms_;
};

// metadata.name, metadata.namespace and status.phase of an MLSpaceJob.
std::optional<std::string> JobField(const store::ObjectRecord& r, std::string_view field);
inline const std::vector<std::string_view>& JobSelectorFields() {
  static const std::vector<std::string_view> f{"metadata.name", "metadata.namespace",
                                               "status.phase"};
  return f;
}

}  // namespace mlspace::apiserver
