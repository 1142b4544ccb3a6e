#include "controller/store/sqlite/sqlite_state_store.h"

#include <Poco/Data/Session.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "controller/core/redact.h"
#include "tests/store/store_test_util.h"

namespace mlspace::store {
namespace {

using Poco::Data::Keywords::into;
using Poco::Data::Keywords::now;
using testing::NsTime;
using testing::RawSession;
using testing::SimpleEvent;
using testing::SimpleIntent;
using testing::SimpleRecord;
using testing::TempDir;

std::unique_ptr<SqliteStateStore> MustOpen(const std::string& dir,
                                           SqliteStateStore::Options options = {}) {
  auto r = SqliteStateStore::Open(dir, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

ObjectRecord FullRecord() {
  ObjectRecord r;
  r.key = ObjectKey{"nlp", "llama-sft"};
  r.spec_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  r.generation = 42;
  r.spec_json = R"json({"command":["python","-c","print(\"héllo\")"],"region":"SR006"})json";
  r.source_path = "jobs/llama sft.yaml";
  r.labels = {{"team", "nlp"}, {"tier", "gold"}};
  r.annotations = {{"mlspace.io/prune", "disabled"}, {"note", "quote \" and 'single'"}};
  r.region = "SR006";
  r.status.phase = api::Phase::kRunning;
  r.status.conditions = {
      {"Submitted", "True", "Submitted", "job lm-mpi-job-1 submitted",
       NsTime(1'700'000'001'000'000'001)},
      {"Running", "False", "Pending", "waiting\nfor nodes", NsTime(1'700'000'002'999'999'999)},
  };
  r.status.remote_job_name = "lm-mpi-job-1";
  r.status.attempt = 3;
  r.status.observed_generation = 41;
  r.status.synced_revision = "5d41402abc4b2a76b9719d911017c592aabbccdd";
  r.status.start_time = NsTime(1'700'000'003'000'000'007);
  r.status.completion_time = NsTime(1'700'000'004'000'000'000);
  r.status.last_error = "gateway: 503 Service Unavailable";
  r.status.exit_code = 207;
  r.failed_attempts = 2;
  r.next_attempt_at = NsTime(1'700'000'005'123'456'789);
  r.created_at = NsTime(1'699'999'999'000'000'000);
  r.removed_at = NsTime(1'700'000'006'000'000'000);
  return r;
}

void ExpectSameRecord(const ObjectRecord& got, const ObjectRecord& want) {
  EXPECT_EQ(got.key, want.key);
  EXPECT_EQ(got.spec_hash, want.spec_hash);
  EXPECT_EQ(got.generation, want.generation);
  EXPECT_EQ(got.spec_json, want.spec_json);
  EXPECT_EQ(got.source_path, want.source_path);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.annotations, want.annotations);
  EXPECT_EQ(got.region, want.region);
  EXPECT_EQ(got.status, want.status);  // every status field incl. conditions and times
  EXPECT_EQ(got.failed_attempts, want.failed_attempts);
  EXPECT_EQ(got.next_attempt_at, want.next_attempt_at);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.removed_at, want.removed_at);
}

