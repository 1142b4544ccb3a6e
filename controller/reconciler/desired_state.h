#pragma once

// What the current revision of the manifests asks for: one entry per
// namespace/name, either a valid MLSpaceJob or the reason it is invalid,
// plus what the prune guards need to decide whether removals may cancel.
// DesiredStateBuilder makes each revision's state from the previous one and
// the changed files only; LiveRecords keeps the store's live records in
// memory for the prune guards.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/api/manifest.h"
#include "controller/api/source_status.h"
#include "controller/api/types.h"
#include "controller/core/object_key.h"
#include "controller/core/result.h"
#include "controller/store/state_store.h"

namespace mlspace::reconciler {

struct InvalidManifest {
  std::string reason;   // CamelCase: InvalidSpec, ParseError, DuplicateName, ...
  std::string message;  // one line; names the file (and line where known)
  std::string file;     // relative to the manifests directory
  // JSON of the spec fields that could be read (api::ManifestDocument::
  // readable_spec), "" when none: served for an object never valid.
  std::string readable_spec_json;
};

struct DesiredObject {
  std::optional<api::MLSpaceJob> job;      // set when valid
  std::optional<InvalidManifest> invalid;  // set when not

  // The file that declares it (for an Invalid object: the first one named).
  const std::string& file() const { return job ? job->source_path : invalid->file; }
};

// Immutable and shared between revisions: an object whose manifest did not
// change is the same pointer in the next DesiredState, never a copy.
using DesiredObjectPtr = std::shared_ptr<const DesiredObject>;

// Same spec, identity and source file, or the same invalidity.
bool SameDesired(const DesiredObject& a, const DesiredObject& b);

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
  std::map<ObjectKey, DesiredObjectPtr> objects;  // never null
  // Prune guard inputs: the objects live before this revision (the previous
  // good revision's plus store records not yet Removed), and how many of
  // those this revision drops.
  size_t previous_count = 0;
  size_t removed_count = 0;
  // Of removed_count, the keys the controller's own API deletes removed
  // (ApiRemovals): left out of both counts the guards judge.
  size_t api_removed_count = 0;
  PruneVerdict prune;
  // What the revision's files hold, for the source status and
  // gitops_manifests (see api::SourceStatus for what is counted how).
  size_t valid_documents = 0;
  size_t invalid_documents = 0;
  size_t ignored_documents = 0;
  size_t files = 0;
  // Every file with a document that is not applied, by path, each with its
  // first error (at most SourceStatus::kMaxListedInvalidFiles; the total
  // in invalid_files_total).
  std::vector<api::InvalidSourceFile> invalid_files;
  size_t invalid_files_total = 0;

