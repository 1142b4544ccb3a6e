#pragma once

// What the current revision of the manifests asks for: one entry per
// namespace/name, either a valid MLSpaceJob or the reason it is invalid,
// plus what the prune guards need to decide whether removals may cancel.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/api/types.h"
#include "controller/core/object_key.h"

namespace mlspace::reconciler {

struct InvalidManifest {
  std::string reason;   // CamelCase: InvalidSpec, ParseError, DuplicateName, ...
  std::string message;  // one line; names the file (and line where known)
  std::string file;     // relative to the manifests directory
};

struct DesiredObject {
  std::optional<api::MLSpaceJob> job;      // set when valid
  std::optional<InvalidManifest> invalid;  // set when not
};

// Whether objects missing from this revision may be cancelled.
struct PruneVerdict {
  bool allowed = true;
  std::string reason;   // SourceReadFailed | EmptyRevision | TooManyRemovals
  std::string message;  // one line for events and the Stalled condition
};

struct DesiredState {
  std::string revision;
  // False when the source could not be read: `objects` are then the last
  // good revision's (or empty before the first good read) and nothing that
  // is missing may be treated as removed.
  bool source_ok = true;
  std::map<ObjectKey, DesiredObject> objects;
  // Prune guard inputs: objects of the previous good revision, and how many
  // of those this revision drops.
  size_t previous_count = 0;
  size_t removed_count = 0;
  PruneVerdict prune;

  const DesiredObject* Find(const ObjectKey& key) const {
    auto it = objects.find(key);
    return it == objects.end() ? nullptr : &it->second;
  }
};

// The prune guards of DESIGN.md section 4: never when the source failed,
// never when a revision with zero manifests follows one with some, never
// when more than `max_fraction` of the previous objects would go at once.
PruneVerdict ComputePruneVerdict(bool source_ok, size_t new_count, size_t previous_count,
                                 size_t removed_count, double max_fraction);

// One manifest object as the parser produced it.
struct ParsedObject {
  ObjectKey key;
  std::string file;
  std::optional<api::MLSpaceJob> job;      // valid
  std::optional<InvalidManifest> invalid;  // or not
};

// Builds the object map of a revision. Two or more files declaring one
// namespace/name make that object Invalid (DuplicateName, naming every file):
// none of them is submitted.
std::map<ObjectKey, DesiredObject> BuildDesiredObjects(const std::vector<ParsedObject>& parsed);

// The current DesiredState, swapped atomically by the source sync and read
// by reconcilers. Thread-safe.
class DesiredStateHolder {
 public:
  std::shared_ptr<const DesiredState> Get() const {
    std::lock_guard lock(mu_);
    return state_;
  }
  void Set(std::shared_ptr<const DesiredState> s) {
    std::lock_guard lock(mu_);
    state_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const DesiredState> state_;
};

}  // namespace mlspace::reconciler
