// A wrong API key in the secrets directory: the controller says so once
// (one WARN, a failing `gateway` readiness check, mlspace_gateway_up 0, the
// object's condition), sends almost nothing while it lasts, and recovers by
// itself when the key file is fixed, submitting the job exactly once.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.substr(pos, end - pos).find(needle) != std::string::npos) ++n;
    pos = end + 1;
  }
  return n;
}

int Stat401(const Emulator& emulator) {
  json s = emulator.Stats();
  if (!s.is_object() || !s.contains("by_status")) return -1;
  return s["by_status"].value("401", 0);
}

// The value of one series (name plus its labels, as exposed) in a /metrics
// text, or -1.
double MetricValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      return std::stod(text.substr(pos + name.size() + 1));
    }
    pos += name.size();
  }
  return -1;
}

TEST(GatewayAuthE2eTest, WrongKeyPausesOnceAndFixedFileRecovers) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/train.yaml", JobManifest("train"));
  repo.Commit("one job");
  namespace fs = std::filesystem;
  fs::create_directories(tmp / "secrets/mlspace");
  auto write_secret = [&](const std::string& name, const std::string& value) {
    WriteFile(tmp / ("secrets/mlspace/" + name + ".tmp"), value + "\n");
    fs::rename(tmp / ("secrets/mlspace/" + name + ".tmp"), tmp / ("secrets/mlspace/" + name));
  };
  write_secret("workspace-id", kWorkspace);
  write_secret("api-key", "wrong-key-e2e");

  Emulator emulator(tmp, {"--pending-duration", "200ms", "--run-duration", "60s"});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");

  const std::string log = tmp / "controller.log";
  const std::string ports = tmp / "ports.json";
  // No MLSPACE_API_KEY in the environment: the key comes from the file.
  Process controller({BinaryPath("controller/cmd/mlspace-controller"),
                      "--manifests",
                      repo.path(),
                      "--state-dir",
                      tmp / "state",
                      "--gateway-url",
                      emulator.url(),
                      "--secrets-dir",
                      tmp / "secrets",
                      "--api-bind-address",
                      "127.0.0.1:0",
                      "--metrics-bind-address",
                      "127.0.0.1:0",
                      "--ports-file",
                      ports,
                      "--poll-interval",
                      "200ms",
                      "--resync-interval",
                      "2s",
                      "--workers",
                      "2"},
                     log);
  const auto bound = WaitForControllerPorts(ports, 30s);
  ASSERT_TRUE(bound) << ReadFile(log);
  const int api_port = bound->api, metrics_port = bound->metrics;

  // Not ready, and /readyz?verbose (API port and metrics port) says why.
  HttpReply ready;
  ASSERT_TRUE(WaitFor(
      [&] {
        ready = HttpCall("GET", api_port, "/readyz?verbose");
        return ready.status == 503 && ready.body.find("[-]gateway failed") != std::string::npos;
      },
      15s))
      << ready.status << " " << ready.body << "\n"
      << ReadFile(log);
  EXPECT_NE(ready.body.find("Invalid api-key"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("[+]controller ok"), std::string::npos) << ready.body;
  HttpReply probe = HttpCall("GET", metrics_port, "/readyz?verbose");
  EXPECT_EQ(probe.status, 500);
  EXPECT_NE(probe.body.find("[-]gateway failed"), std::string::npos) << probe.body;

  // The object keeps its phase with a condition saying why.
  json obj;
  ASSERT_TRUE(WaitFor(
      [&] {
        obj = GetJson(api_port, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/train");
        if (!obj.is_object() || !obj["status"].is_object()) return false;
        for (const auto& c : obj["status"].value("conditions", json::array())) {
          if (c.value("reason", "") == "GatewayUnauthorized" && c.value("status", "") == "True") {
            return true;
          }
        }
        return false;
      },
      15s))
      << obj.dump();
  EXPECT_EQ(obj["status"].value("phase", ""), "Pending");

  // 8 s of a 200 ms poll, a 2 s resync and a pending object: few requests.
  std::this_thread::sleep_for(8s);
  int refused = Stat401(emulator);
  EXPECT_GE(refused, 1);
  EXPECT_LE(refused, 3) << "401s answered while paused";
  json stats = emulator.Stats();
  EXPECT_EQ(stats.value("jobs_created", -1), 0) << stats.dump();

  std::string metrics = HttpCall("GET", metrics_port, "/metrics").body;
  // From flags the one backend is "default" (docs/backends.md).
  EXPECT_EQ(MetricValue(metrics, "mlspace_gateway_up{backend=\"default\"}"), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "mlspace_gateway_auth_failures_total{backend=\"default\"}"),
            refused);

  std::string text = ReadFile(log);
  EXPECT_EQ(CountLines(text, " WARN "), 1) << text;
  EXPECT_EQ(CountLines(text, "gateway rejects the credentials"), 1) << text;
  EXPECT_EQ(text.find("wrong-key-e2e"), std::string::npos) << "a secret reached the log";

  // Fix the file: the next probe (30 s after the first 401) recovers.
  write_secret("api-key", kApiKey);
  std::string phase;
  ASSERT_TRUE(WaitFor(
      [&] {
        json o =
            GetJson(api_port, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/train");
        phase = o.is_object() && o["status"].is_object() ? o["status"].value("phase", "") : "";
        return phase == "Submitted" || phase == "Running";
      },
      60s))
      << phase << "\n"
      << ReadFile(log);
  EXPECT_EQ(emulator.JobsOf("train").size(), 1u) << "submitted exactly once";
  EXPECT_TRUE(WaitFor([&] { return HttpCall("GET", api_port, "/readyz").status == 200; }, 10s));
  metrics = HttpCall("GET", metrics_port, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "mlspace_gateway_up{backend=\"default\"}"), 1) << metrics;
  text = ReadFile(log);
  EXPECT_EQ(CountLines(text, "accepts the credentials again"), 1) << text;
  EXPECT_EQ(CountLines(text, "credential files changed; using the new credentials"), 1) << text;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(emulator.JobsOf("train").size(), 1u);

  controller.Signal(SIGTERM);
  EXPECT_EQ(controller.Wait(20s), std::optional<int>(0));
}

}  // namespace
}  // namespace mlspace::e2e