TEST(SqliteStateStoreTest, OpenCreatesDirectoryDatabaseAndWalJournal) {
  TempDir tmp;
  std::string dir = tmp.path() + "/nested/state";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), kCurrentSchemaVersion);
  EXPECT_EQ(store->database_path(), dir + "/state.db");
  EXPECT_TRUE(std::filesystem::exists(dir + "/state.db"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/lock"));
  auto raw = RawSession(dir + "/state.db");
  std::string mode;
  *raw << "PRAGMA journal_mode", into(mode), now;
  EXPECT_EQ(mode, "wal");
}

TEST(SqliteStateStoreTest, RoundTripsEveryField) {
  TempDir tmp;
  ObjectRecord full = FullRecord();
  ObjectRecord minimal = SimpleRecord("minimal");  // every optional unset
  SubmitIntent intent = SimpleIntent("llama-sft", 3, NsTime(1'700'000'000'000'000'123), "nlp");
  intent.state = IntentState::kSubmitted;
  intent.remote_job_name = "lm-mpi-job-1";
  intent.absent_lists = 2;
  intent.updated_at = NsTime(1'700'000'009'000'000'456);
  Event ev = SimpleEvent("llama-sft", "Submitted", "nlp");
  ev.type = "Warning";
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    WriteBatch b;
    b.upserts = {full, minimal};
    b.intents = {intent};
    b.events = {ev};
    ASSERT_TRUE(store->Write(b).ok());
  }
  // Read back through a fresh open, so nothing comes from memory.
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto got = store->Get(full.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  ExpectSameRecord(**got, full);
  EXPECT_EQ((*got)->resource_version, 1);

  auto got_min = store->Get(minimal.key);
  ASSERT_TRUE(got_min.ok());
  ASSERT_TRUE(got_min->has_value());
  ExpectSameRecord(**got_min, minimal);
  EXPECT_FALSE((*got_min)->status.start_time.has_value());
  EXPECT_FALSE((*got_min)->removed_at.has_value());
  EXPECT_EQ((*got_min)->resource_version, 2);

  auto missing = store->Get(ObjectKey{"nlp", "nope"});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto intents = store->Intents(intent.key);
  ASSERT_TRUE(intents.ok());
  ASSERT_EQ(intents->size(), 1u);
  const SubmitIntent& gi = (*intents)[0];
  EXPECT_EQ(gi.marker, intent.marker);
  EXPECT_EQ(gi.key, intent.key);
  EXPECT_EQ(gi.spec_hash, intent.spec_hash);
  EXPECT_EQ(gi.attempt, intent.attempt);
  EXPECT_EQ(gi.region, intent.region);
  EXPECT_EQ(gi.state, IntentState::kSubmitted);
  EXPECT_EQ(gi.remote_job_name, intent.remote_job_name);
  EXPECT_EQ(gi.absent_lists, 2);
  EXPECT_EQ(gi.created_at, intent.created_at);
  EXPECT_EQ(gi.updated_at, intent.updated_at);

  auto events = store->Events(ev.key, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].key, ev.key);
  EXPECT_EQ((*events)[0].time, ev.time);
  EXPECT_EQ((*events)[0].type, "Warning");
  EXPECT_EQ((*events)[0].reason, ev.reason);
  EXPECT_EQ((*events)[0].message, ev.message);
  EXPECT_GT((*events)[0].id, 0);

  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].key.namespace_name, "default");  // ordered by key
  EXPECT_EQ((*list)[1].key.namespace_name, "nlp");
}

TEST(SqliteStateStoreTest, UpsertReplacesAndDeleteCascades) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b;
  b.upserts = {SimpleRecord("a"), SimpleRecord("b")};
  b.intents = {SimpleIntent("a", 1, NsTime(10)), SimpleIntent("b", 1, NsTime(11))};
  b.events = {SimpleEvent("a", "One"), SimpleEvent("b", "One")};
  ASSERT_TRUE(store->Write(b).ok());

  ObjectRecord a2 = SimpleRecord("a");
  a2.generation = 2;
  a2.status.phase = api::Phase::kSucceeded;
  WriteBatch b2;
  b2.upserts = {a2};
  ASSERT_TRUE(store->Write(b2).ok());
  auto a = store->Get(a2.key);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->generation, 2);
  EXPECT_EQ((*a)->status.phase, api::Phase::kSucceeded);
  EXPECT_EQ((*a)->resource_version, 3);

  WriteBatch del;
  del.deletes = {ObjectKey{"default", "a"}};
  ASSERT_TRUE(store->Write(del).ok());
  a = store->Get(a2.key);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->has_value());
  auto intents = store->Intents(a2.key);
  ASSERT_TRUE(intents.ok());
  EXPECT_TRUE(intents->empty());
  auto events = store->Events(a2.key, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  // The other object is untouched.
  auto b_rec = store->Get(ObjectKey{"default", "b"});
  ASSERT_TRUE(b_rec.ok());
  EXPECT_TRUE(b_rec->has_value());
  auto b_events = store->Events(ObjectKey{"default", "b"}, 10);
  ASSERT_TRUE(b_events.ok());
  EXPECT_EQ(b_events->size(), 1u);
  auto open = store->OpenIntents();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].key.name, "b");
}

