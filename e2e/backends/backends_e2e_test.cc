// Two backends in one controller: the emulator as `mlspace` (the default)
// and a LocalGateway as `local`. A manifest without spec.backend runs on
// the emulator, one naming `lab` runs as a local process, one naming an
// unknown backend is Invalid naming spec.backend; --check-config validates
// the file with file:line errors.
//
// Health per backend: two `mlspace` backends on one emulator, one with a
// wrong key. The other's job runs; /readyz?verbose names the failing
// backend; mlspace_gateway_up{backend} is 0 for it and 1 for the other;
// fixing its key file recovers it alone.

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

std::string Manifest(const std::string& name, const std::string& region, const std::string& backend,
                     const std::string& cmd) {
  std::string m = "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
                  "\nspec:\n  region: " + region +
                  "\n  image: cr.ai.cloud.ru/base/py3.11:1\n  instanceType: cpu.2C.8G\n"
                  "  command: [/bin/sh, -c, \"" +
                  cmd + "\"]\n";
  if (!backend.empty()) m += "  backend: " + backend + "\n";
  return m;
}

std::string BackendsYaml(const std::string& emulator_url, const std::string& local_dir) {
  return "default: emu\n"
         "backends:\n"
         "  - name: emu\n"
         "    type: mlspace\n"
         "    url: " +
         emulator_url +
         "\n"
         "    regions: [SR006]\n"
         "  - name: lab\n"
         "    type: local\n"
         "    stateDir: " +
         local_dir +
         "\n"
         "    launcher: " +
         BinaryPath("launcher/mlspace-launch") +
         "\n"
         "    maxWorkers: 1\n"
         "    regions:\n"
         "      workstation: DGX2-MT\n";
}

std::vector<std::string> ControllerArgs(const TempDir& tmp, const std::string& repo,
                                        const std::string& backends, const std::string& ports) {
  return {BinaryPath("controller/cmd/mlspace-controller"),
          "--manifests",
          repo,
          "--state-dir",
          tmp / "state",
          "--backends",
          backends,
          "--api-bind-address",
          "127.0.0.1:0",
          "--metrics-bind-address",
          "127.0.0.1:0",
          "--ports-file",
          ports,
          "--poll-interval",
          "200ms",
          "--resync-interval",
          "2s"};
}

TEST(BackendsE2eTest, OneJobOnEachBackendAndAnUnknownBackendIsInvalid) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/on-emu.yaml", Manifest("on-emu", "SR006", "", "echo emu"));
  repo.Write("jobs/on-lab.yaml", Manifest("on-lab", "workstation", "lab", "echo from-lab-backend"));
  repo.Write("jobs/nowhere.yaml", Manifest("nowhere", "SR006", "gpu-farm", "echo no"));
  repo.Commit("three jobs");

  Emulator emulator(tmp, {"--pending-duration", "200ms", "--run-duration", "1s"});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string backends = tmp / "backends.yaml";
  WriteFile(backends, BackendsYaml(emulator.url(), tmp / "lab-jobs"));

  // --check-config validates the file.
  std::string out;
  std::vector<std::string> args = ControllerArgs(tmp, repo.path(), backends, tmp / "p0.json");
  std::string cmd;
  for (const auto& a : args) cmd += "'" + a + "' ";
  // The default backend reads its credentials from the environment, as the
  // controller below does; without them --check-config names the backend.
  const std::string creds =
      std::string("MLSPACE_API_KEY=") + kApiKey + " MLSPACE_WORKSPACE_ID=" + kWorkspace + " ";
  EXPECT_EQ(Sh(creds + cmd + "--check-config 2>&1", &out), 0) << out;
  EXPECT_EQ(
      Sh("env -u MLSPACE_API_KEY -u MLSPACE_WORKSPACE_ID " + cmd + "--check-config 2>&1", &out), 2)
      << out;
  EXPECT_NE(out.find(backends + ":3: backends[emu]: gateway credentials: MLSPACE_WORKSPACE_ID"),
            std::string::npos)
      << out;
  const std::string broken = tmp / "broken.yaml";
  WriteFile(broken, "backends:\n  - name: emu\n    type: mlspace\n    url: ftp://x\n");
  args = ControllerArgs(tmp, repo.path(), broken, tmp / "p0.json");
  cmd.clear();
  for (const auto& a : args) cmd += "'" + a + "' ";
  EXPECT_EQ(Sh(cmd + "--check-config 2>&1", &out), 2) << out;
  EXPECT_NE(out.find(broken + ":4: backends[emu].url: expected an http:// or https:// URL"),
            std::string::npos)
      << out;

  const std::string log = tmp / "controller.log";
  const std::string ports = tmp / "ports.json";
  Process controller(ControllerArgs(tmp, repo.path(), backends, ports), log,
                     {{"MLSPACE_API_KEY", kApiKey}, {"MLSPACE_WORKSPACE_ID", kWorkspace}});
  const auto bound = WaitForControllerPorts(ports, 30s);
  ASSERT_TRUE(bound) << ReadFile(log);
  const int api_port = bound->api;
  auto object = [&](const std::string& name) {
    return GetJson(api_port, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/" + name);
  };
  auto phase = [&](const std::string& name) -> std::string {
    json o = object(name);
    if (!o.is_object() || !o["status"].is_object()) return "";
    return o["status"].value("phase", "");
  };
  ASSERT_TRUE(WaitFor(
      [&] { return phase("on-emu") == "Succeeded" && phase("on-lab") == "Succeeded"; }, 60s))
      << "on-emu " << phase("on-emu") << ", on-lab " << phase("on-lab") << "\n"
      << ReadFile(log);

  // The default backend's job went to the emulator, the other's did not.
  EXPECT_EQ(emulator.JobsOf("on-emu").size(), 1u);
  EXPECT_EQ(emulator.JobsOf("on-lab").size(), 0u);
  EXPECT_EQ(emulator.JobsOf("nowhere").size(), 0u);
  // The local backend ran it in its own directory; its output is served.
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_directory(tmp / "lab-jobs", ec));
  json lab = object("on-lab");
  std::string job = lab["status"].value("remoteJobName", "");
  ASSERT_FALSE(job.empty()) << lab.dump();
  EXPECT_EQ(job.rfind("lj-", 0), 0u) << "a LocalGateway job name: " << job;
  HttpReply logs = HttpCall("GET", api_port,
                            "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/on-lab/log");
  EXPECT_NE(logs.body.find("from-lab-backend"), std::string::npos)
      << logs.status << " " << logs.body;

  // An unknown backend: Invalid, the message names the field.
  json bad = object("nowhere");
  ASSERT_TRUE(bad.is_object()) << bad.dump();
  EXPECT_EQ(bad["status"].value("phase", ""), "Invalid") << bad.dump();
  EXPECT_NE(bad.dump().find("spec.backend: unknown backend \\\"gpu-farm\\\""), std::string::npos)
      << bad.dump();

  // Still exactly one job each after a few more polls and resyncs.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(emulator.JobsOf("on-emu").size(), 1u);
  controller.Signal(SIGTERM);
  EXPECT_EQ(controller.Wait(20s), std::optional<int>(0));
}

