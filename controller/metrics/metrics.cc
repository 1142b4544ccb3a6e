#include "controller/metrics/metrics.h"

#include <sstream>
#include <utility>

#include "controller/core/build_info.h"
#include "controller/metrics/process_collector.h"
#include "controller/metrics/text_format.h"

namespace mlspace::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::MetricType;
using prometheus::Registry;

constexpr const char kInfoName[] = "mlspacejob_info";
constexpr const char kInfoHelp[] =
    "Information about an MLSpaceJob: its region and current remote job name. Value is always 1.";
constexpr const char kPhaseName[] = "mlspacejob_status_phase";
constexpr const char kPhaseHelp[] =
    "The current phase of an MLSpaceJob: one series per object, value 1.";

// name{k1="v1",...} 1\n with values escaped.
std::string OneLine(std::string_view name,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out(name);
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out.append(k);
    out.append("=\"");
    AppendLabelValue(v, &out);
    out.push_back('"');
  }
  out.append("} 1\n");
  return out;
}

constexpr const char* kSubmissionResults[] = {"success", "adopted", "rejected", "error"};
constexpr const char* kCancelReasons[] = {"suspend", "deadline",  "replace",
                                          "prune",   "duplicate", "delete"};
constexpr const char* kPruneReasons[] = {"source_error", "empty_revision", "max_fraction"};

Family<Counter>& CounterFamily(Registry& r, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
Family<Gauge>& GaugeFamily(Registry& r, const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}
Family<Histogram>& HistogramFamily(Registry& r, const std::string& name, const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
}

std::string CompilerVersion() {
#if defined(__clang__)
  return "clang-" __clang_version__;
#elif defined(__GNUC__)
  return "gcc-" __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::string_view ReconcileResultLabel(ReconcileResult result) {
  switch (result) {
    case ReconcileResult::kSuccess:
      return "success";
    case ReconcileResult::kError:
      return "error";
    case ReconcileResult::kRequeue:
      return "requeue";
    case ReconcileResult::kRequeueAfter:
      return "requeue_after";
  }
  return "error";
}

BuildInfo DefaultBuildInfo() {
  // The same values --version prints (controller/core/build_info.h).
  BuildVersion v = GetBuildVersion();
  return BuildInfo{std::string(v.version), std::string(v.commit),
                   CompilerVersion() + " c++" + std::to_string(__cplusplus)};
}

const std::vector<double>& ReconcileTimeBuckets() {
  static const std::vector<double> kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
      0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
      6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};
  return kBuckets;
}

const std::vector<double>& WorkqueueBuckets() {
  // prometheus.ExponentialBuckets(10e-9, 10, 10) in client-go.
  static const std::vector<double> kBuckets = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4,
                                               1e-3, 1e-2, 1e-1, 1,    10};
  return kBuckets;
}

const std::vector<double>& RestClientBuckets() {
  // k8s.io/component-base/metrics/prometheus/restclient requestLatency.
  static const std::vector<double> kBuckets = {0.005, 0.025, 0.1, 0.25, 0.5,  1.0,
                                               2.0,   4.0,   8.0, 15.0, 30.0, 60.0};
  return kBuckets;
}

const std::vector<double>& JobRunDurationBuckets() {
  // 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h, 1 d, 2 d, 4 d, 7 d.
  static const std::vector<double> kBuckets = {60,    300,   900,   1800,   3600,   7200,  14400,
                                               28800, 43200, 86400, 172800, 345600, 604800};
  return kBuckets;
}

const std::vector<double>& JobPendingDurationBuckets() {
  // Queueing for GPUs: seconds (submission latency) to a day.
  static const std::vector<double> kBuckets = {1,   5,    15,   30,   60,    120,   300,
                                               600, 1800, 3600, 7200, 14400, 43200, 86400};
  return kBuckets;
}

