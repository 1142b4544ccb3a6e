#include "controller/reconciler/desired_state.h"

#include <cstdio>

namespace mlspace::reconciler {

PruneVerdict ComputePruneVerdict(bool source_ok, size_t new_count, size_t previous_count,
                                 size_t removed_count, double max_fraction) {
  PruneVerdict v;
  if (!source_ok) {
    v.allowed = false;
    v.reason = "SourceReadFailed";
    v.message = "prune refused: the manifest source could not be read";
    return v;
  }
  if (new_count == 0 && previous_count > 0) {
    v.allowed = false;
    v.reason = "EmptyRevision";
    v.message = "prune refused: the new revision has no manifests but the previous had " +
                std::to_string(previous_count);
    return v;
  }
  if (previous_count > 0 && removed_count > 0) {
    double fraction = static_cast<double>(removed_count) / static_cast<double>(previous_count);
    if (fraction > max_fraction) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "prune refused: %zu of %zu objects removed at once (%.0f%% > "
                    "--prune-max-fraction %.0f%%)",
                    removed_count, previous_count, fraction * 100, max_fraction * 100);
      v.allowed = false;
      v.reason = "TooManyRemovals";
      v.message = buf;
    }
  }
  return v;
}

std::map<ObjectKey, DesiredObject> BuildDesiredObjects(const std::vector<ParsedObject>& parsed) {
  std::map<ObjectKey, std::vector<const ParsedObject*>> by_key;
  for (const auto& p : parsed) by_key[p.key].push_back(&p);
  std::map<ObjectKey, DesiredObject> out;
  for (const auto& [key, list] : by_key) {
    DesiredObject d;
    if (list.size() > 1) {
      std::string files;
      for (const ParsedObject* p : list) {
        if (!files.empty()) files += ", ";
        files += p->file;
      }
      d.invalid = InvalidManifest{"DuplicateName",
                                  key.ToString() + " is declared by more than one file: " + files,
                                  list.front()->file};
    } else if (list.front()->job) {
      d.job = list.front()->job;
    } else {
      d.invalid = list.front()->invalid.value_or(
          InvalidManifest{"InvalidSpec", "invalid manifest", list.front()->file});
    }
    out.emplace(key, std::move(d));
  }
  return out;
}

}  // namespace mlspace::reconciler
