#pragma once

// Shared pieces of the mlspace-controller end-to-end suites: the real
// emulator binary and the real controller binary as child processes on
// loopback, and readers for what each of them shows (the controller's API,
// the emulator's job list and record file). Test-only code.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "e2e/harness/harness.h"

namespace mlspace::e2e {

inline constexpr char kApiKey[] = "e2e-api-key";
inline constexpr char kWorkspace[] = "e2e-workspace";
inline constexpr char kRegion[] = "SR006";

// A manifest for the emulator's --execute=none backend: `fail` makes every
// attempt fail (MLSPACE_SIM_RESULT=failed).
inline std::string JobManifest(const std::string& name, const std::string& cmd = "echo hi",
                               const std::string& run_policy = "", bool fail = false) {
  std::string m = "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
                  "\nspec:\n  region: " + kRegion +
                  "\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
                  "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"" +
                  cmd + "\"]\n";
  if (fail) m += "  env:\n  - name: MLSPACE_SIM_RESULT\n    value: failed\n";
  if (!run_policy.empty()) m += "  runPolicy:\n" + run_policy;
  return m;
}

// mlspace-gateway-emulator --execute=none on 127.0.0.1:0.
class Emulator {
 public:
  Emulator(const TempDir& dir, std::vector<std::string> extra_args) {
    port_file_ = dir / "emulator.port";
    record_ = dir / "emulator-record.jsonl";
    std::vector<std::string> argv = {BinaryPath("controller/cmd/mlspace-gateway-emulator"),
                                     "--execute=none",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file_,
                                     "--api-key",
                                     kApiKey,
                                     "--workspace-id",
                                     kWorkspace,
                                     "--record",
                                     record_,
                                     "--rate-limit",
                                     "0"};
    // An --execute=... of the caller's replaces the default none.
    for (const auto& a : extra_args) {
      if (a.starts_with("--execute")) std::erase(argv, std::string("--execute=none"));
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_ = std::make_unique<Process>(argv, dir / "emulator.log");
    auto port = WaitForPortFile(port_file_, std::chrono::seconds(20));
    if (port) port_ = *port;
  }
  ~Emulator() {
    if (proc_) {
      proc_->Signal(SIGTERM);
      proc_->Wait(std::chrono::seconds(10));
    }
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& record_path() const { return record_; }
  Process& process() { return *proc_; }

  std::map<std::string, std::string> Headers() const {
    return {{"x-api-key", kApiKey}, {"x-workspace-id", kWorkspace}};
  }
  // Every job of the region (all statuses), in submit order; null on error.
  // The crash tests inject faults into every operation (drops, 5xx), the
  // test's own reads included; faults are drawn per request, so a read is
  // tried up to 50 times.
  nlohmann::json Jobs() const {
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      HttpReply r =
          HttpCall("GET", port_, std::string("/public/v2/jobs?region=") + kRegion + "&limit=100000",
                   "", Headers());
      if (r.status != 200) continue;
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j.contains("jobs")) continue;
      return j["jobs"];
    }
    return nullptr;
  }
  // Jobs whose job_desc carries a marker of default/name (any attempt, any
  // instance: mlsj:<instance>:default/<name>/..., or the legacy
  // mlsj:default/<name>/...).
  std::vector<nlohmann::json> JobsOf(const std::string& name) const {
    std::vector<nlohmann::json> out;
    nlohmann::json jobs = Jobs();
    if (!jobs.is_array()) return out;
    std::string legacy = "mlsj:default/" + name + "/";
    std::string qualified = ":default/" + name + "/";
    for (const auto& j : jobs) {
      std::string desc = j.value("job_desc", std::string());
      if (desc.find(legacy) != std::string::npos ||
          (desc.find("mlsj:") != std::string::npos && desc.find(qualified) != std::string::npos)) {
        out.push_back(j);
      }
    }
    return out;
  }
  nlohmann::json Stats() const { return GetJson(port_, "/_emulator/stats"); }
  bool SetFaults(const nlohmann::json& faults) const {
    return HttpCall("POST", port_, "/_emulator/faults", faults.dump()).status == 200;
  }
  // The record file, one JSON object per line.
  std::vector<nlohmann::json> Record() const {
    std::vector<nlohmann::json> out;
    std::string all = ReadFile(record_);
    size_t pos = 0;
    while (pos < all.size()) {
      size_t end = all.find('\n', pos);
      if (end == std::string::npos) end = all.size();
      auto j = nlohmann::json::parse(all.substr(pos, end - pos), nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
      pos = end + 1;
    }
    return out;
  }

 private:
  std::string port_file_;
  std::string record_;
  int port_ = 0;
  std::unique_ptr<Process> proc_;
};

// mlspace-controller against an emulator, API and metrics on port 0.
class ControllerProcess {
 public:
  ControllerProcess(const TempDir& dir, const std::string& manifests, const std::string& state_dir,
                    const Emulator& emulator, std::vector<std::string> extra_args,
                    const std::string& log_name = "controller.log") {
    ports_file_ = dir / ("ports-" + std::to_string(++serial_) + ".json");
    std::vector<std::string> argv = {BinaryPath("controller/cmd/mlspace-controller"),
                                     "--manifests",
                                     manifests,
                                     "--state-dir",
                                     state_dir,
                                     "--gateway-url",
                                     emulator.url(),
                                     "--api-bind-address",
                                     "127.0.0.1:0",
                                     "--metrics-bind-address",
                                     "127.0.0.1:0",
                                     "--ports-file",
                                     ports_file_};
    // An empty `manifests`: the source comes from extra_args (--git-url).
    if (manifests.empty()) argv.erase(argv.begin() + 1, argv.begin() + 3);
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_ = std::make_unique<Process>(
        argv, dir / log_name,
        std::map<std::string, std::string>{{"MLSPACE_API_KEY", kApiKey},
                                           {"MLSPACE_WORKSPACE_ID", kWorkspace}});
  }
  // Waits for the ports file (the controller is serving); false on timeout
  // or when the process exited first.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto bound =
        WaitForControllerPorts(ports_file_, timeout, [&] { return !proc_->Running(); });
    if (!bound) return false;
    api_port_ = bound->api;
    metrics_port_ = bound->metrics;
    return api_port_ > 0;
  }
  Process& process() { return *proc_; }
  int api_port() const { return api_port_; }
  int metrics_port() const { return metrics_port_; }

