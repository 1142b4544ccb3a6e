#include "controller/core/address.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST(AddressTest, BoundAddressShowsTheHostAndTheChosenPort) {
  EXPECT_EQ(BoundAddress({"", 0}, 8080), "0.0.0.0:8080");
  EXPECT_EQ(BoundAddress({"127.0.0.1", 0}, 41234), "127.0.0.1:41234");
  EXPECT_EQ(BoundAddress({"::1", 0}, 9), "[::1]:9");
}

TEST(AddressTest, ListenErrorFindsTheRealReason) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  HostPort busy{"127.0.0.1", ntohs(a.sin_port)};
  Status s = ListenError("--metrics-bind-address", busy, "null context when constructing");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "--metrics-bind-address " + busy.ToString() +
                             ": cannot listen: address already in use");
  close(fd);
  // The port is free again: the library's own words are all there is.
  EXPECT_EQ(ListenError("--x", busy, "thread start failed").message(),
            "--x " + busy.ToString() + ": cannot listen: thread start failed");
  // A name is not resolved.
  EXPECT_EQ(ListenError("--x", {"example.invalid", 1}, "lib").message(),
            "--x example.invalid:1: cannot listen: lib");
}

}  // namespace
}  // namespace mlspace
