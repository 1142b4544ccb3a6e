// The API listener against hostile clients (issue 11): the head scanner and
// connection limiter on their own, then a real ApiServer on loopback with
// raw sockets and small limits so each case takes well under a second.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/apiserver/server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using Clock = std::chrono::steady_clock;

ServerLimits Small() {
  ServerLimits l;
  l.max_target_bytes = 100;
  l.max_head_bytes = 400;
  return l;
}

TEST(ScanRequestHeadTest, CompleteHeadsAndTheirTargets) {
  HeadScan s = ScanRequestHead("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /b", Small());
  EXPECT_EQ(s.state, HeadState::kComplete);
  EXPECT_EQ(s.target, "/healthz");
  EXPECT_EQ(s.head_bytes, 34u);  // through the blank line
  // Bare LFs and leading empty lines are tolerated.
  s = ScanRequestHead("\r\nGET /a?b=c HTTP/1.0\n\n", Small());
  EXPECT_EQ(s.state, HeadState::kComplete);
  EXPECT_EQ(s.target, "/a?b=c");
}

TEST(ScanRequestHeadTest, PartialHeadsWaitForMore) {
  EXPECT_EQ(ScanRequestHead("", Small()).state, HeadState::kIncomplete);
  EXPECT_EQ(ScanRequestHead("GET /x HT", Small()).state, HeadState::kIncomplete);
  EXPECT_EQ(ScanRequestHead("GET /x HTTP/1.1\r\nHost: a\r\n", Small()).state,
            HeadState::kIncomplete);
}

TEST(ScanRequestHeadTest, LongTargetsAndHeadsAreRefusedBeforeTheyEnd) {
  const ServerLimits l = Small();
  // Known too long before the line ends: no need to wait for the rest.
  EXPECT_EQ(ScanRequestHead("GET /" + std::string(300, 'a'), l).state, HeadState::kTargetTooLong);
  EXPECT_EQ(ScanRequestHead("GET /" + std::string(150, 'a') + " HTTP/1.1\r\n\r\n", l).state,
            HeadState::kTargetTooLong);
  EXPECT_EQ(ScanRequestHead("GET / HTTP/1.1\r\nX: " + std::string(500, 'a'), l).state,
            HeadState::kHeadTooLarge);
  EXPECT_EQ(ScanRequestHead("GET / HTTP/1.1\r\nX: " + std::string(390, 'a') + "\r\n\r\n", l).state,
            HeadState::kHeadTooLarge);
  // Exactly at the limits is fine.
  std::string target = "/" + std::string(99, 'a');
  const std::string head = "GET " + target + " HTTP/1.1\r\n\r\n";
  HeadScan s = ScanRequestHead(head, l);  // views into `head`
  EXPECT_EQ(s.state, HeadState::kComplete);
  EXPECT_EQ(s.target, target);
}

TEST(IsProbeTargetTest, ProbePathsOnly) {
  EXPECT_TRUE(IsProbeTarget("/healthz"));
  EXPECT_TRUE(IsProbeTarget("/readyz?verbose"));
  EXPECT_TRUE(IsProbeTarget("/livez/ping"));
  EXPECT_FALSE(IsProbeTarget("/healthzz"));
  EXPECT_FALSE(IsProbeTarget("/apis/mlspace.io/v1alpha1/mlspacejobs"));
  EXPECT_FALSE(IsProbeTarget(""));
}

TEST(ConnectionLimiterTest, CapsPerClientAndInAll) {
  ConnectionLimiter limiter(2, 3);
  EXPECT_TRUE(limiter.Admit("a"));
  EXPECT_TRUE(limiter.Admit("a"));
  EXPECT_FALSE(limiter.Admit("a"));  // per client
  EXPECT_TRUE(limiter.Admit("b"));
  EXPECT_FALSE(limiter.Admit("c"));  // in all
  EXPECT_EQ(limiter.total(), 3);
  EXPECT_EQ(limiter.of("a"), 2);
  EXPECT_EQ(limiter.of("c"), 0);
  limiter.Release("a");
  EXPECT_TRUE(limiter.Admit("c"));
  limiter.Release("never-admitted");  // ignored
  EXPECT_EQ(limiter.total(), 3);
}

