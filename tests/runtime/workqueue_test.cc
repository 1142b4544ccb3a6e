#include "controller/runtime/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "controller/runtime/rate_limiter.h"
#include "tests/fakes/fake_clock.h"

namespace mlspace::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

std::unique_ptr<RateLimiter> Limiter(const Clock& c) { return DefaultControllerRateLimiter(c); }

// Waits (real time, bounded) for a condition another thread makes true.
template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return f();
}

// Gets and finishes every waiting key; the order they were handed out in.
std::vector<std::string> HandOutAll(WorkQueue& q) {
  std::vector<std::string> order;
  while (q.Len() > 0) {
    order.push_back(*q.Get());
    q.Done(order.back());
  }
  return order;
}

class CountingObserver : public WorkQueueObserver {
 public:
  void OnAdd(const std::string&) override { ++adds; }
  void OnDepth(const std::string&, size_t d) override { depth = d; }
  void OnQueueLatency(const std::string&, Duration w) override { latency = w; }
  void OnWorkDuration(const std::string&, Duration t) override { work = t; }
  void OnRetry(const std::string&) override { ++retries; }
  std::atomic<int> adds{0};
  std::atomic<size_t> depth{0};
  std::atomic<int> retries{0};
  Duration latency{0};
  Duration work{0};
};

TEST(WorkQueueTest, AddCollapsesRepeatedAddsOfAWaitingKey) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a");
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
}

TEST(WorkQueueTest, KeyReaddedWhileProcessingIsRequeuedOnlyAfterDone) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u) << "a processing key must not be handed out again";
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, LowPriorityKeysWaitForNormalOnesFifoWithinEach) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("l1", Priority::kLow);
  q.Add("n1");
  q.Add("l2", Priority::kLow);
  q.Add("n2");
  EXPECT_EQ(q.Len(), 4u);
  EXPECT_EQ(q.LowLen(), 2u);
  EXPECT_EQ(HandOutAll(q), (std::vector<std::string>{"n1", "n2", "l1", "l2"}));
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.LowLen(), 0u);
}

TEST(WorkQueueTest, ANormalAddRaisesAWaitingLowKeyAndALowAddNeverLowers) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("x", Priority::kLow);
  q.Add("y", Priority::kLow);
  q.Add("n");
  q.Add("y");                  // raised: behind n, ahead of x
  q.Add("n", Priority::kLow);  // stays normal
  EXPECT_EQ(q.Len(), 3u) << "a raise never duplicates a key";
  EXPECT_EQ(q.LowLen(), 1u);
  EXPECT_EQ(HandOutAll(q), (std::vector<std::string>{"n", "y", "x"}));

  // The stale low entry y left behind is skipped, even after y comes back.
  q.Add("y", Priority::kLow);
  q.Add("z", Priority::kLow);
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "y");
  q.Done("y");
  EXPECT_EQ(q.Get(), "z");
  q.Done("z");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AKeyRaisedWhileProcessingIsRequeuedAsNormal) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a", Priority::kLow);
  ASSERT_EQ(q.Get(), "a");
  q.Add("a", Priority::kLow);
  q.Add("b", Priority::kLow);
  q.Add("a");  // a manifest change while a's status reconcile runs
  EXPECT_EQ(q.Len(), 1u);
  q.Done("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.LowLen(), 1u);
  EXPECT_EQ(q.Get(), "a");
}

TEST(WorkQueueTest, NeverProcessesOneKeyOnTwoWorkersConcurrently) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  std::map<std::string, std::atomic<int>> in_flight;
  for (int k = 0; k < 5; ++k) in_flight["k" + std::to_string(k)] = 0;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        if (++in_flight[*key] > 1) overlap = true;
        std::this_thread::yield();
        --in_flight[*key];
        ++processed;
        q.Done(*key);
      }
    });
  }
  // Mixed priorities: adds raise waiting low keys and re-queue processing
  // ones, both concurrently with the workers.
  for (int i = 0; i < 2000; ++i) {
    q.Add("k" + std::to_string(i % 5), i % 3 == 0 ? Priority::kLow : Priority::kNormal);
  }
  EXPECT_TRUE(q.ShutDownWithDrain());
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GE(processed.load(), 5);
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.LowLen(), 0u);
  EXPECT_EQ(q.ProcessingLen(), 0u);
}

TEST(WorkQueueTest, AddAfterHoldsKeyUntilClockReachesDelayAndKeepsEarliest) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.AddAfter("a", 10s);
  q.AddAfter("a", 3s);   // earlier: replaces
  q.AddAfter("a", 20s);  // later: ignored
  EXPECT_EQ(q.DelayedLen(), 1u);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(2s);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(1s);
  EXPECT_TRUE(Eventually([&] { return q.Len() == 1; }));
  EXPECT_EQ(q.DelayedLen(), 0u);
  q.AddAfter("b", 0s);  // no delay: immediate
  EXPECT_EQ(q.Len(), 2u);
}