const std::vector<FamilyDesc>& Metrics::Families() {
  static const std::vector<FamilyDesc> kFamilies = [] {
    std::vector<FamilyDesc> f = {
        {"controller_runtime_reconcile_total", MetricType::Counter, {"controller", "result"}},
        {"controller_runtime_reconcile_errors_total", MetricType::Counter, {"controller"}},
        {"controller_runtime_reconcile_time_seconds", MetricType::Histogram, {"controller"}},
        {"controller_runtime_active_workers", MetricType::Gauge, {"controller"}},
        {"controller_runtime_max_concurrent_reconciles", MetricType::Gauge, {"controller"}},
        {"workqueue_depth", MetricType::Gauge, {"name"}},
        {"workqueue_adds_total", MetricType::Counter, {"name"}},
        {"workqueue_queue_duration_seconds", MetricType::Histogram, {"name"}},
        {"workqueue_work_duration_seconds", MetricType::Histogram, {"name"}},
        {"workqueue_retries_total", MetricType::Counter, {"name"}},
        {"workqueue_unfinished_work_seconds", MetricType::Gauge, {"name"}},
        {"workqueue_longest_running_processor_seconds", MetricType::Gauge, {"name"}},
        {"rest_client_requests_total", MetricType::Counter, {"code", "method", "host", "backend"}},
        {"rest_client_request_duration_seconds",
         MetricType::Histogram,
         {"verb", "host", "backend"}},
        {"build_info", MetricType::Gauge, {"version", "revision", "cppversion"}},
        {"mlspacejob_info", MetricType::Gauge, {"namespace", "name", "region", "remote_job"}},
        {"mlspacejob_status_phase", MetricType::Gauge, {"namespace", "name", "phase"}},
        {"mlspacejob_submissions_total", MetricType::Counter, {"result"}},
        {"mlspacejob_retries_total", MetricType::Counter, {}},
        {"mlspacejob_cancellations_total", MetricType::Counter, {"reason"}},
        {"mlspacejob_run_duration_seconds", MetricType::Histogram, {}},
        {"mlspacejob_pending_duration_seconds", MetricType::Histogram, {}},
        {"mlspace_gateway_requests_total", MetricType::Counter, {"endpoint", "code", "backend"}},
        {"mlspace_gateway_throttled_total", MetricType::Counter, {"backend"}},
        {"mlspace_api_writes_total", MetricType::Counter, {"verb", "code"}},
        {"mlspace_gateway_up", MetricType::Gauge, {"backend"}},
        {"mlspace_gateway_auth_failures_total", MetricType::Counter, {"backend"}},
        {"mlspace_backend_requests_total", MetricType::Counter, {"backend", "operation", "result"}},
        {"mlspace_gateway_list_visibility_lag_seconds", MetricType::Gauge, {"region"}},
        {"gitops_source_revision_info", MetricType::Gauge, {"revision"}},
        {"gitops_source_last_sync_timestamp_seconds", MetricType::Gauge, {}},
        {"gitops_manifests", MetricType::Gauge, {"state"}},
        {"gitops_source_ready", MetricType::Gauge, {}},
        {"gitops_source_fetch_errors_total", MetricType::Counter, {}},
        {"gitops_source_invalid_files", MetricType::Gauge, {}},
        {"gitops_prune_refused_total", MetricType::Counter, {"reason"}},
        {"mlspace_state_store_errors_total", MetricType::Counter, {"op"}},
    };
    for (const auto& p : ProcessCollector::Families()) f.push_back(p);
    return f;
  }();
  return kFamilies;
}