  // The object as the API shows it; null when absent or unreachable.
  // (A missing object answers a metav1 Status, whose "status" is a string.)
  nlohmann::json Object(const std::string& name) const {
    nlohmann::json o =
        GetJson(api_port_, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/" + name);
    if (!o.is_object() || o.value("kind", "") != "MLSpaceJob" || !o["status"].is_object()) {
      return nullptr;
    }
    return o;
  }
  // The object's phase; "Removed" once a removed manifest's object left the
  // API (list/get answer 404) while its record and events stay in the
  // store: its events include Removed. "" when absent otherwise.
  std::string Phase(const std::string& name) const {
    nlohmann::json o = Object(name);
    if (!o.is_null()) return o["status"].value("phase", "");
    nlohmann::json ev = GetJson(
        api_port_, "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D" + name);
    if (!ev.is_object() || !ev["items"].is_array()) return "";
    for (const auto& e : ev["items"]) {
      if (e.value("reason", "") == "Removed") return "Removed";
    }
    return "";
  }
  nlohmann::json List() const {
    return GetJson(api_port_, "/apis/mlspace.io/v1alpha1/mlspacejobs");
  }

 private:
  static inline int serial_ = 0;
  std::string ports_file_;
  int api_port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<Process> proc_;
};

}  // namespace mlspace::e2e
