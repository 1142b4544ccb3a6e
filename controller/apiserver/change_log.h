#pragma once

// What the API serves, kept in memory: the current MLSpaceJob objects and a
// bounded history of their changes, so list/get/watch answer from one
// consistent resourceVersion sequence without touching SQLite, and many
// watchers cost the reconcilers nothing but one notify per committed batch.
//
// Fed by ObservingStore (a StateStore decorator the reconcilers write
// through): each committed batch becomes ADDED/MODIFIED/DELETED changes.
// A record whose phase is Removed is not served (the manifest left git and
// its remote job was cancelled or finished): it leaves the snapshot with a
// DELETED change while its record and events stay in the store for
// --removed-retention.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/object_key.h"
#include "controller/core/result.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

// One served version of an object. Immutable once published; shared by the
// snapshot, the history and every watcher that reads it.
struct ObjectVersion {
  store::ObjectRecord record;  // record.resource_version is this version's rv
  nlohmann::json object;       // RecordToObject(record), encoded once
  std::string text;            // object.dump(), so lists and watches only copy bytes
  std::string metadata_text;   // object["metadata"].dump(), for Table rows

  // Sets text and metadata_text from object.
  void Encode();
};
using VersionPtr = std::shared_ptr<const ObjectVersion>;

// The served version of a stored record: its object and pre-encoded text.
VersionPtr MakeVersion(store::ObjectRecord r);

enum class ChangeType { kAdded, kModified, kDeleted };
std::string_view ChangeTypeName(ChangeType t);  // "ADDED", "MODIFIED", "DELETED"

struct Change {
  int64_t resource_version = 0;
  ChangeType type = ChangeType::kAdded;
  VersionPtr object;  // for kDeleted: the last served version, at this rv
};

// One published change of a core v1 Event (the store aggregates repeats:
// a new row is ADDED, a repeat that raised its count MODIFIED). The event
// log has its own resourceVersion sequence, separate from the objects'.
struct EventChange {
  int64_t resource_version = 0;
  ChangeType type = ChangeType::kAdded;
  // EventToJson with metadata.resourceVersion set to resource_version.
  std::shared_ptr<const nlohmann::json> event;
};

// True for records the API serves (every phase but Removed).
bool IsServed(const store::ObjectRecord& r);

// Thread-safe. Readers (HTTP threads) and the writer (ObservingStore, under
// its own lock) share one mutex held only for pointer copies.
class ChangeLog {
 public:
  // Keeps the last `history` changes for watches that resume from a
  // resourceVersion; older ones answer 410 Gone.
  explicit ChangeLog(size_t history = 4096);

  // Replaces the snapshot with the store's served records; the sequence
  // continues from the store's highest resource_version. Clears history
  // (a watch from before answers 410, as after an apiserver restart).
  Status Load(store::StateStore& store);

  // Publishes a batch the store has committed. Called in commit order.
  void Apply(const store::WriteBatch& batch);

  // The served objects (ordered by key) and the rv they are consistent at.
  std::vector<VersionPtr> List(int64_t* resource_version) const;
  // One served object, or null.
  VersionPtr Get(const ObjectKey& key) const;
  int64_t CurrentVersion() const;

  enum class WaitResult { kChanges, kTimeout, kGone, kShutdown };
  // Blocks until a change newer than `after` exists, `deadline` passes or
  // Shutdown(). kChanges appends every change newer than `after` to `out`
  // (in rv order); kGone when `after` is older than the history kept (the
  // watcher must relist).
  WaitResult WaitForChanges(int64_t after, std::chrono::steady_clock::time_point deadline,
                            std::vector<Change>* out) const;

  // Wakes every waiter with kShutdown, now and from now on.
  void Shutdown();

  // The oldest rv a watch may resume from.
  int64_t OldestResumableVersion() const;

  // Events, with the same semantics as the objects above. The sequence
  // starts at this process's start time in microseconds, so a version an
  // earlier process issued is older than the history kept (410), never
  // mistaken for one of ours.
  // Publishes stored events (each as EventToJson, resourceVersion unset).
  void ApplyEvents(std::vector<std::pair<ChangeType, nlohmann::json>> events);
  int64_t CurrentEventVersion() const;
  int64_t OldestResumableEventVersion() const;
  WaitResult WaitForEvents(int64_t after, std::chrono::steady_clock::time_point deadline,
                           std::vector<EventChange>* out) const;

 private:
  void PublishLocked(ChangeType type, VersionPtr v);

  const size_t history_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<ObjectKey, VersionPtr> current_;
  std::deque<Change> changes_;
  int64_t rv_ = 0;
  int64_t oldest_ = 0;  // a watch from rv >= oldest_ can be served
  bool shutdown_ = false;
  std::deque<EventChange> event_changes_;
  int64_t event_rv_ = 0;
  int64_t event_oldest_ = 0;
};

// A StateStore that publishes every committed batch to a ChangeLog. Writes
// are serialised here so the log sees them in commit order.
class ObservingStore final : public store::StateStoreWrapper {
 public:
  // Both must outlive this.
  ObservingStore(store::StateStore& inner, ChangeLog& log)
      : StateStoreWrapper(inner), inner_(inner), log_(log) {}

  Status Write(const store::WriteBatch& batch) override;

 private:
  store::StateStore& inner_;
  ChangeLog& log_;
  // Reads back the batch's events as stored (id, count) and publishes them.
  void PublishEvents(const store::WriteBatch& batch);

  std::mutex write_mu_;
};

}  // namespace mlspace::apiserver
