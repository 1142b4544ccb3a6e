// A real Prometheus scrapes a live Metrics server every second; every panel
// query of the dashboard must return data and the alert rules must load.
// The controller scenario e2e reuses the same scripts against the real binary.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>

#include "controller/metrics/http_server.h"
#include "controller/metrics/metrics.h"
#include "controller/metrics/probes.h"

namespace mlspace::metrics {
namespace {

std::string SourceDir() {
  const char* d = std::getenv("MLSPACE_SOURCE_DIR");
  return d != nullptr ? d : ".";
}

// Runs a shell command; returns {exit code, stdout+stderr}.
std::pair<int, std::string> RunShell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::map<std::string, std::string> ParseKeyValues(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return out;
}

void FeedEveryFamily(Metrics& m) {
  m.RegisterController("mlspacejob", 4);
  m.RegisterWorkqueue("mlspacejob");
  m.ObserveReconcile("mlspacejob", ReconcileResult::kSuccess, 0.02);
  m.ObserveReconcile("mlspacejob", ReconcileResult::kError, 0.4);
  m.SetActiveWorkers("mlspacejob", 1);
  m.SetWorkqueueDepth("mlspacejob", 3);
  m.IncWorkqueueAdds("mlspacejob");
  m.ObserveWorkqueueQueueDuration("mlspacejob", 0.002);
  m.ObserveWorkqueueWorkDuration("mlspacejob", 0.02);
  m.IncWorkqueueRetries("mlspacejob");
  // Two backends, as a --backends file names them: every gateway panel
  // groups or filters by `backend`.
  for (const char* b : {"emu", "lab"}) m.RegisterBackend(b);
  m.ObserveRestRequest("emu", "POST", "127.0.0.1:9", "201", 0.05);
  m.ObserveRestRequest("emu", "GET", "127.0.0.1:9", "429", 0.01);
  m.ObserveRestRequest("lab", "GET", "127.0.0.1:8", "401", 0.01);
  m.IncGatewayRequest("emu", "jobs_create", "201");
  m.IncGatewayRequest("emu", "jobs_list", "429");
  m.IncGatewayRequest("lab", "jobs_list", "401");
  m.IncBackendRequest("emu", "submit", "ok");
  m.IncBackendRequest("lab", "list", "unauthorized");
  m.IncGatewayThrottled("emu");
  m.SetGatewayUp("lab", false);
  m.IncGatewayAuthFailures("lab");
  m.SetListVisibilityLag("SR006", 2.5);
  const char* phases[] = {"Pending", "Running", "Succeeded", "Failed"};
  for (int i = 0; i < 8; ++i) {
    std::string name = "job-" + std::to_string(i);
    m.SetObjectInfo(i % 2 ? "team-a" : "team-b", name, i % 3 ? "SR006" : "SR004",
                    "lm-mpi-job-" + name);
    m.SetObjectPhase(i % 2 ? "team-a" : "team-b", name, phases[i % 4]);
  }
  m.IncSubmission("success");
  m.IncJobRetries();
  m.IncCancellation("suspend");
  m.ObserveJobPendingDuration(12);
  m.ObserveJobRunDuration(600);
  m.SetSourceRevision("0123456789ab");
  m.SetLastSyncTimestamp(static_cast<double>(std::time(nullptr)));
  m.SetManifestCounts(8, 1, 2);
  m.SetSourceReady(true);
  m.IncSourceFetchErrors();
  m.SetSourceInvalidFiles(1);
  m.IncPruneRefused("max_fraction");
}

TEST(PrometheusE2eTest, EveryDashboardQueryReturnsDataAndRulesLoad) {
  if (access("/usr/bin/prometheus", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/prometheus not installed (scripts/deps.sh installs it)";
  }
  Metrics m;
  FeedEveryFamily(m);
  HttpServerOptions o;
  o.bind_address = "127.0.0.1:0";
  o.metrics = &m;
  auto server = HttpServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  std::string src = SourceDir();
  auto [rc, out] = RunShell(src + "/e2e/metrics/start_prometheus.sh --target 127.0.0.1:" +
                            std::to_string((*server)->port()) + " --rules " + src +
                            "/charts/mlspace-operator/alerts/mlspace-operator.rules.yaml");
  ASSERT_EQ(rc, 0) << out;
  auto kv = ParseKeyValues(out);
  ASSERT_TRUE(kv.count("PROMETHEUS_URL") && kv.count("PROMETHEUS_PID")) << out;
  pid_t pid = static_cast<pid_t>(std::atoi(kv["PROMETHEUS_PID"].c_str()));
  ASSERT_GT(pid, 0);

  auto [qrc, qout] = RunShell("python3 " + src + "/e2e/metrics/dashboard_queries.py --prometheus " +
                              kv["PROMETHEUS_URL"] + " --timeout 90");
  EXPECT_EQ(qrc, 0) << qout;

  auto [arc, alerts] = RunShell(
      "python3 -c 'import sys,urllib.request;"
      "print(urllib.request.urlopen(sys.argv[1]).read().decode())' " +
      kv["PROMETHEUS_URL"] + "/api/v1/rules");
  EXPECT_EQ(arc, 0) << alerts;
  for (const char* name : {"MLSpaceControllerDown", "MLSpaceReconcileErrorsHigh",
                           "MLSpaceGatewayThrottled", "MLSpaceGatewayAuthFailing",
                           "MLSpaceGitSyncStale", "MLSpaceJobStuckPending", "MLSpaceJobFailed"}) {
    EXPECT_NE(alerts.find(std::string("\"name\":\"") + name + "\""), std::string::npos) << name;
  }
  EXPECT_EQ(alerts.find("\"health\":\"err"), std::string::npos) << alerts;

  kill(pid, SIGTERM);
  for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) usleep(100 * 1000);
  if (kill(pid, 0) == 0) kill(pid, SIGKILL);
  if (kv.count("PROMETHEUS_DIR") && kv["PROMETHEUS_DIR"].rfind("/tmp/prometheus.", 0) == 0) {
    (void)RunShell("rm -rf '" + kv["PROMETHEUS_DIR"] + "'");
  }
}

}  // namespace
}  // namespace mlspace::metrics
