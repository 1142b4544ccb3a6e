#include "controller/core/address.h"

#include <gtest/gtest.h>

namespace mlspace {
namespace {

TEST(AddressTest, ParsesForms) {
  auto a = ParseHostPort("127.0.0.1:8081", "--api-bind-address");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8081);
  EXPECT_TRUE(a->IsLoopback());
  auto b = ParseHostPort(":8080", "--metrics-bind-address");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "");
  EXPECT_FALSE(b->IsLoopback());
  auto c = ParseHostPort("[::1]:0", "x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 0);
  EXPECT_EQ(c->ToString(), "[::1]:0");
}

TEST(AddressTest, ErrorsNameTheFlag) {
  auto r = ParseHostPort("localhost", "--api-bind-address");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "--api-bind-address \"localhost\": missing port (expected host:port or :port)");
  EXPECT_FALSE(ParseHostPort("h:99999", "f").ok());
  EXPECT_FALSE(ParseHostPort("h:8x", "f").ok());
  EXPECT_FALSE(ParseHostPort("::1:80", "f").ok());
}

}  // namespace
}  // namespace mlspace