Metrics::Metrics(BuildInfo build)
    : registry_(std::make_shared<Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      reconcile_total_(CounterFamily(*registry_, "controller_runtime_reconcile_total",
                                     "Total number of reconciliations per controller")),
      reconcile_errors_total_(
          CounterFamily(*registry_, "controller_runtime_reconcile_errors_total",
                        "Total number of reconciliation errors per controller")),
      reconcile_time_(HistogramFamily(*registry_, "controller_runtime_reconcile_time_seconds",
                                      "Length of time per reconciliation per controller")),
      active_workers_(GaugeFamily(*registry_, "controller_runtime_active_workers",
                                  "Number of currently used workers per controller")),
      max_concurrent_(GaugeFamily(*registry_, "controller_runtime_max_concurrent_reconciles",
                                  "Maximum number of concurrent reconciles per controller")),
      wq_depth_(GaugeFamily(*registry_, "workqueue_depth", "Current depth of workqueue")),
      wq_adds_(CounterFamily(*registry_, "workqueue_adds_total",
                             "Total number of adds handled by workqueue")),
      wq_queue_duration_(
          HistogramFamily(*registry_, "workqueue_queue_duration_seconds",
                          "How long in seconds an item stays in workqueue before being requested")),
      wq_work_duration_(HistogramFamily(*registry_, "workqueue_work_duration_seconds",
                                        "How long in seconds processing an item from workqueue "
                                        "takes.")),
      wq_retries_(CounterFamily(*registry_, "workqueue_retries_total",
                                "Total number of retries handled by workqueue")),
      wq_unfinished_(GaugeFamily(
          *registry_, "workqueue_unfinished_work_seconds",
          "How many seconds of work has been done that is in progress and hasn't been observed "
          "by work_duration. Large values indicate stuck threads. One can deduce the number of "
          "stuck threads by observing the rate at which this increases.")),
      wq_longest_(GaugeFamily(
          *registry_, "workqueue_longest_running_processor_seconds",
          "How many seconds has the longest running processor for workqueue been running.")),
      rest_requests_(
          CounterFamily(*registry_, "rest_client_requests_total",
                        "Number of HTTP requests, partitioned by status code, method, host and "
                        "backend.")),
      rest_duration_(HistogramFamily(*registry_, "rest_client_request_duration_seconds",
                                     "Request latency in seconds. Broken down by verb, host "
                                     "and backend.")),
      build_info_(GaugeFamily(*registry_, "build_info",
                              "A metric with a constant '1' value labeled by version, revision "
                              "and the C++ compiler the controller was built with.")),
      submissions_(CounterFamily(*registry_, "mlspacejob_submissions_total",
                                 "Job submissions to the MLSpace gateway by result.")),
      retries_(CounterFamily(*registry_, "mlspacejob_retries_total",
                             "Attempts started again after a failed run.")),
      cancellations_(CounterFamily(*registry_, "mlspacejob_cancellations_total",
                                   "Remote jobs cancelled by the controller, by reason.")),
      run_duration_(HistogramFamily(*registry_, "mlspacejob_run_duration_seconds",
                                    "Time from a job's start to its completion or failure.")),
      pending_duration_(HistogramFamily(*registry_, "mlspacejob_pending_duration_seconds",
                                        "Time from a job's submission to its start.")),
      gateway_requests_(CounterFamily(*registry_, "mlspace_gateway_requests_total",
                                      "Requests to the MLSpace gateway by backend, endpoint and "
                                      "HTTP status code.")),
      gateway_throttled_(CounterFamily(*registry_, "mlspace_gateway_throttled_total",
                                       "Gateway answers with HTTP 429 Too Many Requests, by "
                                       "backend.")),
      api_writes_(CounterFamily(*registry_, "mlspace_api_writes_total",
                                "Write requests through the Kubernetes-compatible API by verb "
                                "and HTTP status code.")),
      gateway_up_(GaugeFamily(*registry_, "mlspace_gateway_up",
                              "1 while the backend's gateway accepts the controller's "
                              "credentials, 0 while it answers 401/403 (its requests paused but "
                              "for one probe per backoff).")),
      gateway_auth_failures_(CounterFamily(*registry_, "mlspace_gateway_auth_failures_total",
                                           "Gateway answers with HTTP 401 or 403, by backend.")),
      backend_requests_(CounterFamily(*registry_, "mlspace_backend_requests_total",
                                      "Calls to each configured backend (--backends) by "
                                      "operation and result (ok or the error kind).")),
      list_lag_(GaugeFamily(*registry_, "mlspace_gateway_list_visibility_lag_seconds",
                            "Worst time seen from a POST /jobs answer to the start of a list "
                            "that still did not show the job, by region.")),
      revision_info_(GaugeFamily(*registry_, "gitops_source_revision_info",
                                 "The manifest source revision last read. Value is always 1.")),
      last_sync_(GaugeFamily(*registry_, "gitops_source_last_sync_timestamp_seconds",
                             "Unix time of the last successful read of the manifest source.")),
      manifests_(GaugeFamily(*registry_, "gitops_manifests",
                             "Manifests in the current revision by state.")),
      source_ready_(GaugeFamily(*registry_, "gitops_source_ready",
                                "1 when the manifest source's last sync read its newest revision "
                                "(the MLSpaceSource Ready condition), else 0.")),
      source_fetch_errors_(CounterFamily(*registry_, "gitops_source_fetch_errors_total",
                                         "Failed fetches and reads of the manifest source.")),
      source_invalid_files_(GaugeFamily(*registry_, "gitops_source_invalid_files",
                                        "Manifest files of the current revision holding a "
                                        "document that is not applied.")),
      prune_refused_(CounterFamily(*registry_, "gitops_prune_refused_total",
                                   "Prunes the controller refused to make, by reason.")),
      store_errors_(CounterFamily(*registry_, "mlspace_state_store_errors_total",
                                  "Failed state store operations (e.g. a full disk), by "
                                  "operation.")) {
  build_info_
      .Add({{"version", build.version},
            {"revision", build.revision},
            {"cppversion", build.cppversion}})
      .Set(1);
  source_ready_.Add({}).Set(0);
  source_fetch_errors_.Add({});
  source_invalid_files_.Add({}).Set(0);
  for (const char* r : kSubmissionResults) submissions_.Add({{"result", r}});
  for (const char* r : kCancelReasons) cancellations_.Add({{"reason", r}});
  for (const char* r : kPruneReasons) prune_refused_.Add({{"reason", r}});
  // Every op from the start, so rate() and alerts see 0 rather than nothing.
  for (const char* op :
       {"write", "record_instance", "get", "list", "intents", "events", "identity"}) {
    store_errors_.Add({{"op", op}});
  }
  // Each verb's success code from the start (dashboards and rate() see 0
  // before the first write); refusals appear with their code when they happen.
  for (const auto& [verb, code] :
       {std::pair{"create", "201"}, std::pair{"update", "200"}, std::pair{"patch", "200"},
        std::pair{"apply", "200"}, std::pair{"delete", "200"},
        std::pair{"deletecollection", "200"}}) {
    api_writes_.Add({{"verb", verb}, {"code", code}});
  }
  retries_.Add({});
  run_duration_.Add({}, JobRunDurationBuckets());
  pending_duration_.Add({}, JobPendingDurationBuckets());
  for (const char* s : {"valid", "invalid", "ignored"}) manifests_.Add({{"state", s}});
}

Metrics::~Metrics() = default;

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  AppendObjectFamilies(&out);
  std::vector<prometheus::MetricFamily> process = process_->Collect();
  out.insert(out.end(), std::make_move_iterator(process.begin()),
             std::make_move_iterator(process.end()));
  return out;
}

