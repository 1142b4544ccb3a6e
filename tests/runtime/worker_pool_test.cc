#include "controller/runtime/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "controller/runtime/periodic.h"
#include "tests/fakes/fake_clock.h"

namespace mlspace::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return f();
}

class RecordingPoolObserver : public WorkerPoolObserver {
 public:
  void OnReconcile(const std::string&, std::string_view result, Duration) override {
    std::lock_guard lock(mu);
    results[std::string(result)]++;
  }
  void OnActiveWorkers(const std::string&, int active) override {
    int prev = max_active.load();
    while (active > prev && !max_active.compare_exchange_weak(prev, active)) {
    }
  }
  int Count(const std::string& r) {
    std::lock_guard lock(mu);
    return results[r];
  }
  std::mutex mu;
  std::map<std::string, int> results;
  std::atomic<int> max_active{0};
};

TEST(WorkerPoolTest, ReconcilesEveryKeyOnNWorkersInParallel) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  RecordingPoolObserver obs;
  std::atomic<int> concurrent{0};
  std::atomic<int> peak{0};
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<bool> release{false};
  WorkerPool pool(
      "job", q,
      [&](const std::string& key) {
        int now = ++concurrent;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        while (!release.load() && peak.load() < 4) std::this_thread::sleep_for(1ms);
        --concurrent;
        std::lock_guard lock(mu);
        seen.insert(key);
        return ReconcileResult{};
      },
      clock, 4, &obs);
  for (int i = 0; i < 8; ++i) q.Add("k" + std::to_string(i));
  pool.Start();
  ASSERT_TRUE(Eventually([&] { return peak.load() == 4; }));
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);  // workers insert into `seen` under mu
    return pool.ActiveWorkers() == 4 || seen.size() >= 4;
  }));
  release = true;
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return seen.size() == 8;
  }));
  EXPECT_TRUE(pool.Stop(1s));
  EXPECT_EQ(obs.Count("success"), 8);
  EXPECT_EQ(obs.max_active.load(), 4);
  EXPECT_EQ(pool.ActiveWorkers(), 0);
}

TEST(WorkerPoolTest, ErrorRequeuesWithPerKeyBackoffAndSuccessForgets) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<int> calls{0};
  WorkerPool pool(
      "job", q,
      [&](const std::string&) {
        int n = ++calls;
        ReconcileResult r;
        if (n <= 2) r.error = UnavailableError("boom");
        return r;
      },
      clock, 1);
  pool.Start();
  q.Add("a");
  ASSERT_TRUE(Eventually([&] { return calls.load() == 1; }));
  ASSERT_TRUE(Eventually([&] { return q.NumRequeues("a") == 1 && q.DelayedLen() == 1; }));
  clock.Advance(4ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 1) << "first retry waits 5ms";
  clock.Advance(1ms);
  ASSERT_TRUE(Eventually([&] { return calls.load() == 2; }));
  ASSERT_TRUE(Eventually([&] { return q.NumRequeues("a") == 2 && q.DelayedLen() == 1; }));
  clock.Advance(9ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 2) << "second retry waits 10ms";
  clock.Advance(1ms);
  ASSERT_TRUE(Eventually([&] { return calls.load() == 3; }));
  EXPECT_TRUE(Eventually([&] { return q.NumRequeues("a") == 0; })) << "success forgets";
  EXPECT_TRUE(pool.Stop(1s));
}

TEST(WorkerPoolTest, RequeueAfterDelaysTheKeyWithoutCountingAFailure) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<int> calls{0};
  WorkerPool pool(
      "job", q,
      [&](const std::string&) {
        ++calls;
        return ReconcileResult{Duration(30s), OkStatus()};
      },
      clock, 2);
  pool.Start();
  q.Add("a");
  ASSERT_TRUE(Eventually([&] { return calls.load() == 1 && q.DelayedLen() == 1; }));
  EXPECT_EQ(q.NumRequeues("a"), 0);
  clock.Advance(29s);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 1);
  clock.Advance(1s);
  EXPECT_TRUE(Eventually([&] { return calls.load() == 2; }));
  EXPECT_TRUE(pool.Stop(1s));
}

TEST(WorkerPoolTest, ErrorWithRetryAfterWaitsTheLongerOfBoth) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<int> calls{0};
  WorkerPool pool(
      "job", q,
      [&](const std::string&) {
        ++calls;
        return ReconcileResult{Duration(7s), ResourceExhaustedError("429")};
      },
      clock, 1);
  pool.Start();
  q.Add("a");
  ASSERT_TRUE(Eventually([&] { return calls.load() == 1 && q.DelayedLen() == 1; }));
  clock.Advance(6s);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 1);
  clock.Advance(1s);
  EXPECT_TRUE(Eventually([&] { return calls.load() == 2; }));
  EXPECT_TRUE(pool.Stop(1s));
}

