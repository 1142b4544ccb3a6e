// Two backends in one controller: the emulator as `mlspace` (the default)
// and a LocalGateway as `local`. A manifest without spec.backend runs on
// the emulator, one naming `lab` runs as a local process, one naming an
// unknown backend is Invalid naming spec.backend; --check-config validates
// the file with file:line errors.

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
  EXPECT_EQ(Sh(cmd + "--check-config 2>&1", &out), 0) << out;
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
  int api_port = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = json::parse(ReadFile(ports), nullptr, false);
        if (j.is_discarded() || !j.contains("api")) return false;
        api_port = j["api"].get<int>();
        return true;
      },
      30s))
      << ReadFile(log);
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

}  // namespace
}  // namespace mlspace::e2e
