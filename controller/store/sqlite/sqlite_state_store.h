#pragma once

// The StateStore on SQLite (through Poco::Data), in one file per state
// directory: DIR/state.db (WAL journal, synchronous=FULL) guarded by an
// flock on DIR itself (and on DIR/lock, for older versions and the pid) for
// the lifetime of the store. See docs/state-store.md.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/result.h"
#include "controller/core/status.h"
#include "controller/store/batch_check.h"
#include "controller/store/state_store.h"

namespace Poco::Data {
class Session;
}

namespace mlspace::store {

// The schema version this build writes. Older files are migrated on Open
// (one transaction per step); newer ones are refused.
inline constexpr int kCurrentSchemaVersion = 5;

// File names inside the state directory.
inline constexpr char kDatabaseFileName[] = "state.db";
inline constexpr char kLockFileName[] = "lock";

class SqliteStateStore final : public StateStore {
 public:
  struct Options {
    // Per-object event history kept by Write (the newest N).
    size_t max_events_per_object = kDefaultMaxEventsPerObject;
    // How long a statement waits for a lock held by another connection
    // (e.g. `sqlite3 state.db` opened by an operator) before failing.
    std::chrono::milliseconds busy_timeout{5000};
    // PRAGMA quick_check on Open, so a damaged file stops the controller at
    // start rather than failing some write later. Linear in the file size
    // (milliseconds for tens of thousands of objects).
    bool check_integrity = true;
  };

  // Opens (creating if needed) DIR/state.db, taking the lock on DIR/lock
  // first. Fails, and never resets or rewrites the file, when another
  // process or store object holds the lock, the file is not a SQLite
  // database or is damaged, or its schema is newer than this build; each
  // error names the path and what is wrong. Creates DIR (0700) if missing.
  static Result<std::unique_ptr<SqliteStateStore>> Open(const std::string& state_dir,
                                                        Options options);
  static Result<std::unique_ptr<SqliteStateStore>> Open(const std::string& state_dir) {
    return Open(state_dir, Options());
  }

  // Closes the database and releases the lock.
  ~SqliteStateStore() override;

  SqliteStateStore(const SqliteStateStore&) = delete;
  SqliteStateStore& operator=(const SqliteStateStore&) = delete;

  Result<std::optional<ObjectRecord>> Get(const ObjectKey& key) override;
  Result<std::vector<ObjectRecord>> List() override;
  Status Write(const WriteBatch& batch) override;
  Result<std::vector<SubmitIntent>> OpenIntents() override;
  Result<std::vector<SubmitIntent>> Intents(const ObjectKey& key) override;
  Result<std::vector<Event>> Events(const ObjectKey& key, size_t limit) override;
  Result<StoreIdentity> Identity() override;
  Status RecordInstance(const std::string& instance) override;

  // The schema version of the open file (kCurrentSchemaVersion after Open).
  int schema_version() const;
  // The last resource_version handed out (persisted; survives reopen).
  int64_t resource_version() const;
  const std::string& database_path() const { return db_path_; }
  // Write transactions committed since Open; below the number of Write calls
  // when concurrent writers shared commits (group commit).
  int64_t transactions_committed() const;

 private:
  SqliteStateStore(std::string state_dir, Options options, std::vector<int> lock_fds);

  Status OpenDatabase();
  Status Migrate();
  struct PendingWrite {
    const WriteBatch* batch;
    Status result;
    bool done;
  };
  // Commits `group` in one transaction and sets each result; takes mu_.
  void CommitGroup(const std::vector<PendingWrite*>& group);
  // Runs the batch's statements inside the caller's transaction; throws
  // Poco exceptions, which Write turns into a Status after rolling back.
  Status ApplyLocked(const WriteBatch& batch, int64_t* resource_version);

  const std::string state_dir_;
  const std::string db_path_;
  const Options options_;
  std::vector<int> lock_fds_;  // flocked: the state directory, then DIR/lock

  mutable std::mutex mu_;  // guards session_ and the counters below
  std::unique_ptr<Poco::Data::Session> session_;
  int schema_version_ = 0;
  int64_t resource_version_ = 0;
  int64_t transactions_committed_ = 0;

  // Group commit (see Write): writers waiting for the next transaction.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingWrite*> queue_;
  bool leader_active_ = false;
};

}  // namespace mlspace::store