void Metrics::AppendObjectFamilies(std::vector<prometheus::MetricFamily>* out) const {
  prometheus::MetricFamily info{kInfoName, kInfoHelp, MetricType::Gauge, {}};
  prometheus::MetricFamily phase{kPhaseName, kPhaseHelp, MetricType::Gauge, {}};
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, s] : objects_) {
    if (!s.info_line.empty()) {
      prometheus::ClientMetric m;
      m.label = {{"namespace", key.first},
                 {"name", key.second},
                 {"region", s.region},
                 {"remote_job", s.remote_job}};
      m.gauge.value = 1;
      info.metric.push_back(std::move(m));
    }
    if (!s.phase_line.empty()) {
      prometheus::ClientMetric m;
      m.label = {{"namespace", key.first}, {"name", key.second}, {"phase", s.phase}};
      m.gauge.value = 1;
      phase.metric.push_back(std::move(m));
    }
  }
  if (!info.metric.empty()) out->push_back(std::move(info));
  if (!phase.metric.empty()) out->push_back(std::move(phase));
}

std::string Metrics::Serialize() const {
  std::string out;
  AppendText(registry_->Collect(), &out);
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t info_bytes = 0, phase_bytes = 0;
    for (const auto& [key, s] : objects_) {
      info_bytes += s.info_line.size();
      phase_bytes += s.phase_line.size();
    }
    out.reserve(out.size() + info_bytes + phase_bytes + 1024);
    if (info_bytes > 0) {
      AppendHeader(kInfoName, kInfoHelp, MetricType::Gauge, &out);
      for (const auto& [key, s] : objects_) out.append(s.info_line);
    }
    if (phase_bytes > 0) {
      AppendHeader(kPhaseName, kPhaseHelp, MetricType::Gauge, &out);
      for (const auto& [key, s] : objects_) out.append(s.phase_line);
    }
  }
  AppendText(process_->Collect(), &out);
  return out;
}

