// Issue 11, "Slow and hostile peers", against the real mlspace-controller
// (MLSPACE_CONTROLLER, else the build's) with raw sockets on loopback: dripping request
// heads, 10,000 idle connections, 1 MB targets and headers, bad escapes,
// dot segments, HTTP/1.0 and pipelining. Connections come from several
// 127.x.y.z source addresses (all loopback on Linux), as many clients
// would, so the per-client cap does not hide what the test looks at.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "e2e/harness/harness.h"

namespace mlspace {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char kList[] = "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs";

int Connect(int port, const std::string& from) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
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

std::string ReadUntilClose(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[8192];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (poll(&p, 1, std::max<int>(static_cast<int>(left.count()), 1)) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One request on its own connection: {status line, elapsed}.
struct Answer {
  std::string text;
  Clock::duration took{};
};
Answer Get(int port, const std::string& target, const std::string& from = "127.0.9.1",
           std::chrono::milliseconds timeout = 2000ms) {
  Answer a;
  const auto t0 = Clock::now();
  int fd = Connect(port, from);
  if (fd >= 0) {
    SendAll(fd, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    a.text = ReadUntilClose(fd, timeout);
    close(fd);
  }
  a.took = Clock::now() - t0;
  return a;
}

bool StartsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

long ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

class HostileClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Room for 10,000 client sockets here (the controller raises its own).
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    dir_ = "/tmp/mlspace-hostile-e2e-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_ + "/m");
    ASSERT_EQ(std::system(("git -C " + dir_ + "/m init -q && git -C " + dir_ +
                           "/m -c user.name=t -c user.email=t@t commit -q --allow-empty -m x")
                              .c_str()),
              0);
    const char* env = std::getenv("MLSPACE_CONTROLLER");
    const std::string path =
        env != nullptr ? env : e2e::BinaryPath("controller/cmd/mlspace-controller");
    const char* bin = path.c_str();
    const std::string ports = dir_ + "/ports.json", log = dir_ + "/log";
    pid_ = fork();
    if (pid_ == 0) {
      if (freopen(log.c_str(), "w", stdout) == nullptr) _exit(126);
      dup2(fileno(stdout), 2);
      const std::string m = dir_ + "/m", st = dir_ + "/st";
      execl(bin, bin, "--manifests", m.c_str(), "--state-dir", st.c_str(), "--metrics-bind-address",
            "127.0.0.1:0", "--api-bind-address", "127.0.0.1:0", "--ports-file", ports.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid_, 0);
    std::string text;
    for (int i = 0; i < 500 && text.find("\"api\"") == std::string::npos; ++i) {
      std::this_thread::sleep_for(20ms);
      std::ifstream in(ports);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::smatch api, metrics;
    ASSERT_TRUE(std::regex_search(text, api, std::regex(R"("api":(\d+))"))) << text;
    ASSERT_TRUE(std::regex_search(text, metrics, std::regex(R"("metrics":(\d+))"))) << text;
    api_port_ = std::stoi(api[1]);
    metrics_port_ = std::stoi(metrics[1]);
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    ASSERT_GT(api_port_, 0);
    ASSERT_EQ(kill(pid_, 0), 0) << "the controller is gone";
  }

  static inline std::string dir_;
  static inline pid_t pid_ = -1;
  static inline int api_port_ = 0;
  static inline int metrics_port_ = 0;
};

TEST_F(HostileClientsTest, DrippingHeadsLeaveProbesAndListsAnswering) {
  // More dripping clients than the API has threads (8 + 256 watch slots).
  std::vector<int> drips;
  for (int i = 0; i < 320; ++i) {
    int fd = Connect(api_port_, "127.0.1." + std::to_string(1 + i / 64));
    if (fd < 0) continue;
    SendAll(fd, "GET /apis/mlspace.io/v1alpha1/mlspacejobs HTTP/1.1\r\nHost: x\r\nX-Drip: ");
    drips.push_back(fd);
  }
  ASSERT_GE(drips.size(), 300u);
  std::atomic<bool> stop{false};
  std::thread dripper([&] {
    while (!stop.load()) {
      for (int fd : drips) send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  for (const char* target : {"/healthz", "/readyz", kList}) {
    Answer a = Get(api_port_, target);
    EXPECT_TRUE(StartsWith(a.text, "HTTP/1.1 200") || StartsWith(a.text, "HTTP/1.1 503"))
        << target << ": " << a.text.substr(0, 200);
    EXPECT_LT(a.took, 1s) << target;
  }
  Answer list = Get(api_port_, kList);
  EXPECT_TRUE(StartsWith(list.text, "HTTP/1.1 200")) << list.text.substr(0, 200);
  EXPECT_NE(list.text.find("MLSpaceJobList"), std::string::npos);
  Answer probe = Get(metrics_port_, "/healthz");
  EXPECT_TRUE(StartsWith(probe.text, "HTTP/1.1 200")) << probe.text;
  EXPECT_LT(probe.took, 1s);
  stop = true;
  dripper.join();
  for (int fd : drips) close(fd);
}

TEST_F(HostileClientsTest, TenThousandIdleConnectionsKeepProbesAnsweringWithBoundedCost) {
  const long rss_before = ProcStatus(pid_, "VmRSS");
  const long threads_before = ProcStatus(pid_, "Threads");
  std::vector<int> idle;
  idle.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    // 50 per address: 200 clients.
    int fd = Connect(api_port_, "127.0.2." + std::to_string(1 + i / 50));
    if (fd >= 0) idle.push_back(fd);
  }
  ASSERT_GE(idle.size(), 9900u) << "could not open the connections";
  std::this_thread::sleep_for(500ms);
  Answer api_probe = Get(api_port_, "/healthz");
  EXPECT_TRUE(StartsWith(api_probe.text, "HTTP/1.1 200")) << api_probe.text;
  EXPECT_LT(api_probe.took, 1s);
  Answer metrics_probe = Get(metrics_port_, "/healthz");
  EXPECT_TRUE(StartsWith(metrics_probe.text, "HTTP/1.1 200")) << metrics_probe.text;
  EXPECT_LT(metrics_probe.took, 1s);
  Answer list = Get(api_port_, kList);
  EXPECT_TRUE(StartsWith(list.text, "HTTP/1.1 200")) << list.text.substr(0, 200);
  const long rss = ProcStatus(pid_, "VmRSS");
  const long threads = ProcStatus(pid_, "Threads");
  RecordProperty("rss_kb_before", std::to_string(rss_before));
  RecordProperty("rss_kb_with_10k", std::to_string(rss));
  RecordProperty("threads_with_10k", std::to_string(threads));
  std::printf("controller: VmRSS %ld -> %ld kB, Threads %ld -> %ld with %zu idle connections\n",
              rss_before, rss, threads_before, threads, idle.size());
  EXPECT_LT(rss - rss_before, 100 * 1024) << "kB for 10,000 idle connections";
  EXPECT_LT(threads, threads_before + 16);
  for (int fd : idle) close(fd);
}

TEST_F(HostileClientsTest, HugeTargetsAndHeadersAreAnsweredOrClosedQuickly) {
  struct Case {
    std::string request;
    std::string status;
  };
  const std::string big(1 << 20, 'a');
  for (const Case& c : {Case{"GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n", "414"},
                        Case{"GET /healthz HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n", "431"}}) {
    const auto t0 = Clock::now();
    int fd = Connect(api_port_, "127.0.3.1");
    ASSERT_GE(fd, 0);
    std::thread writer([&] { SendAll(fd, c.request); });
    std::string r = ReadUntilClose(fd, 5000ms);
    shutdown(fd, SHUT_RDWR);
    writer.join();
    close(fd);
    // A clean answer, or (if the client is still writing when the server
    // closes) a bare close; never a 400 from a parser that choked on it.
    EXPECT_TRUE(r.empty() || StartsWith(r, "HTTP/1.1 " + c.status)) << r.substr(0, 200);
    EXPECT_LT(Clock::now() - t0, 3s);
  }
  // The server is still fine.
  EXPECT_TRUE(StartsWith(Get(api_port_, "/healthz").text, "HTTP/1.1 200"));
}

TEST_F(HostileClientsTest, BadEscapesAndDotSegmentsAre400) {
  for (const std::string& t :
       {std::string(kList) + "/%zz", std::string(kList) + "?labelSelector=%G0",
        std::string("/apis/mlspace.io/../../healthz"), std::string(kList) + "/%2e%2e/x"}) {
    Answer a = Get(api_port_, t);
    EXPECT_TRUE(StartsWith(a.text, "HTTP/1.1 400")) << t << ": " << a.text.substr(0, 200);
  }
}

TEST_F(HostileClientsTest, Http10AndPipelinedRequestsAreAnswered) {
  int fd = Connect(api_port_, "127.0.4.1");
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /healthz HTTP/1.0\r\n\r\n");
  std::string r = ReadUntilClose(fd, 2000ms);  // HTTP/1.0: the server closes
  close(fd);
  EXPECT_TRUE(StartsWith(r, "HTTP/1.0 200")) << r;
  EXPECT_NE(r.find("\r\n\r\nok"), std::string::npos) << r;

  fd = Connect(api_port_, "127.0.4.1");
  ASSERT_GE(fd, 0);
  SendAll(fd, std::string("GET ") + kList + " HTTP/1.1\r\nHost: x\r\n\r\n" +
                  "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  r = ReadUntilClose(fd, 2000ms);
  close(fd);
  size_t first = r.find("HTTP/1.1 200");
  ASSERT_EQ(first, 0u) << r;
  size_t second = r.find("HTTP/1.1 200", first + 1);
  EXPECT_NE(second, std::string::npos) << r;
  EXPECT_NE(r.find("MLSpaceJobList"), std::string::npos);
  EXPECT_LT(r.find("MLSpaceJobList"), second) << "answers out of order";
}

TEST_F(HostileClientsTest, OneClientGetsAtMostItsShareOfConnections) {
  // --api-max-connections-per-client defaults to 256.
  std::vector<int> held;
  for (int i = 0; i < 256; ++i) {
    int fd = Connect(api_port_, "127.0.5.1");
    if (fd >= 0) held.push_back(fd);
  }
  ASSERT_EQ(held.size(), 256u);
  std::this_thread::sleep_for(300ms);
  Answer over = Get(api_port_, "/healthz", "127.0.5.1");
  EXPECT_TRUE(StartsWith(over.text, "HTTP/1.1 503")) << over.text;
  Answer other = Get(api_port_, "/healthz", "127.0.5.2");
  EXPECT_TRUE(StartsWith(other.text, "HTTP/1.1 200")) << other.text;
  for (int fd : held) close(fd);
  std::this_thread::sleep_for(300ms);
  Answer again = Get(api_port_, "/healthz", "127.0.5.1");
  EXPECT_TRUE(StartsWith(again.text, "HTTP/1.1 200")) << again.text;
}

}  // namespace
}  // namespace mlspace
