// Several threads writing and reading one SqliteStateStore: every batch
// lands, resource versions stay unique and dense, readers never see a torn
// batch. Built under TSan (tsan_tests).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/store/sqlite/sqlite_state_store.h"
#include "tests/store/store_test_util.h"

namespace mlspace::store {
namespace {

using testing::NsTime;
using testing::SimpleEvent;
using testing::SimpleIntent;
using testing::SimpleRecord;
using testing::TempDir;

TEST(SqliteConcurrencyTest, ConcurrentWritersAndReaders) {
  TempDir tmp;
  auto opened = SqliteStateStore::Open(tmp.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SqliteStateStore& store = **opened;
  constexpr int kWriters = 4, kPerWriter = 25;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, read_errors{0};

  // Each batch writes a record and its intent together; a reader that sees
  // a record without its intent would have seen half a batch.
  std::thread reader([&] {
    while (!done.load()) {
      auto list = store.List();
      auto open = store.OpenIntents();
      if (!list.ok() || !open.ok()) {
        ++read_errors;
        continue;
      }
      std::set<std::string> with_intent;
      for (const auto& i : open.value()) with_intent.insert(i.key.name);
      // Intents are read after records, so every listed record's intent exists.
      for (const auto& r : list.value()) {
        if (!with_intent.count(r.key.name)) ++torn;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&store, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        std::string name = "w" + std::to_string(w) + "-" + std::to_string(i);
        WriteBatch b;
        b.upserts = {SimpleRecord(name)};
        b.intents = {SimpleIntent(name, 1, NsTime(w * 1000 + i))};
        b.events = {SimpleEvent(name, "Submitted")};
        Status s = store.Write(b);
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(read_errors.load(), 0);

  auto list = store.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(kWriters * kPerWriter));
  std::vector<int64_t> versions;
  for (const auto& r : *list) versions.push_back(r.resource_version);
  std::sort(versions.begin(), versions.end());
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i], static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(store.resource_version(), kWriters * kPerWriter);
  EXPECT_LE(store.transactions_committed(), kWriters * kPerWriter);
  std::printf("%d writes in %ld transactions\n", kWriters * kPerWriter,
              static_cast<long>(store.transactions_committed()));
}

// Batches that share a group commit fail alone: a poisoned batch returns its
// error and leaves nothing, the others in its transaction still land.
TEST(SqliteConcurrencyTest, FailingBatchFailsAloneUnderGroupCommit) {
  TempDir tmp;
  auto opened = SqliteStateStore::Open(tmp.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SqliteStateStore& store = **opened;
  {
    auto raw = testing::RawSession(store.database_path());
    *raw << "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.reason = 'Poison'"
            " BEGIN SELECT RAISE(ABORT, 'poisoned event'); END",
        Poco::Data::Keywords::now;
  }
  constexpr int kWriters = 4, kPerWriter = 25;
  std::atomic<int> ok_writes{0}, poisoned_failed{0}, unexpected{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        bool poison = i % 5 == 2;
        std::string name = (poison ? "bad-" : "ok-") + std::to_string(w) + "-" + std::to_string(i);
        WriteBatch b;
        b.upserts = {SimpleRecord(name)};
        b.intents = {SimpleIntent(name, 1, NsTime(i))};
        b.events = {SimpleEvent(name, "Fine"), SimpleEvent(name, poison ? "Poison" : "Fine")};
        Status s = store.Write(b);
        if (s.ok() && !poison) {
          ++ok_writes;
        } else if (!s.ok() && poison && s.message().find("poisoned event") != std::string::npos) {
          ++poisoned_failed;
        } else {
          ++unexpected;
          ADD_FAILURE() << name << ": " << s.ToString();
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(poisoned_failed.load(), kWriters * 5);
  EXPECT_EQ(ok_writes.load(), kWriters * 20);

  auto list = store.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(kWriters * 20));
  std::vector<int64_t> versions;
  for (const auto& r : *list) {
    EXPECT_EQ(r.key.name.rfind("ok-", 0), 0u) << r.key.name;
    versions.push_back(r.resource_version);
  }
  std::sort(versions.begin(), versions.end());
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i], static_cast<int64_t>(i + 1));  // failed batches used no versions
  }
  auto open = store.OpenIntents();
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->size(), static_cast<size_t>(kWriters * 20));
  for (const auto& i : *open) EXPECT_EQ(i.key.name.rfind("ok-", 0), 0u) << i.key.name;
  auto bad_events = store.Events(ObjectKey{"default", "bad-0-2"}, 10);
  ASSERT_TRUE(bad_events.ok());
  EXPECT_TRUE(bad_events->empty());
  std::printf("%d writes in %ld transactions\n", kWriters * kPerWriter,
              static_cast<long>(store.transactions_committed()));
}

}  // namespace
}  // namespace mlspace::store
