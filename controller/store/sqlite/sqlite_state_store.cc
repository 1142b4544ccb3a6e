#include "controller/store/sqlite/sqlite_state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <Poco/Nullable.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <utility>

namespace mlspace::store {
namespace {

using Poco::Data::Keywords::bind;
using Poco::Data::Keywords::into;
using Poco::Data::Keywords::now;
using NullableInt = Poco::Nullable<Poco::Int64>;

// One step of the schema history. Steps are never edited once released: a
// file at version N is brought to N+1 by exactly these statements.
struct Migration {
  int version;
  const char* description;
  std::vector<const char*> statements;
};

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {1,
       "initial schema: meta, objects, intents, events",
       {
           "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
           "INSERT INTO meta (key, value) VALUES ('resource_version', '0')",
           "CREATE TABLE objects ("
           " namespace TEXT NOT NULL, name TEXT NOT NULL,"
           " spec_hash TEXT NOT NULL, generation INTEGER NOT NULL,"
           " spec_json TEXT NOT NULL, source_path TEXT NOT NULL,"
           " labels_json TEXT NOT NULL, annotations_json TEXT NOT NULL,"
           " region TEXT NOT NULL, phase TEXT NOT NULL,"
           " conditions_json TEXT NOT NULL, remote_job_name TEXT NOT NULL,"
           " attempt INTEGER NOT NULL, observed_generation INTEGER NOT NULL,"
           " synced_revision TEXT NOT NULL, start_time_ns INTEGER,"
           " completion_time_ns INTEGER, last_error TEXT NOT NULL,"
           " failed_attempts INTEGER NOT NULL, next_attempt_at_ns INTEGER,"
           " created_at_ns INTEGER NOT NULL, removed_at_ns INTEGER,"
           " resource_version INTEGER NOT NULL,"
           " PRIMARY KEY (namespace, name))",
           "CREATE TABLE intents ("
           " marker TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,"
           " spec_hash TEXT NOT NULL, attempt INTEGER NOT NULL, region TEXT NOT NULL,"
           " state TEXT NOT NULL, remote_job_name TEXT NOT NULL,"
           " created_at_ns INTEGER NOT NULL, updated_at_ns INTEGER NOT NULL)",
           "CREATE INDEX intents_by_object ON intents (namespace, name)",
           "CREATE TABLE events ("
           " id INTEGER PRIMARY KEY AUTOINCREMENT,"
           " namespace TEXT NOT NULL, name TEXT NOT NULL, time_ns INTEGER NOT NULL,"
           " type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL)",
           "CREATE INDEX events_by_object ON events (namespace, name, id)",
       }},
      {2,
       "intents.absent_lists (consecutive lists without the marker); open-intent index",
       {
           "ALTER TABLE intents ADD COLUMN absent_lists INTEGER NOT NULL DEFAULT 0",
           "CREATE INDEX intents_by_state ON intents (state, created_at_ns)",
       }},
      {3,
       "instance identity: meta 'instance' (written at first start), 'legacy_markers' when "
       "intents from before instance-qualified markers exist",
       {
           // A store with intents predates instance-qualified markers: its
           // jobs carry mlsj:<ns>/<name>/... and stay this store's. The
           // version bump also keeps older controllers, which cannot parse
           // the new markers, off this file.
           "INSERT INTO meta (key, value) SELECT 'legacy_markers', '1' "
           "WHERE EXISTS (SELECT 1 FROM intents)",
       }},
      {4,
       "objects.exit_code (the latest failed attempt's exit code, NULL when unknown)",
       {
           "ALTER TABLE objects ADD COLUMN exit_code INTEGER",
       }},
      {5,
       "events aggregated: one row per (object, type, reason, message) with count and first "
       "time",
       {
           "ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1",
           "ALTER TABLE events ADD COLUMN first_time_ns INTEGER NOT NULL DEFAULT 0",
           // Fold existing repeats into their newest row (highest id).
           "UPDATE events SET"
           " count = (SELECT COUNT(*) FROM events e WHERE e.namespace = events.namespace"
           "  AND e.name = events.name AND e.type = events.type AND e.reason = events.reason"
           "  AND e.message = events.message),"
           " first_time_ns = (SELECT MIN(e.time_ns) FROM events e"
           "  WHERE e.namespace = events.namespace AND e.name = events.name"
           "  AND e.type = events.type AND e.reason = events.reason"
           "  AND e.message = events.message)",
           "DELETE FROM events WHERE id NOT IN"
           " (SELECT MAX(id) FROM events GROUP BY namespace, name, type, reason, message)",
           "CREATE UNIQUE INDEX events_by_identity ON events (namespace, name, type, reason,"
           " message)",
           "CREATE INDEX events_by_last_time ON events (namespace, name, time_ns, id)",
       }},
  };
  return kMigrations;
}

