#pragma once

// Controller-wide gateway authorization state. A 401/403 (after the client's
// one token refresh) says the credentials are wrong for every object, not
// for one: retrying per object would burn the workspace's rate limit with
// requests that cannot succeed. So the first such answer turns the gateway
// "unauthorized" for the whole controller: requests stop, except one probe
// per backoff period (30 s doubling to 5 min), until a probe is answered by
// something other than 401/403 (the credential files are re-read by the
// client, so fixing the secret recovers without a restart).
//
// Likewise a 429 (or 503) whose Retry-After outlives the client's own
// retries (ClientOptions::max_retry_after) is the gateway's word for every
// call: until it expires no request at all goes out (lists, submits, gets,
// logs), each refused locally as kThrottled with the remaining wait.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/status.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::reconciler {

// Metrics hooks (mlspace_gateway_up, mlspace_gateway_auth_failures_total).
// Called from worker and poller threads, outside GatewayHealth's lock:
// implementations must be thread-safe and quick.
class GatewayHealthObserver {
 public:
  virtual ~GatewayHealthObserver() = default;
  // The state changed (also called once by GatewayHealth's constructor with
  // true, so the gauge exists from the start).
  virtual void OnGatewayUp(bool /*up*/) {}
  // The gateway answered 401/403.
  virtual void OnGatewayAuthFailure() {}
};

struct GatewayHealthOptions {
  // While unauthorized, one probe request per backoff: base·2ⁿ capped.
  Duration auth_backoff_base = std::chrono::seconds(30);
  Duration auth_backoff_cap = std::chrono::minutes(5);
};

// Thread-safe.
class GatewayHealth {
 public:
  // Admission of one request.
  struct Ticket {
    bool allowed = true;
    bool probe = false;      // the one request sent while unauthorized
    Duration wait{0};        // !allowed: when the next probe (or request) may go
    bool throttled = false;  // !allowed because of a Retry-After
  };

  // `clock` and `observer` (optional) must outlive this.
  GatewayHealth(const Clock& clock, GatewayHealthOptions options = {},
                GatewayHealthObserver* observer = nullptr);

  // Asks to send one request. Authorized: always allowed. Unauthorized: the
  // first caller after the backoff elapsed gets the probe ticket; everyone
  // else (and everyone while the probe is out) is told how long to wait.
  // Every allowed ticket must be passed to Report.
  Ticket Admit();

  // The outcome of an admitted request: `error` null for success. 401/403
  // turn (or keep) the state unauthorized; any other answer the service gave
  // (2xx, 404, 4xx validation) proves the credentials work and restores it;
  // no answer, 429 and 5xx say nothing about the credentials. A kThrottled
  // answer (429, 503 + Retry-After) holds every request until its
  // retry_after passed (one WARN when that starts).
  void Report(const Ticket& ticket, const gateway::Error* error);

  // Zero unless the gateway asked for a pause (Retry-After); else the rest
  // of it.
  Duration ThrottledFor() const;

  // Zero when requests may be sent now (no admission taken); otherwise how
  // long until the next probe. For callers that want to skip preparatory
  // work (a submit intent) that a refused request would waste.
  Duration Blocked() const;

  bool authorized() const;
  // The gateway's message of the last 401/403 (empty while authorized).
  std::string last_error() const;

  // /readyz "gateway" check: fails while unauthorized, naming the error and
  // the next probe.
  Status Check() const;

  // Called (outside the lock, from the reporting thread) when the state goes
  // back to authorized, so objects waiting on it are reconciled at once
  // instead of at their own backoff. Set before any request.
  void SetOnRecovered(std::function<void()> fn);

 private:
  Duration BackoffLocked() const;

  const Clock& clock_;
  const GatewayHealthOptions options_;
  GatewayHealthObserver* observer_;
  std::function<void()> on_recovered_;

  mutable std::mutex mu_;
  bool authorized_ = true;
  int failed_probes_ = 0;  // consecutive 401/403 answers to probes (+ the first)
  bool probe_out_ = false;
  TimePoint next_probe_at_{};
  std::string last_error_;
  TimePoint throttled_until_{};
};

// A JobGateway that asks GatewayHealth before every call and reports every
// outcome to it. A refused call returns kUnauthorized with retry_after set
// to the wait, without any request. `inner` and `health` must outlive it.
class HealthCheckedGateway final : public gateway::JobGateway {
 public:
  HealthCheckedGateway(gateway::JobGateway& inner, GatewayHealth& health)
      : inner_(inner), health_(health) {}

  gateway::Outcome<std::string> Submit(const gateway::SubmitRequest& req) override;
  gateway::Outcome<gateway::RemoteJob> Get(const std::string& job_name) override;
  gateway::Outcome<gateway::RemoteJob> GetIn(const std::string& job_name,
                                             const std::string& region) override;
  gateway::Outcome<std::vector<gateway::RemoteJob>> List(const gateway::ListOptions& opts) override;
  gateway::Outcome<gateway::CancelResult> Cancel(const std::string& job_name,
                                                 const std::string& region) override;
  gateway::Outcome<std::string> Restart(const std::string& job_name) override;
  gateway::Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                                     int tail) override;

 private:
  template <typename T, typename F>
  gateway::Outcome<T> Call(const std::string& op, F&& f);

  gateway::JobGateway& inner_;
  GatewayHealth& health_;
};

// The reason of the Stalled condition of objects waiting for the credentials.
inline constexpr char kReasonGatewayUnauthorized[] = "GatewayUnauthorized";

}  // namespace mlspace::reconciler
