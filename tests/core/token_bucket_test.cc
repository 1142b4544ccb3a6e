#include "controller/core/token_bucket.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace mlspace {
namespace {

using ::mlspace::testing::FakeClock;
using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

TEST(TokenBucket, ReserveQueuesCallersBeyondTheBurst) {
  FakeClock clock;
  TokenBucket b(clock, 10, 2);
  EXPECT_EQ(b.Reserve(), Duration::zero());
  EXPECT_EQ(b.Reserve(), Duration::zero());
  EXPECT_EQ(duration_cast<milliseconds>(b.Reserve()), 100ms);
  EXPECT_EQ(duration_cast<milliseconds>(b.Reserve()), 200ms);  // owed tokens add up
  clock.Advance(1s);  // +10 tokens, 2 owed, capped at the burst of 2
  EXPECT_EQ(b.Reserve(), Duration::zero());
  EXPECT_EQ(b.Reserve(), Duration::zero());
  EXPECT_GT(b.Reserve(), Duration::zero());
}

TEST(TokenBucket, TryTakeRefusesWithoutTakingAndSaysWhen) {
  FakeClock clock;
  TokenBucket b(clock, 0.5, 1);  // one every 2 s
  EXPECT_TRUE(b.TryTake());
  Duration wait{};
  EXPECT_FALSE(b.TryTake(&wait));
  EXPECT_EQ(duration_cast<milliseconds>(wait), 2000ms);
  EXPECT_FALSE(b.TryTake(&wait));  // a refusal takes nothing: still 2 s
  EXPECT_EQ(duration_cast<milliseconds>(wait), 2000ms);
  clock.Advance(1500ms);
  EXPECT_FALSE(b.TryTake(&wait));
  EXPECT_EQ(duration_cast<milliseconds>(wait), 500ms);
  clock.Advance(500ms);
  EXPECT_TRUE(b.TryTake());
}

TEST(TokenBucket, NonPositiveRateIsUnlimitedAndBurstAtLeastOne) {
  FakeClock clock;
  TokenBucket unlimited(clock, 0, 0);
  EXPECT_TRUE(unlimited.TryTake());
  EXPECT_LT(unlimited.Reserve(), 1ms);
}

}  // namespace
}  // namespace mlspace