TEST(SqliteStateStoreTest, BatchIsAllOrNothing) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteBatch first;
  first.upserts = {SimpleRecord("keep")};
  ASSERT_TRUE(store->Write(first).ok());

  // A trigger makes the last statement of the batch (an event insert) fail,
  // after the record, delete and intent statements already ran.
  auto raw = RawSession(store->database_path());
  *raw << "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.reason = 'Poison'"
          " BEGIN SELECT RAISE(ABORT, 'poisoned event'); END",
      now;

  WriteBatch bad;
  ObjectRecord changed = SimpleRecord("keep");
  changed.generation = 99;
  bad.upserts = {SimpleRecord("new"), changed};
  bad.intents = {SimpleIntent("new", 1, NsTime(5))};
  bad.events = {SimpleEvent("new", "Fine"), SimpleEvent("new", "Poison")};
  Status s = store->Write(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), store->database_path())) << s.message();
  EXPECT_TRUE(Contains(s.message(), "poisoned event")) << s.message();

  auto rec = store->Get(ObjectKey{"default", "new"});
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  auto keep = store->Get(ObjectKey{"default", "keep"});
  ASSERT_TRUE(keep.ok() && keep->has_value());
  EXPECT_EQ((*keep)->generation, 1);
  EXPECT_EQ((*keep)->resource_version, 1);
  auto open = store->OpenIntents();
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->empty());
  auto events = store->Events(ObjectKey{"default", "new"}, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  EXPECT_EQ(store->resource_version(), 1);

  // The store is usable afterwards and the failed batch consumed no versions.
  WriteBatch ok;
  ok.upserts = {SimpleRecord("new")};
  ASSERT_TRUE(store->Write(ok).ok());
  rec = store->Get(ObjectKey{"default", "new"});
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->resource_version, 2);
  raw.reset();
  store.reset();
  store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->resource_version(), 2);
}

TEST(SqliteStateStoreTest, ResourceVersionMonotonicAcrossReopen) {
  TempDir tmp;
  int64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->resource_version(), last);
    for (int i = 0; i < 3; ++i) {
      WriteBatch b;
      b.upserts = {SimpleRecord("obj-" + std::to_string(i))};
      ASSERT_TRUE(store->Write(b).ok());
      auto rec = store->Get(b.upserts[0].key);
      ASSERT_TRUE(rec.ok() && rec->has_value());
      EXPECT_GT((*rec)->resource_version, last);
      last = (*rec)->resource_version;
    }
    // Batches without upserts do not move the counter.
    WriteBatch events_only;
    events_only.events = {SimpleEvent("obj-0", "Noted")};
    ASSERT_TRUE(store->Write(events_only).ok());
    EXPECT_EQ(store->resource_version(), last);
  }
  EXPECT_EQ(last, 9);
}

TEST(SqliteStateStoreTest, EventsAreTrimmedPerObject) {
  TempDir tmp;
  SqliteStateStore::Options options;
  options.max_events_per_object = 5;
  auto store = MustOpen(tmp.path(), options);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 8; ++i) {
    WriteBatch b;
    b.events = {SimpleEvent("a", "A" + std::to_string(i))};
    if (i < 2) b.events.push_back(SimpleEvent("b", "B" + std::to_string(i)));
    ASSERT_TRUE(store->Write(b).ok());
  }
  // A single batch larger than the bound is trimmed too.
  WriteBatch big;
  for (int i = 8; i < 15; ++i) big.events.push_back(SimpleEvent("c", "C" + std::to_string(i)));
  ASSERT_TRUE(store->Write(big).ok());

  auto a = store->Events(ObjectKey{"default", "a"}, 100);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ((*a)[i].reason, "A" + std::to_string(i + 3));
  for (size_t i = 1; i < 5; ++i) EXPECT_LT((*a)[i - 1].id, (*a)[i].id);
  auto a2 = store->Events(ObjectKey{"default", "a"}, 2);
  ASSERT_TRUE(a2.ok());
  ASSERT_EQ(a2->size(), 2u);
  EXPECT_EQ((*a2)[0].reason, "A6");
  EXPECT_EQ((*a2)[1].reason, "A7");
  auto b = store->Events(ObjectKey{"default", "b"}, 100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 2u);  // other objects keep their own history
  auto c = store->Events(ObjectKey{"default", "c"}, 100);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 5u);
  EXPECT_EQ((*c)[0].reason, "C10");

  auto raw = RawSession(store->database_path());
  int total = 0;
  *raw << "SELECT count(*) FROM events", into(total), now;
  EXPECT_EQ(total, 12);
}

