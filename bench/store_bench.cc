// bench_store: SqliteStateStore on a real file, in one run.
//
//  1. Write() of one record + one intent per batch (the reconciler's
//     "commit intent before POST" step): commits/s and latency percentiles.
//     Each commit is fsynced (synchronous=FULL), so this is the disk's
//     fsync rate more than the store's CPU.
//  2. Write() of 100 records per batch: records/s.
//  3. List() and Get() with the records of step 2 in place (cold-start read).
//
// Usage: bench_store [--dir DIR] [--commits N] [--big-batches N]
// (defaults: a fresh directory under $TMPDIR, 300 commits, 100 batches).
// The directory must not hold a state store; it is removed afterwards only
// when the bench created it.

#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "controller/store/sqlite/sqlite_state_store.h"

namespace {

using namespace mlspace;         // NOLINT: a benchmark main
using namespace mlspace::store;  // NOLINT
using Steady = std::chrono::steady_clock;

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU seconds (user + system) of this process so far: on a shared machine
// the wall times include waiting for a core, the CPU time does not.
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

ObjectRecord Record(const std::string& name, int i) {
  ObjectRecord r;
  r.key = ObjectKey{"bench", name};
  r.spec_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  r.generation = 1;
  // About the size of a real canonical spec.
  r.spec_json = R"({"region":"SR006","image":"cr.ai.cloud.ru/acme/pytorch:2.4",)"
                R"("instanceType":"a100.8gpu","workers":2,"command":["python","-m","train",)"
                R"("--lr","3e-4"],"env":[{"name":"WANDB_PROJECT","value":"llama"}],)"
                R"("runPolicy":{"backoffLimit":3}})";
  r.source_path = "jobs/" + name + ".yaml";
  r.labels = {{"team", "nlp"}};
  r.region = "SR006";
  r.status.phase = api::Phase::kSubmitted;
  r.status.remote_job_name = "lm-mpi-job-" + std::to_string(i);
  r.status.conditions = {{"Accepted", "True", "Valid", "", TimePoint{}},
                         {"Submitted", "True", "Submitted", "submitted", TimePoint{}}};
  r.status.synced_revision = "5d41402abc4b2a76b9719d911017c592aabbccdd";
  return r;
}

SubmitIntent Intent(const std::string& name, int i) {
  SubmitIntent it;
  it.key = ObjectKey{"bench", name};
  it.marker = "mlsj:bench/" + name + "/9f86d081/" + std::to_string(i);
  it.spec_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  it.attempt = 1;
  it.region = "SR006";
  return it;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "bench_store: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int commits = 300, big_batches = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--commits" && i + 1 < argc) {
      commits = std::atoi(argv[++i]);
    } else if (a == "--big-batches" && i + 1 < argc) {
      big_batches = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_store [--dir DIR] [--commits N] [--big-batches N]\n");
      return 2;
    }
  }
  if (commits < 1 || big_batches < 1) return Fail("--commits and --big-batches must be >= 1");
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bench-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return Fail("cannot create a temporary directory");
    dir = tmpl;
  }
  if (std::filesystem::exists(dir + "/" + kDatabaseFileName)) {
    return Fail(dir + " already holds a state store; pass an empty directory");
  }
  int rc = 0;
  {
    auto opened = SqliteStateStore::Open(dir);
    if (!opened.ok()) return Fail(opened.status().message());
    SqliteStateStore& store = **opened;
    std::printf("bench_store: %s (hardware threads: %u)\n\n", store.database_path().c_str(),
                std::thread::hardware_concurrency());

    // 1. One record + one intent per commit.
    std::vector<double> lat;
    lat.reserve(static_cast<size_t>(commits));
    auto t0 = Steady::now();
    double cpu0 = CpuSeconds();
    for (int i = 0; i < commits && rc == 0; ++i) {
      std::string name = "single-" + std::to_string(i);
      WriteBatch b;
      b.upserts = {Record(name, i)};
      b.intents = {Intent(name, i)};
      auto s0 = Steady::now();
      Status s = store.Write(b);
      lat.push_back(Ms(Steady::now() - s0));
      if (!s.ok()) rc = Fail(s.message());
    }
    double secs = std::chrono::duration<double>(Steady::now() - t0).count();
    std::printf(
        "1 record + 1 intent per batch: %d commits in %.2f s = %.0f commits/s; "
        "latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; CPU %.0f us/commit\n",
        commits, secs, commits / secs, Percentile(lat, 0.5), Percentile(lat, 0.9),
        Percentile(lat, 0.99), Percentile(lat, 1.0), (CpuSeconds() - cpu0) * 1e6 / commits);

    // 2. 100 records per commit.
    lat.clear();
    t0 = Steady::now();
    cpu0 = CpuSeconds();
    for (int n = 0; n < big_batches && rc == 0; ++n) {
      WriteBatch b;
      for (int j = 0; j < 100; ++j) {
        int i = n * 100 + j;
        b.upserts.push_back(Record("bulk-" + std::to_string(i), i));
      }
      auto s0 = Steady::now();
      Status s = store.Write(b);
      lat.push_back(Ms(Steady::now() - s0));
      if (!s.ok()) rc = Fail(s.message());
    }
    secs = std::chrono::duration<double>(Steady::now() - t0).count();
    std::printf(
        "100 records per batch: %d batches in %.2f s = %.0f records/s; "
        "batch latency p50 %.2f ms, p99 %.2f ms; CPU %.1f us/record\n",
        big_batches, secs, big_batches * 100 / secs, Percentile(lat, 0.5), Percentile(lat, 0.99),
        (CpuSeconds() - cpu0) * 1e6 / (big_batches * 100));

    // 3. Reads with everything in place.
    std::vector<double> list_ms;
    size_t listed = 0;
    cpu0 = CpuSeconds();
    for (int r = 0; r < 5 && rc == 0; ++r) {
      auto s0 = Steady::now();
      auto all = store.List();
      list_ms.push_back(Ms(Steady::now() - s0));
      if (!all.ok())
        rc = Fail(all.status().message());
      else
        listed = all->size();
    }
    double list_cpu_ms = (CpuSeconds() - cpu0) * 1e3 / 5;
    std::vector<double> get_us;
    for (int i = 0; i < 1000 && rc == 0; ++i) {
      auto s0 = Steady::now();
      auto one =
          store.Get(ObjectKey{"bench", "bulk-" + std::to_string(i * 7 % (big_batches * 100))});
      get_us.push_back(Ms(Steady::now() - s0) * 1000);
      if (!one.ok() || !one->has_value()) rc = Fail("Get failed");
    }
    std::printf(
        "List() of %zu records: median %.1f ms (CPU %.1f ms); Get(): p50 %.0f us, "
        "p99 %.0f us\n",
        listed, Percentile(list_ms, 0.5), list_cpu_ms, Percentile(get_us, 0.5),
        Percentile(get_us, 0.99));
  }
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}
