// bench_api: the controller's Kubernetes API read side at 10,000 objects,
// one run, real processes on loopback (issue 12's benchmark):
//
//   1. 10,000 manifests committed; controller + emulator until all are
//      Submitted.
//   2. The all-namespaces list as a Table (what `kubectl get msj -A` asks)
//      and as JSON: answer time (target <= 300 ms); `kubectl get msj -A`
//      wall time too when a kubectl is installed.
//   3. One GET of one object over a keep-alive connection, 3 s: req/s
//      (target >= 5,000).
//   4. 20 commits of one changed file each without watchers, then 100
//      concurrent watchers and 20 more: commit -> every watcher sees the
//      change (p99 <= 200 ms), controller RSS growth for the watchers
//      (<= 50 MB), and commit -> emulator sees the POST with and without
//      the watchers (unchanged).
//
// Every wait is bounded; each target line prints PASS or MISS.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/harness/harness.h"

namespace {

using mlspace::e2e::GetJson;
using mlspace::e2e::GitRepo;
using mlspace::e2e::HttpCall;
using mlspace::e2e::Process;
using mlspace::e2e::ReadFile;
using mlspace::e2e::Sh;
using mlspace::e2e::TempDir;
using mlspace::e2e::WaitFor;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kManifests = 10000;
constexpr int kWatchers = 100;
constexpr int kCommits = 20;
constexpr char kTableAccept[] = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int passes = 0, misses = 0;
const char* Verdict(bool ok) {
  (ok ? passes : misses)++;
  return ok ? "PASS" : "MISS";
}

double RssMb(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string Name(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "job-%05d", i);
  return name;
}

std::string Manifest(int i, const std::string& rev) {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + Name(i) +
         "\n  namespace: ns" + std::to_string(i % 10) +
         "\n  labels: {team: bench}\nspec:\n  region: SR006\n"
         "  image: cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40\n"
         "  instanceType: a100.1gpu\n  command: [python, -m, train, --rev, \"" +
         rev + "\"]\n";
}

std::string ManifestPath(int i) {
  char rel[64];
  std::snprintf(rel, sizeof rel, "jobs/d%02d/job-%05d.yaml", i % 100, i);
  return rel;
}

// GET over a fresh connection with `accept`; returns the wall time.
double TimedGet(int port, const std::string& path, const std::string& accept, size_t* bytes) {
  auto t = Clock::now();
  auto r = HttpCall("GET", port, path, "", {{"Accept", accept}});
  double ms = Ms(Clock::now() - t);
  if (bytes) *bytes = r.body.size();
  if (r.status != 200) std::printf("  GET %s answered %d\n", path.c_str(), r.status);
  return ms;
}

int64_t JobsCreated(int emulator_port) {
  json s = GetJson(emulator_port, "/_emulator/stats");
  if (!s.is_object() || !s.contains("jobs_created")) return 0;
  return s["jobs_created"].get<int64_t>();
}

// One watch connection; records when each object's event arrived.
class Watcher {
 public:
  Watcher(int port, int64_t rv) : port_(port), rv_(rv) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() {
    stop_ = true;
    try {
      if (session_) session_->abort();
    } catch (...) {
    }
    thread_.join();
  }
  bool connected() const { return connected_; }
  // When the first event for `name` after `after` arrived, if any.
  std::optional<Clock::time_point> SeenAfter(const std::string& name, Clock::time_point after) {
    std::lock_guard lock(mu_);
    for (const auto& [n, t] : seen_) {
      if (n == name && t >= after) return t;
    }
    return std::nullopt;
  }

 private:
  void Run() {
    try {
      session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port_);
      session_->setTimeout(Poco::Timespan(600, 0));
      Poco::Net::HTTPRequest req(
          Poco::Net::HTTPRequest::HTTP_GET,
          "/apis/mlspace.io/v1alpha1/mlspacejobs?watch=true&resourceVersion=" + std::to_string(rv_),
          Poco::Net::HTTPMessage::HTTP_1_1);
      session_->sendRequest(req);
      Poco::Net::HTTPResponse resp;
      std::istream& in = session_->receiveResponse(resp);
      connected_ = resp.getStatus() == 200;
      std::string line;
      while (!stop_ && std::getline(in, line)) {
        auto now = Clock::now();
        // The name without parsing 1 KB of JSON per event per watcher.
        size_t at = line.find("\"name\":\"job-");
        if (at == std::string::npos) continue;
        std::string name = line.substr(at + 8, 9);
        std::lock_guard lock(mu_);
        seen_.emplace_back(std::move(name), now);
      }
    } catch (...) {
    }
  }

  int port_;
  int64_t rv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
  std::mutex mu_;
  std::vector<std::pair<std::string, Clock::time_point>> seen_;
  std::thread thread_;
};

}  // namespace

