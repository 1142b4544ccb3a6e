// bench_gitwrite [--objects=N] [--writes=N] [--writers=N] [--seconds=S]
//
// GitManifestWriter (--api-write=commit) on a git work tree of N MLSpaceJob
// manifests (default 10,000, one file each in 10 namespace folders):
//   1. p50/p99 of a single-object update, commit and work-tree update
//      included, over --writes (50) sequential writes;
//   2. --writers (20) threads updating their own objects for --seconds (20):
//      writes/s, and every accepted write is exactly one commit (commits on
//      the branch counted against the writes that succeeded).
// Real git repository in a temp dir, set up with the git CLI.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/core/log.h"
#include "controller/source/git_manifest_writer.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using mlspace::ObjectKey;
using mlspace::source::GitManifestWriter;

std::string Run(const fs::path& dir, const std::string& cmd) {
  std::string full = "cd '" + dir.string() + "' && " + cmd;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(full.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  if (pclose(p.release()) != 0) {
    std::fprintf(stderr, "command failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string Ns(int i) { return "team-" + std::to_string(i % 10); }
std::string Name(int i) { return "job-" + std::to_string(i); }

std::string Job(int i, const std::string& image) {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + Name(i) +
         "\n  namespace: " + Ns(i) + "\nspec:\n  region: SR006\n  image: " + image +
         "\n  instanceType: a100.1gpu\n  script: |\n    python train.py --epochs 10\n";
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

int Arg(int argc, char** argv, const std::string& name, int def) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--" + name + "=", 0) == 0) return std::atoi(a.c_str() + name.size() + 3);
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int objects = Arg(argc, argv, "objects", 10000);
  const int writes = Arg(argc, argv, "writes", 50);
  const int writers = Arg(argc, argv, "writers", 20);
  const int seconds = Arg(argc, argv, "seconds", 20);
  mlspace::Logger::Get().SetLevel(mlspace::LogLevel::kWarn);  // no audit line per write
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("GIT_AUTHOR_NAME", "bench", 1);
  setenv("GIT_AUTHOR_EMAIL", "bench@localhost", 1);
  setenv("GIT_COMMITTER_NAME", "bench", 1);
  setenv("GIT_COMMITTER_EMAIL", "bench@localhost", 1);

  std::string tmpl = (fs::temp_directory_path() / "mlspace-gitwrite-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  const fs::path repo = tmpl;
  const fs::path dir = repo / "manifests";
  auto t0 = Clock::now();
  for (int i = 0; i < objects; ++i) {
    fs::create_directories(dir / Ns(i));
    std::ofstream(dir / Ns(i) / (Name(i) + ".yaml")) << Job(i, "img:0");
  }
  Run(repo, "git init -q -b main . && git add -A && git commit -q -m init");
  std::printf("setup: %d objects committed in %.1f s\n", objects,
              std::chrono::duration<double>(Clock::now() - t0).count());

  GitManifestWriter::Options o;
  o.manifests_dir = dir.string();
  std::atomic<int> syncs{0};
  o.on_commit = [&syncs] { ++syncs; };
  auto opened = GitManifestWriter::Open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto& w = **opened;

  // The first lookup without a hint scans and indexes every manifest.
  t0 = Clock::now();
  auto found = w.Find(ObjectKey{Ns(7), Name(7)}, "");
  std::printf("first Find without hint (index of %d objects): %.1f ms (%s)\n", objects,
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count(),
              found.ok() ? "found" : found.status().ToString().c_str());

  // 1. Sequential single-object writes.
  for (const char* mode : {"path hint", "no hint"}) {
    std::vector<double> ms;
    for (int k = 0; k < writes; ++k) {
      int i = (k * 7919) % objects;
      mlspace::api::ManifestWriteRequest req;
      req.op = mlspace::api::WriteOp::kUpdate;
      req.key = ObjectKey{Ns(i), Name(i)};
      req.yaml = Job(i, std::string("img:seq-") + mode[0] + std::to_string(k));
      req.verb = "apply";
      req.user = "bench";
      if (std::string(mode) == "path hint") req.path_hint = Ns(i) + "/" + Name(i) + ".yaml";
      auto s = Clock::now();
      auto r = w.Write(req);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      if (!r.ok() || r->commit.empty()) {
        std::fprintf(stderr, "write failed: %s\n",
                     r.ok() ? "no commit" : r.status().ToString().c_str());
        return 1;
      }
    }
    std::printf("single-object Write (%s), %d writes: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
                mode, writes, Percentile(ms, 0.5), Percentile(ms, 0.99),
                *std::max_element(ms.begin(), ms.end()));
  }

  // 2. Concurrent writers, each on its own objects.
  const int before = std::stoi(Run(repo, "git rev-list --count HEAD"));
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<double>> lat(writers);
  auto start = Clock::now();
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; !stop.load(); ++n) {
        int i = (t + writers * (n % 50)) % objects;
        mlspace::api::ManifestWriteRequest req;
        req.op = mlspace::api::WriteOp::kUpdate;
        req.key = ObjectKey{Ns(i), Name(i)};
        req.yaml = Job(i, "img:w" + std::to_string(t) + "-" + std::to_string(n));
        req.verb = "patch";
        req.user = "writer-" + std::to_string(t);
        req.path_hint = Ns(i) + "/" + Name(i) + ".yaml";
        auto s = Clock::now();
        auto r = w.Write(req);
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (r.ok() && !r->commit.empty()) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const int after = std::stoi(Run(repo, "git rev-list --count HEAD"));
  const long commits = after - before;
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::printf(
      "%d concurrent writers, %.1f s: %ld writes ok, %ld failed, %.1f writes/s; commits %ld "
      "(%s); Write latency p50 %.1f ms, p99 %.1f ms; status clean: %s\n",
      writers, elapsed, ok.load(), failed.load(), static_cast<double>(ok.load()) / elapsed, commits,
      commits == ok.load() ? "= writes ok: each committed exactly once" : "MISMATCH",
      Percentile(all, 0.5), Percentile(all, 0.99),
      Run(repo, "git status --porcelain | wc -l") == "0" ? "yes" : "NO");
  std::error_code ec;
  fs::remove_all(repo, ec);
  return commits == ok.load() && failed.load() == 0 ? 0 : 1;
}