int64_t ToNs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
TimePoint FromNs(int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}
NullableInt ToNullable(const std::optional<TimePoint>& t) {
  return t ? NullableInt(ToNs(*t)) : NullableInt();
}
std::optional<TimePoint> FromNullable(const NullableInt& v) {
  if (v.isNull()) return std::nullopt;
  return FromNs(v.value());
}

std::string_view IntentStateName(IntentState s) {
  switch (s) {
    case IntentState::kOpen:
      return "Open";
    case IntentState::kSubmitted:
      return "Submitted";
    case IntentState::kAbandoned:
      return "Abandoned";
  }
  return "Open";
}
std::optional<IntentState> ParseIntentState(std::string_view s) {
  for (IntentState v : {IntentState::kOpen, IntentState::kSubmitted, IntentState::kAbandoned}) {
    if (IntentStateName(v) == s) return v;
  }
  return std::nullopt;
}

std::string EncodeMap(const std::map<std::string, std::string>& m) {
  return nlohmann::json(m).dump();
}

std::string EncodeConditions(const std::vector<api::Condition>& conditions) {
  nlohmann::json arr = nlohmann::json::array();
  for (const api::Condition& c : conditions) {
    arr.push_back({{"type", c.type},
                   {"status", c.status},
                   {"reason", c.reason},
                   {"message", c.message},
                   {"lastTransitionTimeNs", ToNs(c.last_transition_time)}});
  }
  return arr.dump();
}

// Poco::Data's SQLite connector is registered once per process.
void RegisterConnector() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Data::SQLite::Connector::registerConnector(); });
}

bool IsCorruption(const Poco::Exception& e) {
  if (dynamic_cast<const Poco::Data::SQLite::CorruptImageException*>(&e) != nullptr) return true;
  std::string text = e.displayText();
  return text.find("malformed") != std::string::npos ||
         text.find("not a database") != std::string::npos;
}

// Maps a Poco exception to a Status with the database path and the step.
// Poco's messages carry SQL text with '?' placeholders, never bound values.
Status FromPoco(const std::string& db_path, std::string_view what, const Poco::Exception& e) {
  std::string msg = "state store " + db_path + ": " + std::string(what) + ": " + e.displayText();
  if (IsCorruption(e)) return DataLossError(std::move(msg));
  if (dynamic_cast<const Poco::Data::SQLite::DBLockedException*>(&e) != nullptr ||
      dynamic_cast<const Poco::Data::SQLite::TableLockedException*>(&e) != nullptr ||
      dynamic_cast<const Poco::Data::SQLite::IOErrorException*>(&e) != nullptr ||
      dynamic_cast<const Poco::Data::SQLite::DatabaseFullException*>(&e) != nullptr ||
      dynamic_cast<const Poco::Data::SQLite::CantOpenDBFileException*>(&e) != nullptr) {
    return UnavailableError(std::move(msg));
  }
  if (dynamic_cast<const Poco::Data::SQLite::ConstraintViolationException*>(&e) != nullptr) {
    return AbortedError(std::move(msg));
  }
  return InternalError(std::move(msg));
}

std::string Errno(int err) { return std::strerror(err); }

// Takes the exclusive lock of the state directory: an flock on the directory
// itself, which cannot be unlinked while it holds files (deleting DIR/lock
// under a running controller used to let a second one in), then on DIR/lock,
// which earlier versions lock and which carries the holder's pid for the
// message. flock locks belong to the open file description, so a second Open
// in this process conflicts too, and the kernel drops them when the holder
// dies however it dies. After locking, the path must still name the locked
// inode: a directory renamed or replaced between open and flock would leave
// the lock on something no other controller looks at.
Result<std::vector<int>> AcquireLock(const std::string& dir) {
  std::vector<int> fds;
  auto fail = [&fds](Status s) -> Result<std::vector<int>> {
    for (int fd : fds) ::close(fd);
    return s;
  };
  auto read_pid = [](int fd) {
    std::string pid;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) pid.assign(buf, static_cast<size_t>(n));
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid.empty() ? std::string("unknown") : pid;
  };
  std::string path = dir + "/" + kLockFileName;
  for (const std::string& target : {dir, path}) {
    const bool is_dir = target == dir;
    int fd = is_dir ? ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    : ::open(target.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fail(UnavailableError("state store: cannot open " +
                                   std::string(is_dir ? "state directory " : "lock file ") +
                                   target + ": " + Errno(errno)));
    }
    fds.push_back(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        // The pid lives in DIR/lock; it may be gone (deleted by hand).
        std::string pid = "unknown";
        int pfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (pfd >= 0) {
          pid = read_pid(pfd);
          ::close(pfd);
        }
        return fail(FailedPreconditionError("another controller holds the lock on " + dir +
                                            " (pid " + pid + ")"));
      }
      return fail(UnavailableError("state store: cannot lock " + target + ": " + Errno(err)));
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) != 0 || ::stat(target.c_str(), &named) != 0 ||
        held.st_dev != named.st_dev || held.st_ino != named.st_ino) {
      return fail(UnavailableError("state store: " + target +
                                   " was replaced while it was being locked; refusing to start "
                                   "(is another controller starting on " +
                                   dir + "?)"));
    }
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fds.back(), 0) != 0 ||
      ::pwrite(fds.back(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The pid is only for the message a second controller prints.
  }
  return fds;
}

