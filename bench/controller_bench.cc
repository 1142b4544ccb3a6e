// bench_controller: the controller at scale against the emulator, one run.
//
//   1. 10,000 manifests (one file each, 2 regions) committed in a git
//      repository; cold start of mlspace-controller to all Submitted.
//   2. 50 commits each changing one file: commit → the emulator sees the
//      POST of the new generation (p50, p99).
//   3. Steady state: controller CPU over a window, list calls per region per
//      poll (from the emulator's counters), RSS.
//   4. /metrics with 10,000 objects: scrape time and size, and the CPU cost
//      of one scrape per second (CPU with scrapes minus CPU without).
//   5. A second emulator limited to 600 requests/minute, its bucket drained
//      first: 300 new manifests committed at once, submission rate and 429s.
//   6. (run after 4) The controller restarted on its state directory with
//      10,000 objects: first poll finished and all objects served by the
//      API within 5 s; no POST or DELETE until the restart's reconciles
//      drained.
//
// Emulator: --execute=none with a long pending time, so every job stays
// Pending remotely and the controller's objects stay Submitted (a stable
// steady state). Targets are issue 5's and issue 6's; each line prints PASS
// or MISS. Total run time is bounded (every wait has a timeout).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
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
using mlspace::e2e::WriteFile;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kManifests = 10000;
constexpr int kCommits = 50;
constexpr int kRateManifests = 300;
constexpr int kRateLimitPerMinute = 600;
const char* const kRegions[] = {"SR006", "SR004"};
constexpr int kRegionCount = 2;
constexpr int kPollSeconds = 10;
constexpr int kSteadySeconds = 30;
constexpr int kScrapeSeconds = 20;
// Client pacing for the rate phase: below the server's 10/s so clock
// differences and the poll's list calls never overdraw it; burst 1 so an
// idle client never fires more than the server has refilled.
constexpr double kClientRate = 9.5;
constexpr int kClientBurst = 1;

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int passes = 0, misses = 0;
const char* Verdict(bool ok) {
  (ok ? passes : misses)++;
  return ok ? "PASS" : "MISS";
}

std::string LoadAvg() {
  std::string s = ReadFile("/proc/loadavg");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15).
double CpuSeconds(pid_t pid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A "VmRSS:   1234 kB" line of /proc/PID/status, in MB.
double StatusMb(pid_t pid, const std::string& key) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  }
  return -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string Manifest(int i, const std::string& region, const std::string& rev) {
  char name[32];
  std::snprintf(name, sizeof name, "job-%05d", i);
  return std::string("apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: ") +
         name + "\n  namespace: bench\n  labels: {team: bench}\nspec:\n  region: " + region +
         "\n  image: cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40\n"
         "  instanceType: a100.1gpu\n  workers: 1\n"
         "  command: [python, -m, train, --seed, \"" +
         std::to_string(i) + "\", --rev, \"" + rev +
         "\"]\n  env:\n    - {name: WANDB_PROJECT, value: bench}\n";
}

std::string ManifestPath(const std::string& prefix, int i) {
  char rel[64];
  std::snprintf(rel, sizeof rel, "%s/d%02d/job-%05d.yaml", prefix.c_str(), i % 100, i);
  return rel;
}

struct Emulator {
  std::unique_ptr<Process> proc;
  int port = 0;
  json Stats() const { return GetJson(port, "/_emulator/stats"); }
};

Emulator StartEmulator(const TempDir& dir, const std::string& tag, int rate_limit,
                       const std::string& record) {
  Emulator e;
  std::string port_file = dir / (tag + ".port");
  std::vector<std::string> argv = {MLSPACE_EMULATOR_BINARY,
                                   "--execute=none",
                                   "--bind-address",
                                   "127.0.0.1:0",
                                   "--port-file",
                                   port_file,
                                   "--api-key",
                                   "bench-key",
                                   "--workspace-id",
                                   "bench-ws",
                                   "--rate-limit",
                                   std::to_string(rate_limit),
                                   "--pending-duration",
                                   "24h"};
  if (!record.empty()) {
    argv.push_back("--record");
    argv.push_back(record);
  }
  e.proc = std::make_unique<Process>(argv, dir / (tag + ".log"));
  auto port = mlspace::e2e::WaitForPortFile(port_file, seconds(20));
  if (!port) {
    std::fprintf(stderr, "emulator did not start; log: %s\n", (dir / (tag + ".log")).c_str());
    std::exit(2);
  }
  e.port = *port;
  return e;
}