TEST(ParseRequestTargetTest, DotSegmentsAndBadEscapesAreRefused) {
  for (const char* bad : {"/apis/../healthz", "/a/./b", "/a/%2e%2e/b", "/a/%2E%2e", "/a/.%2e/b",
                          "/a%zz", "/a?x=%g1", "/a%"}) {
    ApiRequest req;
    EXPECT_FALSE(ParseRequestTarget(bad, req).ok()) << bad;
  }
  ApiRequest req;
  ASSERT_TRUE(ParseRequestTarget("/a/b..c/.d?labelSelector=a%3Db", req).ok());
  EXPECT_EQ(req.path, "/a/b..c/.d");
  EXPECT_EQ(req.query.find("labelSelector")->second, "a=b");
}

// --- A real server on loopback ----------------------------------------------

int Connect(uint16_t port, const char* from = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from, &src.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Everything the server sends until it closes or `timeout` passes.
std::string ReadUntilClose(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int CountOf(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

class LimitsServerTest : public ::testing::Test {
 protected:
  void StartWith(ServerLimits limits, int threads = 1, int watches = 1) {
    ServerOptions o{HostPort{"127.0.0.1", 0}, threads, ""};
    o.max_watches = watches;
    o.limits = limits;
    auto s = ApiServer::Start(handler_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  // One request on a fresh connection: the whole answer (Connection: close).
  std::string Get(const std::string& target, const char* from = "127.0.0.1") {
    int fd = Connect(server_->port(), from);
    if (fd < 0) return "";
    SendAll(fd, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string r = ReadUntilClose(fd, std::chrono::seconds(2));
    close(fd);
    return r;
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  ApiHandler handler_{store_, clock_, ControllerHooks{}, HandlerOptions{}};
  std::unique_ptr<ApiServer> server_;
};

TEST_F(LimitsServerTest, DrippingHeadsHoldNoThreads) {
  StartWith(ServerLimits{});  // two worker threads in all
  std::vector<int> drips;
  for (int i = 0; i < 40; ++i) {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /apis/mlspace.io/v1alpha1/mlspacejobs HTTP/1.1\r\nX-Drip: ");
    drips.push_back(fd);
  }
  for (int fd : drips) SendAll(fd, "a");
  const auto t0 = Clock::now();
  std::string health = Get("/healthz");
  std::string list = Get("/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_EQ(list.rfind("HTTP/1.1 200", 0), 0u) << list;
  EXPECT_NE(list.find("MLSpaceJobList"), std::string::npos);
  for (int fd : drips) close(fd);
}

// A request followed by the start of a pipelined one: the rest of that head
// is waited for by the acceptor too, not on the worker that served the first.
TEST_F(LimitsServerTest, PipelinedPartialHeadsHoldNoThreads) {
  StartWith(ServerLimits{});  // two worker threads in all
  std::vector<int> drips;
  for (int i = 0; i < 40; ++i) {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /apis/mlspace.io/v1alpha1/mlspacejobs HTTP/1.1\r\nHost: x\r\n\r\nGET /ap");
    drips.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = Clock::now();
  std::string list = Get("/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(list.rfind("HTTP/1.1 200", 0), 0u) << list;
  // Each dripping connection got its first answer.
  for (int fd : drips) {
    std::string r = ReadUntilClose(fd, std::chrono::milliseconds(50));
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
    close(fd);
  }
}

TEST_F(LimitsServerTest, AHeadNotWholeInTimeIs408AndClosed) {
  ServerLimits l;
  l.head_timeout = std::chrono::milliseconds(300);
  StartWith(l);
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /healthz HTTP/1.1\r\n");
  const auto t0 = Clock::now();
  std::string r = ReadUntilClose(fd, std::chrono::seconds(3));
  close(fd);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
}

TEST_F(LimitsServerTest, LongTargetsAndHeadsAreAnsweredNotBuffered) {
  StartWith(ServerLimits{});
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  std::thread writer(
      [fd] { SendAll(fd, "GET /" + std::string(1 << 20, 'a') + " HTTP/1.1\r\n\r\n"); });
  std::string r = ReadUntilClose(fd, std::chrono::seconds(5));
  shutdown(fd, SHUT_RDWR);
  writer.join();
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 414", 0), 0u) << r.substr(0, 100);

  fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  std::thread writer2(
      [fd] { SendAll(fd, "GET / HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n"); });
  r = ReadUntilClose(fd, std::chrono::seconds(5));
  shutdown(fd, SHUT_RDWR);
  writer2.join();
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r.substr(0, 100);
}

TEST_F(LimitsServerTest, BadEscapesAndDotSegmentsAre400) {
  StartWith(ServerLimits{});
  for (const char* t : {"/apis/mlspace.io/v1alpha1/%zz", "/apis/../healthz",
                        "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/%2e%2e/x"}) {
    std::string r = Get(t);
    EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << t << ": " << r;
    // A Status body that parses although the message quotes the input.
    size_t body = r.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << r;
    auto status = nlohmann::json::parse(r.substr(body + 4), nullptr, false);
    ASSERT_FALSE(status.is_discarded()) << r;
    EXPECT_EQ(status["code"], 400);
    EXPECT_EQ(status["reason"], "BadRequest");
  }
}

TEST_F(LimitsServerTest, PipelinedAndHttp10RequestsAreAllAnswered) {
  StartWith(ServerLimits{});
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd,
          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string r = ReadUntilClose(fd, std::chrono::seconds(3));
  close(fd);
  EXPECT_EQ(CountOf(r, "HTTP/1.1 200 OK"), 3) << r;
  EXPECT_NE(r.find("MLSpaceJobList"), std::string::npos);

  // A keep-alive connection goes back to the acceptor between requests and
  // is served again.
  fd = Connect(server_->port());
  SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  r = ReadUntilClose(fd, std::chrono::seconds(3));
  close(fd);
  EXPECT_EQ(CountOf(r, "HTTP/1.1 200 OK"), 2) << r;

  fd = Connect(server_->port());
  SendAll(fd, "GET /healthz HTTP/1.0\r\n\r\n");
  r = ReadUntilClose(fd, std::chrono::seconds(3));  // closes after one answer
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.0 200", 0), 0u) << r;
}

TEST_F(LimitsServerTest, ConnectionsOverTheCapsAre503) {
  ServerLimits l;
  l.max_connections_per_client = 3;
  l.max_connections = 5;
  StartWith(l);
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect(server_->port(), "127.0.0.1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string r = Get("/healthz", "127.0.0.1");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  // Another client still gets in, up to the total.
  r = Get("/healthz", "127.0.0.2");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  // Its slot is freed after the server closed it, just after the client saw
  // the close.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  held.push_back(Connect(server_->port(), "127.0.0.2"));
  held.push_back(Connect(server_->port(), "127.0.0.3"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  r = Get("/healthz", "127.0.0.4");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  // Closed connections free their slots.
  for (int fd : held) close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r = Get("/healthz", "127.0.0.1");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST_F(LimitsServerTest, LargeBodiesAre413WithoutBeingRead) {
  ServerLimits l;
  l.max_body_bytes = 1000;
  StartWith(l);
  int fd = Connect(server_->port());
  SendAll(fd,
          "POST /reconcile HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          "Content-Length: 5000000\r\n\r\n{");
  std::string r = ReadUntilClose(fd, std::chrono::seconds(3));
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;

  // Chunked: counted while read, refused at the limit + 1.
  fd = Connect(server_->port());
  std::string chunk(600, 'a');
  SendAll(fd, "POST /reconcile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" +
                  chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n");
  r = ReadUntilClose(fd, std::chrono::seconds(3));
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
}

}  // namespace
}  // namespace mlspace::apiserver