// SQLite files start with this 16-byte header; anything else is not a
// database (or was overwritten), and opening it must not "repair" it.
Status CheckHeader(const std::string& db_path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(db_path, ec);
  if (ec) return OkStatus();  // absent: a new database
  if (size == 0) {
    // SQLite would take an empty file for a new database, and the controller
    // would then submit every job again. The store writes its schema before
    // Open returns, so an empty file was truncated or lost its contents.
    return DataLossError("state store " + db_path +
                         ": is empty (0 bytes; truncated or lost?); refusing to start (restore it "
                         "from a backup, or delete it to start with an empty store: running jobs "
                         "are then adopted by their markers)");
  }
  std::ifstream in(db_path, std::ios::binary);
  if (!in) {
    return UnavailableError("state store " + db_path + ": cannot read: " + Errno(errno));
  }
  unsigned char header[100] = {};
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  const auto got = static_cast<size_t>(in.gcount());
  static constexpr char kMagic[16] = "SQLite format 3";  // with the trailing NUL
  if (got < sizeof(kMagic) || std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return DataLossError("state store " + db_path +
                         ": is not a SQLite database (file is corrupt?); refusing to start "
                         "(move it aside to start with an empty store)");
  }
  auto truncated = [&](const std::string& what) {
    return DataLossError("state store " + db_path + ": is truncated (" + what +
                         "); refusing to start (restore it from a backup, or move it aside to "
                         "start with an empty store)");
  };
  if (got < sizeof(header)) {
    return truncated(std::to_string(size) + " bytes, shorter than the 100-byte header");
  }
  // Header fields (big-endian): page size at 16 (1 means 65536), the page
  // count at 28, valid when the change counter (24) equals the
  // version-valid-for number (92). With a non-empty WAL beside it, a crash
  // mid-checkpoint may leave the file short until SQLite replays the WAL, so
  // only a file without one is held to its page count.
  auto be32 = [&](size_t at) {
    return (uint32_t{header[at]} << 24) | (uint32_t{header[at + 1]} << 16) |
           (uint32_t{header[at + 2]} << 8) | uint32_t{header[at + 3]};
  };
  uint64_t page_size = (uint32_t{header[16]} << 8) | uint32_t{header[17]};
  if (page_size == 1) page_size = 65536;
  const uint32_t pages = be32(28);
  std::error_code wal_ec;
  auto wal_size = std::filesystem::file_size(db_path + "-wal", wal_ec);
  const bool wal_has_frames = !wal_ec && wal_size > 0;
  if (!wal_has_frames && pages > 0 && be32(24) == be32(92) && page_size >= 512 &&
      static_cast<uint64_t>(size) < page_size * pages) {
    return truncated(std::to_string(size) + " bytes, its header says " + std::to_string(pages) +
                     " pages of " + std::to_string(page_size));
  }
  return OkStatus();
}

}  // namespace

SqliteStateStore::SqliteStateStore(std::string state_dir, Options options,
                                   std::vector<int> lock_fds)
    : state_dir_(std::move(state_dir)),
      db_path_(state_dir_ + "/" + kDatabaseFileName),
      options_(options),
      lock_fds_(std::move(lock_fds)) {}

SqliteStateStore::~SqliteStateStore() {
  {
    std::lock_guard lock(mu_);
    try {
      if (session_) session_->close();
    } catch (const Poco::Exception&) {
      // Every committed batch is already durable; nothing to save here.
    }
    session_.reset();
  }
  for (int fd : lock_fds_) ::close(fd);
}

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::Open(const std::string& state_dir,
                                                                 Options options) {
  if (state_dir.empty()) return InvalidArgumentError("state store: --state-dir is empty");
  std::error_code ec;
  if (!std::filesystem::exists(state_dir, ec)) {
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
      return UnavailableError("state store: cannot create state directory " + state_dir + ": " +
                              ec.message());
    }
    std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all, ec);
  } else if (!std::filesystem::is_directory(state_dir, ec)) {
    return InvalidArgumentError("state store: " + state_dir + " is not a directory");
  }
  MLSPACE_ASSIGN_OR_RETURN(std::vector<int> fds, AcquireLock(state_dir));
  std::unique_ptr<SqliteStateStore> store(new SqliteStateStore(state_dir, options, std::move(fds)));
  MLSPACE_RETURN_IF_ERROR(CheckHeader(store->db_path_));
  std::lock_guard lock(store->mu_);
  MLSPACE_RETURN_IF_ERROR(store->OpenDatabase());
  MLSPACE_RETURN_IF_ERROR(store->Migrate());
  return store;
}

