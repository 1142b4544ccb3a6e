#include "controller/metrics/metrics.h"

#include "controller/core/build_info.h"
#include "controller/metrics/probes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "controller/metrics/process_collector.h"
#include "controller/metrics/text_format.h"

namespace mlspace::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::map<std::string, MetricFamily> ByName(const std::vector<MetricFamily>& families) {
  std::map<std::string, MetricFamily> out;
  for (const auto& f : families) {
    EXPECT_FALSE(out.count(f.name)) << "family collected twice: " << f.name;
    out[f.name] = f;
  }
  return out;
}

std::map<std::string, std::string> LabelsOf(const ClientMetric& m) {
  std::map<std::string, std::string> out;
  for (const auto& l : m.label) out[l.name] = l.value;
  return out;
}

// Series of `family` whose labels include every pair of `match`.
std::vector<ClientMetric> Series(const std::map<std::string, MetricFamily>& fams,
                                 const std::string& family,
                                 const std::map<std::string, std::string>& match = {}) {
  std::vector<ClientMetric> out;
  auto it = fams.find(family);
  if (it == fams.end()) return out;
  for (const auto& m : it->second.metric) {
    auto labels = LabelsOf(m);
    bool ok = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
      auto l = labels.find(kv.first);
      return l != labels.end() && l->second == kv.second;
    });
    if (ok) out.push_back(m);
  }
  return out;
}

void ExerciseEverything(Metrics& m) {
  m.RegisterController("mlspacejob", 4);
  m.ObserveReconcile("mlspacejob", ReconcileResult::kSuccess, 0.02);
  m.ObserveReconcile("mlspacejob", ReconcileResult::kError, 0.3);
  m.ObserveReconcile("mlspacejob", ReconcileResult::kRequeueAfter, 0.001);
  m.SetActiveWorkers("mlspacejob", 2);
  m.RegisterWorkqueue("mlspacejob");
  m.SetWorkqueueDepth("mlspacejob", 7);
  m.IncWorkqueueAdds("mlspacejob");
  m.ObserveWorkqueueQueueDuration("mlspacejob", 0.004);
  m.ObserveWorkqueueWorkDuration("mlspacejob", 0.05);
  m.IncWorkqueueRetries("mlspacejob");
  m.SetWorkqueueUnfinishedWorkSeconds("mlspacejob", 1.5);
  m.SetWorkqueueLongestRunningProcessorSeconds("mlspacejob", 0.7);
  m.RegisterBackend("default");
  m.ObserveRestRequest("default", "POST", "127.0.0.1:9000", "200", 0.12);
  m.ObserveRestRequest("default", "GET", "127.0.0.1:9000", "<error>", 1.2);
  m.IncGatewayRequest("default", "jobs_create", "200");
  m.IncGatewayRequest("default", "jobs_list", "429");
  m.IncGatewayThrottled("default");
  m.SetGatewayUp("default", false);
  m.IncGatewayAuthFailures("default");
  m.IncApiWrite("patch", 409);
  m.IncBackendRequest("lab", "submit", "ok");
  m.SetObjectInfo("team-a", "bert", "SR006", "lm-mpi-job-1");
  m.SetObjectPhase("team-a", "bert", "Running");
  m.IncSubmission("success");
  m.IncJobRetries();
  m.IncCancellation("suspend");
  m.ObserveJobRunDuration(5400);
  m.ObserveJobPendingDuration(42);
  m.SetSourceRevision("abc123");
  m.SetLastSyncTimestamp(1.7e9);
  m.SetManifestCounts(3, 1, 2);
  m.IncPruneRefused("max_fraction");
  m.SetListVisibilityLag("SR006", 1.5);
  m.IncStoreErrors("write");
}

