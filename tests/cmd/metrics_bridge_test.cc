// MetricsBridge: the observer events of the components land in the
// documented families with bounded labels, every written record has its
// per-object series, and a dropped object's series go.
#include "controller/cmd/metrics_bridge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/runtime/rate_limiter.h"
#include "controller/runtime/workqueue.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::cmd {
namespace {

using std::chrono::seconds;

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

store::ObjectRecord Record(const std::string& ns, const std::string& name, api::Phase phase,
                           const std::string& remote = "") {
  store::ObjectRecord r;
  r.key = ObjectKey{ns, name};
  r.region = "SR006";
  r.status.phase = phase;
  r.status.remote_job_name = remote;
  return r;
}

class MetricsBridgeTest : public ::testing::Test {
 protected:
  void Put(const store::ObjectRecord& r) {
    store::WriteBatch b;
    b.upserts.push_back(r);
    ASSERT_TRUE(store_.Write(b).ok());
  }
  void Drop(const ObjectKey& key) {
    store::WriteBatch b;
    b.deletes.push_back(key);
    ASSERT_TRUE(store_.Write(b).ok());
  }

  metrics::Metrics metrics_;
  testing::FakeStateStore store_;
  MetricsBridge bridge_{metrics_, store_};
};

TEST_F(MetricsBridgeTest, SubmissionResultsMapToTheDocumentedLabels) {
  ObjectKey k{"default", "a"};
  for (const char* r :
       {"success", "adopted", "invalid", "throttled", "unavailable", "ambiguous", "error"}) {
    bridge_.OnSubmission(k, r);
  }
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(Has(t, "mlspacejob_submissions_total{result=\"success\"} 1")) << t;
  EXPECT_TRUE(Has(t, "mlspacejob_submissions_total{result=\"adopted\"} 1")) << t;
  EXPECT_TRUE(Has(t, "mlspacejob_submissions_total{result=\"rejected\"} 1")) << t;
  EXPECT_TRUE(Has(t, "mlspacejob_submissions_total{result=\"error\"} 4")) << t;
  EXPECT_EQ(t.find("result=\"throttled\""), std::string::npos);
  EXPECT_EQ(t.find("result=\"invalid\""), std::string::npos);
}

TEST_F(MetricsBridgeTest, GatewayRoutesBecomeOperationNamesAndOnly429IsThrottled) {
  auto observe = bridge_.GatewayObserver("emu");
  auto rec = [](const std::string& route, const std::string& method, int code, bool throttled) {
    gateway::http::RequestRecord r;
    r.endpoint = route;
    r.method = method;
    r.host = "127.0.0.1:9";
    r.code = code;
    r.throttled = throttled;
    return r;
  };
  observe(rec("POST /service_auth", "POST", 200, false));
  observe(rec("POST /jobs", "POST", 429, true));
  observe(rec("GET /jobs", "GET", 200, false));
  observe(rec("GET /jobs/{name}", "GET", 503, true));  // 503 + Retry-After
  observe(rec("DELETE /jobs/{name}", "DELETE", 0, false));
  observe(rec("POST /jobs/restart", "POST", 200, false));
  observe(rec("GET /jobs/{name}/logs", "GET", 200, false));
  std::string t = metrics_.Serialize();
  for (const char* line :
       {"mlspace_gateway_requests_total{backend=\"emu\",code=\"200\",endpoint=\"service_auth\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"429\",endpoint=\"jobs_create\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"200\",endpoint=\"jobs_list\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"503\",endpoint=\"jobs_get\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"<error>\",endpoint=\"jobs_"
        "delete\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"200\",endpoint=\"jobs_restart\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"200\",endpoint=\"jobs_logs\"} 1",
        "mlspace_gateway_throttled_total{backend=\"emu\"} 1",
        "rest_client_requests_total{backend=\"emu\",code=\"429\",host=\"127.0.0.1:9\","
        "method=\"POST\"} 1"}) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }
  EXPECT_EQ(t.find("/jobs"), std::string::npos) << "a route leaked into a label";
}