int main() {
  std::printf("bench_api: %d objects, %d watchers; load average %s", kManifests, kWatchers,
              ReadFile("/proc/loadavg").c_str());
  TempDir dir;
  GitRepo repo(dir / "repo");
  for (int i = 0; i < kManifests; ++i) repo.Write(ManifestPath(i), Manifest(i, "0"));
  repo.Commit("10000 manifests");

  std::string emu_port_file = dir / "emulator.port";
  Process emu({MLSPACE_EMULATOR_BINARY, "--execute=none", "--listen", "127.0.0.1:0", "--port-file",
               emu_port_file, "--api-key", "bench-key", "--workspace-id", "bench-ws",
               "--rate-limit", "0", "--pending-duration", "24h"},
              dir / "emulator.log");
  auto emu_port = mlspace::e2e::WaitForPortFile(emu_port_file, seconds(20));
  if (!emu_port) return std::fprintf(stderr, "emulator did not start\n"), 2;

  std::string ports_file = dir / "controller.ports";
  Process ctl({MLSPACE_CONTROLLER_BINARY,
               "--manifests",
               repo.path() + "/jobs",
               "--state-dir",
               dir / "state",
               "--gateway-url",
               "http://127.0.0.1:" + std::to_string(*emu_port),
               "--gateway-rate",
               "10000",
               "--gateway-burst",
               "10000",
               "--poll-interval",
               "10s",
               "--api-bind-address",
               "127.0.0.1:0",
               "--metrics-bind-address",
               "127.0.0.1:0",
               "--ports-file",
               ports_file,
               "--log-level",
               "warn"},
              dir / "controller.log",
              {{"MLSPACE_API_KEY", "bench-key"}, {"MLSPACE_WORKSPACE_ID", "bench-ws"}});
  int api = 0;
  if (!WaitFor(
          [&] {
            json j = json::parse(ReadFile(ports_file), nullptr, false);
            api = j.is_object() ? j.value("api", 0) : 0;
            return api > 0 || !ctl.Running();
          },
          seconds(120)) ||
      api == 0) {
    return std::fprintf(stderr, "controller did not start: %s\n", ctl.log_path().c_str()), 3;
  }
  auto t0 = Clock::now();
  bool ready = WaitFor(
      [&] {
        json list = GetJson(api, "/apis/mlspace.io/v1alpha1/mlspacejobs?fieldSelector=" +
                                     std::string("status.phase%3DSubmitted"));
        return list.is_object() && list["items"].size() == static_cast<size_t>(kManifests);
      },
      seconds(300));
  if (!ready) return std::fprintf(stderr, "objects did not converge\n"), 4;
  std::printf(
      "\n[1] all %d objects Submitted %.1f s after the API came up; controller RSS %.1f MB\n",
      kManifests, Ms(Clock::now() - t0) / 1000, RssMb(ctl.pid()));

  // --- 2. Lists -------------------------------------------------------------
  std::vector<double> table_ms, json_ms;
  size_t table_bytes = 0, json_bytes = 0;
  for (int i = 0; i < 10; ++i) {
    table_ms.push_back(TimedGet(api, "/apis/mlspace.io/v1alpha1/mlspacejobs?limit=500",
                                kTableAccept, &table_bytes));
    json_ms.push_back(
        TimedGet(api, "/apis/mlspace.io/v1alpha1/mlspacejobs", "application/json", &json_bytes));
  }
  std::printf("\n[2] all-namespaces list, %d objects, 10 requests each (new connection each):\n",
              kManifests);
  std::printf("  Table: median %.1f ms, max %.1f ms, %.1f MB   %s (<= 300 ms)\n",
              Percentile(table_ms, 0.5), Percentile(table_ms, 1), table_bytes / 1e6,
              Verdict(Percentile(table_ms, 0.5) <= 300));
  std::printf("  JSON:  median %.1f ms, max %.1f ms, %.1f MB   %s (<= 300 ms)\n",
              Percentile(json_ms, 0.5), Percentile(json_ms, 1), json_bytes / 1e6,
              Verdict(Percentile(json_ms, 0.5) <= 300));
  std::string kubectl =
      std::getenv("MLSPACE_KUBECTL") ? std::getenv("MLSPACE_KUBECTL") : "/usr/bin/kubectl";
  if (std::filesystem::exists(kubectl)) {
    std::vector<double> k_ms;
    for (int i = 0; i < 3; ++i) {
      auto t = Clock::now();
      Sh(kubectl + " --server http://127.0.0.1:" + std::to_string(api) + " --cache-dir " +
         (dir / "kcache") + " get msj -A > /dev/null");
      k_ms.push_back(Ms(Clock::now() - t));
    }
    std::printf(
        "  kubectl get msj -A (process start, discovery cached, 10,000 rows printed): "
        "median %.0f ms\n",
        Percentile(k_ms, 0.5));
  }

  // --- 3. Keep-alive GETs ---------------------------------------------------
  {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(api));
    s.setKeepAlive(true);
    int n = 0, errors = 0;
    auto end = Clock::now() + seconds(3);
    auto start = Clock::now();
    std::string body;
    while (Clock::now() < end) {
      Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET,
                                 "/apis/mlspace.io/v1alpha1/namespaces/ns7/mlspacejobs/job-00007",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
      s.sendRequest(req);
      Poco::Net::HTTPResponse resp;
      body.clear();
      Poco::StreamCopier::copyToString(s.receiveResponse(resp), body);
      if (resp.getStatus() != 200) ++errors;
      ++n;
    }
    double rps = n / (Ms(Clock::now() - start) / 1000);
    std::printf(
        "\n[3] single GET, one keep-alive connection, 3 s: %d requests (%d errors), "
        "%.0f req/s   %s (>= 5,000)\n",
        n, errors, rps, Verdict(rps >= 5000 && errors == 0));
  }

  // --- 4. Commits without and with 100 watchers -----------------------------
  int next_rev = 1;
  auto commit_round = [&](std::vector<std::unique_ptr<Watcher>>* watchers,
                          std::vector<double>* post_ms, std::vector<double>* watch_ms,
                          int* missed) {
    for (int k = 0; k < kCommits; ++k) {
      int i = (next_rev * 389 + 11) % kManifests;
      std::string rev = "r" + std::to_string(next_rev++);
      repo.Write(ManifestPath(i), Manifest(i, rev));
      int64_t before = JobsCreated(*emu_port);
      Sh("git -C '" + repo.path() + "' commit -q -a -m change");
      auto committed = Clock::now();
      auto deadline = committed + seconds(10);
      bool posted = false;
      while (Clock::now() < deadline && !posted) {
        if (JobsCreated(*emu_port) > before) {
          post_ms->push_back(Ms(Clock::now() - committed));
          posted = true;
        } else {
          std::this_thread::sleep_for(milliseconds(2));
        }
      }
      if (!posted) post_ms->push_back(10000);
      if (watchers) {
        for (auto& w : *watchers) {
          std::optional<Clock::time_point> t;
          WaitFor(
              [&] { return (t = w->SeenAfter(Name(i), committed)).has_value(); },
              milliseconds(std::max<int64_t>(
                  1, std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count())));
          if (t) {
            watch_ms->push_back(Ms(*t - committed));
          } else {
            watch_ms->push_back(10000);
            ++*missed;
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
  };
  std::vector<double> post_before, post_with, watch_lat;
  int missed = 0;
  commit_round(nullptr, &post_before, nullptr, &missed);

  std::this_thread::sleep_for(seconds(1));
  double rss0 = RssMb(ctl.pid());
  json list = GetJson(api, "/apis/mlspace.io/v1alpha1/mlspacejobs?labelSelector=team%3Dnone");
  int64_t rv = std::stoll(list["metadata"]["resourceVersion"].get<std::string>());
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < kWatchers; ++i) watchers.push_back(std::make_unique<Watcher>(api, rv));
  bool all_connected = WaitFor(
      [&] {
        return std::all_of(watchers.begin(), watchers.end(),
                           [](const auto& w) { return w->connected(); });
      },
      seconds(30));
  std::this_thread::sleep_for(seconds(1));
  double rss1 = RssMb(ctl.pid());
  commit_round(&watchers, &post_with, &watch_lat, &missed);
  double rss2 = RssMb(ctl.pid());

  std::printf(
      "\n[4] %d commits of one changed file each, without then with %d watchers "
      "(all connected: %s):\n",
      kCommits, kWatchers, all_connected ? "yes" : "NO");
  double p99 = Percentile(watch_lat, 0.99);
  std::printf(
      "  commit -> every watcher sees the change: p50 %.1f ms  p99 %.1f ms  max %.1f ms  "
      "(%zu samples, %d not seen in 10 s)   %s (p99 <= 200 ms)\n",
      Percentile(watch_lat, 0.5), p99, Percentile(watch_lat, 1), watch_lat.size(), missed,
      Verdict(p99 <= 200 && missed == 0 && all_connected));
  std::printf(
      "  controller RSS: %.1f MB before the watchers, %.1f MB connected (+%.1f MB), "
      "%.1f MB after the commits (+%.1f MB)   %s (<= 50 MB)\n",
      rss0, rss1, rss1 - rss0, rss2, rss2 - rss0, Verdict(rss2 - rss0 <= 50));
  std::printf(
      "  commit -> emulator sees POST: without watchers p50 %.1f ms p99 %.1f ms; with "
      "watchers p50 %.1f ms p99 %.1f ms\n",
      Percentile(post_before, 0.5), Percentile(post_before, 0.99), Percentile(post_with, 0.5),
      Percentile(post_with, 0.99));
  watchers.clear();

  ctl.Signal(SIGTERM);
  ctl.Wait(seconds(40));
  emu.Signal(SIGTERM);
  emu.Wait(seconds(10));
  std::printf("\n%d PASS, %d MISS; load average %s", passes, misses,
              ReadFile("/proc/loadavg").c_str());
  return 0;
}
