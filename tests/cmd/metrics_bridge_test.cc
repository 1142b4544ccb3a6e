// MetricsBridge: the observer events of the components land in the
// documented families with bounded labels, objects that never changed phase
// still get their series, and a dropped object's series stay gone.
#include "controller/cmd/metrics_bridge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
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
  auto observe = bridge_.GatewayObserver();
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
       {"mlspace_gateway_requests_total{code=\"200\",endpoint=\"service_auth\"} 1",
        "mlspace_gateway_requests_total{code=\"429\",endpoint=\"jobs_create\"} 1",
        "mlspace_gateway_requests_total{code=\"200\",endpoint=\"jobs_list\"} 1",
        "mlspace_gateway_requests_total{code=\"503\",endpoint=\"jobs_get\"} 1",
        "mlspace_gateway_requests_total{code=\"<error>\",endpoint=\"jobs_delete\"} 1",
        "mlspace_gateway_requests_total{code=\"200\",endpoint=\"jobs_restart\"} 1",
        "mlspace_gateway_requests_total{code=\"200\",endpoint=\"jobs_logs\"} 1",
        "mlspace_gateway_throttled_total 1"}) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }
  EXPECT_EQ(t.find("/jobs"), std::string::npos) << "a route leaked into a label";
}

TEST_F(MetricsBridgeTest, ObjectsThatNeverChangedPhaseAreExportedOnce) {
  Put(Record("team-a", "waiting", api::Phase::kPending));
  Put(Record("team-a", "running", api::Phase::kRunning, "lj-1"));
  bridge_.ExportMissing({ObjectKey{"team-a", "waiting"}, ObjectKey{"team-a", "running"},
                         ObjectKey{"team-a", "no-record-yet"}});
  std::string t = metrics_.Serialize();
  EXPECT_TRUE(
      Has(t, "mlspacejob_status_phase{namespace=\"team-a\",name=\"waiting\",phase=\"Pending\"} 1"))
      << t;
  EXPECT_TRUE(Has(t,
                  "mlspacejob_info{namespace=\"team-a\",name=\"running\",region=\"SR006\","
                  "remote_job=\"lj-1\"} 1"))
      << t;
  EXPECT_EQ(metrics_.ObjectCount(), 2u);

  // Already exported: not read again.
  auto gets = store_.calls().get;
  bridge_.ExportMissing({ObjectKey{"team-a", "waiting"}, ObjectKey{"team-a", "running"}});
  EXPECT_EQ(store_.calls().get, gets);
}

TEST_F(MetricsBridgeTest, DroppedObjectsStayGone) {
  ObjectKey k{"default", "gone"};
  Put(Record("default", "gone", api::Phase::kRunning, "lj-2"));
  bridge_.OnPhaseChange(k, api::Phase::kSubmitted, api::Phase::kRunning);
  EXPECT_EQ(metrics_.ObjectCount(), 1u);

  Drop(k);
  bridge_.OnRecordDropped(k);
  EXPECT_EQ(metrics_.ObjectCount(), 0u);
  // A late phase note or a periodic export after the drop finds no record
  // and must not bring the series back.
  bridge_.OnPhaseChange(k, api::Phase::kRunning, api::Phase::kRemoved);
  bridge_.ExportMissing({k});
  EXPECT_EQ(metrics_.ObjectCount(), 0u);
  EXPECT_EQ(metrics_.Serialize().find("name=\"gone\""), std::string::npos);
}

// The gauges thread exports while workers drop records: whatever the
// interleaving, a dropped object ends with no series (run under TSan too).
TEST_F(MetricsBridgeTest, ConcurrentExportAndDropLeaveNoSeriesOfDroppedObjects) {
  std::vector<ObjectKey> keys;
  for (int i = 0; i < 20; ++i) keys.push_back(ObjectKey{"default", "j" + std::to_string(i)});
  std::atomic<bool> done{false};
  std::thread exporter([&] {
    while (!done.load()) bridge_.ExportMissing(keys);
  });
  for (int round = 0; round < 50; ++round) {
    for (const auto& k : keys) Put(Record(k.namespace_name, k.name, api::Phase::kPending));
    for (const auto& k : keys) {
      bridge_.OnPhaseChange(k, api::Phase::kPending, api::Phase::kRemoved);
      Drop(k);
      bridge_.OnRecordDropped(k);
    }
  }
  done = true;
  exporter.join();
  bridge_.ExportMissing(keys);
  EXPECT_EQ(metrics_.ObjectCount(), 0u);
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

}  // namespace
}  // namespace mlspace::cmd