// Issue 15: each backend's client and GatewayHealth report under its own
// name; one backend's 401s and 429s never show on another's series.
TEST_F(MetricsBridgeTest, GatewayEventsCarryTheirBackend) {
  metrics_.RegisterBackend("emu");
  metrics_.RegisterBackend("lab");
  gateway::http::RequestRecord r;
  r.endpoint = "GET /jobs";
  r.method = "GET";
  r.host = "127.0.0.1:9";
  r.code = 401;
  bridge_.GatewayObserver("lab")(r);
  r.code = 429;
  bridge_.GatewayObserver("emu")(r);
  bridge_.OnGatewayAuthFailure("lab");
  bridge_.OnGatewayUp("lab", false);
  std::string t = metrics_.Serialize();
  for (const char* line :
       {"mlspace_gateway_up{backend=\"lab\"} 0", "mlspace_gateway_up{backend=\"emu\"} 1",
        "mlspace_gateway_auth_failures_total{backend=\"lab\"} 1",
        "mlspace_gateway_auth_failures_total{backend=\"emu\"} 0",
        "mlspace_gateway_throttled_total{backend=\"emu\"} 1",
        "mlspace_gateway_throttled_total{backend=\"lab\"} 0",
        "mlspace_gateway_requests_total{backend=\"lab\",code=\"401\",endpoint=\"jobs_list\"} 1",
        "mlspace_gateway_requests_total{backend=\"emu\",code=\"429\",endpoint=\"jobs_list\"} 1"}) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }
  bridge_.OnGatewayUp("lab", true);
  EXPECT_TRUE(Has(metrics_.Serialize(), "mlspace_gateway_up{backend=\"lab\"} 1"));
}

TEST_F(MetricsBridgeTest, StoredRecordsAreExportedAtStartUp) {
  Put(Record("team-a", "waiting", api::Phase::kPending));
  Put(Record("team-a", "running", api::Phase::kRunning, "lj-1"));
  bridge_.LoadObjects();
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(
      Has(t, "mlspacejob_status_phase{namespace=\"team-a\",name=\"waiting\",phase=\"Pending\"} 1"))
      << t;
  EXPECT_TRUE(Has(t,
                  "mlspacejob_info{namespace=\"team-a\",name=\"running\",region=\"SR006\","
                  "remote_job=\"lj-1\"} 1"))
      << t;
  EXPECT_EQ(metrics_.ObjectCount(), 2u);
}

// A new object waits in Pending without a phase change; its first write
// alone gives it series, and the bridge never reads the store for it (a
// read per object per tick once stalled workers behind a lock).
TEST_F(MetricsBridgeTest, WrittenRecordsAreExportedWithoutReadingTheStore) {
  ObjectKey k{"team-a", "new"};
  bridge_.OnRecordWritten(k, {"SR006", "", api::Phase::kPending});
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(
      Has(t, "mlspacejob_status_phase{namespace=\"team-a\",name=\"new\",phase=\"Pending\"} 1"))
      << t;
  bridge_.OnRecordWritten(k, {"SR006", "lj-9", api::Phase::kRunning});
  t = metrics_.Serialize();
  EXPECT_TRUE(
      Has(t, "mlspacejob_status_phase{namespace=\"team-a\",name=\"new\",phase=\"Running\"} 1"))
      << t;
  EXPECT_TRUE(Has(t,
                  "mlspacejob_info{namespace=\"team-a\",name=\"new\",region=\"SR006\","
                  "remote_job=\"lj-9\"} 1"))
      << t;
  EXPECT_EQ(t.find("phase=\"Pending\""), std::string::npos) << "the old phase line stayed";
  EXPECT_EQ(t.find("remote_job=\"\""), std::string::npos) << "the old info line stayed";
  EXPECT_EQ(store_.calls().get, 0);
  EXPECT_EQ(store_.calls().list, 0);
}

TEST_F(MetricsBridgeTest, DroppedObjectsLoseTheirSeries) {
  ObjectKey k{"default", "gone"};
  bridge_.OnRecordWritten(k, {"SR006", "lj-2", api::Phase::kRunning});
  EXPECT_EQ(metrics_.ObjectCount(), 1u);
  bridge_.OnRecordDropped(k);
  EXPECT_EQ(metrics_.ObjectCount(), 0u);
  EXPECT_EQ(metrics_.Serialize().find("name=\"gone\""), std::string::npos);
  // The manifest comes back: a new record, new series.
  bridge_.OnRecordWritten(k, {"SR006", "", api::Phase::kPending});
  EXPECT_EQ(metrics_.ObjectCount(), 1u);
}

// Workers write and drop different objects at once while scrapes run
// (also under TSan): each object ends as its last call left it.
TEST_F(MetricsBridgeTest, ConcurrentWritesDropsAndScrapesEndInTheLastState) {
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) (void)metrics_.Serialize();
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < 200; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "w%d-%d", w, i);
        ObjectKey k{"default", name};
        bridge_.OnRecordWritten(k, {"SR006", "", api::Phase::kPending});
        bridge_.OnRecordWritten(k, {"SR006", "lj", api::Phase::kRunning});
        if (i % 2 == 0) bridge_.OnRecordDropped(k);
      }
    });
  }
  for (auto& t : workers) t.join();
  done = true;
  scraper.join();
  EXPECT_EQ(metrics_.ObjectCount(), 400u);
  std::string t = metrics_.Serialize();
  EXPECT_EQ(t.find("phase=\"Pending\""), std::string::npos);
  EXPECT_TRUE(
      Has(t, "mlspacejob_status_phase{namespace=\"default\",name=\"w3-199\",phase=\"Running\"} 1"))
      << t.substr(0, 2000);
  EXPECT_EQ(t.find("name=\"w0-0\""), std::string::npos);
}

