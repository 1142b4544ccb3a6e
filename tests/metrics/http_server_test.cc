#include "controller/metrics/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "controller/metrics/metrics.h"
#include "controller/metrics/probes.h"
#include "tests/fakes/fake_clock.h"

namespace mlspace::metrics {
namespace {

struct HttpAnswer {
  int code = 0;
  std::string headers;
  std::string body;
};

// A minimal HTTP/1.1 GET over loopback: the server closes after answering.
HttpAnswer Get(int port, const std::string& path) {
  HttpAnswer a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return a;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return a;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return a;
  }
  std::string raw;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  auto sep = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || sep == std::string::npos) return a;
  a.code = std::atoi(raw.c_str() + 9);
  a.headers = raw.substr(0, sep);
  a.body = raw.substr(sep + 4);
  return a;
}

std::unique_ptr<HttpServer> StartOrDie(const Metrics* m, const Probes* p) {
  HttpServerOptions o;
  o.bind_address = "127.0.0.1:0";
  o.metrics = m;
  o.probes = p;
  auto r = HttpServer::Start(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(HttpServerTest, ServesMetricsOverLoopbackWithTheChosenPort) {
  Metrics m;
  m.RegisterController("mlspacejob", 2);
  m.SetObjectPhase("ns", "a", "Running");
  auto server = StartOrDie(&m, nullptr);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  HttpAnswer a = Get(server->port(), "/metrics");
  ASSERT_EQ(a.code, 200) << a.headers;
  EXPECT_NE(a.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  for (const char* family :
       {"# TYPE controller_runtime_reconcile_total counter",
        "# TYPE controller_runtime_reconcile_time_seconds histogram",
        "# TYPE mlspacejob_status_phase gauge", "# TYPE build_info gauge",
        "# TYPE process_resident_memory_bytes gauge", "# TYPE process_cpu_seconds_total counter",
        "mlspacejob_status_phase{namespace=\"ns\",name=\"a\",phase=\"Running\"} 1"}) {
    EXPECT_NE(a.body.find(family), std::string::npos) << family;
  }
  // Probes are not served when not configured.
  EXPECT_EQ(Get(server->port(), "/healthz").code, 404);
}

TEST(HttpServerTest, ProbesReportFailingChecksInControllerRuntimeFormat) {
  Probes probes;
  testing::FakeClock clock;
  Heartbeat beat(clock, std::chrono::seconds(30));
  ReadyFlag synced("source synced");
  probes.AddHealthCheck("ping", [] { return OkStatus(); });
  probes.AddHealthCheck("worker", beat.AsCheck());
  probes.AddReadyCheck("source", synced.AsCheck());
  auto server = StartOrDie(nullptr, &probes);
  ASSERT_NE(server, nullptr);

  HttpAnswer h = Get(server->port(), "/healthz");
  EXPECT_EQ(h.code, 200);
  EXPECT_EQ(h.body, "ok");
  HttpAnswer hv = Get(server->port(), "/healthz?verbose");
  EXPECT_EQ(hv.code, 200);
  EXPECT_EQ(hv.body, "[+]ping ok\n[+]worker ok\nhealthz check passed\n");

  HttpAnswer r = Get(server->port(), "/readyz");
  EXPECT_EQ(r.code, 500);
  EXPECT_EQ(r.body, "[-]source failed: source synced not yet\nreadyz check failed\n");
  synced.Set();
  EXPECT_EQ(Get(server->port(), "/readyz").code, 200);

  clock.Advance(std::chrono::seconds(31));
  h = Get(server->port(), "/healthz");
  EXPECT_EQ(h.code, 500);
  EXPECT_NE(h.body.find("[-]worker failed: no heartbeat for 31s"), std::string::npos) << h.body;
  beat.Beat();
  EXPECT_EQ(Get(server->port(), "/healthz").code, 200);
  // Metrics are not served when not configured.
  EXPECT_EQ(Get(server->port(), "/metrics").code, 404);
}

TEST(HttpServerTest, BadAddressesAreOneLineErrorsNamingTheFlag) {
  HttpServerOptions o;
  o.bind_address = "nonsense";
  o.flag = "--metrics-bind-address";
  auto r = HttpServer::Start(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--metrics-bind-address"), std::string::npos);

  Metrics m;
  auto first = StartOrDie(&m, nullptr);
  ASSERT_NE(first, nullptr);
  o.bind_address = "127.0.0.1:" + std::to_string(first->port());
  r = HttpServer::Start(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // civetweb's own words for this are "null context when constructing
  // CivetServer"; the error says what happened.
  EXPECT_EQ(r.status().message(),
            "--metrics-bind-address " + o.bind_address + ": cannot listen: address already in use");
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
}

std::string FindPromtool() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

TEST(HttpServerTest, PromtoolCheckMetricsFindsNothingInALiveScrape) {
  std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (scripts/deps.sh installs it)";
  Metrics m;
  m.RegisterController("mlspacejob", 4);
  m.ObserveReconcile("mlspacejob", ReconcileResult::kSuccess, 0.01);
  m.RegisterWorkqueue("mlspacejob");
  m.ObserveWorkqueueWorkDuration("mlspacejob", 0.01);
  m.RegisterBackend("default");
  m.ObserveRestRequest("default", "POST", "127.0.0.1:9000", "201", 0.1);
  m.IncGatewayRequest("default", "jobs_create", "201");
  m.SetObjectInfo("ns", "a", "SR006", "lm-mpi-job-1");
  m.SetObjectPhase("ns", "a", "Running");
  m.ObserveJobRunDuration(100);
  m.SetSourceRevision("abc");
  m.SetLastSyncTimestamp(1.7e9);
  auto server = StartOrDie(&m, nullptr);
  ASSERT_NE(server, nullptr);
  HttpAnswer a = Get(server->port(), "/metrics");
  ASSERT_EQ(a.code, 200);
  std::string dir = std::getenv("MLSPACE_BINARY_DIR") ? std::getenv("MLSPACE_BINARY_DIR") : ".";
  std::string file = dir + "/metrics_scrape_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream out(file);
    out << a.body;
  }
  std::string cmd = promtool + " check metrics < " + file + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int rc = pclose(pipe);
  std::remove(file.c_str());
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "") << output;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLSPACE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLSPACE_SANITIZED 1
#endif
#endif

TEST(HttpServerTest, ScrapeOfTenThousandObjectsOverHttpIsFast) {
  Metrics m;
  for (int i = 0; i < 10000; ++i) {
    std::string ns = "team-" + std::to_string(i % 20), name = "job-" + std::to_string(i);
    m.SetObjectInfo(ns, name, "SR006", "lm-mpi-job-" + name);
    m.SetObjectPhase(ns, name, i % 4 ? "Running" : "Pending");
  }
  auto server = StartOrDie(&m, nullptr);
  ASSERT_NE(server, nullptr);
  double best_ms = 1e9;
  size_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    HttpAnswer a = Get(server->port(), "/metrics");
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(a.code, 200);
    best_ms = std::min(best_ms, ms);
    bytes = a.body.size();
  }
  std::printf("10k objects over HTTP: %zu bytes, best of 5: %.1f ms\n", bytes, best_ms);
  EXPECT_GT(bytes, 10000u * 2 * 50);
#ifndef MLSPACE_SANITIZED
  EXPECT_LT(best_ms, 50.0);
#endif
}

}  // namespace
}  // namespace mlspace::metrics