Status SqliteStateStore::OpenDatabase() {
  RegisterConnector();
  std::string step = "open";
  try {
    session_ = std::make_unique<Poco::Data::Session>("SQLite", db_path_);
    Poco::Data::Session& s = *session_;
    step = "set busy_timeout";
    Poco::Int64 timeout_echo = 0;
    s << "PRAGMA busy_timeout = " + std::to_string(options_.busy_timeout.count()),
        into(timeout_echo), now;
    step = "read the database";
    std::vector<std::string> check;
    if (options_.check_integrity) {
      s << "PRAGMA quick_check", into(check), now;
      if (check.empty() || check.front() != "ok") {
        return DataLossError("state store " + db_path_ + ": database is corrupt (quick_check: " +
                             (check.empty() ? std::string("no answer") : check.front()) +
                             "); refusing to start (move it aside to start with an empty store)");
      }
    }
    step = "set journal_mode=WAL";
    std::string mode;
    s << "PRAGMA journal_mode = WAL", into(mode), now;
    if (mode != "wal") {
      return UnavailableError("state store " + db_path_ + ": cannot switch to WAL journal (got \"" +
                              mode + "\")");
    }
    // FULL: a commit is fsynced before Write returns, so an intent is
    // durable before its POST is sent.
    step = "set synchronous=FULL";
    s << "PRAGMA synchronous = FULL", now;
  } catch (const Poco::Exception& e) {
    if (IsCorruption(e)) {
      return DataLossError("state store " + db_path_ + ": " + step + ": " + e.displayText() +
                           " (file is corrupt?); refusing to start");
    }
    return FromPoco(db_path_, step, e);
  }
  return OkStatus();
}

Status SqliteStateStore::Migrate() {
  const int latest = Migrations().back().version;
  try {
    Poco::Data::Session& s = *session_;
    int meta_tables = 0, all_objects = 0;
    s << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        into(meta_tables), now;
    s << "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'", into(all_objects),
        now;
    int version = 0;
    if (meta_tables == 0 && all_objects > 0) {
      return FailedPreconditionError("state store " + db_path_ +
                                     ": is a SQLite database but not an mlspace state store "
                                     "(no meta table); refusing to start");
    }
    if (meta_tables == 1) {
      std::vector<std::string> v;
      s << "SELECT value FROM meta WHERE key = 'schema_version'", into(v), now;
      if (v.empty()) {
        // Version 1 files written before the version row existed do not
        // occur: step 1 writes it in the same transaction.
        return DataLossError("state store " + db_path_ +
                             ": meta table has no schema_version; refusing to start");
      }
      try {
        version = std::stoi(v.front());
      } catch (const std::exception&) {
        return DataLossError("state store " + db_path_ + ": schema_version \"" + v.front() +
                             "\" is not a number; refusing to start");
      }
    }
    if (version > latest) {
      return FailedPreconditionError(
          "state store " + db_path_ + ": schema version " + std::to_string(version) +
          " is newer than this controller supports (" + std::to_string(latest) +
          "); refusing to start (run a newer controller or restore an older state directory)");
    }
    for (const Migration& m : Migrations()) {
      if (m.version <= version) continue;
      s << "BEGIN IMMEDIATE", now;
      try {
        for (const char* sql : m.statements) s << std::string(sql), now;
        s << "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            bind(std::to_string(m.version)), now;
        s << "COMMIT", now;
      } catch (const Poco::Exception& e) {
        try {
          s << "ROLLBACK", now;
        } catch (const Poco::Exception&) {
        }
        return FromPoco(db_path_,
                        "migration to schema version " + std::to_string(m.version) + " (" +
                            m.description + ") failed",
                        e);
      }
      version = m.version;
    }
    schema_version_ = version;
    std::string rv;
    s << "SELECT value FROM meta WHERE key = 'resource_version'", into(rv), now;
    try {
      resource_version_ = std::stoll(rv);
    } catch (const std::exception&) {
      return DataLossError("state store " + db_path_ + ": resource_version \"" + rv +
                           "\" is not a number; refusing to start");
    }
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "read schema", e);
  }
  return OkStatus();
}

