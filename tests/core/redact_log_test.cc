#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/core/log.h"
#include "controller/core/redact.h"

namespace mlspace {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SecretRegistry::Get().ClearForTesting();
    Logger::Get().SetSink([this](std::string_view l) { lines_.emplace_back(l); });
    Logger::Get().SetLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    Logger::Get().ResetSink();
    Logger::Get().SetFormat(LogFormat::kText);
    SecretRegistry::Get().ClearForTesting();
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, RedactMasksEveryOccurrenceLongestFirst) {
  SecretRegistry::Get().Add("s3cr3t-token");
  SecretRegistry::Get().Add("s3cr3t");
  SecretRegistry::Get().Add("ab");  // too short to mask
  EXPECT_EQ(Redact("a s3cr3t-token and s3cr3t, ab"), "a *** and ***, ab");
}

TEST_F(LogTest, TextLineHasLevelMessageAndQuotedFields) {
  LogInfo("submitted job", {{"object", "nlp/llama"}, {"reason", "two words"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find(" INFO submitted job object=nlp/llama reason=\"two words\"\n"),
            std::string::npos)
      << lines_[0];
}

TEST_F(LogTest, JsonLineIsValidAndRedacted) {
  SecretRegistry::Get().Add("hunter22");
  Logger::Get().SetFormat(LogFormat::kJson);
  LogWarn("token hunter22 rejected", {{"object", "a/b"}, {"detail", "x=hunter22"}});
  ASSERT_EQ(lines_.size(), 1u);
  auto j = nlohmann::json::parse(lines_[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "token *** rejected");
  EXPECT_EQ(j["detail"], "x=***");
  EXPECT_EQ(j["object"], "a/b");
  EXPECT_EQ(lines_[0].find("hunter22"), std::string::npos);
}

TEST_F(LogTest, LevelFilters) {
  LogDebug("hidden");
  EXPECT_TRUE(lines_.empty());
  Logger::Get().SetLevel(LogLevel::kDebug);
  LogDebug("shown");
  EXPECT_EQ(lines_.size(), 1u);
}

TEST(LogParseTest, LevelsAndFormats) {
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_NE(ParseLogFormat("xml").status().message().find("expected text or json"),
            std::string::npos);
}

}  // namespace
}  // namespace mlspace