struct Controller {
  std::unique_ptr<Process> proc;
  int api = 0;
  int metrics = 0;
  Clock::time_point started;
};

Controller StartController(const TempDir& dir, const std::string& tag, const std::string& manifests,
                           int gateway_port, double rate, int burst, int poll_seconds) {
  Controller c;
  std::string ports = dir / (tag + ".ports");
  std::vector<std::string> argv = {MLSPACE_CONTROLLER_BINARY,
                                   "--manifests",
                                   manifests,
                                   "--state-dir",
                                   dir / (tag + "-state"),
                                   "--gateway-url",
                                   "http://127.0.0.1:" + std::to_string(gateway_port),
                                   "--gateway-rate",
                                   std::to_string(rate),
                                   "--gateway-burst",
                                   std::to_string(burst),
                                   "--poll-interval",
                                   std::to_string(poll_seconds) + "s",
                                   "--api-bind-address",
                                   "127.0.0.1:0",
                                   "--metrics-bind-address",
                                   "127.0.0.1:0",
                                   "--ports-file",
                                   ports,
                                   "--log-level",
                                   "warn"};
  c.started = Clock::now();
  c.proc = std::make_unique<Process>(
      argv, dir / (tag + ".log"),
      std::map<std::string, std::string>{{"MLSPACE_API_KEY", "bench-key"},
                                         {"MLSPACE_WORKSPACE_ID", "bench-ws"}});
  bool ok = WaitFor(
      [&] {
        json j = json::parse(ReadFile(ports), nullptr, false);
        if (!j.is_object()) return !c.proc->Running() && (std::exit(3), false);
        c.api = j.value("api", 0);
        c.metrics = j.value("metrics", 0);
        return c.api > 0 && c.metrics > 0;
      },
      seconds(120));
  if (!ok) {
    std::fprintf(stderr, "controller did not start; log: %s\n", (dir / (tag + ".log")).c_str());
    std::exit(3);
  }
  return c;
}

void Stop(std::unique_ptr<Process>& p) {
  if (!p) return;
  p->Signal(SIGTERM);
  if (!p->Wait(seconds(40))) p->Signal(SIGKILL);
  p.reset();
}

int64_t Counter(const json& stats, const char* group, const std::string& key) {
  if (!stats.is_object() || !stats.contains(group)) return 0;
  const json& g = stats[group];
  return g.contains(key) ? g[key].get<int64_t>() : 0;
}

int64_t JobsCreated(const Emulator& e) {
  json s = e.Stats();
  return s.is_object() ? s.value("jobs_created", int64_t{-1}) : -1;
}

// Objects of the API list per phase.
std::map<std::string, int> Phases(int api_port) {
  std::map<std::string, int> out;
  json list = GetJson(api_port, "/apis/mlspace.io/v1alpha1/mlspacejobs");
  if (!list.is_object() || !list.contains("items")) return out;
  for (const auto& item : list["items"]) {
    std::string phase = item.contains("status") ? item["status"].value("phase", "") : "";
    out[phase.empty() ? "<none>" : phase]++;
  }
  return out;
}

std::string PhaseText(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return s.empty() ? "(none)" : s;
}

// Millisecond timestamps of "2026-11-27T10:11:12.345Z".
double TsSeconds(const std::string& ts) {
  std::tm tm{};
  const char* rest = strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  double frac = *rest == '.' ? std::atof(rest) : 0;
  return static_cast<double>(timegm(&tm)) + frac;
}

}  // namespace