Status SqliteStateStore::Write(const WriteBatch& batch) {
  MLSPACE_RETURN_IF_ERROR(ValidateBatch(batch));
  if (batch.upserts.empty() && batch.deletes.empty() && batch.intents.empty() &&
      batch.events.empty()) {
    return OkStatus();
  }
  // Group commit: writers that arrive while a commit is in flight queue up,
  // and the next one to find no leader commits the whole queue in one
  // transaction (one fsync), each batch inside its own savepoint so a
  // failing batch fails alone. Every caller still returns only after the
  // transaction holding its batch committed.
  PendingWrite me{&batch, OkStatus(), false};
  std::unique_lock q(queue_mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (leader_active_) {
      queue_cv_.wait(q);
      continue;
    }
    leader_active_ = true;
    std::vector<PendingWrite*> group(queue_.begin(), queue_.end());
    queue_.clear();
    q.unlock();
    CommitGroup(group);
    q.lock();
    for (PendingWrite* p : group) p->done = true;
    leader_active_ = false;
    queue_cv_.notify_all();
  }
  return me.result;
}

void SqliteStateStore::CommitGroup(const std::vector<PendingWrite*>& group) {
  std::lock_guard lock(mu_);
  Poco::Data::Session& s = *session_;
  auto fail_all = [&](const Status& st) {
    for (PendingWrite* p : group) {
      if (p->result.ok()) p->result = st;
    }
  };
  try {
    // IMMEDIATE takes the write lock up front, so a busy database fails here
    // (after busy_timeout) rather than half-way through a batch.
    s << "BEGIN IMMEDIATE", now;
  } catch (const Poco::Exception& e) {
    fail_all(FromPoco(db_path_, "begin write", e));
    return;
  }
  const bool savepoints = group.size() > 1;
  int64_t rv = resource_version_;
  bool broken = false;  // the transaction itself is gone; nothing commits
  for (PendingWrite* p : group) {
    int64_t batch_rv = rv;
    Status st;
    try {
      if (savepoints) s << "SAVEPOINT batch", now;
      st = ApplyLocked(*p->batch, &batch_rv);
      if (st.ok() && savepoints) s << "RELEASE batch", now;
    } catch (const Poco::Exception& e) {
      st = FromPoco(db_path_, "write", e);
    } catch (const std::exception& e) {
      st = InternalError("state store " + db_path_ + ": write: " + e.what());
    }
    if (st.ok()) {
      rv = batch_rv;
      continue;
    }
    p->result = st;
    if (!savepoints) {
      broken = true;
      break;
    }
    try {
      s << "ROLLBACK TO batch", now;
      s << "RELEASE batch", now;
    } catch (const Poco::Exception&) {
      // SQLite already rolled back the whole transaction (e.g. disk full).
      broken = true;
      break;
    }
  }
  if (!broken) {
    try {
      s << "COMMIT", now;
      resource_version_ = rv;
      ++transactions_committed_;
      return;
    } catch (const Poco::Exception& e) {
      fail_all(FromPoco(db_path_, "commit", e));
    }
  } else {
    fail_all(UnavailableError("state store " + db_path_ +
                              ": write: the transaction was rolled back by another batch's "
                              "failure; retry"));
  }
  try {
    s << "ROLLBACK", now;
  } catch (const Poco::Exception&) {
    // Nothing more to undo: a failed COMMIT already ended the transaction.
  }
}

