#pragma once

// The JobGateway seam: everything the controller asks of MLSpace. Three
// implementations: the Gateway v2 HTTP client (controller/gateway/http),
// LocalGateway running jobs as local processes (controller/gateway/local),
// and the hand-written fake under tests/fakes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/status.h"

namespace mlspace::gateway {

// Both vocabularies of the service mapped to one enum: the list answer's
// capitalised JobStatus and the single GET's lowercase JobStatusLowerCase.
enum class RemoteStatus {
  kPending,
  kRunning,
  kCompleting,
  kCompleted,
  kSucceeded,
  kFailed,
  kStopped,
  kDeleted,
  kTerminated,
  kTerminating,
  kRestarting,
  kUnknown,
};

// Capitalised spelling, as the list answer and the status query filter use.
std::string_view RemoteStatusName(RemoteStatus s);
// The region names the service accepts (RunJobRequest.region's enum).
std::vector<std::string> GatewayRegions();

// Accepts either spelling ("Running" or "running"); kUnknown otherwise.
RemoteStatus ParseRemoteStatus(std::string_view s);
// Completed, Succeeded, Failed, Stopped, Deleted, Terminated.
bool IsFinished(RemoteStatus s);
// Completed, Succeeded.
bool IsSuccess(RemoteStatus s);

// How a call failed. Every seam method reports one of these, never throws.
enum class ErrorKind {
  kNotFound,      // the job does not exist ("job not found", also on HTTP 200)
  kInvalid,       // 400/409/422: the request is wrong; do not retry as is
  kUnauthorized,  // 401/403 after a token refresh
  kThrottled,     // 429 (or 503 with Retry-After); retry after `retry_after`
  kUnavailable,   // network error or 5xx where the request provably had no
                  // effect (reads; a submit refused before sending)
  kAmbiguous,     // a submit that may have reached the service but whose
                  // answer was lost: timeout after sending, reset, 5xx
  kInternal,      // a bug or an unparseable answer
};

std::string_view ErrorKindName(ErrorKind k);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  // One readable line, e.g. "submit nlp/llama: 422 from gateway:
  // body.n_workers: ensure this value is greater than 0". Never contains
  // credentials.
  std::string message;
  int http_status = 0;                    // 0 when no answer was received
  Duration retry_after{0};                // kThrottled/kUnavailable: server's hint
  std::vector<std::string> field_errors;  // kInvalid: "loc: msg" per field

  Status ToStatus() const;
};

// A value or an Error.
template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : data_(std::move(value)) {}      // NOLINT: implicit by design
  Outcome(Error error) : data_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(data_); }
  bool Is(ErrorKind k) const { return !ok() && error().kind == k; }

 private:
  std::variant<T, Error> data_;
};

struct Empty {};

struct HealthParams {
  int log_period = 0;                    // minutes, 20..720
  std::optional<std::string> action;     // "delete" | "restart"
  std::vector<std::string> sub_actions;  // ["notify"]
};

// Mirrors the service's RunJobRequest. Only set fields are serialised
// (the service rejects unknown keys, and defaults are the service's own).
struct SubmitRequest {
  std::string script;         // required
  std::string base_image;     // required
  std::string instance_type;  // required
  std::optional<std::string> region;
  std::optional<std::string> type;
  std::optional<int> n_workers;
  std::optional<int> processes_per_worker;  // unset = "default"
  std::optional<std::string> priority_class;
  std::optional<std::string> queue_name;
  std::optional<std::string> allocation_name;
  std::optional<std::string> job_desc;  // carries the submit marker
  std::optional<int> max_retry;
  std::optional<HealthParams> health_params;
  std::optional<std::string> checkpoint_dir;
  std::optional<std::string> logs_dir;
  std::optional<std::string> conda_env;
  std::optional<bool> internet;
  std::map<std::string, std::string> env_variables;
  std::map<std::string, std::string> flags;  // passed as --key=value
  std::optional<std::string> shm_size_class;
  // Names the request in error messages only ("nlp/llama-sft"); never
  // serialised. Empty = the script is used.
  std::string label;
};

// Local check done before any request is sent: required fields, n_workers
// >= 1, max_retry 3..100, log_period 20..720, known enums (region, type,
// priority_class, action, shm_size_class). Names the field in the error.
Status ValidateSubmitRequest(const SubmitRequest& req);

struct RemoteJob {
  std::string name;
  RemoteStatus status = RemoteStatus::kUnknown;
  std::string region;
  std::string job_desc;  // where the submit marker is found
  std::string instance_type;
  std::optional<TimePoint> created;
  std::optional<TimePoint> started;
  std::optional<TimePoint> completed;
  // The job's exit code once it ended (128+N when killed by signal N), when
  // the gateway knows it: LocalGateway does, Gateway v2 does not (the
  // reconciler then reads the launcher's last line from the output).
  std::optional<int> exit_code = std::nullopt;
  // Why a pending job waits, in the backend's words (Slurm's state_reason:
  // "PartitionDown", "QOSMaxJobsPerUserLimit", ...); empty when the backend
  // gives none (Gateway v2, LocalGateway) or there is nothing to say.
  std::string pending_reason = {};
};

struct ListOptions {
  std::string region;                  // required: one region per list
  std::vector<RemoteStatus> statuses;  // empty = all
  int page_size = 6000;                // limit per request; paged to the end
};

enum class CancelResult { kDeleted, kNotFound };

// All methods are thread-safe and may block on the network; none throws.
// Credentials never appear in an Error's message.
class JobGateway {
 public:
  virtual ~JobGateway() = default;

  // POST /jobs. On success returns the new job's name. A request the
  // service provably did not process (refused before sending, 401 before a
  // refresh, 429) may be retried inside; anything that may have created a job
  // is kAmbiguous and is never re-sent here: the caller resolves it by
  // listing and looking for the marker in job_desc.
  virtual Outcome<std::string> Submit(const SubmitRequest& req) = 0;

  // GET /jobs/{name}. kNotFound for an unknown job (HTTP 200 "job not found").
  virtual Outcome<RemoteJob> Get(const std::string& job_name) = 0;

  // Get for a job known to live in `region` (the reconciler's location,
  // backends/router.h): a gateway over several backends asks the one the
  // location names. Single-backend gateways ignore `region`.
  virtual Outcome<RemoteJob> GetIn(const std::string& job_name, const std::string& region) {
    (void)region;
    return Get(job_name);
  }

  // GET /jobs?region=..., every page until the answer is exhausted.
  virtual Outcome<std::vector<RemoteJob>> List(const ListOptions& opts) = 0;

  // DELETE /jobs/{name}?region=... Succeeds with kNotFound when the job was
  // already gone, so cancelling is idempotent.
  virtual Outcome<CancelResult> Cancel(const std::string& job_name, const std::string& region) = 0;

  // POST /jobs/restart: reruns as a new job; returns the new name.
  virtual Outcome<std::string> Restart(const std::string& job_name) = 0;

  // GET /jobs/{name}/logs?tail=N (0 = everything). Plain text.
  virtual Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                                    int tail) = 0;
};

}  // namespace mlspace::gateway
