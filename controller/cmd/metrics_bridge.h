#pragma once

// Connects the components' observer interfaces to the Prometheus families
// (metrics::Metrics). Wiring only: every decision stays in the observed
// component; this maps its events to metric names and bounded labels.

#include <memory>
#include <string>

#include "controller/gateway/http/gateway_client.h"
#include "controller/metrics/metrics.h"
#include "controller/reconciler/gateway_health.h"
#include "controller/reconciler/observed_cache.h"
#include "controller/reconciler/observer.h"
#include "controller/runtime/periodic.h"
#include "controller/runtime/worker_pool.h"
#include "controller/runtime/workqueue.h"
#include "controller/store/state_store.h"

namespace mlspace::cmd {

class MetricsBridge final : public reconciler::ReconcilerObserver,
                            public runtime::WorkQueueObserver,
                            public runtime::WorkerPoolObserver,
                            public reconciler::SourceObserver,
                            public reconciler::GatewayHealthObserver,
                            public reconciler::PollObserver {
 public:
  // Both must outlive the bridge.
  MetricsBridge(metrics::Metrics& metrics, store::StateStore& store);

  // Exports the per-object series of every record (call once at start-up,
  // before the controller starts; later writes arrive as OnRecordWritten).
  void LoadObjects();

  // Copies the queue's in-flight gauges (workqueue_unfinished_work_seconds,
  // workqueue_longest_running_processor_seconds); call periodically.
  void UpdateQueueGauges(const std::string& queue, const runtime::WorkQueue& q);

  // Where the read (not reported) gauges come from.
  struct GaugeSources {
    std::string queue_name;
    const runtime::WorkQueue* queue = nullptr;  // must outlive StopGauges()
  };
  // One pass: the queue's in-flight gauges (UpdateQueueGauges).
  void UpdateGauges(const GaugeSources& sources);
  // Runs UpdateGauges every `interval` on a runtime::Periodic until
  // StopGauges() (or the destructor). Call once.
  void StartGauges(GaugeSources sources, const Clock& clock, Duration interval);
  // Idempotent; waits for a running pass.
  void StopGauges();
  ~MetricsBridge() override;

  // ReconcilerObserver
  void OnSubmission(const ObjectKey& key, std::string_view result) override;
  void OnRetry(const ObjectKey& key) override;
  void OnCancellation(const ObjectKey& key, std::string_view reason) override;
  void OnPendingDuration(const ObjectKey& key, Duration d) override;
  void OnRunDuration(const ObjectKey& key, Duration d) override;
  void OnPruneRefused(const ObjectKey& key, std::string_view reason) override;
  void OnRecordWritten(const ObjectKey& key, const reconciler::RecordSummary& record) override;
  void OnRecordDropped(const ObjectKey& key) override;

  // WorkQueueObserver
  void OnAdd(const std::string& queue) override;
  void OnDepth(const std::string& queue, size_t depth) override;
  void OnQueueLatency(const std::string& queue, Duration waited) override;
  void OnWorkDuration(const std::string& queue, Duration took) override;
  void OnRetry(const std::string& queue) override;

  // WorkerPoolObserver
  void OnReconcile(const std::string& controller, std::string_view result, Duration took) override;
  void OnActiveWorkers(const std::string& controller, int active) override;

  // SourceObserver: gitops_source_revision_info, _last_sync_timestamp_seconds,
  // _ready, _fetch_errors_total, _invalid_files and gitops_manifests{state}.
  // (Polls need no observer here: each list is counted and timed by the
  // gateway families, endpoint="jobs_list".)
  void OnSourceStatus(const api::SourceStatus& status, bool fetch_failed) override;

  // GatewayHealthObserver: mlspace_gateway_up{backend},
  // mlspace_gateway_auth_failures_total{backend}.
  void OnGatewayUp(const std::string& backend, bool up) override;
  void OnGatewayAuthFailure(const std::string& backend) override;
  // PollObserver: mlspace_gateway_list_visibility_lag_seconds{region}.
  void OnListVisibilityLag(const std::string& region, Duration worst) override;

  // The Gateway v2 client's per-request hook for the configured backend
  // `backend` (the `backend` label of mlspace_gateway_requests_total,
  // mlspace_gateway_throttled_total and the rest_client_* families).
  gateway::http::RequestObserver GatewayObserver(const std::string& backend);

 private:
  void ExportObject(const ObjectKey& key, const reconciler::RecordSummary& record);

  metrics::Metrics& metrics_;
  store::StateStore& store_;
  std::unique_ptr<runtime::Periodic> gauges_;
};

}  // namespace mlspace::cmd