void Metrics::RegisterController(const std::string& controller, int max_concurrent_reconciles) {
  for (auto r : {ReconcileResult::kSuccess, ReconcileResult::kError, ReconcileResult::kRequeue,
                 ReconcileResult::kRequeueAfter}) {
    reconcile_total_.Add(
        {{"controller", controller}, {"result", std::string(ReconcileResultLabel(r))}});
  }
  reconcile_errors_total_.Add({{"controller", controller}});
  reconcile_time_.Add({{"controller", controller}}, ReconcileTimeBuckets());
  active_workers_.Add({{"controller", controller}});
  max_concurrent_.Add({{"controller", controller}}).Set(max_concurrent_reconciles);
}

void Metrics::ObserveReconcile(const std::string& controller, ReconcileResult result,
                               double seconds) {
  reconcile_total_
      .Add({{"controller", controller}, {"result", std::string(ReconcileResultLabel(result))}})
      .Increment();
  if (result == ReconcileResult::kError) {
    reconcile_errors_total_.Add({{"controller", controller}}).Increment();
  }
  reconcile_time_.Add({{"controller", controller}}, ReconcileTimeBuckets()).Observe(seconds);
}

void Metrics::SetActiveWorkers(const std::string& controller, double workers) {
  active_workers_.Add({{"controller", controller}}).Set(workers);
}

void Metrics::AddActiveWorkers(const std::string& controller, double delta) {
  active_workers_.Add({{"controller", controller}}).Increment(delta);
}

void Metrics::RegisterWorkqueue(const std::string& name) {
  prometheus::Labels l = {{"name", name}};
  wq_depth_.Add(l);
  wq_adds_.Add(l);
  wq_queue_duration_.Add(l, WorkqueueBuckets());
  wq_work_duration_.Add(l, WorkqueueBuckets());
  wq_retries_.Add(l);
  wq_unfinished_.Add(l);
  wq_longest_.Add(l);
}

void Metrics::SetWorkqueueDepth(const std::string& name, double depth) {
  wq_depth_.Add({{"name", name}}).Set(depth);
}
void Metrics::IncWorkqueueAdds(const std::string& name) {
  wq_adds_.Add({{"name", name}}).Increment();
}
void Metrics::ObserveWorkqueueQueueDuration(const std::string& name, double seconds) {
  wq_queue_duration_.Add({{"name", name}}, WorkqueueBuckets()).Observe(seconds);
}
void Metrics::ObserveWorkqueueWorkDuration(const std::string& name, double seconds) {
  wq_work_duration_.Add({{"name", name}}, WorkqueueBuckets()).Observe(seconds);
}
void Metrics::IncWorkqueueRetries(const std::string& name) {
  wq_retries_.Add({{"name", name}}).Increment();
}
void Metrics::SetWorkqueueUnfinishedWorkSeconds(const std::string& name, double seconds) {
  wq_unfinished_.Add({{"name", name}}).Set(seconds);
}
void Metrics::SetWorkqueueLongestRunningProcessorSeconds(const std::string& name, double seconds) {
  wq_longest_.Add({{"name", name}}).Set(seconds);
}

void Metrics::ObserveRestRequest(const std::string& backend, const std::string& method,
                                 const std::string& host, const std::string& code, double seconds) {
  rest_requests_.Add({{"code", code}, {"method", method}, {"host", host}, {"backend", backend}})
      .Increment();
  rest_duration_.Add({{"verb", method}, {"host", host}, {"backend", backend}}, RestClientBuckets())
      .Observe(seconds);
}

void Metrics::IncApiWrite(std::string_view verb, int code) {
  api_writes_.Add({{"verb", std::string(verb)}, {"code", std::to_string(code)}}).Increment();
}

void Metrics::RegisterBackend(const std::string& backend) {
  gateway_up_.Add({{"backend", backend}}).Set(1);
  gateway_auth_failures_.Add({{"backend", backend}});
  gateway_throttled_.Add({{"backend", backend}});
}

