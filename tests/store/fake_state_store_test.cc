#include "tests/fakes/fake_state_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "controller/core/redact.h"

namespace mlspace::testing {
namespace {

using store::Event;
using store::IntentState;
using store::ObjectRecord;
using store::SubmitIntent;
using store::WriteBatch;

TimePoint At(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

ObjectRecord Rec(const std::string& name) {
  ObjectRecord r;
  r.key = ObjectKey{"default", name};
  r.spec_hash = "h-" + name;
  r.generation = 1;
  return r;
}

SubmitIntent Intent(const std::string& name, int attempt, TimePoint created) {
  SubmitIntent i;
  i.key = ObjectKey{"default", name};
  i.marker = "mlsj:default/" + name + "/abcdef12/" + std::to_string(attempt);
  i.attempt = attempt;
  i.created_at = created;
  i.updated_at = created;
  return i;
}

TEST(FakeStateStoreTest, WriteAssignsResourceVersionsAndReadsBack) {
  FakeStateStore fake;
  WriteBatch b;
  b.upserts = {Rec("a"), Rec("b")};
  ASSERT_TRUE(fake.Write(b).ok());
  auto a = fake.Get(ObjectKey{"default", "a"});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->resource_version, 1);
  auto list = fake.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].key.name, "b");
  EXPECT_EQ((*list)[1].resource_version, 2);
  EXPECT_EQ(fake.resource_version(), 2);
  EXPECT_EQ(fake.calls().write, 1);
  EXPECT_EQ(fake.committed_writes().size(), 1u);
}

TEST(FakeStateStoreTest, FailNextWriteFailsOnceAndChangesNothing) {
  FakeStateStore fake;
  fake.FailNextWrite(UnavailableError("disk gone"));
  WriteBatch b;
  b.upserts = {Rec("a")};
  Status s = fake.Write(b);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "disk gone");
  EXPECT_EQ(fake.record_count(), 0u);
  EXPECT_TRUE(fake.Write(b).ok());
  EXPECT_EQ(fake.record_count(), 1u);
  EXPECT_EQ(fake.calls().write, 2);
  EXPECT_EQ(fake.calls().failed_write, 1);
  EXPECT_EQ(fake.attempted_writes().size(), 2u);
  EXPECT_EQ(fake.committed_writes().size(), 1u);
}

TEST(FakeStateStoreTest, FailWritesAfterLetsNWritesThrough) {
  FakeStateStore fake;
  fake.FailWritesAfter(2);
  WriteBatch b;
  b.upserts = {Rec("a")};
  EXPECT_TRUE(fake.Write(b).ok());
  EXPECT_TRUE(fake.Write(b).ok());
  EXPECT_FALSE(fake.Write(b).ok());
  EXPECT_FALSE(fake.Write(b).ok());
  EXPECT_EQ(fake.resource_version(), 2);
  fake.ClearFailures();
  EXPECT_TRUE(fake.Write(b).ok());
}

TEST(FakeStateStoreTest, WriteHookCanStopAWrite) {
  FakeStateStore fake;
  fake.SetWriteHook([&](const WriteBatch& b) {
    return b.intents.empty() ? OkStatus() : AbortedError("crash before intent commit");
  });
  WriteBatch with_intent;
  with_intent.intents = {Intent("a", 1, At(10))};
  EXPECT_EQ(fake.Write(with_intent).code(), StatusCode::kAborted);
  EXPECT_TRUE(fake.AllIntents().empty());
  WriteBatch plain;
  plain.upserts = {Rec("a")};
  EXPECT_TRUE(fake.Write(plain).ok());
}

TEST(FakeStateStoreTest, ReadFailures) {
  FakeStateStore fake;
  fake.FailNextRead(UnavailableError("x"));
  EXPECT_FALSE(fake.List().ok());
  EXPECT_TRUE(fake.List().ok());
  fake.FailAllReads(UnavailableError("y"));
  EXPECT_FALSE(fake.Get(ObjectKey{"default", "a"}).ok());
  EXPECT_FALSE(fake.OpenIntents().ok());
  fake.ClearFailures();
  EXPECT_TRUE(fake.OpenIntents().ok());
}