TEST(SqliteStateStoreTest, OpenIntentsOldestFirstAndIntentsNewestFirst) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b;
  // Same created_at for y and z: insertion order breaks the tie.
  b.intents = {SimpleIntent("x", 1, NsTime(300)), SimpleIntent("z", 1, NsTime(200)),
               SimpleIntent("y", 1, NsTime(200)), SimpleIntent("x", 2, NsTime(400))};
  ASSERT_TRUE(store->Write(b).ok());
  auto open = store->OpenIntents();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 4u);
  EXPECT_EQ((*open)[0].key.name, "z");
  EXPECT_EQ((*open)[1].key.name, "y");
  EXPECT_EQ((*open)[2].marker, "mlsj:default/x/01234567/1");
  EXPECT_EQ((*open)[3].marker, "mlsj:default/x/01234567/2");

  // Updating an intent keeps its place; resolved ones leave the open list.
  SubmitIntent z = SimpleIntent("z", 1, NsTime(200));
  z.absent_lists = 1;
  z.updated_at = NsTime(500);
  SubmitIntent x1 = SimpleIntent("x", 1, NsTime(300));
  x1.state = IntentState::kSubmitted;
  x1.remote_job_name = "job-x1";
  SubmitIntent y = SimpleIntent("y", 1, NsTime(200));
  y.state = IntentState::kAbandoned;
  WriteBatch b2;
  b2.intents = {z, x1, y};
  ASSERT_TRUE(store->Write(b2).ok());
  open = store->OpenIntents();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[0].key.name, "z");
  EXPECT_EQ((*open)[0].absent_lists, 1);
  EXPECT_EQ((*open)[0].updated_at, NsTime(500));
  EXPECT_EQ((*open)[1].marker, "mlsj:default/x/01234567/2");

  auto xs = store->Intents(ObjectKey{"default", "x"});
  ASSERT_TRUE(xs.ok());
  ASSERT_EQ(xs->size(), 2u);
  EXPECT_EQ((*xs)[0].attempt, 2);
  EXPECT_EQ((*xs)[1].attempt, 1);
  EXPECT_EQ((*xs)[1].state, IntentState::kSubmitted);
  EXPECT_EQ((*xs)[1].remote_job_name, "job-x1");
}

TEST(SqliteStateStoreTest, RefusesSecretValuesAndStoresNothing) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  SecretRegistry::Get().Add("wandb-key-0123456789");
  WriteBatch b;
  b.upserts = {SimpleRecord("a")};
  b.events = {SimpleEvent("a", "Submitted")};
  b.events[0].message = "env WANDB_API_KEY=wandb-key-0123456789";
  Status s = store->Write(b);
  SecretRegistry::Get().ClearForTesting();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "event.message of default/a")) << s.message();
  EXPECT_FALSE(Contains(s.message(), "wandb-key")) << s.message();
  auto rec = store->Get(ObjectKey{"default", "a"});
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  std::string bytes = testing::ReadFileBytes(store->database_path()) +
                      testing::ReadFileBytes(store->database_path() + "-wal");
  EXPECT_FALSE(Contains(bytes, "wandb-key-0123456789"));
}

TEST(SqliteStateStoreTest, RejectsEmptyMarker) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b;
  b.intents = {SimpleIntent("a", 1, NsTime(1))};
  b.intents[0].marker.clear();
  EXPECT_EQ(store->Write(b).code(), StatusCode::kInvalidArgument);
}

// ---- Schema history -------------------------------------------------------