void Metrics::IncGatewayRequest(const std::string& backend, const std::string& endpoint,
                                const std::string& code) {
  gateway_requests_.Add({{"endpoint", endpoint}, {"code", code}, {"backend", backend}}).Increment();
}
void Metrics::IncGatewayThrottled(const std::string& backend) {
  gateway_throttled_.Add({{"backend", backend}}).Increment();
}
void Metrics::IncBackendRequest(const std::string& backend, const std::string& operation,
                                const std::string& result) {
  backend_requests_.Add({{"backend", backend}, {"operation", operation}, {"result", result}})
      .Increment();
}

void Metrics::SetGatewayUp(const std::string& backend, bool up) {
  gateway_up_.Add({{"backend", backend}}).Set(up ? 1 : 0);
}
void Metrics::IncGatewayAuthFailures(const std::string& backend) {
  gateway_auth_failures_.Add({{"backend", backend}}).Increment();
}

void Metrics::SetObjectInfo(const std::string& ns, const std::string& name,
                            const std::string& region, const std::string& remote_job) {
  std::lock_guard<std::mutex> lock(mu_);
  ObjectSeries& s = objects_[{ns, name}];
  if (!s.info_line.empty() && s.region == region && s.remote_job == remote_job) return;
  s.region = region;
  s.remote_job = remote_job;
  s.info_line =
      OneLine(kInfoName,
              {{"namespace", ns}, {"name", name}, {"region", region}, {"remote_job", remote_job}});
}

void Metrics::SetObjectPhase(const std::string& ns, const std::string& name,
                             const std::string& phase) {
  std::lock_guard<std::mutex> lock(mu_);
  ObjectSeries& s = objects_[{ns, name}];
  if (!s.phase_line.empty() && s.phase == phase) return;
  s.phase = phase;
  s.phase_line = OneLine(kPhaseName, {{"namespace", ns}, {"name", name}, {"phase", phase}});
}

void Metrics::ForgetObject(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_.erase({ns, name});
}

size_t Metrics::ObjectCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

void Metrics::IncSubmission(const std::string& result) {
  submissions_.Add({{"result", result}}).Increment();
}
void Metrics::IncJobRetries() { retries_.Add({}).Increment(); }
void Metrics::IncCancellation(const std::string& reason) {
  cancellations_.Add({{"reason", reason}}).Increment();
}
void Metrics::ObserveJobRunDuration(double seconds) {
  run_duration_.Add({}, JobRunDurationBuckets()).Observe(seconds);
}
void Metrics::ObserveJobPendingDuration(double seconds) {
  pending_duration_.Add({}, JobPendingDurationBuckets()).Observe(seconds);
}

void Metrics::SetSourceRevision(const std::string& revision) {
  std::lock_guard<std::mutex> lock(mu_);
  if (revision_ != nullptr && revision_info_.Has({{"revision", revision}})) return;
  if (revision_ != nullptr) revision_info_.Remove(revision_);
  revision_ = &revision_info_.Add({{"revision", revision}});
  revision_->Set(1);
}
void Metrics::SetListVisibilityLag(const std::string& region, double seconds) {
  list_lag_.Add({{"region", region}}).Set(seconds);
}
void Metrics::SetLastSyncTimestamp(double unix_seconds) { last_sync_.Add({}).Set(unix_seconds); }
void Metrics::SetManifestCounts(double valid, double invalid, double ignored) {
  manifests_.Add({{"state", "valid"}}).Set(valid);
  manifests_.Add({{"state", "invalid"}}).Set(invalid);
  manifests_.Add({{"state", "ignored"}}).Set(ignored);
}
void Metrics::SetSourceReady(bool ready) { source_ready_.Add({}).Set(ready ? 1 : 0); }
void Metrics::IncSourceFetchErrors() { source_fetch_errors_.Add({}).Increment(); }
void Metrics::SetSourceInvalidFiles(double files) { source_invalid_files_.Add({}).Set(files); }
void Metrics::IncStoreErrors(const std::string& op) { store_errors_.Add({{"op", op}}).Increment(); }
void Metrics::IncPruneRefused(const std::string& reason) {
  prune_refused_.Add({{"reason", reason}}).Increment();
}

}  // namespace mlspace::metrics