TEST(FakeStateStoreTest, IntentsOrderingAndStates) {
  FakeStateStore fake;
  WriteBatch b;
  b.intents = {Intent("b", 1, At(20)), Intent("a", 1, At(10)), Intent("a", 2, At(30))};
  ASSERT_TRUE(fake.Write(b).ok());
  auto open = fake.OpenIntents();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 3u);
  EXPECT_EQ((*open)[0].key.name, "a");
  EXPECT_EQ((*open)[1].key.name, "b");
  EXPECT_EQ((*open)[2].attempt, 2);

  SubmitIntent done = Intent("a", 1, At(10));
  done.state = IntentState::kSubmitted;
  done.remote_job_name = "lm-mpi-job-1";
  WriteBatch b2;
  b2.intents = {done};
  ASSERT_TRUE(fake.Write(b2).ok());
  open = fake.OpenIntents();
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->size(), 2u);
  auto mine = fake.Intents(ObjectKey{"default", "a"});
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].attempt, 2);  // newest first
  EXPECT_EQ((*mine)[1].remote_job_name, "lm-mpi-job-1");
}

TEST(FakeStateStoreTest, EventsTrimmedAndDeletesCascade) {
  FakeStateStore fake(3);
  WriteBatch b;
  b.upserts = {Rec("a")};
  b.intents = {Intent("a", 1, At(1))};
  for (int i = 0; i < 5; ++i) {
    Event e;
    e.key = ObjectKey{"default", "a"};
    e.reason = "R" + std::to_string(i);
    b.events.push_back(e);
  }
  ASSERT_TRUE(fake.Write(b).ok());
  auto ev = fake.Events(ObjectKey{"default", "a"}, 10);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[0].reason, "R2");
  EXPECT_EQ((*ev)[2].reason, "R4");
  EXPECT_LT((*ev)[0].id, (*ev)[2].id);
  ev = fake.Events(ObjectKey{"default", "a"}, 1);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].reason, "R4");

  WriteBatch del;
  del.deletes = {ObjectKey{"default", "a"}};
  ASSERT_TRUE(fake.Write(del).ok());
  EXPECT_EQ(fake.record_count(), 0u);
  EXPECT_TRUE(fake.AllIntents().empty());
  ev = fake.Events(ObjectKey{"default", "a"}, 10);
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->empty());
}

// Same aggregation contract as SqliteStateStore (sqlite_state_store_test).
TEST(FakeStateStoreTest, RepeatedEventsAreAggregated) {
  FakeStateStore fake;
  const ObjectKey key{"default", "a"};
  for (int i = 0; i < 3; ++i) {
    Event e;
    e.key = key;
    e.type = "Warning";
    e.reason = "SubmitRetrying";
    e.message = "401";
    e.time = At(10 + i);
    WriteBatch b;
    b.events = {e};
    ASSERT_TRUE(fake.Write(b).ok());
  }
  Event other;
  other.key = key;
  other.reason = "Submitted";
  other.time = At(11);
  WriteBatch b;
  b.events = {other};
  ASSERT_TRUE(fake.Write(b).ok());
  auto ev = fake.Events(key, 10);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[0].reason, "Submitted");  // last seen at 11, before 12
  EXPECT_EQ((*ev)[1].reason, "SubmitRetrying");
  EXPECT_EQ((*ev)[1].count, 3);
  EXPECT_EQ((*ev)[1].first_time, At(10));
  EXPECT_EQ((*ev)[1].time, At(12));
}

TEST(FakeStateStoreTest, RefusesSecretValues) {
  SecretRegistry::Get().Add("s3cr3t-token-value");
  FakeStateStore fake;
  WriteBatch b;
  ObjectRecord r = Rec("a");
  r.status.last_error = "auth failed with s3cr3t-token-value";
  b.upserts = {r};
  Status s = fake.Write(b);
  SecretRegistry::Get().ClearForTesting();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("status.lastError of default/a"), std::string::npos);
  EXPECT_EQ(s.message().find("s3cr3t"), std::string::npos);
  EXPECT_EQ(fake.record_count(), 0u);
}

TEST(FakeStateStoreTest, ConcurrentWritersGetDistinctVersions) {
  FakeStateStore fake;
  constexpr int kThreads = 4, kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&fake, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        b.upserts = {Rec("t" + std::to_string(t) + "-" + std::to_string(i))};
        ASSERT_TRUE(fake.Write(b).ok());
        ASSERT_TRUE(fake.List().ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto list = fake.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(kThreads * kPerThread));
  std::vector<int64_t> versions;
  for (const auto& r : *list) versions.push_back(r.resource_version);
  std::sort(versions.begin(), versions.end());
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i], static_cast<int64_t>(i + 1));
  }
}

}  // namespace
}  // namespace mlspace::testing
