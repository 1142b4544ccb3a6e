// ClassifyJsonBytes and MayHaveLowSurrogateEscape: the byte checks both
// RapidJSON readers rely on to agree with nlohmann.
#include "controller/core/json_text.h"

#include <gtest/gtest.h>

#include <string>

namespace mlspace {
namespace {

TEST(JsonTextTest, ControlBytesTheSimdScanMissesAreFoundAtEveryOffset) {
  // Every length up to 2 words, the byte at every position: the 8-byte
  // steps and the tail must both see it.
  for (size_t len = 1; len <= 17; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 0x80; ++b) {
        std::string text(len, 'a');
        text[at] = static_cast<char>(b);
        const JsonTextBytes got = ClassifyJsonBytes(text);
        EXPECT_FALSE(got.non_ascii);
        EXPECT_EQ(got.missed_control, b >= 0x1a && b <= 0x1f)
            << "byte " << b << " at " << at << " of " << len;
      }
    }
  }
}

TEST(JsonTextTest, NonAsciiIsFoundAtEveryOffset) {
  for (size_t len = 1; len <= 17; ++len) {
    for (size_t at = 0; at < len; ++at) {
      std::string text(len, '{');
      text[at] = '\xD0';
      EXPECT_TRUE(ClassifyJsonBytes(text).non_ascii) << at << " of " << len;
    }
  }
  EXPECT_FALSE(ClassifyJsonBytes("").non_ascii);
  EXPECT_FALSE(ClassifyJsonBytes("{\"job_name\":\"a\\u00e9\"}").non_ascii);
}

TEST(JsonTextTest, LowSurrogateEscapesAreFlaggedOthersAreNot) {
  EXPECT_TRUE(MayHaveLowSurrogateEscape(R"("\udc00")"));
  EXPECT_TRUE(MayHaveLowSurrogateEscape(R"("\uDFFF")"));
  EXPECT_TRUE(MayHaveLowSurrogateEscape(R"("\ud83d\ude00")")) << "paired counts too";
  EXPECT_TRUE(MayHaveLowSurrogateEscape(R"("\u)")) << "a cut escape is left to the reference";
  EXPECT_FALSE(MayHaveLowSurrogateEscape(R"("\ud83d")")) << "a high surrogate alone";
  EXPECT_FALSE(MayHaveLowSurrogateEscape(R"("\u0041\u00e9\u001f")"));
  EXPECT_FALSE(MayHaveLowSurrogateEscape("plain text"));
}

}  // namespace
}  // namespace mlspace