TEST(MetricsTest, EveryDeclaredFamilyIsCollectedWithItsTypeAndLabels) {
  Metrics m;
  ExerciseEverything(m);
  auto fams = ByName(m.Collect());
  std::set<std::string> declared;
  for (const FamilyDesc& d : Metrics::Families()) {
    declared.insert(d.name);
    auto it = fams.find(d.name);
    ASSERT_NE(it, fams.end()) << "missing family " << d.name;
    EXPECT_EQ(it->second.type, d.type) << d.name;
    EXPECT_FALSE(it->second.help.empty()) << d.name;
    ASSERT_FALSE(it->second.metric.empty()) << d.name;
    std::set<std::string> want(d.labels.begin(), d.labels.end());
    for (const auto& series : it->second.metric) {
      std::set<std::string> got;
      for (const auto& l : series.label) got.insert(l.name);
      EXPECT_EQ(got, want) << d.name;
    }
  }
  for (const auto& [name, f] : fams) EXPECT_TRUE(declared.count(name)) << "undeclared " << name;
  EXPECT_EQ(declared.size(), Metrics::Families().size()) << "duplicate declarations";
}

TEST(MetricsTest, ReconcileCountsResultsErrorsAndUsesControllerRuntimeBuckets) {
  Metrics m;
  m.RegisterController("c", 3);
  auto fams = ByName(m.Collect());
  // Registration creates every result series at zero, like controller-runtime.
  EXPECT_EQ(Series(fams, "controller_runtime_reconcile_total", {{"controller", "c"}}).size(), 4u);
  m.ObserveReconcile("c", ReconcileResult::kError, 0.2);
  m.ObserveReconcile("c", ReconcileResult::kError, 0.2);
  m.ObserveReconcile("c", ReconcileResult::kRequeue, 0.2);
  fams = ByName(m.Collect());
  auto errors = Series(fams, "controller_runtime_reconcile_total",
                       {{"controller", "c"}, {"result", "error"}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].counter.value, 2);
  auto err_total = Series(fams, "controller_runtime_reconcile_errors_total");
  ASSERT_EQ(err_total.size(), 1u);
  EXPECT_EQ(err_total[0].counter.value, 2);
  auto hist = Series(fams, "controller_runtime_reconcile_time_seconds");
  ASSERT_EQ(hist.size(), 1u);
  EXPECT_EQ(hist[0].histogram.sample_count, 3u);
  const auto& b = hist[0].histogram.bucket;
  ASSERT_EQ(b.size(), 41u);  // 40 bounds + Inf
  EXPECT_DOUBLE_EQ(b.front().upper_bound, 0.005);
  EXPECT_DOUBLE_EQ(b[39].upper_bound, 60);
  EXPECT_TRUE(std::isinf(b.back().upper_bound));
  auto max = Series(fams, "controller_runtime_max_concurrent_reconciles");
  ASSERT_EQ(max.size(), 1u);
  EXPECT_EQ(max[0].gauge.value, 3);
}

TEST(MetricsTest, WorkqueueHistogramsUseClientGoBuckets) {
  Metrics m;
  m.ObserveWorkqueueWorkDuration("q", 0.5);
  auto hist = Series(ByName(m.Collect()), "workqueue_work_duration_seconds", {{"name", "q"}});
  ASSERT_EQ(hist.size(), 1u);
  const auto& b = hist[0].histogram.bucket;
  ASSERT_EQ(b.size(), 11u);
  EXPECT_DOUBLE_EQ(b[0].upper_bound, 1e-8);
  EXPECT_DOUBLE_EQ(b[9].upper_bound, 10);
  EXPECT_EQ(b[7].cumulative_count, 0u);  // le=0.1
  EXPECT_EQ(b[8].cumulative_count, 1u);  // le=1
}