Status SqliteStateStore::ApplyLocked(const WriteBatch& batch, int64_t* resource_version) {
  Poco::Data::Session& s = *session_;
  for (const ObjectKey& k : batch.deletes) {
    s << "DELETE FROM objects WHERE namespace = ? AND name = ?", bind(k.namespace_name),
        bind(k.name), now;
    s << "DELETE FROM intents WHERE namespace = ? AND name = ?", bind(k.namespace_name),
        bind(k.name), now;
    s << "DELETE FROM events WHERE namespace = ? AND name = ?", bind(k.namespace_name),
        bind(k.name), now;
  }
  for (const ObjectRecord& r : batch.upserts) {
    const api::JobStatus& st = r.status;
    Poco::Int64 rv = ++*resource_version;
    s << "INSERT OR REPLACE INTO objects (namespace, name, spec_hash, generation, spec_json,"
         " source_path, labels_json, annotations_json, region, phase, conditions_json,"
         " remote_job_name, attempt, observed_generation, synced_revision, start_time_ns,"
         " completion_time_ns, last_error, failed_attempts, next_attempt_at_ns, created_at_ns,"
         " removed_at_ns, resource_version, exit_code)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        bind(r.key.namespace_name), bind(r.key.name), bind(r.spec_hash),
        bind(static_cast<Poco::Int64>(r.generation)), bind(r.spec_json), bind(r.source_path),
        bind(EncodeMap(r.labels)), bind(EncodeMap(r.annotations)), bind(r.region),
        bind(std::string(api::PhaseName(st.phase))), bind(EncodeConditions(st.conditions)),
        bind(st.remote_job_name), bind(static_cast<Poco::Int64>(st.attempt)),
        bind(static_cast<Poco::Int64>(st.observed_generation)), bind(st.synced_revision),
        bind(ToNullable(st.start_time)), bind(ToNullable(st.completion_time)), bind(st.last_error),
        bind(static_cast<Poco::Int64>(r.failed_attempts)), bind(ToNullable(r.next_attempt_at)),
        bind(static_cast<Poco::Int64>(ToNs(r.created_at))), bind(ToNullable(r.removed_at)),
        bind(rv), bind(st.exit_code ? NullableInt(*st.exit_code) : NullableInt()), now;
  }
  if (!batch.upserts.empty()) {
    s << "UPDATE meta SET value = ? WHERE key = 'resource_version'",
        bind(std::to_string(*resource_version)), now;
  }
  for (const SubmitIntent& i : batch.intents) {
    // ON CONFLICT DO UPDATE keeps the row (and its rowid, the tie-break of
    // OpenIntents' order) where INSERT OR REPLACE would renumber it.
    s << "INSERT INTO intents (marker, namespace, name, spec_hash, attempt, region, state,"
         " remote_job_name, absent_lists, created_at_ns, updated_at_ns)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
         " ON CONFLICT (marker) DO UPDATE SET namespace = excluded.namespace,"
         " name = excluded.name, spec_hash = excluded.spec_hash, attempt = excluded.attempt,"
         " region = excluded.region, state = excluded.state,"
         " remote_job_name = excluded.remote_job_name, absent_lists = excluded.absent_lists,"
         " created_at_ns = excluded.created_at_ns, updated_at_ns = excluded.updated_at_ns",
        bind(i.marker), bind(i.key.namespace_name), bind(i.key.name), bind(i.spec_hash),
        bind(static_cast<Poco::Int64>(i.attempt)), bind(i.region),
        bind(std::string(IntentStateName(i.state))), bind(i.remote_job_name),
        bind(static_cast<Poco::Int64>(i.absent_lists)),
        bind(static_cast<Poco::Int64>(ToNs(i.created_at))),
        bind(static_cast<Poco::Int64>(ToNs(i.updated_at))), now;
  }
  std::set<ObjectKey> event_keys;
  for (const Event& e : batch.events) {
    // Aggregated as Kubernetes does: a repeat keeps its row (and id) and
    // moves its last time; MAX keeps the last time from going back when an
    // older step's batch commits late.
    const auto t = static_cast<Poco::Int64>(ToNs(e.time));
    s << "INSERT INTO events (namespace, name, time_ns, type, reason, message, count,"
         " first_time_ns) VALUES (?, ?, ?, ?, ?, ?, 1, ?)"
         " ON CONFLICT (namespace, name, type, reason, message) DO UPDATE SET"
         " count = count + 1, time_ns = MAX(time_ns, excluded.time_ns),"
         " first_time_ns = MIN(first_time_ns, excluded.first_time_ns)",
        bind(e.key.namespace_name), bind(e.key.name), bind(t), bind(e.type), bind(e.reason),
        bind(e.message), bind(t), now;
    event_keys.insert(e.key);
  }
  const auto keep = static_cast<Poco::Int64>(
      std::min<size_t>(options_.max_events_per_object,
                       static_cast<size_t>(std::numeric_limits<Poco::Int64>::max())));
  for (const ObjectKey& k : event_keys) {
    s << "DELETE FROM events WHERE namespace = ? AND name = ? AND id NOT IN"
         " (SELECT id FROM events WHERE namespace = ? AND name = ?"
         " ORDER BY time_ns DESC, id DESC LIMIT ?)",
        bind(k.namespace_name), bind(k.name), bind(k.namespace_name), bind(k.name), bind(keep), now;
  }
  return OkStatus();
}

namespace {

constexpr char kObjectColumns[] =
    "SELECT namespace, name, spec_hash, generation, spec_json, source_path, labels_json,"
    " annotations_json, region, phase, conditions_json, remote_job_name, attempt,"
    " observed_generation, synced_revision, start_time_ns, completion_time_ns, last_error,"
    " failed_attempts, next_attempt_at_ns, created_at_ns, removed_at_ns, resource_version,"
    " exit_code FROM objects";

// Column vectors of an objects query (Poco extracts one vector per column).
struct ObjectRows {
  std::vector<std::string> ns, name, spec_hash, spec_json, source_path, labels, annotations, region,
      phase, conditions, remote_job_name, synced_revision, last_error;
  std::vector<Poco::Int64> generation, attempt, observed_generation, failed_attempts, created_at,
      resource_version;
  std::vector<NullableInt> start_time, completion_time, next_attempt_at, removed_at, exit_code;

