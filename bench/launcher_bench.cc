// Launcher overhead: `mlspace-launch <spec running /bin/true ARGS>` against
// `/bin/true ARGS` run directly, interleaved in one run so both see the same
// machine state. Two spec sizes: ~1 KB and ~1 MiB of JSON. Prints the median
// wall time from spawn to reaped exit for each, the overhead and the ratio,
// the CPU time medians, the in-process cost of encoding and decoding the
// spec, and the load average before and after (wall times grow with load).
//
// Usage: bench_launcher [--runs=N] [LAUNCHER]   (LAUNCHER: compare another
// build of mlspace-launch; default the one built alongside).
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "controller/launchspec/launch_spec.h"

extern char** environ;

namespace {

namespace ls = mlspace::launchspec;
using Clock = std::chrono::steady_clock;

int runs = 200;
constexpr int kWarmup = 10;
const char* launcher = MLSPACE_LAUNCH_BINARY;

struct Sample {
  double wall_ms = -1;  // spawn to reaped exit; -1: the run failed
  double cpu_ms = 0;    // user+sys of the process and the children it reaped
};

double Ms(const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; }

// Spawns argv with stdout/stderr on /dev/null and reaps it.
Sample TimeOnce(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const auto start = Clock::now();
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {};
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const auto end = Clock::now();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
  return {std::chrono::duration<double, std::milli>(end - start).count(),
          Ms(usage.ru_utime) + Ms(usage.ru_stime)};
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line.empty() ? "unknown" : line;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// /bin/true with args adding up to about `json_bytes` of spec JSON.
ls::LaunchSpec TrueSpec(std::size_t json_bytes) {
  ls::LaunchSpec spec;
  spec.executable = "/bin/true";
  spec.env = {{"MLSPACE_JOB", "bench"}, {"OMP_NUM_THREADS", "2"}};
  spec.work_dir = "/tmp";
  std::size_t i = 0;
  while (ls::ToJson(spec).size() < json_bytes) {
    const std::size_t left = json_bytes - ls::ToJson(spec).size();
    std::string arg = "--arg" + std::to_string(i++) + "=";
    arg.append(std::min<std::size_t>(left > 8 ? left - 8 : 1, 87000), 'x');
    spec.args.push_back(std::move(arg));
  }
  return spec;
}

bool Measure(const char* label, std::size_t json_bytes, double target_ms) {
  const ls::LaunchSpec spec = TrueSpec(json_bytes);
  std::vector<std::string> direct = {spec.executable};
  direct.insert(direct.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> launched = {launcher};
  // In-process cost of each side of the wire format (median of 21).
  std::vector<double> enc;
  std::vector<double> dec;
  std::vector<std::string> flags;
  for (int i = 0; i < 21; ++i) {
    auto t0 = Clock::now();
    flags = ls::FlagsToArgv(ls::EncodeFlags(spec));
    auto t1 = Clock::now();
    auto decoded = ls::DecodeArgv(flags);
    auto t2 = Clock::now();
    if (!decoded.ok() || *decoded != spec) {
      std::fprintf(stderr, "%s: the spec does not survive a round trip\n", label);
      std::exit(1);
    }
    enc.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    dec.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  launched.insert(launched.end(), flags.begin(), flags.end());
  std::size_t wire = 0;
  for (const auto& f : flags) wire += f.size();

  std::vector<double> d;
  std::vector<double> l;
  std::vector<double> dc;
  std::vector<double> lc;
  for (int i = 0; i < kWarmup + runs; ++i) {
    const Sample a = TimeOnce(direct);
    const Sample b = TimeOnce(launched);
    if (a.wall_ms < 0 || b.wall_ms < 0) {
      std::fprintf(stderr, "%s: a run failed (direct %.3f, launcher %.3f)\n", label, a.wall_ms,
                   b.wall_ms);
      std::exit(1);
    }
    if (i >= kWarmup) {
      d.push_back(a.wall_ms);
      l.push_back(b.wall_ms);
      dc.push_back(a.cpu_ms);
      lc.push_back(b.cpu_ms);
    }
  }
  const double md = Median(d);
  const double ml = Median(l);
  const double overhead = ml - md;
  const bool ok = overhead <= target_ms;
  std::printf(
      "%-5s spec: %zu B JSON, %zu B of flags in %zu parts, %zu args, %d runs each\n"
      "      wall median: direct %.3f ms, via mlspace-launch %.3f ms, overhead %.3f ms, "
      "ratio %.2fx  (target overhead <= %.0f ms: %s)\n"
      "      cpu  median: direct %.3f ms, via mlspace-launch %.3f ms, overhead %.3f ms\n"
      "      in-process median: EncodeFlags+FlagsToArgv %.3f ms, DecodeArgv %.3f ms\n",
      label, ls::ToJson(spec).size(), wire, flags.size() - 3, spec.args.size(), runs, md, ml,
      overhead, ml / md, target_ms, ok ? "met" : "MISSED", Median(dc), Median(lc),
      Median(lc) - Median(dc), Median(enc), Median(dec));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--runs=")) {
      runs = std::max(1, std::atoi(argv[i] + 7));
    } else {
      launcher = argv[i];
    }
  }
  std::printf("launcher: %s\n%ld CPUs, nice %d, /proc/loadavg before: %s\n", launcher,
              sysconf(_SC_NPROCESSORS_ONLN), getpriority(PRIO_PROCESS, 0), LoadAverage().c_str());
  // A missed target is reported, not an error: timings depend on the machine.
  const bool small = Measure("1 KB", 1024, 1.0);
  const bool large = Measure("1 MB", 1 << 20, 10.0);
  std::printf("targets %s\n/proc/loadavg after: %s\n",
              small && large ? "met" : "MISSED (see above)", LoadAverage().c_str());
  return 0;
}