// The version-1 schema exactly as released; frozen here so the migration is
// tested against a file this code did not create.
void BuildVersion1Database(const std::string& db_path) {
  auto raw = RawSession(db_path);
  Poco::Data::Session& s = *raw;
  s << "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", now;
  s << "INSERT INTO meta (key, value) VALUES ('resource_version', '7')", now;
  s << "INSERT INTO meta (key, value) VALUES ('schema_version', '1')", now;
  s << "CREATE TABLE objects ("
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
      now;
  s << "CREATE TABLE intents ("
       " marker TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,"
       " spec_hash TEXT NOT NULL, attempt INTEGER NOT NULL, region TEXT NOT NULL,"
       " state TEXT NOT NULL, remote_job_name TEXT NOT NULL,"
       " created_at_ns INTEGER NOT NULL, updated_at_ns INTEGER NOT NULL)",
      now;
  s << "CREATE INDEX intents_by_object ON intents (namespace, name)", now;
  s << "CREATE TABLE events ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " namespace TEXT NOT NULL, name TEXT NOT NULL, time_ns INTEGER NOT NULL,"
       " type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL)",
      now;
  s << "CREATE INDEX events_by_object ON events (namespace, name, id)", now;
  s << "INSERT INTO objects VALUES ('default', 'old-job', 'h1', 3, '{}', 'jobs/old.yaml',"
       " '{\"team\":\"a\"}', '{}', 'SR006', 'Running',"
       " '[{\"type\":\"Running\",\"status\":\"True\",\"reason\":\"Started\","
       "\"message\":\"m\",\"lastTransitionTimeNs\":1700000000000000000}]',"
       " 'lm-mpi-job-9', 1, 3, 'abc', 1700000000000000000, NULL, '', 0, NULL,"
       " 1690000000000000000, NULL, 7)",
      now;
  s << "INSERT INTO intents VALUES ('mlsj:default/old-job/h1h1h1h1/1', 'default', 'old-job',"
       " 'h1', 1, 'SR006', 'Open', '', 1690000000000000000, 1690000000000000000)",
      now;
  // Three repeats of one event and one other: step 3 folds the repeats.
  for (const char* t : {"1690000000000000000", "1690000000000000005", "1690000000000000009"}) {
    s << std::string(
             "INSERT INTO events (namespace, name, time_ns, type, reason, message)"
             " VALUES ('default', 'old-job', ") +
             t + ", 'Warning', 'SubmitRetrying', 'r')",
        now;
  }
  s << "INSERT INTO events (namespace, name, time_ns, type, reason, message)"
       " VALUES ('default', 'old-job', 1690000000000000000, 'Normal', 'Submitted', 'x')",
      now;
}

TEST(SqliteStateStoreTest, MigratesVersion1ToCurrent) {
  TempDir tmp;
  BuildVersion1Database(tmp.file("state.db"));
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->schema_version(), kCurrentSchemaVersion);
    EXPECT_EQ(store->resource_version(), 7);

    auto rec = store->Get(ObjectKey{"default", "old-job"});
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    ASSERT_TRUE(rec->has_value());
    EXPECT_EQ((*rec)->status.phase, api::Phase::kRunning);
    EXPECT_EQ((*rec)->status.remote_job_name, "lm-mpi-job-9");
    ASSERT_EQ((*rec)->status.conditions.size(), 1u);
    EXPECT_EQ((*rec)->status.conditions[0].reason, "Started");
    EXPECT_EQ((*rec)->labels.at("team"), "a");
    EXPECT_FALSE((*rec)->status.exit_code.has_value());  // step 3's column, NULL

    auto open = store->OpenIntents();
    ASSERT_TRUE(open.ok()) << open.status().ToString();
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ((*open)[0].marker, "mlsj:default/old-job/h1h1h1h1/1");
    EXPECT_EQ((*open)[0].absent_lists, 0);  // the column added by step 2

    // The new column is writable and the counter continues from 7.
    SubmitIntent upd = (*open)[0];
    upd.absent_lists = 2;
    WriteBatch b;
    b.intents = {upd};
    b.upserts = {**rec};
    ASSERT_TRUE(store->Write(b).ok());
    EXPECT_EQ(store->resource_version(), 8);

    // Step 3 folded the three SubmitRetrying rows into one with count 3.
    auto events = store->Events(ObjectKey{"default", "old-job"}, 10);
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    ASSERT_EQ(events->size(), 2u);
    const Event& retry = (*events)[1];  // the most recently seen is last
    EXPECT_EQ(retry.reason, "SubmitRetrying");
    EXPECT_EQ(retry.count, 3);
    EXPECT_EQ(retry.first_time, NsTime(1690000000000000000));
    EXPECT_EQ(retry.time, NsTime(1690000000000000009));
    EXPECT_EQ((*events)[0].reason, "Submitted");
    EXPECT_EQ((*events)[0].count, 1);
  }
  auto raw = RawSession(tmp.file("state.db"));
  std::string version;
  *raw << "SELECT value FROM meta WHERE key = 'schema_version'", into(version), now;
  EXPECT_EQ(version, std::to_string(kCurrentSchemaVersion));
  int absent = -1;
  *raw << "SELECT absent_lists FROM intents", into(absent), now;
  EXPECT_EQ(absent, 2);
  raw.reset();
  // Reopening a current file applies nothing and loses nothing.
  auto again = MustOpen(tmp.path());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->resource_version(), 8);
}