  void Run(Poco::Data::Statement& st) {
    st, into(ns), into(name), into(spec_hash), into(generation), into(spec_json), into(source_path),
        into(labels), into(annotations), into(region), into(phase), into(conditions),
        into(remote_job_name), into(attempt), into(observed_generation), into(synced_revision),
        into(start_time), into(completion_time), into(last_error), into(failed_attempts),
        into(next_attempt_at), into(created_at), into(removed_at), into(resource_version),
        into(exit_code);
    st.execute();
  }

  Result<ObjectRecord> Row(size_t i, const std::string& db_path) const {
    ObjectRecord r;
    r.key = ObjectKey{ns[i], name[i]};
    auto bad = [&](const std::string& what) {
      return DataLossError("state store " + db_path + ": record " + r.key.ToString() + ": " + what);
    };
    r.spec_hash = spec_hash[i];
    r.generation = generation[i];
    r.spec_json = spec_json[i];
    r.source_path = source_path[i];
    r.region = region[i];
    try {
      r.labels = nlohmann::json::parse(labels[i]).get<std::map<std::string, std::string>>();
      r.annotations =
          nlohmann::json::parse(annotations[i]).get<std::map<std::string, std::string>>();
      for (const auto& c : nlohmann::json::parse(conditions[i])) {
        api::Condition cond;
        cond.type = c.at("type").get<std::string>();
        cond.status = c.at("status").get<std::string>();
        cond.reason = c.at("reason").get<std::string>();
        cond.message = c.at("message").get<std::string>();
        cond.last_transition_time = FromNs(c.at("lastTransitionTimeNs").get<int64_t>());
        r.status.conditions.push_back(std::move(cond));
      }
    } catch (const nlohmann::json::exception& e) {
      return bad(std::string("unreadable labels, annotations or conditions: ") + e.what());
    }
    auto phase_value = api::ParsePhase(phase[i]);
    if (!phase_value) return bad("unknown phase \"" + phase[i] + "\"");
    r.status.phase = *phase_value;
    r.status.remote_job_name = remote_job_name[i];
    r.status.attempt = static_cast<int>(attempt[i]);
    r.status.observed_generation = observed_generation[i];
    r.status.synced_revision = synced_revision[i];
    r.status.start_time = FromNullable(start_time[i]);
    r.status.completion_time = FromNullable(completion_time[i]);
    r.status.last_error = last_error[i];
    r.failed_attempts = static_cast<int>(failed_attempts[i]);
    r.next_attempt_at = FromNullable(next_attempt_at[i]);
    r.created_at = FromNs(created_at[i]);
    r.removed_at = FromNullable(removed_at[i]);
    r.resource_version = resource_version[i];
    if (!exit_code[i].isNull()) r.status.exit_code = static_cast<int>(exit_code[i].value());
    return r;
  }
};

constexpr char kIntentColumns[] =
    "SELECT marker, namespace, name, spec_hash, attempt, region, state, remote_job_name,"
    " absent_lists, created_at_ns, updated_at_ns FROM intents";

struct IntentRows {
  std::vector<std::string> marker, ns, name, spec_hash, region, state, remote_job_name;
  std::vector<Poco::Int64> attempt, absent_lists, created_at, updated_at;

  void Run(Poco::Data::Statement& st) {
    st, into(marker), into(ns), into(name), into(spec_hash), into(attempt), into(region),
        into(state), into(remote_job_name), into(absent_lists), into(created_at), into(updated_at);
    st.execute();
  }

  Result<std::vector<SubmitIntent>> All(const std::string& db_path) const {
    std::vector<SubmitIntent> out;
    out.reserve(marker.size());
    for (size_t i = 0; i < marker.size(); ++i) {
      SubmitIntent it;
      it.marker = marker[i];
      it.key = ObjectKey{ns[i], name[i]};
      it.spec_hash = spec_hash[i];
      it.attempt = static_cast<int>(attempt[i]);
      it.region = region[i];
      auto s = ParseIntentState(state[i]);
      if (!s) {
        return DataLossError("state store " + db_path + ": intent " + marker[i] +
                             ": unknown state \"" + state[i] + "\"");
      }
      it.state = *s;
      it.remote_job_name = remote_job_name[i];
      it.absent_lists = static_cast<int>(absent_lists[i]);
      it.created_at = FromNs(created_at[i]);
      it.updated_at = FromNs(updated_at[i]);
      out.push_back(std::move(it));
    }
    return out;
  }
};

}  // namespace