TEST(RateLimiterTest, PerKeyBackoffDoublesFrom5msAndCapsAt1000s) {
  ItemExponentialFailureRateLimiter l(5ms, 1000s);
  EXPECT_EQ(l.When("a"), Duration(5ms));
  EXPECT_EQ(l.When("a"), Duration(10ms));
  EXPECT_EQ(l.When("a"), Duration(20ms));
  EXPECT_EQ(l.When("a"), Duration(40ms));
  EXPECT_EQ(l.When("b"), Duration(5ms)) << "backoff is per key";
  EXPECT_EQ(l.NumRequeues("a"), 4);
  for (int i = 0; i < 13; ++i) (void)l.When("a");  // exponents 4..16
  EXPECT_EQ(l.When("a"), Duration(655360ms));      // 5ms·2^17
  EXPECT_EQ(l.When("a"), Duration(1000s));         // 5ms·2^18 = 1310s, capped
  for (int i = 0; i < 200; ++i) EXPECT_LE(l.When("a"), Duration(1000s));
  EXPECT_EQ(l.When("a"), Duration(1000s));
  l.Forget("a");
  EXPECT_EQ(l.NumRequeues("a"), 0);
  EXPECT_EQ(l.When("a"), Duration(5ms));
}

TEST(RateLimiterTest, GlobalBucketAllowsBurst100ThenTenPerSecond) {
  FakeClock clock;
  BucketRateLimiter b(clock, 10, 100);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(b.When("k" + std::to_string(i)), Duration::zero()) << i;
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b.When("x")), 100ms);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b.When("y")), 200ms);
  clock.Advance(1s);  // refills 10 tokens, 2 were owed
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b.When("z"), Duration::zero()) << i;
  EXPECT_GT(b.When("z"), Duration::zero());
}

TEST(RateLimiterTest, DefaultControllerLimiterIsTheMaxOfBackoffAndBucket) {
  FakeClock clock;
  auto l = DefaultControllerRateLimiter(clock);
  EXPECT_EQ(l->When("a"), Duration(5ms));
  EXPECT_EQ(l->When("a"), Duration(10ms));
  for (int i = 0; i < 98; ++i) (void)l->When("other" + std::to_string(i));
  // The bucket is now empty: a fresh key waits for the bucket (100ms), not 5ms.
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(l->When("fresh")), 100ms);
}

TEST(WorkQueueTest, AddRateLimitedUsesBackoffSequenceAndCountsRetries) {
  FakeClock clock;
  CountingObserver obs;
  WorkQueue q("t", clock, Limiter(clock), &obs);
  q.AddRateLimited("a");
  EXPECT_EQ(q.NumRequeues("a"), 1);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(5ms);
  ASSERT_TRUE(Eventually([&] { return q.Len() == 1; }));
  ASSERT_EQ(q.Get(), "a");
  q.Done("a");
  q.AddRateLimited("a");  // now 10ms
  clock.Advance(9ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(1ms);
  EXPECT_TRUE(Eventually([&] { return q.Len() == 1; }));
  EXPECT_EQ(obs.retries.load(), 2);
  q.Forget("a");
  EXPECT_EQ(q.NumRequeues("a"), 0);
}

TEST(WorkQueueTest, AddRateLimitedHonoursALongerMinimumDelay) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.AddRateLimited("a", 30s);
  clock.Advance(29s);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(1s);
  EXPECT_TRUE(Eventually([&] { return q.Len() == 1; }));
}

TEST(WorkQueueTest, ShutDownHandsOutQueuedKeysThenReturnsNulloptAndIgnoresAdds) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a");
  q.AddAfter("late", 1s);
  q.ShutDown();
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("b");
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Get(), std::nullopt);
  EXPECT_EQ(q.DelayedLen(), 0u);
}

TEST(WorkQueueTest, ShutDownWakesBlockedGet) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  std::atomic<bool> returned{false};
  std::thread t([&] {
    EXPECT_EQ(q.Get(), std::nullopt);
    returned = true;
  });
  std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(returned.load());
  q.ShutDown();
  t.join();
  EXPECT_TRUE(returned.load());
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForInFlightKeys) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  std::atomic<bool> drained{false};
  std::thread t([&] {
    EXPECT_TRUE(q.ShutDownWithDrain());
    drained = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(drained.load()) << "must wait for Done";
  q.Done("a");
  t.join();
  EXPECT_TRUE(drained.load());
}

TEST(WorkQueueTest, ShutDownWithDrainGivesUpAtDeadline) {
  FakeClock clock;
  WorkQueue q("t", clock, Limiter(clock));
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  std::atomic<int> result{-1};
  std::thread t([&] { result = q.ShutDownWithDrain(clock.Now() + 5s) ? 1 : 0; });
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(result.load(), -1);
  clock.Advance(5s);
  t.join();
  EXPECT_EQ(result.load(), 0);
  q.Done("a");
}

TEST(WorkQueueTest, ObserverSeesAddsDepthLatencyAndWorkDuration) {
  FakeClock clock;
  CountingObserver obs;
  WorkQueue q("t", clock, Limiter(clock), &obs);
  q.Add("a");
  q.Add("a");
  q.Add("b");
  EXPECT_EQ(obs.adds.load(), 2);
  EXPECT_EQ(obs.depth.load(), 2u);
  clock.Advance(3s);
  ASSERT_EQ(q.Get(), "a");
  EXPECT_EQ(obs.latency, Duration(3s));
  EXPECT_EQ(obs.depth.load(), 1u);
  clock.Advance(2s);
  EXPECT_DOUBLE_EQ(q.UnfinishedWorkSeconds(), 2.0);
  EXPECT_DOUBLE_EQ(q.LongestRunningProcessorSeconds(), 2.0);
  q.Done("a");
  EXPECT_EQ(obs.work, Duration(2s));
  EXPECT_DOUBLE_EQ(q.UnfinishedWorkSeconds(), 0.0);
}

}  // namespace
}  // namespace mlspace::runtime
