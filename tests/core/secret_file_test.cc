#include "controller/core/secret_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "controller/core/redact.h"

namespace mlspace {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SecretRegistry::Get().ClearForTesting();
    dir_ = fs::temp_directory_path() /
           ("mlspace-secret-file-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::remove_all(dir_);
    SecretRegistry::Get().ClearForTesting();
  }
  std::string Write(const std::string& rel, const std::string& content) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  fs::path dir_;
};

// The one trimming rule, for every spelling the four former readers met.
TEST(TrimSecretValue, StripsEdgeAsciiWhitespaceOnly) {
  EXPECT_EQ(TrimSecretValue("tok"), "tok");
  EXPECT_EQ(TrimSecretValue("tok\n"), "tok");
  EXPECT_EQ(TrimSecretValue("tok\r\n"), "tok");
  EXPECT_EQ(TrimSecretValue("tok\n\n\n"), "tok");
  EXPECT_EQ(TrimSecretValue("  tok \t\n"), "tok");
  EXPECT_EQ(TrimSecretValue("\ttok"), "tok");
  // Inside the value nothing changes.
  EXPECT_EQ(TrimSecretValue("pass word\nline2\n"), "pass word\nline2");
  EXPECT_EQ(TrimSecretValue(" \r\n\t "), "");
  EXPECT_EQ(TrimSecretValue(""), "");
}

TEST_F(SecretFileTest, ReadsTrimsAndRegistersTheValue) {
  auto v = ReadSecretFile(Write("a/key", "sk-0123456789\r\n"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, "sk-0123456789");
  EXPECT_EQ(Redact("got sk-0123456789 here"), "got *** here");
}

TEST_F(SecretFileTest, EmptyFileIsAnEmptyValueNotAnError) {
  auto v = ReadSecretFile(Write("empty", "\n"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "");
}

TEST_F(SecretFileTest, MissingIsNotFoundNamingThePath) {
  std::string path = (dir_ / "nope").string();
  auto v = ReadSecretFile(path);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(), "cannot read " + path + ": No such file or directory");
}

TEST_F(SecretFileTest, DirectoryAndUnreadableArePermissionDenied) {
  auto d = ReadSecretFile(dir_.string());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(d.status().message(), HasSubstr("is a directory"));
  // root reads mode-000 files, so only an unprivileged run can see EACCES.
  if (::geteuid() != 0) {
    std::string path = Write("locked", "top-secret-value");
    ::chmod(path.c_str(), 0);
    auto v = ReadSecretFile(path);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(v.status().message(), HasSubstr(path));
    EXPECT_THAT(v.status().message(), Not(HasSubstr("top-secret-value")));
  }
}

TEST_F(SecretFileTest, DirectoryResolverReadsMountedLayout) {
  Write("wandb/api-key", "wb-0123456789abcdef\n");
  DirectorySecretResolver r(dir_.string());
  auto v = r.Resolve("wandb", "api-key");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, "wb-0123456789abcdef");
  EXPECT_EQ(r.Resolve("wandb", "other").status().code(), StatusCode::kNotFound);
}

TEST_F(SecretFileTest, DirectoryResolverRefusesTraversalAndNoDir) {
  Write("outside", "top-secret-value");
  DirectorySecretResolver r((dir_ / "sub").string());
  fs::create_directories(dir_ / "sub" / "wandb");
  for (auto [name, key] : {std::pair{"wandb", ".."}, std::pair{"..", "outside"},
                           std::pair{"a/b", "c"}, std::pair{"", "c"}}) {
    auto v = r.Resolve(name, key);
    ASSERT_FALSE(v.ok()) << name << "/" << key;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  }
  auto none = DirectorySecretResolver("").Resolve("wandb", "api-key");
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(none.status().message(), "no --secrets-dir configured");
}

TEST_F(SecretFileTest, DirectoryResolverRefusesTheControllersOwnCredentials) {
  // The layout the controller reads its gateway and git credentials from.
  Write("mlspace/api-key", "gw-key-value");
  Write("git/token", "git-token-value");
  DirectorySecretResolver r(dir_.string());
  for (auto [name, key] : {std::pair{"mlspace", "api-key"}, std::pair{"git", "token"}}) {
    auto v = r.Resolve(name, key);
    ASSERT_FALSE(v.ok()) << name;
    EXPECT_EQ(v.status().code(), StatusCode::kPermissionDenied) << name;
    EXPECT_THAT(v.status().message(), HasSubstr("controller's own credentials"));
    EXPECT_THAT(v.status().message(), Not(HasSubstr("value")));
  }
  // A job's own secret of a similar name is fine.
  Write("mlspace-wandb/api-key", "wb");
  EXPECT_TRUE(r.Resolve("mlspace-wandb", "api-key").ok());
}

}  // namespace
}  // namespace mlspace