  const DesiredObject* Find(const ObjectKey& key) const {
    auto it = objects.find(key);
    return it == objects.end() ? nullptr : it->second.get();
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
std::map<ObjectKey, DesiredObjectPtr> BuildDesiredObjects(const std::vector<ParsedObject>& parsed);

// The store's records that are not Removed (key -> source_path), kept in
// memory so a source sync needs no store scan for the prune guards' "live"
// set. Seeded from a full StateStore::List (start-up, resync) and kept up to
// date from every StateStore::Write (the Controller hands the reconciler a
// store that reports its writes here). Also tracks the "orphans": live
// records whose key is not in the current good DesiredState (removed from
// the manifests but not yet Removed, or known only from before a restart).
// Thread-safe.
class LiveRecords {
 public:
  // Counts applied writes; pass it to Reseed to detect a write that raced
  // with the List being reseeded from.
  uint64_t write_count() const;
  // Replaces the set with `records` when no write was applied since
  // `write_count` was read (a List started before a concurrent write may
  // miss it). Returns whether it did.
  bool Reseed(const std::vector<store::ObjectRecord>& records, uint64_t write_count);
  bool seeded() const;
  // Applies a successfully written batch (deletes, then upserts).
  void Apply(const store::WriteBatch& batch);
  // The good DesiredState now current; `touched` holds every key whose
  // presence in it may differ from the previous one.
  void SetDesired(std::shared_ptr<const DesiredState> desired,
                  const std::vector<ObjectKey>& touched);
  // Live records not in the current good DesiredState: key -> source_path.
  std::map<ObjectKey, std::string> Orphans() const;
  size_t size() const;

 private:
  bool InDesiredLocked(const ObjectKey& key) const;

  mutable std::mutex mu_;
  bool seeded_ = false;
  uint64_t writes_ = 0;
  std::map<ObjectKey, std::string> records_;  // not Removed: key -> source_path
  std::map<ObjectKey, std::string> orphans_;  // records_ minus desired_'s keys
  std::shared_ptr<const DesiredState> desired_;
};

// Keys whose manifest the controller itself removed through an API delete
// (kubectl delete, deletecollection), each with the commit that removed it.
// A user's explicit delete is intentional, so the prune guards exempt these
// keys: they are left out of the guards' counts, and HandleMissing cancels
// such a key even when the revision's verdict refuses (e.g. EmptyRevision
// after deleting the last manifest). Removals by any other commit are judged
// as before. An entry is forgotten once a revision read after it was noted
// declares the key again. Thread-safe.
class ApiRemovals {
 public:
  // Notes that `commit` (an API write) removed `key`'s document. Call after
  // the commit exists.
  void Add(const ObjectKey& key, const std::string& commit);
  bool Contains(const ObjectKey& key) const;
  // The current sequence number: entries noted up to it were committed
  // before a source read that starts now.
  uint64_t sequence() const;
  // The keys noted so far (for a build's guard counts).
  std::set<ObjectKey> Keys() const;
  // Forgets `key` when it was noted at or before `sequence` (a read started
  // after its commit declares it again: it was re-created).
  void ForgetIfNotedBy(const ObjectKey& key, uint64_t sequence);
  size_t size() const;

 private:
  struct Entry {
    std::string commit;
    uint64_t sequence = 0;
  };
  mutable std::mutex mu_;
  uint64_t next_ = 0;
  std::map<ObjectKey, Entry> entries_;
};

// Builds each revision's DesiredState from the previous good one and the
// files whose (path, blob id) changed: only those are read and parsed, and
// only the keys they (or the objects they used to declare) touch are
// recomputed; every other object is shared with the previous state. The
// result is exactly what parsing every file again would give (tests compare
// both). Not thread-safe: the Controller's source sync owns it.
class DesiredStateBuilder {
 public:
  using Reader = std::function<Result<std::string>(const std::string& blob_id)>;
  struct FileRef {
    std::string_view path;     // relative to the manifests directory
    std::string_view blob_id;  // equal ids, equal bytes
  };

  struct Output {
    std::shared_ptr<DesiredState> state;
    // Keys whose DesiredObject is new or differs from the previous good
    // state's (to enqueue).
    std::vector<ObjectKey> changed;
    // Live keys missing from the new state: dropped by this revision, or
    // orphans still missing (to enqueue; each counts against the guards).
    std::vector<ObjectKey> gone;
    // Ignored documents of the files parsed in this build, one line each.
    std::vector<std::string> warnings;
    // One line with file:line:col per file parsed in this build that holds
    // an invalid document (its first error), and per key that became a
    // duplicate: what a user must fix. Unchanged files are not repeated.
    std::vector<std::string> errors;
    size_t files_parsed = 0;
    size_t keys_recomputed = 0;
  };

  explicit DesiredStateBuilder(double prune_max_fraction) : max_fraction_(prune_max_fraction) {}

  // A check of valid jobs against what only the controller's configuration
  // knows (the backend catalog: spec.backend, the backend's regions and
  // instance types). A job it refuses is Invalid (InvalidSpec) with
  // "<file>: <message>"; the message names the field. Set before the first
  // Build; empty = none.
  using JobCheck = std::function<Status(const api::JobSpec& spec)>;
  void SetJobCheck(JobCheck check) { check_ = std::move(check); }

  // The state for `revision` with `files` (any order; paths unique).
  // `orphans` are the live records outside the previous good state
  // (LiveRecords::Orphans). A reader error fails the build and leaves the
  // builder as it was: a source that cannot be read never looks like
  // "manifests removed". On success the result becomes the new base.
  // Removed keys in `api_removed` (ApiRemovals::Keys) are not counted by
  // the prune guards.
  Result<Output> Build(const std::string& revision, const std::vector<FileRef>& files,
                       const Reader& reader, const std::map<ObjectKey, std::string>& orphans,
                       const std::set<ObjectKey>& api_removed = {});

  // The last good state built (null before the first).
  std::shared_ptr<const DesiredState> last() const { return last_; }
  // Files parsed since construction (tests, metrics).
  size_t parse_count() const { return parse_count_; }

 private:
  struct File {
    std::string blob_id;
    std::shared_ptr<const api::ParseResult> result;
  };
  // One keyed document; a key's occurrences are kept in (path, position)
  // order, the order Assemble reports duplicates in.
  struct Occurrence {
    const api::ParseResult* file;
    const api::ManifestDocument* doc;
  };
  void Remove(const std::string& path, const api::ParseResult& r, std::set<ObjectKey>& touched);
  void Add(const api::ParseResult& r, std::set<ObjectKey>& touched, Output& out);
  // Fills the state's document counts and invalid files from the indexes.
  void Summarize(DesiredState& state) const;
  DesiredObjectPtr Compute(const ObjectKey& key,
                           const std::map<ObjectKey, std::string>& orphans) const;

  double max_fraction_;
  JobCheck check_;
  std::map<std::string, File, std::less<>> files_;
  std::map<ObjectKey, std::vector<Occurrence>> occurrences_;
  // Per file, its first document without a readable name (a YAML syntax
  // error is one such document for the whole file).
  std::map<std::string, const api::ManifestDocument*, std::less<>> keyless_;
  // Per file, its first invalid document (keyed or not).
  std::map<std::string, const api::ManifestDocument*, std::less<>> first_invalid_;
  // Keys declared by more than one document.
  std::set<ObjectKey> duplicates_;
  // Documents of every file by kind.
  size_t job_documents_ = 0;
  size_t invalid_documents_ = 0;
  size_t ignored_documents_ = 0;
  // The last good state's keys by DesiredObject::file().
  std::map<std::string, std::set<ObjectKey>, std::less<>> by_file_;
  std::shared_ptr<const DesiredState> last_;
  size_t parse_count_ = 0;
};

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
