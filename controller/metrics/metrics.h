#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/registry.h>

namespace mlspace::metrics {

// How one Reconcile() call ended, as controller-runtime labels it.
enum class ReconcileResult { kSuccess, kError, kRequeue, kRequeueAfter };
std::string_view ReconcileResultLabel(ReconcileResult result);

// Values of the build_info series. Defaults come from the build (CMake project
// version and git commit as --version prints them, compiler).
struct BuildInfo {
  std::string version;
  std::string revision;
  std::string cppversion;
};
BuildInfo DefaultBuildInfo();

// Static description of one metric family this library exports; the
// dashboard test and docs/metrics.md are checked against this list.
struct FamilyDesc {
  std::string name;
  prometheus::MetricType type;
  std::vector<std::string> labels;
};

// Bucket layouts, shared with tests so they compare against one definition.
const std::vector<double>& ReconcileTimeBuckets();   // controller-runtime
const std::vector<double>& WorkqueueBuckets();       // client-go: 1e-8 ... 10
const std::vector<double>& RestClientBuckets();      // client-go rest client
const std::vector<double>& JobRunDurationBuckets();  // minutes to a week
const std::vector<double>& JobPendingDurationBuckets();

// Every metric family of DESIGN.md section 7 in one prometheus::Registry, plus
// the process_* families computed at scrape time. Names, labels and buckets of
// the controller-runtime, workqueue and rest-client families match the Go
// libraries so existing dashboards and alerts work unchanged.
//
// Callers report through plain methods; no method throws and all are
// thread-safe. Label values must come from bounded sets (controller and queue
// names, endpoints, reasons); only the per-object families carry object names,
// and ForgetObject() deletes those when the object goes away.
class Metrics {
 public:
  explicit Metrics(BuildInfo build = DefaultBuildInfo());
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The registry, for callers that add their own families; it does not hold
  // the per-object and process_* families, so expose Collect()/Serialize().
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // Everything a scrape exposes: registry, per-object and process_* families.
  std::vector<prometheus::MetricFamily> Collect() const;
  // Collect() in the Prometheus text exposition format 0.0.4 (the fast path
  // /metrics uses: per-object lines are copied, not re-collected).
  std::string Serialize() const;
  // The families this class declares (series may not exist yet).
  static const std::vector<FamilyDesc>& Families();

  // --- controller-runtime -------------------------------------------------
  // Creates the controller's series at zero (as controller-runtime does), so
  // rates and alerts have data before the first error.
  void RegisterController(const std::string& controller, int max_concurrent_reconciles);
  void ObserveReconcile(const std::string& controller, ReconcileResult result, double seconds);
  void SetActiveWorkers(const std::string& controller, double workers);
  void AddActiveWorkers(const std::string& controller, double delta);

  // --- workqueue (client-go names) ----------------------------------------
  void RegisterWorkqueue(const std::string& name);
  void SetWorkqueueDepth(const std::string& name, double depth);
  void IncWorkqueueAdds(const std::string& name);
  void ObserveWorkqueueQueueDuration(const std::string& name, double seconds);
  void ObserveWorkqueueWorkDuration(const std::string& name, double seconds);
  void IncWorkqueueRetries(const std::string& name);
  void SetWorkqueueUnfinishedWorkSeconds(const std::string& name, double seconds);
  void SetWorkqueueLongestRunningProcessorSeconds(const std::string& name, double seconds);

  // --- rest client (client-go names) --------------------------------------
  // `backend` is the configured backend's name (bounded by the --backends
  // file; "default" from flags); `code` is the HTTP status ("200") or
  // "<error>" when no answer arrived; `method` the HTTP method; `host` the
  // gateway's host:port.
  void ObserveRestRequest(const std::string& backend, const std::string& method,
                          const std::string& host, const std::string& code, double seconds);

  // --- MLSpace gateway ----------------------------------------------------
  // Every gateway family below carries `backend` (a configured name, as
  // above). RegisterBackend creates a backend's series at their start values
  // (up 1, counters 0), so gauges and rates exist before the first request;
  // call it once per configured backend.
  void RegisterBackend(const std::string& backend);
  // `endpoint` is a bounded operation name (e.g. "jobs_create", "jobs_list",
  // "service_auth"), never a URL with job names in it.
  void IncGatewayRequest(const std::string& backend, const std::string& endpoint,
                         const std::string& code);
  // --- API writes -----------------------------------------------------------
  // mlspace_api_writes_total: one write request through the API (`verb`:
  // create, update, patch, apply, delete, deletecollection; `code` the HTTP
  // status of the answer). Both label sets are bounded.
  void IncApiWrite(std::string_view verb, int code);

  // One HTTP 429 answer from `backend`'s gateway.
  void IncGatewayThrottled(const std::string& backend);
  // mlspace_gateway_up{backend}: 1 while the backend's gateway accepts the
  // credentials, 0 while it answers 401/403 (its requests paused but for one
  // probe per backoff).
  void SetGatewayUp(const std::string& backend, bool up);
  // mlspace_gateway_auth_failures_total{backend}: one 401/403 answer.
  void IncGatewayAuthFailures(const std::string& backend);
  // mlspace_backend_requests_total{backend, operation, result}: one call
  // through the backend router. `backend` is a configured name (bounded by
  // the --backends file), `operation` submit|get|list|cancel|restart|logs,
  // `result` ok or the gateway error kind (not_found, invalid, ...).
  void IncBackendRequest(const std::string& backend, const std::string& operation,
                         const std::string& result);