// Step 3: a store upgraded with intents in it predates instance-qualified
// markers, and says so; a new store does not.
TEST(SqliteStateStoreTest, UpgradedStoreWithIntentsIsMarkedLegacy) {
  TempDir old_dir;
  BuildVersion1Database(old_dir.file("state.db"));
  auto old_store = MustOpen(old_dir.path());
  ASSERT_NE(old_store, nullptr);
  auto id = old_store->Identity();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(id->legacy_markers);
  EXPECT_EQ(id->instance, "") << "nothing recorded until the controller starts";

  TempDir new_dir;
  auto new_store = MustOpen(new_dir.path());
  ASSERT_NE(new_store, nullptr);
  id = new_store->Identity();
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(id->legacy_markers);
  // Intents written after the upgrade do not make a store legacy.
  WriteBatch b;
  b.intents = {SimpleIntent("x", 1, NsTime(1'700'000'000'000'000'000))};
  ASSERT_TRUE(new_store->Write(b).ok());
  new_store.reset();
  auto reopened = MustOpen(new_dir.path());
  ASSERT_NE(reopened, nullptr);
  EXPECT_FALSE(reopened->Identity()->legacy_markers);
}

// The instance is written once and survives reopening; another name is
// refused and leaves the recorded one in place.
TEST(SqliteStateStoreTest, InstanceIsRecordedOnceAndKept) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->RecordInstance("staging").ok());
    ASSERT_TRUE(store->RecordInstance("staging").ok()) << "the same name again is fine";
    Status other = store->RecordInstance("production");
    EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(other.message().find("belongs to instance \"staging\""), std::string::npos)
        << other.message();
    EXPECT_FALSE(store->RecordInstance("").ok());
  }
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto id = store->Identity();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->instance, "staging");
}

TEST(SqliteStateStoreTest, NewerSchemaIsRefusedAndLeftAlone) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    WriteBatch b;
    b.upserts = {SimpleRecord("a")};
    ASSERT_TRUE(store->Write(b).ok());
  }
  {
    auto raw = RawSession(tmp.file("state.db"));
    *raw << "UPDATE meta SET value = '7' WHERE key = 'schema_version'", now;
  }
  auto r = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(),
                       "state store " + tmp.file("state.db") +
                           ": schema version 7 is newer than this controller supports (" +
                           std::to_string(kCurrentSchemaVersion) + "); refusing to start"))
      << r.status().message();
  auto raw = RawSession(tmp.file("state.db"));
  std::string version;
  int objects = 0;
  *raw << "SELECT value FROM meta WHERE key = 'schema_version'", into(version), now;
  *raw << "SELECT count(*) FROM objects", into(objects), now;
  EXPECT_EQ(version, "7");
  EXPECT_EQ(objects, 1);
}

TEST(SqliteStateStoreTest, GarbageFileIsRefusedAndLeftAlone) {
  TempDir tmp;
  std::string garbage(5000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>('a' + i % 26);
  {
    std::ofstream out(tmp.file("state.db"), std::ios::binary);
    out << garbage;
  }
  auto r = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), "state store " + tmp.file("state.db") +
                                                 ": is not a SQLite database (file is corrupt?)"))
      << r.status().message();
  EXPECT_EQ(testing::ReadFileBytes(tmp.file("state.db")), garbage);
}

TEST(SqliteStateStoreTest, DamagedPagesAreRefused) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    WriteBatch b;
    for (int i = 0; i < 200; ++i) b.upserts.push_back(SimpleRecord("obj-" + std::to_string(i)));
    ASSERT_TRUE(store->Write(b).ok());
  }  // the last connection's close checkpoints the WAL into state.db
  std::string bytes = testing::ReadFileBytes(tmp.file("state.db"));
  ASSERT_GT(bytes.size(), 16384u);
  ASSERT_FALSE(std::filesystem::exists(tmp.file("state.db-wal")) &&
               std::filesystem::file_size(tmp.file("state.db-wal")) > 0);
  // Overwrite everything after the first page (schema stays readable).
  for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0x5A ^ (i & 0xFF));
  {
    std::ofstream out(tmp.file("state.db"), std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto r = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), tmp.file("state.db"))) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "corrupt")) << r.status().message();
  EXPECT_EQ(testing::ReadFileBytes(tmp.file("state.db")), bytes);
}

