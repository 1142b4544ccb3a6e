#include "controller/cmd/metrics_bridge.h"

#include <chrono>

namespace mlspace::cmd {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// The reconciler names prune refusals in CamelCase (events, conditions);
// the metric uses the snake_case reasons documented in docs/metrics.md.
std::string PruneReasonLabel(std::string_view reason) {
  if (reason == "SourceReadFailed") return "source_error";
  if (reason == "EmptyRevision") return "empty_revision";
  if (reason == "TooManyRemovals") return "max_fraction";
  return "other";
}

// The client names requests by route template ("GET /jobs/{name}"); the
// `endpoint` label takes the documented operation names (docs/metrics.md),
// which the dashboard and the auth alert show.
std::string EndpointLabel(std::string_view route) {
  if (route == "POST /service_auth") return "service_auth";
  if (route == "POST /jobs") return "jobs_create";
  if (route == "GET /jobs") return "jobs_list";
  if (route == "GET /jobs/{name}") return "jobs_get";
  if (route == "DELETE /jobs/{name}") return "jobs_delete";
  if (route == "POST /jobs/restart") return "jobs_restart";
  if (route == "GET /jobs/{name}/logs") return "jobs_logs";
  return "other";
}

// The reconciler reports submissions in more detail than the documented,
// bounded `result` label of mlspacejob_submissions_total (docs/metrics.md):
// a validation rejection is terminal; throttled, unavailable and ambiguous
// submits (429, 5xx, network) are retried like errors.
std::string SubmissionResultLabel(std::string_view result) {
  if (result == "success") return "success";
  if (result == "adopted") return "adopted";
  if (result == "invalid") return "rejected";
  return "error";
}

}  // namespace

MetricsBridge::MetricsBridge(metrics::Metrics& metrics, store::StateStore& store)
    : metrics_(metrics), store_(store) {}

void MetricsBridge::ExportObject(const ObjectKey& key, const reconciler::RecordSummary& r) {
  // Metrics keeps one info and one phase line per object and ignores a
  // value it already has, so repeating a write costs a map lookup.
  metrics_.SetObjectInfo(key.namespace_name, key.name, r.region, r.remote_job);
  metrics_.SetObjectPhase(key.namespace_name, key.name, std::string(api::PhaseName(r.phase)));
}

void MetricsBridge::LoadObjects() {
  auto records = store_.List();
  if (!records.ok()) return;
  for (const auto& r : *records) {
    ExportObject(r.key, {r.region, r.status.remote_job_name, r.status.phase});
  }
}

void MetricsBridge::UpdateQueueGauges(const std::string& queue, const runtime::WorkQueue& q) {
  metrics_.SetWorkqueueUnfinishedWorkSeconds(queue, q.UnfinishedWorkSeconds());
  metrics_.SetWorkqueueLongestRunningProcessorSeconds(queue, q.LongestRunningProcessorSeconds());
}

void MetricsBridge::UpdateGauges(const GaugeSources& sources) {
  if (sources.queue != nullptr) UpdateQueueGauges(sources.queue_name, *sources.queue);
}

void MetricsBridge::StartGauges(GaugeSources sources, const Clock& clock, Duration interval) {
  gauges_ = std::make_unique<runtime::Periodic>(
      "gauges", clock, interval, 0.0,
      [this, sources = std::move(sources)] { UpdateGauges(sources); });
  gauges_->Start();
}

void MetricsBridge::StopGauges() {
  if (gauges_) gauges_->Stop();
}

MetricsBridge::~MetricsBridge() { StopGauges(); }

void MetricsBridge::OnSubmission(const ObjectKey&, std::string_view result) {
  metrics_.IncSubmission(SubmissionResultLabel(result));
}

void MetricsBridge::OnRetry(const ObjectKey&) { metrics_.IncJobRetries(); }

void MetricsBridge::OnGatewayUp(const std::string& backend, bool up) {
  metrics_.SetGatewayUp(backend, up);
}

void MetricsBridge::OnGatewayAuthFailure(const std::string& backend) {
  metrics_.IncGatewayAuthFailures(backend);
}

