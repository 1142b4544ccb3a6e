#include "controller/core/time_util.h"

#include <gtest/gtest.h>

namespace mlspace {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(DurationTest, ParsesKubernetesStyle) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), seconds(30));
  EXPECT_EQ(*ParseDuration("5m"), minutes(5));
  EXPECT_EQ(*ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0"), Duration::zero());
}

TEST(DurationTest, RejectsWithClearMessage) {
  for (const char* bad : {"", "30", "5x", "-1s", "s", "1h-3m"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseDuration("5x").status().message().find("unknown unit \"x\""), std::string::npos);
}

TEST(DurationTest, FormatsRoundTrip) {
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(seconds(42)), "42s");
  EXPECT_EQ(*ParseDuration(FormatDuration(minutes(90) + seconds(7))), minutes(90) + seconds(7));
}

TEST(Rfc3339Test, FormatAndParse) {
  TimePoint t{seconds(1764258721)};
  EXPECT_EQ(FormatRfc3339(t), "2025-11-27T15:52:01Z");
  EXPECT_EQ(FormatRfc3339Millis(t + milliseconds(7)), "2025-11-27T15:52:01.007Z");
  EXPECT_EQ(*ParseRfc3339("2025-11-27T15:52:01Z"), t);
  EXPECT_EQ(*ParseRfc3339("2025-11-27T18:52:01+03:00"), t);
  EXPECT_EQ(*ParseRfc3339("2025-11-27T15:52:01.5Z"), t + milliseconds(500));
  EXPECT_FALSE(ParseRfc3339("2025-11-27 nope").ok());
  EXPECT_FALSE(ParseRfc3339("2025-13-27T15:52:01Z").ok());
}

}  // namespace
}  // namespace mlspace