// A 0-byte state.db used to open as an empty store, and the controller then
// submitted every job again.
TEST(SqliteStateStoreTest, EmptyFileIsRefusedAndLeftAlone) {
  TempDir tmp;
  { std::ofstream out(tmp.file("state.db"), std::ios::binary); }
  auto r = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_TRUE(
      Contains(r.status().message(), "state store " + tmp.file("state.db") + ": is empty (0 bytes"))
      << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "delete it to start with an empty store"))
      << r.status().message();
  EXPECT_EQ(std::filesystem::file_size(tmp.file("state.db")), 0u);
}

// Builds a closed store of `n` records (WAL checkpointed into state.db) and
// returns its bytes.
std::string ClosedStoreBytes(const TempDir& tmp, int n) {
  {
    auto store = MustOpen(tmp.path());
    EXPECT_NE(store, nullptr);
    if (!store) return "";
    WriteBatch b;
    for (int i = 0; i < n; ++i) b.upserts.push_back(SimpleRecord("obj-" + std::to_string(i)));
    EXPECT_TRUE(store->Write(b).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.file("state.db-wal")) &&
               std::filesystem::file_size(tmp.file("state.db-wal")) > 0);
  return testing::ReadFileBytes(tmp.file("state.db"));
}

TEST(SqliteStateStoreTest, TruncatedFileIsRefusedAndLeftAlone) {
  for (size_t keep : {size_t{50}, size_t{4096}, size_t{0}}) {  // 0: half the file
    TempDir tmp;
    std::string bytes = ClosedStoreBytes(tmp, 300);
    ASSERT_GT(bytes.size(), 3u * 4096u);
    bytes.resize(keep == 0 ? bytes.size() / 2 : keep);
    {
      std::ofstream out(tmp.file("state.db"), std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    auto r = SqliteStateStore::Open(tmp.path());
    ASSERT_FALSE(r.ok()) << "kept " << bytes.size() << " bytes";
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    EXPECT_TRUE(
        Contains(r.status().message(), "state store " + tmp.file("state.db") + ": is truncated ("))
        << r.status().message();
    EXPECT_EQ(testing::ReadFileBytes(tmp.file("state.db")), bytes);
  }
}

// A checkpointed store whose file is intact still opens (the page-count
// check does not misfire on a healthy file).
TEST(SqliteStateStoreTest, ReopensIntactClosedStore) {
  TempDir tmp;
  std::string bytes = ClosedStoreBytes(tmp, 300);
  ASSERT_FALSE(bytes.empty());
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto all = store->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 300u);
}

TEST(SqliteStateStoreTest, ForeignSqliteDatabaseIsRefused) {
  TempDir tmp;
  {
    auto raw = RawSession(tmp.file("state.db"));
    *raw << "CREATE TABLE something_else (x INTEGER)", now;
  }
  auto r = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "not an mlspace state store")) << r.status().message();
}

// ---- One controller per state directory -----------------------------------

TEST(SqliteStateStoreTest, SecondOpenInProcessFailsWhileLocked) {
  TempDir tmp;
  auto first = MustOpen(tmp.path());
  ASSERT_NE(first, nullptr);
  auto second = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "another controller holds the lock on " + tmp.path() +
                                           " (pid " + std::to_string(::getpid()) + ")");
  first.reset();
  auto third = SqliteStateStore::Open(tmp.path());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(SqliteStateStoreTest, LockHeldByAnotherProcess) {
  TempDir tmp;
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = SqliteStateStore::Open(tmp.path());
    char c = store.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(3);
    if (::read(release[0], &c, 1) != 1) ::_exit(4);
    ::_exit(store.ok() ? 0 : 2);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto r = SqliteStateStore::Open(tmp.path());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "another controller holds the lock on " + tmp.path() + " (pid " +
                                      std::to_string(child) + ")");
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  // The lock dies with its holder.
  auto after = SqliteStateStore::Open(tmp.path());
  EXPECT_TRUE(after.ok()) << after.status().ToString();
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

