#include "controller/source/git_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "controller/core/redact.h"
#include "controller/source/fetch_schedule.h"
#include "tests/source/git_test_util.h"

namespace mlspace::source {
namespace {

using namespace mlspace::source::testing;  // NOLINT
using Kind = CredentialChoice::Kind;
using std::chrono::milliseconds;

TEST(LoadGitCredentialsTest, MissingDirectoryIsAnonymous) {
  auto c = LoadGitCredentials("/nonexistent/mlspace/git");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
}

TEST(LoadGitCredentialsTest, ReadsFilesTrimsNewlinesAndRegistersSecrets) {
  SecretRegistry::Get().ClearForTesting();
  TempDir d;
  WriteFile(d.path() / "username", "deploy\n");
  WriteFile(d.path() / "password", "old-password-value\n");
  WriteFile(d.path() / "token", "ghp_tokenvalue123\n");
  WriteFile(d.path() / "ssh-privatekey", "-----BEGIN KEY-----\n");
  WriteFile(d.path() / "passphrase", "key-passphrase\n");
  auto c = LoadGitCredentials(d.path().string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "deploy");
  EXPECT_EQ(c->password, "ghp_tokenvalue123");  // token wins over password
  EXPECT_EQ(c->ssh_key_path, (d.path() / "ssh-privatekey").string());
  EXPECT_EQ(c->ssh_pubkey_path, "");
  EXPECT_EQ(c->ssh_passphrase, "key-passphrase");
  EXPECT_EQ(Redact("auth ghp_tokenvalue123 and key-passphrase"), "auth *** and ***");
  SecretRegistry::Get().ClearForTesting();
}

// The shared secret-file rule (core ReadSecretFile): CRLF and edge spaces go.
TEST(LoadGitCredentialsTest, SameTrimmingAsEverySecretFile) {
  TempDir d;
  WriteFile(d.path() / "username", " deploy\r\n");
  WriteFile(d.path() / "password", "pass word \t\n");
  auto c = LoadGitCredentials(d.path().string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "deploy");
  EXPECT_EQ(c->password, "pass word");
}

TEST(LoadGitCredentialsTest, UnreadableFileIsAnErrorNamingIt) {
  TempDir d;
  std::filesystem::create_directories(d.path() / "token");  // not a readable file
  auto c = LoadGitCredentials(d.path().string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "git credentials: cannot read " + (d.path() / "token").string() + ": is a directory");
}

TEST(LoadGitCredentialsTest, IdentityWithPublicKey) {
  TempDir d;
  WriteFile(d.path() / "identity", "k\n");
  WriteFile(d.path() / "identity.pub", "p\n");
  auto c = LoadGitCredentials(d.path().string());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ssh_key_path, (d.path() / "identity").string());
  EXPECT_EQ(c->ssh_pubkey_path, (d.path() / "identity.pub").string());
  EXPECT_TRUE(c->password.empty());
}

TEST(SelectCredentialTest, HttpsTokenWithDefaultAndConfiguredUser) {
  GitCredentials c;
  c.password = "tok";
  auto ch = SelectCredential(c, kCredUserPass, "", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->kind, Kind::kUserPass);
  EXPECT_EQ(ch->username, "git");
  EXPECT_EQ(ch->secret, "tok");
  ch = SelectCredential(c, kCredUserPass, "alice", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->username, "alice");
  c.username = "bot";
  ch = SelectCredential(c, kCredUserPass, "alice", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->username, "bot");
}

TEST(SelectCredentialTest, SshKeyUsesUrlUserThenConfiguredThenGit) {
  GitCredentials c;
  c.ssh_key_path = "/s/identity";
  c.ssh_pubkey_path = "/s/identity.pub";
  c.ssh_passphrase = "pp";
  auto ch = SelectCredential(c, kCredSshKey | kCredUserPass, "gitlab", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->kind, Kind::kSshKey);
  EXPECT_EQ(ch->username, "gitlab");
  EXPECT_EQ(ch->key_path, "/s/identity");
  EXPECT_EQ(ch->pubkey_path, "/s/identity.pub");
  EXPECT_EQ(ch->secret, "pp");
  ch = SelectCredential(c, kCredSshKey, "", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->username, "git");
  // ssh without a user in the URL first asks for the name alone.
  ch = SelectCredential(c, kCredUsername, "", 0);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->kind, Kind::kUsername);
  EXPECT_EQ(ch->username, "git");
}

TEST(SelectCredentialTest, NothingSuitableOrAlreadyRejected) {
  GitCredentials none;
  EXPECT_FALSE(SelectCredential(none, kCredUserPass | kCredSshKey, "", 0));
  GitCredentials token;
  token.password = "tok";
  EXPECT_FALSE(SelectCredential(token, kCredSshKey, "git", 0));  // ssh url
  EXPECT_FALSE(SelectCredential(token, kCredUserPass, "", kCredUserPass));
  GitCredentials key;
  key.ssh_key_path = "/k";
  EXPECT_FALSE(SelectCredential(key, kCredUserPass, "", 0));  // https url
  EXPECT_FALSE(SelectCredential(key, kCredSshKey, "git", kCredSshKey));
}

TEST(RedactUrlTest, MasksUserinfoOnly) {
  EXPECT_EQ(RedactUrl("https://user:tok@example.com/org/repo.git"),
            "https://***@example.com/org/repo.git");
  EXPECT_EQ(RedactUrl("https://tok@example.com/r"), "https://***@example.com/r");
  EXPECT_EQ(RedactUrl("https://example.com/a@b"), "https://example.com/a@b");
  EXPECT_EQ(RedactUrl("file:///tmp/repo.git"), "file:///tmp/repo.git");
  EXPECT_EQ(RedactUrlsIn("failed to fetch 'https://u:p@h/x': 401"),
            "failed to fetch 'https://***@h/x': 401");
  EXPECT_EQ(RedactUrlsIn("a http://x@h b ssh://git@host:22/r c"),
            "a http://***@h b ssh://***@host:22/r c");
}

TEST(NextFetchDelayTest, IntervalBackoffCapAndJitter) {
  const milliseconds base(60000);
  EXPECT_EQ(NextFetchDelay(base, 0, 0.0), base);
  EXPECT_EQ(NextFetchDelay(base, 1, 0.0), milliseconds(120000));
  EXPECT_EQ(NextFetchDelay(base, 2, 0.0), milliseconds(240000));
  EXPECT_EQ(NextFetchDelay(base, 3, 0.0), milliseconds(300000));  // cap 5 min
  EXPECT_EQ(NextFetchDelay(base, 1000, 0.0), milliseconds(300000));
  EXPECT_EQ(NextFetchDelay(base, 0, 0.5), milliseconds(63000));
  EXPECT_EQ(NextFetchDelay(base, 0, 0.5, 0.2), milliseconds(66000));
  EXPECT_EQ(NextFetchDelay(base, 3, 0.5), milliseconds(315000));
  // An interval above the cap is never shortened by it.
  EXPECT_EQ(NextFetchDelay(milliseconds(600000), 2, 0.0), milliseconds(600000));
  // Out-of-range randoms are clamped, not trusted.
  EXPECT_EQ(NextFetchDelay(base, 0, 7.0), milliseconds(66000));
  EXPECT_EQ(NextFetchDelay(base, 0, -1.0), base);
}

}  // namespace
}  // namespace mlspace::source