// The value of one exposed series (name{labels} exactly as served), or -1.
double SeriesValue(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stod(text.substr(pos + series.size() + 1));
    pos += series.size();
  }
  return -1;
}

// The sum of the series whose exposed line starts with `prefix`.
double SumOf(const std::string& text, const std::string& prefix) {
  double sum = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
    pos = end + 1;
  }
  return sum;
}

bool HasCondition(const json& object, const std::string& reason) {
  if (!object.is_object() || !object["status"].is_object()) return false;
  for (const auto& c : object["status"].value("conditions", json::array())) {
    if (c.value("reason", "") == reason && c.value("status", "") == "True") return true;
  }
  return false;
}

TEST(BackendsE2eTest, WrongKeyOnOneBackendPausesItAloneAndFixingItRecoversIt) {
  namespace fs = std::filesystem;
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/on-good.yaml", Manifest("on-good", "SR006", "good", "echo good"));
  repo.Write("jobs/on-bad.yaml", Manifest("on-bad", "SR006", "bad", "echo bad"));
  repo.Commit("one job per backend");

  // Each backend reads its own credentials directory (secretsDir).
  auto write_secret = [&](const std::string& backend, const std::string& name,
                          const std::string& value) {
    fs::create_directories(tmp / (backend + "-secrets/mlspace"));
    const std::string path = tmp / (backend + "-secrets/mlspace/" + name);
    WriteFile(path + ".tmp", value + "\n");
    fs::rename(path + ".tmp", path);
  };
  for (const char* b : {"good", "bad"}) write_secret(b, "workspace-id", kWorkspace);
  write_secret("good", "api-key", kApiKey);
  write_secret("bad", "api-key", "wrong-key-backends-e2e");

  Emulator emulator(tmp, {"--pending-duration", "200ms", "--run-duration", "1s"});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string backends = tmp / "backends.yaml";
  std::string yaml = "default: good\nbackends:\n";
  for (const char* b : {"good", "bad"}) {
    yaml += std::string("  - name: ") + b + "\n    type: mlspace\n    url: " + emulator.url() +
            "\n    secretsDir: " + std::string(tmp / (std::string(b) + "-secrets")) +
            "\n    regions: [SR006]\n";
  }
  WriteFile(backends, yaml);

  const std::string log = tmp / "controller.log";
  const std::string ports = tmp / "ports.json";
  // No MLSPACE_* in the environment: each key comes from its backend's files.
  Process controller(ControllerArgs(tmp, repo.path(), backends, ports), log);
  const auto bound = WaitForControllerPorts(ports, 30s);
  ASSERT_TRUE(bound) << ReadFile(log);
  const int api_port = bound->api, metrics_port = bound->metrics;
  auto object = [&](const std::string& name) {
    return GetJson(api_port, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/" + name);
  };
  auto phase = [&](const std::string& name) -> std::string {
    json o = object(name);
    if (!o.is_object() || !o["status"].is_object()) return "";
    return o["status"].value("phase", "");
  };

  // The good backend's job runs to completion while the bad one refuses.
  ASSERT_TRUE(WaitFor([&] { return phase("on-good") == "Succeeded"; }, 60s))
      << "on-good " << phase("on-good") << "\n"
      << ReadFile(log);
  EXPECT_EQ(emulator.JobsOf("on-good").size(), 1u);
  EXPECT_EQ(emulator.JobsOf("on-bad").size(), 0u);
  json bad;
  ASSERT_TRUE(WaitFor(
      [&] {
        bad = object("on-bad");
        return HasCondition(bad, "GatewayUnauthorized");
      },
      15s))
      << bad.dump();
  EXPECT_EQ(bad["status"].value("phase", ""), "Pending") << bad.dump();
  EXPECT_NE(bad.dump().find("backend bad rejects the controller's credentials"), std::string::npos)
      << bad.dump();
  EXPECT_FALSE(HasCondition(object("on-good"), "GatewayUnauthorized"));

  // /readyz?verbose names the failing backend (API port and metrics port).
  HttpReply ready = HttpCall("GET", api_port, "/readyz?verbose");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("[-]gateway:bad failed: gateway rejects the credentials"),
            std::string::npos)
      << ready.body;
  EXPECT_NE(ready.body.find("Invalid api-key"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("[+]gateway:good ok"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.body.find("[-]gateway:good"), std::string::npos) << ready.body;
  HttpReply probe = HttpCall("GET", metrics_port, "/readyz?verbose");
  EXPECT_EQ(probe.status, 500);
  EXPECT_NE(probe.body.find("[-]gateway:bad failed"), std::string::npos) << probe.body;

  // Per-backend series: up 0 vs 1, 401s counted on bad only, good's 2xx.
  std::string metrics = HttpCall("GET", metrics_port, "/metrics").body;
  EXPECT_EQ(SeriesValue(metrics, "mlspace_gateway_up{backend=\"bad\"}"), 0) << metrics;
  EXPECT_EQ(SeriesValue(metrics, "mlspace_gateway_up{backend=\"good\"}"), 1) << metrics;
  EXPECT_GE(SeriesValue(metrics, "mlspace_gateway_auth_failures_total{backend=\"bad\"}"), 1);
  EXPECT_EQ(SeriesValue(metrics, "mlspace_gateway_auth_failures_total{backend=\"good\"}"), 0);
  EXPECT_GE(SumOf(metrics, "mlspace_gateway_requests_total{backend=\"bad\",code=\"401\""), 1)
      << metrics;
  EXPECT_EQ(SumOf(metrics, "mlspace_gateway_requests_total{backend=\"good\",code=\"401\""), 0);
  EXPECT_GE(SumOf(metrics, "mlspace_gateway_requests_total{backend=\"good\",code=\"2"), 2);
  EXPECT_GE(SumOf(metrics, "rest_client_requests_total{backend=\"bad\",code=\"401\""), 1);
  EXPECT_GE(SumOf(metrics, "rest_client_request_duration_seconds_count{backend=\"good\""), 2);
  // While paused, bad sends one probe per backoff, not a request per poll.
  EXPECT_LE(SeriesValue(metrics, "mlspace_gateway_auth_failures_total{backend=\"bad\"}"), 3);
  std::string text = ReadFile(log);
  EXPECT_EQ(text.find("wrong-key-backends-e2e"), std::string::npos) << "a secret reached the log";

  // Fix bad's key file: its next probe (30 s after the first 401) recovers
  // it, and its job is submitted exactly once.
  write_secret("bad", "api-key", kApiKey);
  ASSERT_TRUE(WaitFor([&] { return phase("on-bad") == "Succeeded"; }, 90s))
      << "on-bad " << phase("on-bad") << "\n"
      << ReadFile(log);
  EXPECT_EQ(emulator.JobsOf("on-bad").size(), 1u);
  EXPECT_EQ(emulator.JobsOf("on-good").size(), 1u);
  EXPECT_FALSE(HasCondition(object("on-bad"), "GatewayUnauthorized"));
  EXPECT_TRUE(WaitFor([&] { return HttpCall("GET", api_port, "/readyz").status == 200; }, 10s));
  metrics = HttpCall("GET", metrics_port, "/metrics").body;
  EXPECT_EQ(SeriesValue(metrics, "mlspace_gateway_up{backend=\"bad\"}"), 1) << metrics;
  controller.Signal(SIGTERM);
  EXPECT_EQ(controller.Wait(20s), std::optional<int>(0));
}

}  // namespace
}  // namespace mlspace::e2e
