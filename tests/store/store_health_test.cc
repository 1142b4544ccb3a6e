// HealthTrackingStore (issue 11): store failures are counted by operation,
// failed writes turn the /readyz "store" check red until a write succeeds,
// one WARN per failure episode. First over the fake store, then over the
// real SQLite store made to fail with a real "disk full" (RLIMIT_FSIZE).

#include "controller/store/store_health.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/core/log.h"
#include "tests/fakes/fake_state_store.h"

#ifdef MLSPACE_STORE_HEALTH_SQLITE
#include "controller/store/sqlite/sqlite_state_store.h"
#include "tests/store/store_test_util.h"
#endif

namespace mlspace::store {
namespace {

class LogLines {
 public:
  LogLines() {
    Logger::Get().SetSink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogLines() { Logger::Get().ResetSink(); }
  int Count(const std::string& needle) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& l : lines_) n += l.find(needle) != std::string::npos;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

WriteBatch OneRecord(const std::string& name, size_t spec_bytes = 10) {
  WriteBatch b;
  ObjectRecord r;
  r.key = ObjectKey{"default", name};
  r.spec_hash = "h-" + name;
  r.spec_json = "\"" + std::string(spec_bytes, 'x') + "\"";
  b.upserts.push_back(r);
  return b;
}

struct Counted {
  std::mutex mu;
  std::map<std::string, int> by_op;
  HealthTrackingStore::ErrorObserver Observer() {
    return [this](std::string_view op) {
      std::lock_guard lock(mu);
      ++by_op[std::string(op)];
    };
  }
};

TEST(StoreHealthTest, FailedWritesTurnTheCheckRedUntilAWriteSucceeds) {
  LogLines logs;
  testing::FakeStateStore fake;
  Counted counted;
  HealthTrackingStore store(fake, counted.Observer());
  ASSERT_TRUE(store.Write(OneRecord("a")).ok());
  EXPECT_TRUE(store.Check().ok());

  fake.FailWritesAfter(0, InternalError("SQLite: database or disk is full"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(store.Write(OneRecord("b")).ok());
  EXPECT_FALSE(store.RecordInstance("x").ok());
  Status check = store.Check();
  ASSERT_FALSE(check.ok());
  EXPECT_NE(check.message().find("database or disk is full"), std::string::npos) << check.message();
  EXPECT_NE(check.message().find("6 since the last success"), std::string::npos) << check.message();
  EXPECT_EQ(counted.by_op["write"], 5);
  EXPECT_EQ(counted.by_op["record_instance"], 1);
  EXPECT_EQ(logs.Count("WARN"), 1) << "one WARN per episode, not per write";

  fake.ClearFailures();
  ASSERT_TRUE(store.Write(OneRecord("b")).ok());
  EXPECT_TRUE(store.Check().ok());
  EXPECT_EQ(logs.Count("writes succeed again"), 1);

  // A second episode warns again.
  fake.FailNextWrite(InternalError("disk I/O error"));
  EXPECT_FALSE(store.Write(OneRecord("c")).ok());
  EXPECT_EQ(logs.Count("WARN"), 2);
  EXPECT_NE(store.Check().message().find("disk I/O error"), std::string::npos);
}

TEST(StoreHealthTest, ReadFailuresAreCountedAndRefusedBatchesDoNotTurnItRed) {
  testing::FakeStateStore fake;
  Counted counted;
  HealthTrackingStore store(fake, counted.Observer());
  fake.FailNextRead(UnavailableError("read failed"));
  EXPECT_FALSE(store.List().ok());
  fake.FailNextRead(UnavailableError("read failed"));
  EXPECT_FALSE(store.Events(ObjectKey{"default", "a"}, 10).ok());
  EXPECT_EQ(counted.by_op["list"], 1);
  EXPECT_EQ(counted.by_op["events"], 1);
  EXPECT_TRUE(store.Check().ok()) << "readiness follows writes";
  WriteBatch bad;
  bad.upserts.push_back(ObjectRecord{});  // empty key: refused as malformed
  Status s = store.Write(bad);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(counted.by_op["write"], 1);
  EXPECT_TRUE(store.Check().ok()) << "the caller's bug is not the store's health";
}

#ifdef MLSPACE_STORE_HEALTH_SQLITE
// A real SQLite store on a file system that refuses to grow the database:
// RLIMIT_FSIZE makes write(2) past the limit fail like a full disk, so
// SQLite itself reports the failure (not an injected Status).
TEST(StoreHealthSqliteTest, RealFullDiskTurnsTheCheckRedThenRecovers) {
  LogLines logs;
  testing::TempDir dir;
  auto opened = SqliteStateStore::Open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Counted counted;
  HealthTrackingStore store(**opened, counted.Observer());
  ASSERT_TRUE(store.Write(OneRecord("a")).ok());

  auto size_of = [&](const std::string& f) -> off_t {
    std::error_code ec;
    auto s = std::filesystem::file_size(dir.file(f), ec);
    return ec ? 0 : static_cast<off_t>(s);
  };
  const off_t biggest = std::max(size_of("state.db"), size_of("state.db-wal"));
  ::signal(SIGXFSZ, SIG_IGN);  // write(2) fails with EFBIG instead of killing us
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(biggest + 8192);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
  Status failed;
  for (int i = 0; i < 5; ++i) failed = store.Write(OneRecord("big" + std::to_string(i), 256 << 10));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);

  ASSERT_FALSE(failed.ok()) << "the file limit did not make SQLite fail";
  Status check = store.Check();
  ASSERT_FALSE(check.ok());
  std::cerr << "store check while full: " << check.message() << "\n";
  EXPECT_NE(check.message().find(failed.message()), std::string::npos) << check.message();
  EXPECT_GE(counted.by_op["write"], 1);
  EXPECT_EQ(logs.Count("WARN"), 1);

  ASSERT_TRUE(store.Write(OneRecord("after")).ok());
  EXPECT_TRUE(store.Check().ok());
  auto got = store.Get(ObjectKey{"default", "after"});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->has_value());
}
#endif

}  // namespace
}  // namespace mlspace::store
