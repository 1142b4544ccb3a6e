#include "controller/apiserver/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "controller/core/redact.h"

namespace mlspace::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TokenAuthenticatorTest, ReadsKubeApiserverTokenAuthFileFormat) {
  auto auth = TokenAuthenticator::Parse(
      "# comment\n"
      "tok-alice,alice,uid-1,\"ml,admins\"\n"
      "\n"
      "tok-bob,bob,uid-2\r\n"
      "\"tok,with,commas\",carol,uid-3,\"\"\n",
      "tokens.csv");
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(auth->size(), 3u);
  auto alice = auth->Authenticate("Bearer tok-alice");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->uid, "uid-1");
  EXPECT_THAT(alice->groups, ElementsAre("ml", "admins"));
  auto bob = auth->Authenticate("Bearer tok-bob");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->name, "bob");
  EXPECT_TRUE(bob->groups.empty());
  auto carol = auth->Authenticate("bearer tok,with,commas");  // scheme is case-insensitive
  ASSERT_TRUE(carol.has_value());
  EXPECT_EQ(carol->name, "carol");
}

TEST(TokenAuthenticatorTest, BareTokenPerLineKeepsWorking) {
  auto auth = TokenAuthenticator::Parse("  old-style-token  \nsecond-token\n", "f");
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  auto u = auth->Authenticate("Bearer old-style-token");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->name, "api-token");
  EXPECT_TRUE(auth->Authenticate("Bearer second-token").has_value());
}

TEST(TokenAuthenticatorTest, RefusesWrongAndMalformedCredentials) {
  auto auth = TokenAuthenticator::Parse("tok-alice,alice,1\n", "f");
  ASSERT_TRUE(auth.ok());
  EXPECT_FALSE(auth->Authenticate("").has_value());
  EXPECT_FALSE(auth->Authenticate("Bearer ").has_value());
  EXPECT_FALSE(auth->Authenticate("Bearer tok-alic").has_value());
  EXPECT_FALSE(auth->Authenticate("Bearer tok-alice2").has_value());
  EXPECT_FALSE(auth->Authenticate("Basic tok-alice").has_value());
  EXPECT_FALSE(auth->Authenticate("tok-alice").has_value());
  EXPECT_FALSE(auth->Authenticate("Bearer alice").has_value());
}

TEST(TokenAuthenticatorTest, BadFilesNameTheLineAndNeverTheToken) {
  auto two = TokenAuthenticator::Parse("ok-token,u,1\nsecret-token-x,bob\n", "tokens.csv");
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("tokens.csv:2: want token,user,uid"));
  EXPECT_THAT(two.status().message(), ::testing::Not(HasSubstr("secret-token-x")));
  auto quote = TokenAuthenticator::Parse("\"unterminated,u,1\n", "f");
  ASSERT_FALSE(quote.ok());
  EXPECT_THAT(quote.status().message(), HasSubstr("f:1: unterminated quoted field"));
  auto empty_user = TokenAuthenticator::Parse("tok,,1\n", "f");
  ASSERT_FALSE(empty_user.ok());
  EXPECT_THAT(empty_user.status().message(), HasSubstr("empty user name"));
  auto empty_token = TokenAuthenticator::Parse(",u,1\n", "f");
  ASSERT_FALSE(empty_token.ok());
  EXPECT_THAT(empty_token.status().message(), HasSubstr("f:1: empty token"));
  auto nothing = TokenAuthenticator::Parse("# only a comment\n\n", "f");
  ASSERT_FALSE(nothing.ok());
  EXPECT_THAT(nothing.status().message(), HasSubstr("no token"));
}

TEST(TokenAuthenticatorTest, LoadRegistersTokensAsSecrets) {
  std::string path = ::testing::TempDir() + "/auth_test_tokens.csv";
  {
    std::ofstream out(path);
    out << "file-token-123,dave,uid-9\nbare-token-456\n";
  }
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(Redact("a file-token-123 b bare-token-456"), "a *** b ***");
  SecretRegistry::Get().ClearForTesting();
  auto missing = TokenAuthenticator::Load(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("--api-token-file: cannot read " + path));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mlspace::apiserver