TEST_F(MetricsBridgeTest, QueueGaugesShowWorkInFlight) {
  testing::FakeClock clock;
  runtime::WorkQueue q("mlspacejob", clock,
                       std::make_unique<runtime::ItemExponentialFailureRateLimiter>(
                           std::chrono::milliseconds(5), seconds(1)));
  metrics_.RegisterWorkqueue("mlspacejob");
  q.Add("a");
  q.Add("b");
  ASSERT_TRUE(q.Get());
  clock.Advance(seconds(3));
  ASSERT_TRUE(q.Get());
  clock.Advance(seconds(2));
  bridge_.UpdateQueueGauges("mlspacejob", q);
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(Has(t, "workqueue_unfinished_work_seconds{name=\"mlspacejob\"} 7")) << t;
  EXPECT_TRUE(Has(t, "workqueue_longest_running_processor_seconds{name=\"mlspacejob\"} 5")) << t;
  q.Done("a");
  q.Done("b");
  bridge_.UpdateQueueGauges("mlspacejob", q);
  t = metrics_.Serialize();
  EXPECT_TRUE(Has(t, "workqueue_unfinished_work_seconds{name=\"mlspacejob\"} 0")) << t;
  q.ShutDown();
}

// The source status lands in the gitops_* families with real counts (the
// ignored count was always 0 before), and fetch errors count once each.
TEST_F(MetricsBridgeTest, SourceStatusSetsTheGitopsFamilies) {
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(Has(t, "gitops_source_ready 0")) << t;
  EXPECT_TRUE(Has(t, "gitops_source_fetch_errors_total 0")) << t;

  api::SourceStatus s;
  s.revision = "0123456789abcdef";
  s.ready = true;
  s.last_sync = TimePoint(seconds(1700000000));
  s.valid = 5;
  s.invalid = 2;
  s.ignored = 1;
  s.invalid_files_total = 2;
  bridge_.OnSourceStatus(s, /*fetch_failed=*/false);
  t = metrics_.Serialize();
  for (const std::string line :
       {"gitops_source_revision_info{revision=\"0123456789abcdef\"} 1",
        "gitops_source_last_sync_timestamp_seconds 1700000000", "gitops_source_ready 1",
        "gitops_manifests{state=\"valid\"} 5", "gitops_manifests{state=\"invalid\"} 2",
        "gitops_manifests{state=\"ignored\"} 1", "gitops_source_invalid_files 2",
        "gitops_source_fetch_errors_total 0"}) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }

  s.ready = false;
  bridge_.OnSourceStatus(s, /*fetch_failed=*/true);
  bridge_.OnSourceStatus(s, /*fetch_failed=*/true);
  bridge_.OnSourceStatus(s, /*fetch_failed=*/false);  // a sync without a fetch
  t = metrics_.Serialize();
  EXPECT_TRUE(Has(t, "gitops_source_fetch_errors_total 2")) << t;
  EXPECT_TRUE(Has(t, "gitops_source_ready 0")) << t;
}

// What controller_main's gauges thread did, now on a runtime::Periodic in
// the bridge: the queue's in-flight gauges, first pass at once.
TEST_F(MetricsBridgeTest, GaugeLoopCopiesTheQueueGauges) {
  testing::FakeClock clock;
  runtime::WorkQueue q("mlspacejob", clock,
                       std::make_unique<runtime::ItemExponentialFailureRateLimiter>(
                           std::chrono::milliseconds(5), seconds(1)));
  metrics_.RegisterWorkqueue("mlspacejob");
  q.Add("a");
  ASSERT_TRUE(q.Get());
  clock.Advance(seconds(4));
  bridge_.StartGauges({"mlspacejob", &q}, clock, seconds(1));
  std::string t;
  for (int i = 0; i < 2000; ++i) {
    t = metrics_.Serialize();
    if (Has(t, "workqueue_longest_running_processor_seconds{name=\"mlspacejob\"} 4")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  bridge_.StopGauges();  // waits for a running pass
  EXPECT_TRUE(Has(t, "workqueue_longest_running_processor_seconds{name=\"mlspacejob\"} 4")) << t;
  EXPECT_TRUE(Has(t, "workqueue_unfinished_work_seconds{name=\"mlspacejob\"} 4")) << t;
  bridge_.StopGauges();  // idempotent
  q.Done("a");
  q.ShutDown();
}

}  // namespace
}  // namespace mlspace::cmd
