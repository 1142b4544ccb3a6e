#pragma once

// Connects the components' observer interfaces to the Prometheus families
// (metrics::Metrics). Wiring only: every decision stays in the observed
// component; this maps its events to metric names and bounded labels.

#include <memory>
#include <string>

#include "controller/gateway/http/gateway_client.h"
#include "controller/metrics/metrics.h"
#include "controller/reconciler/observed_cache.h"
#include "controller/reconciler/observer.h"
#include "controller/runtime/worker_pool.h"
#include "controller/runtime/workqueue.h"
#include "controller/source/manifest_source.h"
#include "controller/store/state_store.h"

namespace mlspace::cmd {

class MetricsBridge final : public reconciler::ReconcilerObserver,
                            public runtime::WorkQueueObserver,
                            public runtime::WorkerPoolObserver,
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

  // PollObserver: nothing exported per list beyond the gateway families.
  void OnList(const std::string& region, bool ok, Duration took, size_t jobs) override;

  // The Gateway v2 client's per-request hook.
  gateway::http::RequestObserver GatewayObserver();

 private:
  void ExportObject(const ObjectKey& key, const reconciler::RecordSummary& record);

  metrics::Metrics& metrics_;
  store::StateStore& store_;
};

// A ManifestSource that reports each successful read's revision and time
// (gitops_source_revision_info, gitops_source_last_sync_timestamp_seconds).
class ObservedSource final : public source::ManifestSource {
 public:
  ObservedSource(source::ManifestSource& inner, metrics::Metrics& metrics, const Clock& clock)
      : inner_(inner), metrics_(metrics), clock_(clock) {}

  Result<source::Snapshot> Read() override;
  Result<std::string> ReadBlob(const std::string& blob_id) override {
    return inner_.ReadBlob(blob_id);
  }
  Status Refresh() override { return inner_.Refresh(); }
  bool WaitForChange(std::chrono::milliseconds timeout) override {
    return inner_.WaitForChange(timeout);
  }
  void Wake() override { inner_.Wake(); }

 private:
  source::ManifestSource& inner_;
  metrics::Metrics& metrics_;
  const Clock& clock_;
};

}  // namespace mlspace::cmd
