// Slow gateway (issue 11), end to end: the real controller binary against a
// tiny HTTP server inside the test that drips every answer a byte at a time.
//  * SIGTERM while start-up waits on a dripped list exits within seconds
//    (the API already listens and answers /healthz).
//  * With --gateway-timeout the dripped lists end at their deadline and the
//    controller finishes starting instead of waiting forever.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;

// Accepts connections on 127.0.0.1:0; each gets a thread that reads the
// request head and then drips an endless 200 answer, one byte per 200 ms,
// until the client goes away or the server stops.
class DripServer {
 public:
  DripServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~DripServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    accept_.join();
    ::close(fd_);
    std::lock_guard lock(mu_);
    for (auto& t : conns_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      ++connections_;
      std::lock_guard lock(mu_);
      conns_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    timeval tv{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string head;
    char ch;
    while (!stop_ && head.find("\r\n\r\n") == std::string::npos && ::recv(c, &ch, 1, 0) == 1) {
      head += ch;
    }
    {
      std::lock_guard lock(mu_);
      requests_.push_back(head.substr(0, head.find("\r\n")));
    }
    std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n{\"jobs\":[";
    for (size_t i = 0; !stop_; ++i) {
      char b = i < answer.size() ? answer[i] : ' ';
      if (::send(c, &b, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(i < answer.size() ? 5ms : 200ms);
    }
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_;
  mutable std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<std::string> requests_;
};

struct Started {
  TempDir tmp;
  std::unique_ptr<Process> proc;
  int api_port = 0;
};

// The controller with one job manifest (so start-up lists its region).
void StartController(Started& s, const DripServer& gw, std::vector<std::string> extra) {
  GitRepo repo(s.tmp / "repo");
  repo.Write("jobs/a.yaml", JobManifest("a"));
  repo.Commit("one job");
  std::string ports = s.tmp / "ports.json";
  std::vector<std::string> argv = {BinaryPath("controller/cmd/mlspace-controller"),
                                   "--manifests",
                                   repo.path(),
                                   "--state-dir",
                                   s.tmp / "state",
                                   "--gateway-url",
                                   gw.url(),
                                   "--api-bind-address",
                                   "127.0.0.1:0",
                                   "--metrics-bind-address",
                                   "127.0.0.1:0",
                                   "--ports-file",
                                   ports,
                                   "--instance",
                                   "slow"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.proc = std::make_unique<Process>(
      argv, s.tmp / "controller.log",
      std::map<std::string, std::string>{{"MLSPACE_API_KEY", kApiKey},
                                         {"MLSPACE_WORKSPACE_ID", kWorkspace}});
  const auto bound = WaitForControllerPorts(ports, 30s, [&] { return !s.proc->Running(); });
  if (bound) s.api_port = bound->api;
  ASSERT_GT(s.api_port, 0) << ReadFile(s.proc->log_path());
}

TEST(SlowGatewayE2eTest, SigtermDuringADrippedStartUpListExitsPromptly) {
  DripServer gw;
  Started s;
  // A deadline far beyond the test: only the signal handling can end it.
  StartController(s, gw, {"--gateway-timeout", "10m"});
  ASSERT_TRUE(WaitFor([&] { return gw.connections() > 0; }, 30s)) << "start-up never listed";
  std::this_thread::sleep_for(500ms);  // well inside the dripped answer
  EXPECT_TRUE(s.proc->Running());
  // The API listens during start-up: liveness answers.
  HttpReply h = HttpCall("GET", s.api_port, "/healthz");
  EXPECT_NE(h.status, 0) << "the API does not answer during start-up";
  auto sent = std::chrono::steady_clock::now();
  s.proc->Signal(SIGTERM);
  auto code = s.proc->Wait(5s);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  ASSERT_TRUE(code.has_value()) << "SIGTERM ignored during start-up\n"
                                << ReadFile(s.proc->log_path());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(took, 5.0);
  EXPECT_NE(ReadFile(s.proc->log_path()).find("shutting down during start-up"), std::string::npos);
}

TEST(SlowGatewayE2eTest, DrippedListsEndAtTheGatewayTimeoutAndStartUpCompletes) {
  DripServer gw;
  Started s;
  StartController(s, gw, {"--gateway-timeout", "1s", "--poll-interval", "1h"});
  // Every attempt of the start-up list (5, with backoff) ends at its 1 s
  // deadline: start-up finishes within seconds, not never.
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadFile(s.proc->log_path()).find("controller started") != std::string::npos ||
               !s.proc->Running();
      },
      60s))
      << ReadFile(s.proc->log_path());
  std::string log = ReadFile(s.proc->log_path());
  EXPECT_NE(log.find("controller started"), std::string::npos) << log;
  EXPECT_NE(log.find("deadline"), std::string::npos) << "the list failure names the deadline\n"
                                                     << log;
  EXPECT_GE(gw.connections(), 2) << "reads are retried after a deadline";
  auto reqs = gw.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.front().rfind("GET /public/v2/jobs?region=", 0), 0u) << reqs.front();
  s.proc->Signal(SIGTERM);
  EXPECT_TRUE(s.proc->Wait(15s).has_value());
}

}  // namespace
}  // namespace mlspace::e2e