void MetricsBridge::OnCancellation(const ObjectKey&, std::string_view reason) {
  metrics_.IncCancellation(std::string(reason));
}

void MetricsBridge::OnPendingDuration(const ObjectKey&, Duration d) {
  metrics_.ObserveJobPendingDuration(Seconds(d));
}

void MetricsBridge::OnRunDuration(const ObjectKey&, Duration d) {
  metrics_.ObserveJobRunDuration(Seconds(d));
}

void MetricsBridge::OnPruneRefused(const ObjectKey&, std::string_view reason) {
  metrics_.IncPruneRefused(PruneReasonLabel(reason));
}

void MetricsBridge::OnRecordWritten(const ObjectKey& key, const reconciler::RecordSummary& record) {
  ExportObject(key, record);
}

void MetricsBridge::OnRecordDropped(const ObjectKey& key) {
  metrics_.ForgetObject(key.namespace_name, key.name);
}

void MetricsBridge::OnAdd(const std::string& queue) { metrics_.IncWorkqueueAdds(queue); }

void MetricsBridge::OnDepth(const std::string& queue, size_t depth) {
  metrics_.SetWorkqueueDepth(queue, static_cast<double>(depth));
}

void MetricsBridge::OnQueueLatency(const std::string& queue, Duration waited) {
  metrics_.ObserveWorkqueueQueueDuration(queue, Seconds(waited));
}

void MetricsBridge::OnWorkDuration(const std::string& queue, Duration took) {
  metrics_.ObserveWorkqueueWorkDuration(queue, Seconds(took));
}

void MetricsBridge::OnRetry(const std::string& queue) { metrics_.IncWorkqueueRetries(queue); }

void MetricsBridge::OnReconcile(const std::string& controller, std::string_view result,
                                Duration took) {
  metrics::ReconcileResult r = metrics::ReconcileResult::kSuccess;
  if (result == "error") r = metrics::ReconcileResult::kError;
  if (result == "requeue") r = metrics::ReconcileResult::kRequeue;
  if (result == "requeue_after") r = metrics::ReconcileResult::kRequeueAfter;
  metrics_.ObserveReconcile(controller, r, Seconds(took));
}

void MetricsBridge::OnActiveWorkers(const std::string& controller, int active) {
  metrics_.SetActiveWorkers(controller, active);
}

void MetricsBridge::OnSourceStatus(const api::SourceStatus& status, bool fetch_failed) {
  if (fetch_failed) metrics_.IncSourceFetchErrors();
  metrics_.SetSourceReady(status.ready);
  if (status.last_sync) {
    metrics_.SetLastSyncTimestamp(
        std::chrono::duration<double>(status.last_sync->time_since_epoch()).count());
  }
  if (status.revision.empty()) return;  // nothing read yet: no counts to show
  metrics_.SetSourceRevision(status.revision);
  metrics_.SetManifestCounts(static_cast<double>(status.valid), static_cast<double>(status.invalid),
                             static_cast<double>(status.ignored));
  metrics_.SetSourceInvalidFiles(static_cast<double>(status.invalid_files_total));
}

void MetricsBridge::OnListVisibilityLag(const std::string& region, Duration worst) {
  metrics_.SetListVisibilityLag(region, Seconds(worst));
}

gateway::http::RequestObserver MetricsBridge::GatewayObserver(const std::string& backend) {
  return [this, backend](const gateway::http::RequestRecord& rec) {
    std::string code = rec.code == 0 ? "<error>" : std::to_string(rec.code);
    metrics_.IncGatewayRequest(backend, EndpointLabel(rec.endpoint), code);
    metrics_.ObserveRestRequest(backend, rec.method, rec.host, code, Seconds(rec.duration));
    // mlspace_gateway_throttled_total counts 429 answers only; the client
    // also treats 503 + Retry-After as throttling, which stays visible as
    // code="503" in the request counters.
    if (rec.code == 429) metrics_.IncGatewayThrottled(backend);
  };
}

}  // namespace mlspace::cmd
