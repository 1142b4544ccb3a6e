#pragma once

// An in-memory JobGateway for reconciler and controller tests. Jobs live in
// a map; Submit creates one carrying the request's job_desc (where the
// submit marker is). Tests script failures per call (ambiguous submits that
// did or did not create the job, throttling with Retry-After, validation
// errors, unavailability), make jobs vanish from lists, change remote
// statuses, and inspect every call that was made.
//
// Thread-safe: every method takes one mutex.

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/clock.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::testing {

class FakeJobGateway final : public gateway::JobGateway {
 public:
  // What one scripted Submit call does instead of succeeding.
  enum class SubmitFault {
    kAmbiguousCreated,     // the job IS created, the answer is lost (kAmbiguous)
    kAmbiguousNotCreated,  // nothing created, kAmbiguous
    kThrottled,            // 429 with retry_after, nothing created
    kInvalid,              // 422, nothing created
    kUnavailable,          // refused before sending, nothing created
    kInternalCreated,      // created, but the answer was unparseable (kInternal)
  };

  // `clock` (may be null) stamps created/started/completed times; without
  // one, jobs get increasing synthetic times.
  explicit FakeJobGateway(const Clock* clock = nullptr) : clock_(clock) {}

  // ---- JobGateway ---------------------------------------------------------

  gateway::Outcome<std::string> Submit(const gateway::SubmitRequest& req) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"Submit", req.job_desc.value_or("")});
    submits_.push_back(req);
    if (unauthorized_) return AuthErr("submit");
    std::optional<Script> script;
    if (!submit_script_.empty()) {
      script = submit_script_.front();
      submit_script_.pop_front();
    }
    if (script) {
      switch (script->fault) {
        case SubmitFault::kAmbiguousCreated:
          (void)CreateLocked(req);
          return Err(gateway::ErrorKind::kAmbiguous, 502, "submit: 502 after sending");
        case SubmitFault::kAmbiguousNotCreated:
          return Err(gateway::ErrorKind::kAmbiguous, 0, "submit: connection reset after sending");
        case SubmitFault::kThrottled: {
          gateway::Error e{gateway::ErrorKind::kThrottled,
                           "submit: 429 from gateway",
                           429,
                           script->retry_after,
                           {}};
          return e;
        }
        case SubmitFault::kInvalid: {
          gateway::Error e{
              gateway::ErrorKind::kInvalid,
              script->message.empty() ? "submit: 422 from gateway: bad request" : script->message,
              422,
              Duration::zero(),
              {}};
          return e;
        }
        case SubmitFault::kUnavailable: {
          gateway::Error e{gateway::ErrorKind::kUnavailable,
                           "submit: connection refused",
                           0,
                           script->retry_after,
                           {}};
          return e;
        }
        case SubmitFault::kInternalCreated:
          (void)CreateLocked(req);
          return Err(gateway::ErrorKind::kInternal, 200, "submit: unparseable answer");
      }
    }
    return CreateLocked(req);
  }

  gateway::Outcome<gateway::RemoteJob> Get(const std::string& job_name) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"Get", job_name});
    if (unauthorized_) return AuthErr("get " + job_name);
    if (fail_gets_ > 0) {
      --fail_gets_;
      return Err(gateway::ErrorKind::kUnavailable, 503, "get: 503");
    }
    auto it = jobs_.find(job_name);
    if (it == jobs_.end() || it->second.gone) {
      return Err(gateway::ErrorKind::kNotFound, 200, "get " + job_name + ": job not found");
    }
    return it->second.job;
  }

  gateway::Outcome<std::vector<gateway::RemoteJob>> List(
      const gateway::ListOptions& opts) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"List", opts.region});
    if (unauthorized_) return AuthErr("list " + opts.region);
    if (fail_lists_ > 0) {
      --fail_lists_;
      return Err(gateway::ErrorKind::kUnavailable, 503, "list: 503");
    }
    if (throttle_lists_ > 0) {
      --throttle_lists_;
      gateway::Error e = Err(gateway::ErrorKind::kThrottled, 429, "list: 429 from gateway");
      e.retry_after = throttle_retry_after_;
      return e;
    }
    std::vector<gateway::RemoteJob> out;
    for (auto& [name, st] : jobs_) {
      if (st.gone || st.job.region != opts.region) continue;
      if (st.hidden_lists > 0) {
        --st.hidden_lists;
        continue;
      }
      if (!opts.statuses.empty() && std::find(opts.statuses.begin(), opts.statuses.end(),
                                              st.job.status) == opts.statuses.end()) {
        continue;
      }
      out.push_back(st.job);
    }
    return out;
  }

  gateway::Outcome<gateway::CancelResult> Cancel(const std::string& job_name,
                                                 const std::string& region) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"Cancel", job_name});
    (void)region;
    if (unauthorized_) return AuthErr("cancel " + job_name);
    if (fail_cancels_ > 0) {
      --fail_cancels_;
      return Err(gateway::ErrorKind::kUnavailable, 503, "cancel: 503");
    }
    auto it = jobs_.find(job_name);
    if (it == jobs_.end() || it->second.gone) return gateway::CancelResult::kNotFound;
    cancelled_.push_back(job_name);
    if (!gateway::IsFinished(it->second.job.status)) {
      it->second.job.status = gateway::RemoteStatus::kStopped;
      it->second.job.completed = NowLocked();
    }
    return gateway::CancelResult::kDeleted;
  }

  gateway::Outcome<std::string> Restart(const std::string& job_name) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"Restart", job_name});
    return Err(gateway::ErrorKind::kInternal, 0, "restart: not used by the reconciler");
  }

  gateway::Outcome<std::string> Logs(const std::string& job_name, const std::string&,
                                     int tail) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"Logs", job_name});
    last_logs_tail_ = tail;
    if (fail_logs_ > 0) {
      --fail_logs_;
      return Err(gateway::ErrorKind::kUnavailable, 503, "logs " + job_name + ": 503");
    }
    auto it = jobs_.find(job_name);
    if (it == jobs_.end() || it->second.gone) {
      return Err(gateway::ErrorKind::kNotFound, 200, "logs " + job_name + ": job not found");
    }
    return it->second.logs;
  }

  // ---- Scripting ----------------------------------------------------------

  // The next Submit calls, in order, fail as scripted (one entry per call).
  void ScriptSubmit(SubmitFault fault, Duration retry_after = Duration::zero(),
                    std::string message = "") {
    std::lock_guard lock(mu_);
    submit_script_.push_back({fault, retry_after, std::move(message)});
  }
  // The next n lists answer 429 with this Retry-After.
  void ThrottleNextLists(int n, Duration retry_after) {
    std::lock_guard lock(mu_);
    throttle_lists_ = n;
    throttle_retry_after_ = retry_after;
  }
  void FailNextLists(int n) {
    std::lock_guard lock(mu_);
    fail_lists_ = n;
  }
  void FailNextGets(int n) {
    std::lock_guard lock(mu_);
    fail_gets_ = n;
  }
  void FailNextCancels(int n) {
    std::lock_guard lock(mu_);
    fail_cancels_ = n;
  }
  // While set, Submit, Get, List and Cancel answer 401 (wrong credentials),
  // creating nothing; the call is still recorded.
  void SetUnauthorized(bool on) {
    std::lock_guard lock(mu_);
    unauthorized_ = on;
  }

  // Adds a job as if created outside this fake's Submit (e.g. a duplicate
  // carrying the same marker). Returns its name.
  std::string AddJob(gateway::RemoteJob job) {
    std::lock_guard lock(mu_);
    if (job.name.empty()) job.name = NextNameLocked();
    if (!job.created) job.created = NowLocked();
    std::string name = job.name;
    jobs_[name] = Stored{std::move(job)};
    return name;
  }

  // Sets a job's remote status (stamping started/completed like the service).
  void SetStatus(const std::string& name, gateway::RemoteStatus status) {
    std::lock_guard lock(mu_);
    auto& j = jobs_.at(name).job;
    j.status = status;
    if (status == gateway::RemoteStatus::kRunning && !j.started) j.started = NowLocked();
    if (gateway::IsFinished(status)) j.completed = NowLocked();
  }

  // Why the backend holds the job (Slurm's state_reason), shown while pending.
  void SetPendingReason(const std::string& name, std::string reason) {
    std::lock_guard lock(mu_);
    jobs_.at(name).job.pending_reason = std::move(reason);
  }
  // The job's output, as Logs returns it (whole; the fake ignores `tail`).
  void SetLogs(const std::string& name, std::string text) {
    std::lock_guard lock(mu_);
    jobs_.at(name).logs = std::move(text);
  }
  // The exit code the gateway reports for the job (LocalGateway does).
  void SetExitCode(const std::string& name, int code) {
    std::lock_guard lock(mu_);
    jobs_.at(name).job.exit_code = code;
  }
  void FailNextLogs(int n) {
    std::lock_guard lock(mu_);
    fail_logs_ = n;
  }
  // The `tail` argument of the last Logs call.
  int last_logs_tail() const {
    std::lock_guard lock(mu_);
    return last_logs_tail_;
  }

  // The job disappears entirely (lists and GETs no longer show it).
  void Vanish(const std::string& name) {
    std::lock_guard lock(mu_);
    jobs_.at(name).gone = true;
  }

  // The job exists but the next `n` lists omit it (eventual consistency).
  void HideFromLists(const std::string& name, int n) {
    std::lock_guard lock(mu_);
    jobs_.at(name).hidden_lists = n;
  }

  // ---- Inspection ---------------------------------------------------------

  struct Call {
    std::string method;  // Submit, Get, List, Cancel, Restart, Logs
    std::string arg;     // job_desc, job name or region
  };
  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int CountCalls(const std::string& method) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(std::count_if(calls_.begin(), calls_.end(),
                                          [&](const Call& c) { return c.method == method; }));
  }
  std::vector<gateway::SubmitRequest> submits() const {
    std::lock_guard lock(mu_);
    return submits_;
  }
  std::vector<std::string> cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  // Every job that exists (not vanished), by name.
  std::vector<gateway::RemoteJob> Jobs() const {
    std::lock_guard lock(mu_);
    std::vector<gateway::RemoteJob> out;
    for (const auto& [name, st] : jobs_) {
      if (!st.gone) out.push_back(st.job);
    }
    return out;
  }
  // Jobs whose job_desc contains `marker`, vanished ones included: "how many
  // jobs were ever created for this attempt".
  std::vector<gateway::RemoteJob> JobsWithMarker(const std::string& marker) const {
    std::lock_guard lock(mu_);
    std::vector<gateway::RemoteJob> out;
    for (const auto& [name, st] : jobs_) {
      if (st.job.job_desc.find(marker) != std::string::npos) out.push_back(st.job);
    }
    return out;
  }
  std::optional<gateway::RemoteJob> Job(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(name);
    if (it == jobs_.end()) return std::nullopt;
    return it->second.job;
  }

 private:
  struct Script {
    SubmitFault fault;
    Duration retry_after;
    std::string message;
  };
  struct Stored {
    gateway::RemoteJob job;
    bool gone = false;
    int hidden_lists = 0;
    std::string logs = "";
  };

  static gateway::Error Err(gateway::ErrorKind kind, int http, std::string message) {
    gateway::Error e;
    e.kind = kind;
    e.http_status = http;
    e.message = std::move(message);
    return e;
  }

  static gateway::Error AuthErr(const std::string& op) {
    return Err(gateway::ErrorKind::kUnauthorized, 401,
               op + ": 401 from gateway: Invalid api-key for workspace (code 10)");
  }

  TimePoint NowLocked() {
    if (clock_) return clock_->Now();
    synthetic_ += std::chrono::seconds(1);
    return synthetic_;
  }

  std::string NextNameLocked() { return "lm-mpi-job-" + std::to_string(++seq_); }

  gateway::Outcome<std::string> CreateLocked(const gateway::SubmitRequest& req) {
    gateway::RemoteJob j;
    j.name = NextNameLocked();
    j.status = gateway::RemoteStatus::kPending;
    j.region = req.region.value_or("");
    j.job_desc = req.job_desc.value_or("");
    j.instance_type = req.instance_type;
    j.created = NowLocked();
    std::string name = j.name;
    jobs_[name] = Stored{std::move(j)};
    return name;
  }

  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Stored> jobs_;
  std::deque<Script> submit_script_;
  int fail_lists_ = 0;
  int throttle_lists_ = 0;
  Duration throttle_retry_after_{0};
  int fail_gets_ = 0;
  int fail_cancels_ = 0;
  int fail_logs_ = 0;
  int last_logs_tail_ = -1;
  bool unauthorized_ = false;
  int seq_ = 0;
  TimePoint synthetic_ = TimePoint(std::chrono::seconds(1'600'000'000));
  std::vector<Call> calls_;
  std::vector<gateway::SubmitRequest> submits_;
  std::vector<std::string> cancelled_;
};

}  // namespace mlspace::testing