Result<std::optional<ObjectRecord>> SqliteStateStore::Get(const ObjectKey& key) {
  std::lock_guard lock(mu_);
  ObjectRows rows;
  try {
    Poco::Data::Statement st(*session_);
    st << std::string(kObjectColumns) + " WHERE namespace = ? AND name = ?",
        bind(key.namespace_name), bind(key.name);
    rows.Run(st);
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "get " + key.ToString(), e);
  }
  if (rows.ns.empty()) return std::optional<ObjectRecord>();
  MLSPACE_ASSIGN_OR_RETURN(ObjectRecord r, rows.Row(0, db_path_));
  return std::optional<ObjectRecord>(std::move(r));
}

Result<std::vector<ObjectRecord>> SqliteStateStore::List() {
  std::lock_guard lock(mu_);
  ObjectRows rows;
  try {
    Poco::Data::Statement st(*session_);
    st << std::string(kObjectColumns) + " ORDER BY namespace, name";
    rows.Run(st);
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "list", e);
  }
  std::vector<ObjectRecord> out;
  out.reserve(rows.ns.size());
  for (size_t i = 0; i < rows.ns.size(); ++i) {
    MLSPACE_ASSIGN_OR_RETURN(ObjectRecord r, rows.Row(i, db_path_));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<SubmitIntent>> SqliteStateStore::OpenIntents() {
  std::lock_guard lock(mu_);
  IntentRows rows;
  try {
    Poco::Data::Statement st(*session_);
    st << std::string(kIntentColumns) + " WHERE state = 'Open' ORDER BY created_at_ns, rowid";
    rows.Run(st);
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "list open intents", e);
  }
  return rows.All(db_path_);
}

Result<std::vector<SubmitIntent>> SqliteStateStore::Intents(const ObjectKey& key) {
  std::lock_guard lock(mu_);
  IntentRows rows;
  try {
    Poco::Data::Statement st(*session_);
    st << std::string(kIntentColumns) +
              " WHERE namespace = ? AND name = ? ORDER BY created_at_ns DESC, rowid DESC",
        bind(key.namespace_name), bind(key.name);
    rows.Run(st);
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "list intents of " + key.ToString(), e);
  }
  return rows.All(db_path_);
}

Result<std::vector<Event>> SqliteStateStore::Events(const ObjectKey& key, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<Poco::Int64> id, time, count, first;
  std::vector<std::string> type, reason, message;
  const auto lim = static_cast<Poco::Int64>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<Poco::Int64>::max())));
  try {
    Poco::Data::Statement st(*session_);
    st << "SELECT id, time_ns, type, reason, message, count, first_time_ns FROM events"
          " WHERE namespace = ? AND name = ? ORDER BY time_ns DESC, id DESC LIMIT ?",
        bind(key.namespace_name), bind(key.name), bind(lim), into(id), into(time), into(type),
        into(reason), into(message), into(count), into(first);
    st.execute();
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "list events of " + key.ToString(), e);
  }
  std::vector<Event> out(id.size());
  for (size_t i = 0; i < id.size(); ++i) {
    Event& e = out[id.size() - 1 - i];  // newest first from SQL; oldest first out
    e.key = key;
    e.id = id[i];
    e.time = FromNs(time[i]);
    e.type = type[i];
    e.reason = reason[i];
    e.message = message[i];
    e.count = count[i];
    e.first_time = FromNs(first[i]);
  }
  return out;
}

Result<StoreIdentity> SqliteStateStore::Identity() {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys, values;
  try {
    *session_ << "SELECT key, value FROM meta WHERE key IN ('instance', 'legacy_markers')",
        into(keys), into(values), now;
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "read the instance identity", e);
  }
  StoreIdentity out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == "instance") out.instance = values[i];
    if (keys[i] == "legacy_markers") out.legacy_markers = values[i] == "1";
  }
  return out;
}

Status SqliteStateStore::RecordInstance(const std::string& instance) {
  if (instance.empty()) return InvalidArgumentError("state store: empty instance name");
  std::lock_guard lock(mu_);
  std::vector<std::string> recorded;
  try {
    // One statement in autocommit mode: atomic, and fsynced before it
    // returns (synchronous=FULL), like every Write.
    *session_ << "INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?)", bind(instance),
        now;
    *session_ << "SELECT value FROM meta WHERE key = 'instance'", into(recorded), now;
  } catch (const Poco::Exception& e) {
    return FromPoco(db_path_, "record the instance identity", e);
  }
  if (recorded.empty() || recorded.front() != instance) {
    return FailedPreconditionError("state store " + db_path_ + " belongs to instance \"" +
                                   (recorded.empty() ? std::string() : recorded.front()) +
                                   "\", not \"" + instance + "\"");
  }
  return OkStatus();
}

int SqliteStateStore::schema_version() const {
  std::lock_guard lock(mu_);
  return schema_version_;
}

int64_t SqliteStateStore::transactions_committed() const {
  std::lock_guard lock(mu_);
  return transactions_committed_;
}

int64_t SqliteStateStore::resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

}  // namespace mlspace::store