TEST(MetricsTest, PhaseSeriesIsReplacedNotDuplicated) {
  Metrics m;
  m.SetObjectPhase("ns", "a", "Pending");
  m.SetObjectPhase("ns", "a", "Submitted");
  m.SetObjectPhase("ns", "a", "Running");
  m.SetObjectPhase("ns", "a", "Running");
  m.SetObjectPhase("ns", "b", "Pending");
  auto fams = ByName(m.Collect());
  auto a = Series(fams, "mlspacejob_status_phase", {{"namespace", "ns"}, {"name", "a"}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(LabelsOf(a[0])["phase"], "Running");
  EXPECT_EQ(a[0].gauge.value, 1);
  EXPECT_EQ(Series(fams, "mlspacejob_status_phase").size(), 2u);
}

TEST(MetricsTest, InfoSeriesIsReplacedWhenTheRemoteJobChanges) {
  Metrics m;
  m.SetObjectInfo("ns", "a", "SR006", "");
  m.SetObjectInfo("ns", "a", "SR006", "job-1");
  m.SetObjectInfo("ns", "a", "SR006", "job-2");
  auto info = Series(ByName(m.Collect()), "mlspacejob_info", {{"name", "a"}});
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(LabelsOf(info[0])["remote_job"], "job-2");
  EXPECT_EQ(LabelsOf(info[0])["region"], "SR006");
}

TEST(MetricsTest, ForgetObjectRemovesItsSeriesOnly) {
  Metrics m;
  m.SetObjectInfo("ns", "a", "r", "j");
  m.SetObjectPhase("ns", "a", "Running");
  m.SetObjectInfo("ns", "b", "r", "k");
  m.SetObjectPhase("ns", "b", "Failed");
  m.ForgetObject("ns", "a");
  m.ForgetObject("ns", "never-existed");
  EXPECT_EQ(m.ObjectCount(), 1u);
  auto fams = ByName(m.Collect());
  EXPECT_TRUE(Series(fams, "mlspacejob_info", {{"name", "a"}}).empty());
  EXPECT_TRUE(Series(fams, "mlspacejob_status_phase", {{"name", "a"}}).empty());
  EXPECT_EQ(Series(fams, "mlspacejob_info", {{"name", "b"}}).size(), 1u);
  EXPECT_EQ(Series(fams, "mlspacejob_status_phase", {{"name", "b"}}).size(), 1u);
  // The object can come back.
  m.SetObjectPhase("ns", "a", "Pending");
  EXPECT_EQ(Series(ByName(m.Collect()), "mlspacejob_status_phase", {{"name", "a"}}).size(), 1u);
}

TEST(MetricsTest, RevisionInfoKeepsOneSeries) {
  Metrics m;
  m.SetSourceRevision("r1");
  m.SetSourceRevision("r2");
  m.SetSourceRevision("r2");
  auto rev = Series(ByName(m.Collect()), "gitops_source_revision_info");
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(LabelsOf(rev[0])["revision"], "r2");
}

TEST(MetricsTest, ManifestCountsAndBoundedCountersStartAtZero) {
  Metrics m;
  auto fams = ByName(m.Collect());
  EXPECT_EQ(Series(fams, "gitops_manifests").size(), 3u);
  EXPECT_EQ(Series(fams, "gitops_prune_refused_total").size(), 3u);
  EXPECT_EQ(Series(fams, "mlspacejob_submissions_total").size(), 4u);
  m.SetManifestCounts(5, 1, 0);
  m.IncSubmission("error");
  fams = ByName(m.Collect());
  EXPECT_EQ(Series(fams, "gitops_manifests", {{"state", "valid"}})[0].gauge.value, 5);
  EXPECT_EQ(Series(fams, "gitops_manifests", {{"state", "invalid"}})[0].gauge.value, 1);
  EXPECT_EQ(Series(fams, "mlspacejob_submissions_total", {{"result", "error"}})[0].counter.value,
            1);
}

// Issue 15: every gateway family carries the configured backend's name, so
// a 401 or a 429 of one backend is told apart from another's.
TEST(MetricsTest, GatewayFamiliesCarryTheBackendLabel) {
  Metrics m;
  auto fams = ByName(m.Collect());
  // No backend registered: no unlabelled series that would never move.
  EXPECT_TRUE(Series(fams, "mlspace_gateway_up").empty());
  m.RegisterBackend("emu");
  m.RegisterBackend("lab");
  fams = ByName(m.Collect());
  for (const char* b : {"emu", "lab"}) {
    auto up = Series(fams, "mlspace_gateway_up", {{"backend", b}});
    ASSERT_EQ(up.size(), 1u) << b;
    EXPECT_EQ(up[0].gauge.value, 1) << b;
    auto auth = Series(fams, "mlspace_gateway_auth_failures_total", {{"backend", b}});
    ASSERT_EQ(auth.size(), 1u) << b;
    EXPECT_EQ(auth[0].counter.value, 0) << b;
    auto throttled = Series(fams, "mlspace_gateway_throttled_total", {{"backend", b}});
    ASSERT_EQ(throttled.size(), 1u) << b;
    EXPECT_EQ(throttled[0].counter.value, 0) << b;
  }
  m.SetGatewayUp("lab", false);
  m.IncGatewayAuthFailures("lab");
  m.IncGatewayAuthFailures("lab");
  m.IncGatewayThrottled("emu");
  m.IncGatewayRequest("lab", "jobs_list", "401");
  m.IncGatewayRequest("emu", "jobs_list", "200");
  m.IncGatewayRequest("emu", "jobs_list", "200");
  m.ObserveRestRequest("lab", "GET", "127.0.0.1:9", "401", 0.01);
  m.ObserveRestRequest("emu", "GET", "127.0.0.1:9", "200", 0.02);
  fams = ByName(m.Collect());
  EXPECT_EQ(Series(fams, "mlspace_gateway_up", {{"backend", "lab"}})[0].gauge.value, 0);
  EXPECT_EQ(Series(fams, "mlspace_gateway_up", {{"backend", "emu"}})[0].gauge.value, 1);
  EXPECT_EQ(
      Series(fams, "mlspace_gateway_auth_failures_total", {{"backend", "lab"}})[0].counter.value,
      2);
  EXPECT_EQ(
      Series(fams, "mlspace_gateway_auth_failures_total", {{"backend", "emu"}})[0].counter.value,
      0);
  EXPECT_EQ(Series(fams, "mlspace_gateway_throttled_total", {{"backend", "emu"}})[0].counter.value,
            1);
  EXPECT_EQ(Series(fams, "mlspace_gateway_throttled_total", {{"backend", "lab"}})[0].counter.value,
            0);
  auto emu_lists = Series(fams, "mlspace_gateway_requests_total",
                          {{"backend", "emu"}, {"endpoint", "jobs_list"}, {"code", "200"}});
  ASSERT_EQ(emu_lists.size(), 1u);
  EXPECT_EQ(emu_lists[0].counter.value, 2);
  EXPECT_TRUE(Series(fams, "mlspace_gateway_requests_total", {{"backend", "emu"}, {"code", "401"}})
                  .empty());
  EXPECT_EQ(
      Series(fams, "rest_client_requests_total", {{"backend", "lab"}, {"code", "401"}}).size(), 1u);
  auto lat = Series(fams, "rest_client_request_duration_seconds", {{"backend", "emu"}});
  ASSERT_EQ(lat.size(), 1u);
  EXPECT_EQ(lat[0].histogram.sample_count, 1u);
  // Every series of these families names its backend.
  for (const char* f : {"mlspace_gateway_up", "mlspace_gateway_auth_failures_total",
                        "mlspace_gateway_throttled_total", "mlspace_gateway_requests_total",
                        "rest_client_requests_total", "rest_client_request_duration_seconds"}) {
    for (const auto& series : Series(fams, f)) {
      EXPECT_FALSE(LabelsOf(series)["backend"].empty()) << f;
    }
  }
  // The exposition text shows the label too.
  std::string text = m.Serialize();
  EXPECT_NE(text.find("mlspace_gateway_up{backend=\"lab\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("mlspace_gateway_up{backend=\"emu\"} 1"), std::string::npos) << text;
}

TEST(MetricsTest, ApiWritesCountByVerbAndCode) {
  Metrics m;
  // Series exist before the first write (dashboards show 0, not "no data").
  EXPECT_NE(m.Serialize().find("mlspace_api_writes_total{code=\"201\",verb=\"create\"} 0"),
            std::string::npos);
  m.IncApiWrite("apply", 200);
  m.IncApiWrite("apply", 200);
  m.IncApiWrite("create", 422);
  std::string text = m.Serialize();
  EXPECT_NE(text.find("mlspace_api_writes_total{code=\"200\",verb=\"apply\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("mlspace_api_writes_total{code=\"422\",verb=\"create\"} 1"),
            std::string::npos);
}

TEST(MetricsTest, BuildInfoCarriesVersionRevisionAndCompiler) {
  Metrics m(BuildInfo{"1.2.3", "deadbeef", "gcc-12"});
  auto b = Series(ByName(m.Collect()), "build_info");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].gauge.value, 1);
  EXPECT_EQ(LabelsOf(b[0])["version"], "1.2.3");
  EXPECT_EQ(LabelsOf(b[0])["revision"], "deadbeef");
  EXPECT_EQ(LabelsOf(b[0])["cppversion"], "gcc-12");
  BuildInfo d = DefaultBuildInfo();
  EXPECT_FALSE(d.version.empty());
  EXPECT_FALSE(d.cppversion.empty());
  // The same values every binary prints for --version.
  EXPECT_EQ(d.version, GetBuildVersion().version);
  EXPECT_EQ(d.revision, GetBuildVersion().commit);
}

std::multiset<std::string> NonProcessLines(const std::string& text) {
  std::multiset<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.find("process_") == std::string::npos) out.insert(line);
    pos = end + 1;
  }
  return out;
}