// Deleting DIR/lock under a running controller must not let a second one
// open the same store: the directory itself is locked too.
TEST(SqliteStateStoreTest, DeletedLockFileStillRefusesSecondOpen) {
  TempDir tmp;
  auto first = MustOpen(tmp.path());
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(std::filesystem::remove(tmp.file("lock")));
  auto second = SqliteStateStore::Open(tmp.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      Contains(second.status().message(), "another controller holds the lock on " + tmp.path()))
      << second.status().message();
  first.reset();
  auto third = SqliteStateStore::Open(tmp.path());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(SqliteStateStoreTest, DeletedLockFileStillRefusesAnotherProcess) {
  TempDir tmp;
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = SqliteStateStore::Open(tmp.path());
    char c = store.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(3);
    if (::read(release[0], &c, 1) != 1) ::_exit(4);
    ::_exit(store.ok() ? 0 : 2);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  ASSERT_TRUE(std::filesystem::remove(tmp.file("lock")));
  auto r = SqliteStateStore::Open(tmp.path());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

// ---- Durability ----------------------------------------------------------

TEST(SqliteStateStoreTest, CommittedBatchSurvivesAKilledWriter) {
  TempDir tmp;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = SqliteStateStore::Open(tmp.path());
    if (!store.ok()) ::_exit(2);
    WriteBatch b;
    b.upserts = {SimpleRecord("durable")};
    b.intents = {SimpleIntent("durable", 1, NsTime(77))};
    if (!(*store)->Write(b).ok()) ::_exit(3);
    // No destructor, no close, no checkpoint: the process just dies.
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child exited with " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto rec = store->Get(ObjectKey{"default", "durable"});
  ASSERT_TRUE(rec.ok());
  ASSERT_TRUE(rec->has_value());
  EXPECT_EQ((*rec)->resource_version, 1);
  auto open = store->OpenIntents();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].marker, "mlsj:default/durable/01234567/1");
  EXPECT_EQ(store->resource_version(), 1);
}

}  // namespace
TEST(SqliteStateStoreTest, RepeatedEventsAreAggregatedWithCountAndFirstLastTime) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    const ObjectKey key{"default", "a"};
    auto event = [&](const std::string& type, const std::string& reason, const std::string& message,
                     int64_t t) {
      Event e;
      e.key = key;
      e.type = type;
      e.reason = reason;
      e.message = message;
      e.time = NsTime(t);
      return e;
    };
    for (int i = 0; i < 11; ++i) {
      WriteBatch b;
      b.events = {event("Warning", "SubmitRetrying", "401 from gateway", 1000 + i)};
      ASSERT_TRUE(store->Write(b).ok());
    }
    // Same reason, other message or type: separate events.
    WriteBatch other;
    other.events = {event("Warning", "SubmitRetrying", "429 from gateway", 2000),
                    event("Normal", "SubmitRetrying", "401 from gateway", 2001)};
    ASSERT_TRUE(store->Write(other).ok());
    // A repeat inside one batch aggregates too.
    WriteBatch twice;
    twice.events = {event("Normal", "Submitted", "ok", 3000),
                    event("Normal", "Submitted", "ok", 3001)};
    ASSERT_TRUE(store->Write(twice).ok());

    auto events = store->Events(key, 10);
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    ASSERT_EQ(events->size(), 4u);
    const Event& first = (*events)[0];
    EXPECT_EQ(first.reason, "SubmitRetrying");
    EXPECT_EQ(first.message, "401 from gateway");
    EXPECT_EQ(first.type, "Warning");
    EXPECT_EQ(first.count, 11);
    EXPECT_EQ(first.first_time, NsTime(1000));
    EXPECT_EQ(first.time, NsTime(1010));
    EXPECT_EQ((*events)[1].message, "429 from gateway");
    EXPECT_EQ((*events)[1].count, 1);
    EXPECT_EQ((*events)[2].type, "Normal");
    EXPECT_EQ((*events)[3].reason, "Submitted");
    EXPECT_EQ((*events)[3].count, 2);
    EXPECT_EQ((*events)[3].first_time, NsTime(3000));
    EXPECT_EQ((*events)[3].time, NsTime(3001));

    // A repeat of the oldest moves it to the end (ordered by last time) and
    // keeps its id.
    const int64_t id = first.id;
    WriteBatch again;
    again.events = {event("Warning", "SubmitRetrying", "401 from gateway", 4000)};
    ASSERT_TRUE(store->Write(again).ok());
    events = store->Events(key, 10);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 4u);
    EXPECT_EQ(events->back().id, id);
    EXPECT_EQ(events->back().count, 12);
    EXPECT_EQ(events->back().first_time, NsTime(1000));
    EXPECT_EQ(events->back().time, NsTime(4000));
  }
  // Counts survive a reopen.
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto events = store->Events(ObjectKey{"default", "a"}, 1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().count, 12);
}

}  // namespace mlspace::store
