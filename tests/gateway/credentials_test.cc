#include "controller/gateway/http/credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "controller/core/redact.h"

namespace mlspace::gateway::http {
namespace {

namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mlspace-cred-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "mlspace");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const fs::path& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  EnvLookup Env() {
    return [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(CredentialsTest, EnvironmentWinsOverFiles) {
  env_ = {{"MLSPACE_API_KEY", "env-api-key-1"}, {"MLSPACE_WORKSPACE_ID", "env-ws-1"}};
  Write("mlspace/api-key", "file-api-key-1\n");
  Write("mlspace/access-token", "  file-token-1 \n");
  auto c = LoadCredentials(Env(), dir_.string());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->api_key, "env-api-key-1");
  EXPECT_EQ(c->workspace_id, "env-ws-1");
  EXPECT_EQ(c->access_token, "file-token-1");
  EXPECT_EQ(Redact("x file-token-1 env-api-key-1"), "x *** ***");
}

TEST_F(CredentialsTest, LowercaseVariableFileNamesAndClientSecret) {
  Write("mlspace_workspace_id", "ws-from-file");
  Write("mlspace/client-id", "cid-1");
  Write("mlspace_client_secret", "csecret-1");
  auto c = LoadCredentials(Env(), dir_.string());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->workspace_id, "ws-from-file");
  EXPECT_TRUE(c->HasClientSecret());
  EXPECT_EQ(c->client_secret, "csecret-1");
}

TEST_F(CredentialsTest, ErrorsNameTheProblem) {
  auto none = LoadCredentials(Env(), "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("MLSPACE_WORKSPACE_ID"), std::string::npos);
  env_["MLSPACE_WORKSPACE_ID"] = "ws";
  auto nocred = LoadCredentials(Env(), dir_.string());
  ASSERT_FALSE(nocred.ok());
  EXPECT_NE(nocred.status().message().find("MLSPACE_ACCESS_TOKEN"), std::string::npos);
  Write("mlspace/client-id", "cid-only");
  auto half = LoadCredentials(Env(), dir_.string());
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("together"), std::string::npos);
  Write("mlspace/client-secret", "\n");
  auto empty = LoadCredentials(Env(), dir_.string());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), (dir_ / "mlspace" / "client-secret").string() + ": empty");
}

}  // namespace
}  // namespace mlspace::gateway::http