TEST(WorkerPoolTest, StopLetsInFlightFinishAndTakesNoNewWork) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  WorkerPool pool(
      "job", q,
      [&](const std::string&) {
        ++calls;
        started = true;
        while (!release.load()) std::this_thread::sleep_for(1ms);
        return ReconcileResult{};
      },
      clock, 1);
  pool.Start();
  q.Add("a");
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  q.Add("b");
  q.Add("c");
  std::atomic<int> stopped{-1};
  std::thread stopper([&] { stopped = pool.Stop(10s) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(stopped.load(), -1) << "waits for the in-flight reconcile";
  release = true;
  stopper.join();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_EQ(calls.load(), 1) << "queued keys are not started after Stop";
}

TEST(WorkerPoolTest, StopGivesUpAfterGracePeriod) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  WorkerPool pool(
      "job", q,
      [&](const std::string&) {
        started = true;
        while (!release.load()) std::this_thread::sleep_for(1ms);
        return ReconcileResult{};
      },
      clock, 1);
  pool.Start();
  q.Add("a");
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  std::atomic<int> stopped{-1};
  std::thread stopper([&] { stopped = pool.Stop(5s) ? 1 : 0; });
  std::this_thread::sleep_for(10ms);
  clock.Advance(5s);
  stopper.join();
  EXPECT_EQ(stopped.load(), 0);
  EXPECT_EQ(pool.ActiveWorkers(), 1);
  release = true;  // the destructor joins the straggler
}

// Issue 11: the liveness probe names the object a stuck worker is busy with.
TEST(WorkerPoolTest, LongestBusyNamesTheKeyAndHowLong) {
  FakeClock clock;
  WorkQueue q("t", clock, DefaultControllerRateLimiter(clock));
  std::atomic<int> started{0};
  std::atomic<bool> release_a{false};
  std::atomic<bool> release_b{false};
  WorkerPool pool(
      "job", q,
      [&](const std::string& key) {
        ++started;
        auto& release = key == "ns/a" ? release_a : release_b;
        while (!release.load()) std::this_thread::sleep_for(1ms);
        return ReconcileResult{};
      },
      clock, 2);
  EXPECT_FALSE(pool.LongestBusy().has_value());
  pool.Start();
  q.Add("ns/a");
  ASSERT_TRUE(Eventually([&] { return started.load() == 1; }));
  clock.Advance(10s);
  q.Add("ns/b");
  ASSERT_TRUE(Eventually([&] { return started.load() == 2; }));
  clock.Advance(5s);
  auto busy = pool.LongestBusy();
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->key, "ns/a");
  EXPECT_EQ(busy->busy_for, Duration(15s));
  release_a = true;
  ASSERT_TRUE(Eventually([&] {
    auto b = pool.LongestBusy();
    return b && b->key == "ns/b";
  }));
  EXPECT_EQ(pool.LongestBusy()->busy_for, Duration(5s));
  release_b = true;
  ASSERT_TRUE(Eventually([&] { return !pool.LongestBusy().has_value(); }));
}

TEST(PeriodicTest, RunsFirstThenEveryIntervalAndOnTrigger) {
  FakeClock clock;
  std::atomic<int> runs{0};
  Periodic p("resync", clock, 10s, 0.0, [&] { ++runs; });
  p.Start();
  ASSERT_TRUE(Eventually([&] { return p.runs() == 1; }));
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(runs.load(), 1);
  clock.Advance(10s);
  ASSERT_TRUE(Eventually([&] { return runs.load() == 2; }));
  p.Trigger();
  ASSERT_TRUE(Eventually([&] { return runs.load() == 3; }));
  p.Stop();
  clock.Advance(100s);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(runs.load(), 3);
}

TEST(PeriodicTest, JitterStretchesTheWaitWithinBounds) {
  FakeClock clock;
  std::atomic<int> runs{0};
  Periodic p("poll", clock, 10s, 0.5, [&] { ++runs; });
  p.Start();
  // Once a run is counted, the next wait has been computed (same critical
  // section), so the clock can be moved without racing the loop.
  ASSERT_TRUE(Eventually([&] { return p.runs() == 1; }));
  clock.Advance(9s);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(runs.load(), 1) << "never earlier than the interval";
  clock.Advance(6s);  // 15s: the longest jittered wait
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
}

}  // namespace
}  // namespace mlspace::runtime