  // --- MLSpaceJob objects -------------------------------------------------
  // The info series of one object; a changed region or remote job replaces
  // the previous series. An empty remote_job is exported as "".
  void SetObjectInfo(const std::string& ns, const std::string& name, const std::string& region,
                     const std::string& remote_job);
  // Keeps exactly one mlspacejob_status_phase series (value 1) per object.
  void SetObjectPhase(const std::string& ns, const std::string& name, const std::string& phase);
  // Deletes every per-object series of ns/name. Unknown objects are ignored.
  void ForgetObject(const std::string& ns, const std::string& name);
  size_t ObjectCount() const;

  // result: success | adopted | rejected | error (see docs/metrics.md).
  void IncSubmission(const std::string& result);
  void IncJobRetries();
  // reason: suspend | deadline | replace | prune | duplicate | delete.
  void IncCancellation(const std::string& reason);
  void ObserveJobRunDuration(double seconds);
  void ObserveJobPendingDuration(double seconds);

  // mlspace_gateway_list_visibility_lag_seconds{region}: the worst list
  // visibility lag learned from the controller's own submits.
  void SetListVisibilityLag(const std::string& region, double seconds);

  // --- GitOps source ------------------------------------------------------
  // Keeps exactly one gitops_source_revision_info series.
  void SetSourceRevision(const std::string& revision);
  void SetLastSyncTimestamp(double unix_seconds);
  void SetManifestCounts(double valid, double invalid, double ignored);
  // gitops_source_ready: the MLSpaceSource Ready condition as 1/0.
  void SetSourceReady(bool ready);
  // gitops_source_fetch_errors_total: one failed fetch or read.
  void IncSourceFetchErrors();
  // gitops_source_invalid_files: files with a document not applied.
  void SetSourceInvalidFiles(double files);
  // reason: source_error | empty_revision | max_fraction.
  void IncPruneRefused(const std::string& reason);

  // mlspace_state_store_errors_total{op}: one failed state store call; op is
  // write | record_instance | get | list | intents | events | identity.
  void IncStoreErrors(const std::string& op);

 private:
  // Per-object series live outside the registry with their exposition lines
  // written once at update time, so a scrape of 10,000 objects is a copy.
  struct ObjectSeries {
    std::string region;
    std::string remote_job;
    std::string phase;
    std::string info_line;   // empty when no info was set
    std::string phase_line;  // empty when no phase was set
  };
  void AppendObjectFamilies(std::vector<prometheus::MetricFamily>* out) const;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;

  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Family<prometheus::Counter>& reconcile_errors_total_;
  prometheus::Family<prometheus::Histogram>& reconcile_time_;
  prometheus::Family<prometheus::Gauge>& active_workers_;
  prometheus::Family<prometheus::Gauge>& max_concurrent_;
  prometheus::Family<prometheus::Gauge>& wq_depth_;
  prometheus::Family<prometheus::Counter>& wq_adds_;
  prometheus::Family<prometheus::Histogram>& wq_queue_duration_;
  prometheus::Family<prometheus::Histogram>& wq_work_duration_;
  prometheus::Family<prometheus::Counter>& wq_retries_;
  prometheus::Family<prometheus::Gauge>& wq_unfinished_;
  prometheus::Family<prometheus::Gauge>& wq_longest_;
  prometheus::Family<prometheus::Counter>& rest_requests_;
  prometheus::Family<prometheus::Histogram>& rest_duration_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Counter>& submissions_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& cancellations_;
  prometheus::Family<prometheus::Histogram>& run_duration_;
  prometheus::Family<prometheus::Histogram>& pending_duration_;
  prometheus::Family<prometheus::Counter>& gateway_requests_;
  prometheus::Family<prometheus::Counter>& gateway_throttled_;
  prometheus::Family<prometheus::Counter>& api_writes_;
  prometheus::Family<prometheus::Gauge>& gateway_up_;
  prometheus::Family<prometheus::Counter>& gateway_auth_failures_;
  prometheus::Family<prometheus::Counter>& backend_requests_;
  prometheus::Family<prometheus::Gauge>& list_lag_;
  prometheus::Family<prometheus::Gauge>& revision_info_;
  prometheus::Family<prometheus::Gauge>& last_sync_;
  prometheus::Family<prometheus::Gauge>& manifests_;
  prometheus::Family<prometheus::Gauge>& source_ready_;
  prometheus::Family<prometheus::Counter>& source_fetch_errors_;
  prometheus::Family<prometheus::Gauge>& source_invalid_files_;
  prometheus::Family<prometheus::Counter>& prune_refused_;
  prometheus::Family<prometheus::Counter>& store_errors_;

  mutable std::mutex mu_;  // guards objects_ and revision_
  std::map<std::pair<std::string, std::string>, ObjectSeries> objects_;
  prometheus::Gauge* revision_ = nullptr;
};

}  // namespace mlspace::metrics