TEST(MetricsTest, FastSerializeMatchesCollect) {
  Metrics m;
  ExerciseEverything(m);
  m.SetObjectInfo("ns", "quote\"back\\slash\nnewline", "r", "");
  m.SetObjectPhase("ns", "quote\"back\\slash\nnewline", "Pending");
  std::string fast = m.Serialize();
  std::string slow;
  AppendText(m.Collect(), &slow);
  EXPECT_EQ(NonProcessLines(fast), NonProcessLines(slow));
  EXPECT_NE(fast.find("name=\"quote\\\"back\\\\slash\\nnewline\""), std::string::npos) << fast;
  EXPECT_NE(fast.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(
      fast.find("workqueue_work_duration_seconds_bucket{name=\"mlspacejob\",le=\"1e-08\"} 0\n"),
      std::string::npos);
  EXPECT_NE(
      fast.find("workqueue_work_duration_seconds_bucket{name=\"mlspacejob\",le=\"+Inf\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      fast.find("controller_runtime_reconcile_time_seconds_sum{controller=\"mlspacejob\"} 0.321\n"),
      std::string::npos);
}

TEST(TextFormatTest, ValuesAndEscapes) {
  std::string s;
  for (double v : {0.0, 1.0, -3.0, 0.25, 1e-8, 1e20, std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    AppendValue(v, &s);
    s.push_back(' ');
  }
  EXPECT_EQ(s, "0 1 -3 0.25 1e-08 1e+20 NaN +Inf -Inf ");
  s.clear();
  AppendLabelValue("a\"b\\c\nd", &s);
  EXPECT_EQ(s, "a\\\"b\\\\c\\nd");
}

TEST(ProcessCollectorTest, ValuesAreSane) {
  ProcessCollector c;
  ProcessStats s;
  ASSERT_TRUE(c.Read(&s));
  EXPECT_GT(s.resident_memory_bytes, 1024 * 1024);
  EXPECT_GT(s.virtual_memory_bytes, s.resident_memory_bytes);
  EXPECT_GE(s.open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GE(s.max_fds, s.open_fds);
  EXPECT_GE(s.cpu_seconds, 0);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(s.start_time_seconds, now + 1);
  EXPECT_GT(s.start_time_seconds, now - 600) << "test process started over 10 min ago?";

  // Opening a file shows up in the next read.
  int fd = dup(0);
  ASSERT_GE(fd, 0);
  ProcessStats s2;
  ASSERT_TRUE(c.Read(&s2));
  close(fd);
  EXPECT_EQ(s2.open_fds, s.open_fds + 1);

  // CPU time grows with work.
  volatile double x = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) x = x + std::sqrt(x + 1);
  ProcessStats s3;
  ASSERT_TRUE(c.Read(&s3));
  EXPECT_GT(s3.cpu_seconds, s.cpu_seconds);
}

TEST(ProcessCollectorTest, ParsesStatWithAwkwardCommandName) {
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt
  // cminflt majflt cmajflt utime stime cutime cstime priority nice threads
  // itrealvalue starttime vsize rss ...
  std::string stat =
      "1234 (a) b (c)) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 "
      "104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  ProcessStats s;
  ASSERT_TRUE(ParseProcStat(stat, 1'000'000, 100, 4096, &s));
  EXPECT_DOUBLE_EQ(s.cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(s.start_time_seconds, 1'000'010);
  EXPECT_DOUBLE_EQ(s.virtual_memory_bytes, 104857600);
  EXPECT_DOUBLE_EQ(s.resident_memory_bytes, 2560.0 * 4096);
  EXPECT_FALSE(ParseProcStat("garbage", 0, 100, 4096, &s));
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2 3", 0, 100, 4096, &s));
}

TEST(MetricsTest, ConcurrentUpdatesAndScrapesKeepOneSeriesPerObject) {
  Metrics m;
  const char* phases[] = {"Pending", "Submitted", "Running", "Succeeded"};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, &phases, t] {
      for (int i = 0; i < 500; ++i) {
        std::string name = "job-" + std::to_string(i % 50);
        m.SetObjectPhase("ns", name, phases[(i + t) % 4]);
        m.SetObjectInfo("ns", name, "r", "remote-" + std::to_string(t));
        m.ObserveReconcile("c", ReconcileResult::kSuccess, 0.001);
        if (i % 7 == 0) m.ForgetObject("ns", name);
      }
    });
  }
  threads.emplace_back([&m] {
    for (int i = 0; i < 50; ++i) (void)m.Serialize();
  });
  for (auto& t : threads) t.join();
  auto fams = ByName(m.Collect());
  std::map<std::string, int> per_object;
  for (const auto& s : Series(fams, "mlspacejob_status_phase")) ++per_object[LabelsOf(s)["name"]];
  for (const auto& [name, n] : per_object) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(per_object.size(), m.ObjectCount());
  EXPECT_EQ(
      Series(fams, "controller_runtime_reconcile_total", {{"result", "success"}})[0].counter.value,
      2000);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLSPACE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLSPACE_SANITIZED 1
#endif
#endif

TEST(MetricsTest, SerializingTenThousandObjectsIsFast) {
  Metrics m;
  for (int i = 0; i < 10000; ++i) {
    std::string name = "job-" + std::to_string(i);
    m.SetObjectInfo("team-" + std::to_string(i % 20), name, "SR006", "lm-mpi-job-" + name);
    m.SetObjectPhase("team-" + std::to_string(i % 20), name, i % 3 ? "Running" : "Succeeded");
  }
  double best_ms = 1e9;
  size_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    std::string text = m.Serialize();
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    best_ms = std::min(best_ms, ms);
    bytes = text.size();
  }
  std::printf("10k objects: /metrics body %zu bytes, serialize best of 5: %.1f ms\n", bytes,
              best_ms);
  EXPECT_GT(bytes, 10000u * 2 * 50);
#ifndef MLSPACE_SANITIZED
  EXPECT_LT(best_ms, 50.0);
#endif
}

// Issue 11: /healthz names the object a stuck worker is busy with.
TEST(ProbesTest, StuckWorkerCheckNamesTheObjectPastTheLimit) {
  std::optional<std::pair<std::string, Duration>> busy;
  Check check = StuckWorkerCheck([&] { return busy; }, std::chrono::seconds(300));
  EXPECT_TRUE(check().ok()) << "all idle";
  busy = std::make_pair(std::string("default/slow"), Duration(std::chrono::seconds(300)));
  EXPECT_TRUE(check().ok()) << "at the limit: slow, not stuck";
  busy->second = std::chrono::seconds(301);
  Status s = check();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("default/slow"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("301 s"), std::string::npos) << s.message();
  Probes probes;
  probes.AddHealthCheck("workers", check);
  ProbeReport r = probes.RunHealth(true);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.body.find("[-]workers failed"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("default/slow"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace mlspace::metrics
