#pragma once

// The StateStore seam: what the controller remembers between reconciles and
// across restarts. Status never lives in the git tree; it lives here. The
// SQLite implementation is controller/store/sqlite; tests/fakes has an
// in-memory fake that can fail on demand.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/api/types.h"
#include "controller/core/object_key.h"
#include "controller/core/result.h"

namespace mlspace::store {

// What the controller recorded about one object.
struct ObjectRecord {
  ObjectKey key;
  std::string spec_hash;   // of the last valid spec seen
  int64_t generation = 0;  // increments each time spec_hash changes
  std::string spec_json;   // canonical JSON of that spec (no secret values)
  std::string source_path;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string region;
  api::JobStatus status;
  // Retry bookkeeping: attempts that count against backoffLimit, and when
  // the next one may start.
  int failed_attempts = 0;
  std::optional<TimePoint> next_attempt_at;
  TimePoint created_at{};
  std::optional<TimePoint> removed_at;  // set while phase is Removed
  int64_t resource_version = 0;         // assigned by the store on each write
};

enum class IntentState {
  kOpen,       // committed before POST; outcome not yet known
  kSubmitted,  // the service answered with remote_job_name (or adopted)
  kAbandoned,  // confirmed absent and superseded, or given up
};

// The durable promise "this object's attempt may exist remotely": written
// and synced before the POST, so a crash at any instant leaves enough to
// find the job again by its marker.
struct SubmitIntent {
  // mlsj:<instance>:<ns>/<name>/<hash8>/<attempt> (legacy intents:
  // mlsj:<ns>/<name>/<hash8>/<attempt>); primary key. The reconciler always
  // looks a job up by the marker stored here, never by a recomputed one.
  std::string marker;
  ObjectKey key;
  std::string spec_hash;
  int attempt = 0;
  std::string region;
  IntentState state = IntentState::kOpen;
  std::string remote_job_name;
  int absent_lists = 0;  // consecutive lists that did not show the marker
  TimePoint created_at{};
  TimePoint updated_at{};
};

// Events are aggregated as Kubernetes does: one stored event per (object,
// type, reason, message). Writing an event that matches a stored one bumps
// its count and its (last) time; first_time stays.
struct Event {
  ObjectKey key;
  TimePoint time{};             // when it last happened (the time written)
  std::string type = "Normal";  // "Normal" | "Warning"
  std::string reason;           // CamelCase: Submitted, Adopted, Retried, ...
  std::string message;          // redacted before it gets here
  int64_t id = 0;               // assigned by the store; kept when aggregated
  // Set by the store (ignored in a WriteBatch): how often it happened and
  // when first.
  int64_t count = 1;
  TimePoint first_time{};
};

// Everything one reconcile changes, applied in a single transaction, in this
// order: deletes, upserts, intents, events (so delete + upsert of one key
// starts that record afresh). A batch is refused whole (kInvalidArgument)
// when a key or marker is empty or any string holds a registered secret
// value (see batch_check.h): callers build spec_json, messages and errors
// without secret values, and the store double-checks.
struct WriteBatch {
  std::vector<ObjectRecord> upserts;
  std::vector<ObjectKey> deletes;     // drops the record, its intents and events
  std::vector<SubmitIntent> intents;  // upsert by marker
  std::vector<Event> events;
};

// Whose jobs a store tracks: the controller instance recorded at first start
// (its markers name it), see docs/reconcile.md "Instance identity".
struct StoreIdentity {
  std::string instance;  // empty: none recorded yet (a new store)
  // The store held intents before markers named an instance (it was
  // upgraded from schema version 2): jobs carrying a legacy marker may be
  // this store's, so the controller keeps looking at them.
  bool legacy_markers = false;
};

// Implementations are thread-safe. Every call either fully succeeds or
// leaves the store unchanged and returns an error.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // The record for `key`, or nullopt if none.
  virtual Result<std::optional<ObjectRecord>> Get(const ObjectKey& key) = 0;

  // Every record, ordered by key.
  virtual Result<std::vector<ObjectRecord>> List() = 0;

  // Applies the batch atomically and durably (synchronous commit): when
  // this returns OK, the batch survives a crash. Assigns resource_version
  // to each upserted record (store-wide monotonically increasing) and ids to
  // new events; an event equal in (key, type, reason, message) to a stored
  // one is aggregated into it (count + 1, time = the new time). Per-object
  // event history is trimmed to a bounded size (the least recently seen go).
  virtual Status Write(const WriteBatch& batch) = 0;

  // Intents not yet kSubmitted or kAbandoned, oldest first (resolved on
  // start-up and after ambiguous submits).
  virtual Result<std::vector<SubmitIntent>> OpenIntents() = 0;

  // All intents of one object, newest first.
  virtual Result<std::vector<SubmitIntent>> Intents(const ObjectKey& key) = 0;

  // The `limit` most recently seen events of one object, ordered by last
  // time (then id), oldest first.
  virtual Result<std::vector<Event>> Events(const ObjectKey& key, size_t limit) = 0;

  // The recorded identity (instance empty until RecordInstance).
  virtual Result<StoreIdentity> Identity() = 0;

  // Records `instance` durably as this store's identity. OK when nothing
  // was recorded yet or the same name was; kFailedPrecondition naming both
  // when another name is recorded (the identity never changes: the markers
  // of submitted jobs name it). The caller validates the name.
  virtual Status RecordInstance(const std::string& instance) = 0;
};

// Forwards every call to another store (leveldb's EnvWrapper): a decorator
// overrides only what it adds to, so a new seam method is forwarded by every
// decorator at once. `target` must outlive the wrapper; thread-safety is the
// target's.
class StateStoreWrapper : public StateStore {
 public:
  explicit StateStoreWrapper(StateStore& target) : target_(target) {}

  Result<std::optional<ObjectRecord>> Get(const ObjectKey& key) override {
    return target_.Get(key);
  }
  Result<std::vector<ObjectRecord>> List() override { return target_.List(); }
  Status Write(const WriteBatch& batch) override { return target_.Write(batch); }
  Result<std::vector<SubmitIntent>> OpenIntents() override { return target_.OpenIntents(); }
  Result<std::vector<SubmitIntent>> Intents(const ObjectKey& key) override {
    return target_.Intents(key);
  }
  Result<std::vector<Event>> Events(const ObjectKey& key, size_t limit) override {
    return target_.Events(key, limit);
  }
  Result<StoreIdentity> Identity() override { return target_.Identity(); }
  Status RecordInstance(const std::string& instance) override {
    return target_.RecordInstance(instance);
  }

 protected:
  StateStore& target() { return target_; }

 private:
  StateStore& target_;
};

}  // namespace mlspace::store