int main() {
  const auto bench_start = Clock::now();
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::printf("bench_controller  %s  cpus=%ld  nice=%d\n", date, sysconf(_SC_NPROCESSORS_ONLN),
              nice(0));
  std::printf("load average at start: %s\n", LoadAvg().c_str());
  TempDir dir;

  // --- 1. 10,000 manifests and the cold start -------------------------------
  GitRepo repo(dir / "repo");
  auto t = Clock::now();
  for (int i = 0; i < kManifests; ++i) {
    repo.Write(ManifestPath("jobs", i), Manifest(i, kRegions[i % kRegionCount], "0"));
  }
  repo.Commit("10000 manifests");
  std::printf("\n[1] %d manifests (2 regions, 100 folders) written and committed in %.1f s\n",
              kManifests, Secs(Clock::now() - t));

  Emulator emu = StartEmulator(dir, "emulator", 0, "");
  Controller ctl = StartController(dir, "controller", repo.path() + "/jobs", emu.port, 10000, 10000,
                                   kPollSeconds);
  const pid_t pid = ctl.proc->pid();
  Clock::time_point posts_done{}, all_submitted{};
  bool cold_ok = WaitFor(
      [&] {
        if (!ctl.proc->Running()) return true;
        if (posts_done == Clock::time_point{} && JobsCreated(emu) >= kManifests) {
          posts_done = Clock::now();
        }
        return posts_done != Clock::time_point{};
      },
      seconds(180));
  std::map<std::string, int> phases;
  if (cold_ok && ctl.proc->Running()) {
    cold_ok = WaitFor(
        [&] {
          phases = Phases(ctl.api);
          int done = phases["Submitted"] + phases["Running"] + phases["Succeeded"];
          if (done >= kManifests) all_submitted = Clock::now();
          return done >= kManifests;
        },
        seconds(120));
  }
  if (!cold_ok) {
    std::printf("cold start did not finish (phases: %s); controller log %s\n",
                PhaseText(phases).c_str(), ctl.proc->log_path().c_str());
    return 1;
  }
  const double cold = Secs(all_submitted - ctl.started);
  std::printf(
      "cold start: emulator saw %d POSTs after %.2f s; all %d objects Submitted after "
      "%.2f s (%s)\n",
      kManifests, Secs(posts_done - ctl.started), kManifests, cold, PhaseText(phases).c_str());
  json s0 = emu.Stats();
  std::printf("  emulator requests so far: %s\n", s0["by_op"].dump().c_str());
  std::printf("  controller CPU %.1f s, VmRSS %.1f MB, VmHWM %.1f MB\n", CpuSeconds(pid),
              StatusMb(pid, "VmRSS"), StatusMb(pid, "VmHWM"));

  // --- 2. One changed file per commit ------------------------------------------
  std::vector<double> latencies, git_ms;
  int lost = 0;
  for (int k = 0; k < kCommits; ++k) {
    int i = (k * 197 + 13) % kManifests;
    std::string rev = "r";
    rev += std::to_string(k + 1);  // not "r" + to_string(): g++ 12 -O3 -Wrestrict false positive
    repo.Write(ManifestPath("jobs", i), Manifest(i, kRegions[i % kRegionCount], rev));
    int64_t before = JobsCreated(emu);
    auto g0 = Clock::now();
    Sh("git -C '" + repo.path() + "' commit -q -a -m 'change " + std::to_string(i) + "'");
    auto committed = Clock::now();
    git_ms.push_back(Ms(committed - g0));
    bool seen = false;
    Clock::time_point seen_at{};
    auto deadline = committed + seconds(10);
    while (Clock::now() < deadline) {
      if (JobsCreated(emu) > before) {
        seen_at = Clock::now();
        seen = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    if (!seen) {
      ++lost;
      latencies.push_back(10000);
    } else {
      latencies.push_back(Ms(seen_at - committed));
    }
    std::this_thread::sleep_for(milliseconds(150));  // let the status write land
  }
  const double p50 = Percentile(latencies, 0.5), p99 = Percentile(latencies, 0.99);
  std::printf("\n[2] %d commits, one changed file each (Replace: DELETE old + POST new):\n",
              kCommits);
  std::printf(
      "  commit -> emulator sees POST: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms"
      "  (not seen within 10 s: %d)\n",
      p50, Percentile(latencies, 0.9), p99, Percentile(latencies, 1.0), lost);
  std::printf("  (git commit -a itself: median %.1f ms, not included)\n", Percentile(git_ms, 0.5));

  // --- 3. Steady state ---------------------------------------------------------
  std::this_thread::sleep_for(seconds(2));
  json a = emu.Stats();
  double cpu0 = CpuSeconds(pid);
  auto w0 = Clock::now();
  std::vector<double> list_times;  // seconds into the window of each list request
  int64_t lists_seen = Counter(a, "by_op", "list");
  while (Clock::now() - w0 < seconds(kSteadySeconds)) {
    std::this_thread::sleep_for(milliseconds(100));
    int64_t l = Counter(emu.Stats(), "by_op", "list");
    for (; lists_seen < l; ++lists_seen) list_times.push_back(Secs(Clock::now() - w0));
  }
  const double window = Secs(Clock::now() - w0);
  const double steady_cpu = CpuSeconds(pid) - cpu0;
  json b = emu.Stats();
  // Lists come in rounds (one poll = one list per region in use, back to
  // back); a gap of more than 2 s starts a new round.
  std::vector<int> per_round;
  std::vector<double> round_start;
  for (size_t i = 0; i < list_times.size(); ++i) {
    if (i == 0 || list_times[i] - list_times[i - 1] > 2.0) {
      per_round.push_back(0);
      round_start.push_back(list_times[i]);
    }
    per_round.back()++;
  }
  int max_per_round = per_round.empty() ? 0 : *std::max_element(per_round.begin(), per_round.end());
  double min_gap = 1e9;
  for (size_t i = 1; i < round_start.size(); ++i) {
    min_gap = std::min(min_gap, round_start[i] - round_start[i - 1]);
  }
  auto delta = [&](const char* op) { return Counter(b, "by_op", op) - Counter(a, "by_op", op); };
  const double steady_pct = 100.0 * steady_cpu / window;
  const double rss = StatusMb(pid, "VmRSS");
  std::printf(
      "\n[3] steady state, %.1f s window, --poll-interval %ds (jittered +0..20%%), %d "
      "regions with %d jobs each:\n",
      window, kPollSeconds, kRegionCount, kManifests / kRegionCount);
  std::printf("  emulator requests in the window: list %" PRId64 " get %" PRId64 " submit %" PRId64
              " delete %" PRId64 "; poll rounds %zu, list calls per round: ",
              delta("list"), delta("get"), delta("submit"), delta("delete"), per_round.size());
  for (int n : per_round) std::printf("%d ", n);
  std::printf("(min gap between rounds %.1f s)\n", round_start.size() > 1 ? min_gap : 0.0);

  // --- 4. /metrics with 10,000 objects ----------------------------------------
  std::vector<double> scrape_ms;
  size_t scrape_bytes = 0, series = 0;
  double cpu1 = CpuSeconds(pid);
  auto m0 = Clock::now();
  for (int k = 0; k < kScrapeSeconds; ++k) {
    auto tick = m0 + seconds(k);
    std::this_thread::sleep_until(tick);
    auto s = Clock::now();
    auto reply = HttpCall("GET", ctl.metrics, "/metrics");
    scrape_ms.push_back(Ms(Clock::now() - s));
    if (reply.status == 200) {
      scrape_bytes = reply.body.size();
      series = 0;
      for (size_t p = 0; p < reply.body.size();) {
        size_t e = reply.body.find('\n', p);
        if (e == std::string::npos) e = reply.body.size();
        if (e > p && reply.body[p] != '#') ++series;
        p = e + 1;
      }
    }
  }
  std::this_thread::sleep_until(m0 + seconds(kScrapeSeconds));
  const double scrape_window = Secs(Clock::now() - m0);
  const double scrape_cpu = CpuSeconds(pid) - cpu1;
  json c = emu.Stats();
  const double with_pct = 100.0 * scrape_cpu / scrape_window;
  const double cost_pct = with_pct - steady_pct;
  std::printf("\n[4] /metrics with %d objects: %zu bytes, %zu series\n", kManifests, scrape_bytes,
              series);
  std::printf("  scrape wall time over %d scrapes: median %.1f ms  max %.1f ms (first %.1f ms)\n",
              kScrapeSeconds, Percentile(scrape_ms, 0.5), Percentile(scrape_ms, 1.0),
              scrape_ms.empty() ? 0.0 : scrape_ms[0]);
  std::printf("  controller CPU: %.2f %% of a core with 1 scrape/s (%.1f s, %" PRId64
              " list calls) vs %.2f %% without ([3]) -> scrapes cost %.2f %% of a core (%.1f ms "
              "CPU per scrape)\n",
              with_pct, scrape_window, Counter(c, "by_op", "list") - Counter(b, "by_op", "list"),
              steady_pct, cost_pct,
              1000.0 * (scrape_cpu - steady_cpu / window * scrape_window) / kScrapeSeconds);
  const double rss_end = StatusMb(pid, "VmRSS");
  const double hwm = StatusMb(pid, "VmHWM");
  Stop(ctl.proc);

  // --- 6. Restart on the state directory holding 10,000 objects ------------
  // The same manifests, state directory and emulator. Times from spawning
  // the controller: the first poll finished (the emulator answered one list
  // per region), the API lists all 10,000 objects, /readyz (source synced).
  // Afterwards the restart's reconciles (every key, from the resync) must
  // drain without a single POST or DELETE: every job is still there, under
  // its marker.
  std::filesystem::remove(dir / "controller.ports");
  json r0 = emu.Stats();
  Controller rs = StartController(dir, "controller", repo.path() + "/jobs", emu.port, 10000, 10000,
                                  kPollSeconds);
  std::map<std::string, int> restart_phases;
  int restart_objects = 0;
  int64_t restart_lists = 0;
  Clock::time_point polled{}, served{}, ready{};
  WaitFor(
      [&] {
        if (polled == Clock::time_point{}) {
          restart_lists = Counter(emu.Stats(), "by_op", "list") - Counter(r0, "by_op", "list");
          if (restart_lists >= kRegionCount) polled = Clock::now();
        }
        if (served == Clock::time_point{}) {
          restart_phases = Phases(rs.api);
          restart_objects = 0;
          for (const auto& [phase, n] : restart_phases) restart_objects += n;
          if (restart_objects >= kManifests) served = Clock::now();
        }
        if (ready == Clock::time_point{} && HttpCall("GET", rs.api, "/readyz").status == 200) {
          ready = Clock::now();
        }
        return polled != Clock::time_point{} && served != Clock::time_point{} &&
               ready != Clock::time_point{};
      },
      seconds(60));
  auto since_spawn = [&](Clock::time_point at) {
    return at == Clock::time_point{} ? -1.0 : Secs(at - rs.started);
  };
  const double restart_poll = since_spawn(polled);
  const double restart_api = since_spawn(served);
  const double restart_ready = since_spawn(ready);
  // Drained: workqueue depth 0 on /metrics; watched for at least 10 s.
  auto depth = [&]() -> double {
    auto reply = HttpCall("GET", rs.metrics, "/metrics");
    size_t at = reply.body.find("\nworkqueue_depth{");
    if (reply.status != 200 || at == std::string::npos) return -1;
    size_t sp = reply.body.find(' ', at + 1);
    return sp == std::string::npos ? -1 : std::atof(reply.body.c_str() + sp + 1);
  };
  auto watch0 = Clock::now();
  bool restart_drained =
      WaitFor([&] { return Clock::now() - watch0 >= seconds(10) && depth() == 0; }, seconds(90));
  json r1 = emu.Stats();
  const int64_t restart_posts = Counter(r1, "by_op", "submit") - Counter(r0, "by_op", "submit");
  const int64_t restart_deletes = Counter(r1, "by_op", "delete") - Counter(r0, "by_op", "delete");
  std::printf("\n[6] restart on the state directory with %d objects (same manifests, emulator):\n",
              kManifests);
  std::printf("  first poll finished after %.2f s (%" PRId64
              " list calls); API serves %d objects after %.2f s (%s); source synced "
              "(/readyz 200) after %.2f s\n",
              restart_poll, restart_lists, restart_objects, restart_api,
              PhaseText(restart_phases).c_str(), restart_ready);
  std::printf("  restart reconciles drained: %s after %.1f s; POST %" PRId64 " DELETE %" PRId64
              "; controller CPU %.1f s\n",
              restart_drained ? "yes" : "NO", Secs(Clock::now() - rs.started), restart_posts,
              restart_deletes, CpuSeconds(rs.proc->pid()));
  Stop(rs.proc);
  Stop(emu.proc);

  // --- 5. 600 requests per minute --------------------------------------------
  std::string record = dir / "emulator-limited.jsonl";
  Emulator lim = StartEmulator(dir, "emulator-limited", kRateLimitPerMinute, record);
  GitRepo repo2(dir / "repo2");
  repo2.Write("jobs/README.md", "manifests land here\n");
  repo2.Commit("empty");
  Controller ctl2 = StartController(dir, "controller-limited", repo2.path() + "/jobs", lim.port,
                                    kClientRate, kClientBurst, 30);
  WaitFor([&] { return HttpCall("GET", ctl2.api, "/readyz").status == 200; }, seconds(30));
  // Drain the server's bucket (it starts full: 600 tokens would hide any
  // pacing problem), then give it 1 s to refill a little.
  int drained = 0;
  for (; drained < 2 * kRateLimitPerMinute; ++drained) {
    if (HttpCall("GET", lim.port, "/public/v2/ping").status == 429) break;
  }
  std::this_thread::sleep_for(seconds(1));
  json l0 = lim.Stats();
  for (int i = 0; i < kRateManifests; ++i) {
    repo2.Write(ManifestPath("jobs", 20000 + i), Manifest(20000 + i, kRegions[0], "0"));
  }
  Sh("git -C '" + repo2.path() + "' add -A");
  Sh("git -C '" + repo2.path() + "' commit -q -m '300 new manifests'");
  auto committed = Clock::now();
  bool all = WaitFor([&] { return JobsCreated(lim) >= kRateManifests; }, seconds(90));
  const double done_s = Secs(Clock::now() - committed);
  json l1 = lim.Stats();
  Stop(ctl2.proc);
  Stop(lim.proc);
  std::vector<double> submit_ts;
  {
    std::ifstream in(record);
    std::string line;
    while (std::getline(in, line)) {
      json r = json::parse(line, nullptr, false);
      if (r.is_object() && r.value("op", "") == "submit" && r.value("status", 0) == 200) {
        submit_ts.push_back(TsSeconds(r.value("ts", "")));
      }
    }
  }
  std::sort(submit_ts.begin(), submit_ts.end());
  double span = submit_ts.size() > 1 ? submit_ts.back() - submit_ts.front() : 0;
  double rate_per_min = span > 0 ? 60.0 * static_cast<double>(submit_ts.size() - 1) / span : 0;
  int64_t n429 = Counter(l1, "by_status", "429") - Counter(l0, "by_status", "429");
  std::printf(
      "\n[5] emulator at %d requests/minute (bucket drained by %d pings first), controller "
      "--gateway-rate %.1f --gateway-burst %d:\n",
      kRateManifests == 0 ? 0 : kRateLimitPerMinute, drained, kClientRate, kClientBurst);
  std::printf(
      "  %zu of %d submitted; first->last POST %.1f s = %.0f per minute (%.1f %% of the "
      "limit); commit->last %.1f s; 429 answers after the drain: %" PRId64 "; other requests: %s\n",
      submit_ts.size(), kRateManifests, span, rate_per_min,
      100.0 * rate_per_min / kRateLimitPerMinute, all ? done_s : -1.0, n429,
      l1["by_op"].dump().c_str());

  // --- Summary -----------------------------------------------------------------
  std::printf("\n%-58s %-22s %-14s %s\n", "figure", "measured", "target", "verdict");
  auto row = [](const char* what, const std::string& got, const char* target, bool ok) {
    std::printf("%-58s %-22s %-14s %s\n", what, got.c_str(), target, Verdict(ok));
  };
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f s", cold);
  row("cold start, 10,000 manifests -> all Submitted", buf, "<= 30 s", cold <= 30);
  std::snprintf(buf, sizeof buf, "%.1f ms", p50);
  row("one changed file committed -> POST, p50 (50 commits)", buf, "<= 200 ms", p50 <= 200);
  std::snprintf(buf, sizeof buf, "%.1f ms", p99);
  row("one changed file committed -> POST, p99 (50 commits)", buf, "<= 1000 ms", p99 <= 1000);
  std::snprintf(buf, sizeof buf, "%.2f %%", steady_pct);
  row("steady state CPU (% of one core)", buf, "<= 1 %", steady_pct <= 1.0);
  std::snprintf(buf, sizeof buf, "%d (rounds %zu)", max_per_round, per_round.size());
  bool one_per = !per_round.empty() && max_per_round <= kRegionCount && delta("get") == 0 &&
                 (round_start.size() < 2 || min_gap >= kPollSeconds * 0.9);
  row("list calls per poll round (2 regions; no per-job GETs)", buf, "<= 2", one_per);
  std::snprintf(buf, sizeof buf, "%.1f MB (peak %.1f)", std::max(rss, rss_end), hwm);
  row("controller VmRSS with 10,000 objects", buf, "<= 200 MB", std::max(rss, rss_end) <= 200);
  std::snprintf(buf, sizeof buf, "%.1f ms", Percentile(scrape_ms, 0.5));
  row("/metrics scrape, median wall time", buf, "<= 50 ms", Percentile(scrape_ms, 0.5) <= 50);
  std::snprintf(buf, sizeof buf, "%.2f %%", cost_pct);
  row("CPU cost of 1 scrape/s (% of one core)", buf, "<= 1 %", cost_pct <= 1.0);
  std::snprintf(buf, sizeof buf, "%.2f s", restart_poll);
  row("restart, 10,000 objects: first poll finished", buf, "<= 5 s",
      restart_poll >= 0 && restart_poll <= 5);
  std::snprintf(buf, sizeof buf, "%.2f s", restart_api);
  row("restart, 10,000 objects: all served by the API", buf, "<= 5 s",
      restart_api >= 0 && restart_api <= 5);
  std::snprintf(buf, sizeof buf, "%" PRId64 " / %" PRId64, restart_posts, restart_deletes);
  row("restart: POST / DELETE sent (reconciles drained)", buf, "0 / 0",
      restart_drained && restart_posts == 0 && restart_deletes == 0);
  std::snprintf(buf, sizeof buf, "%.0f /min (%.1f %%)", rate_per_min,
                100.0 * rate_per_min / kRateLimitPerMinute);
  row("300 new manifests at a 600/min limit: submit rate", buf, ">= 540 /min",
      all && rate_per_min >= 0.9 * kRateLimitPerMinute);
  std::snprintf(buf, sizeof buf, "%" PRId64, n429);
  row("  ... 429 answers", buf, "0", n429 == 0);
  std::printf("\n%d PASS, %d MISS; load average at end: %s; total %.0f s\n", passes, misses,
              LoadAvg().c_str(), Secs(Clock::now() - bench_start));
  return 0;
}
