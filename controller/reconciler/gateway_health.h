#pragma once

// A backend's gateway authorization state. A 401/403 (after the client's
// one token refresh) says the credentials are wrong for every object of that
// backend, not for one: retrying per object would burn the workspace's rate
// limit with requests that cannot succeed. So the first such answer turns the
// backend's gateway "unauthorized": its requests stop, except one probe per
// backoff period (30 s doubling to 5 min), until a probe is answered by
// something other than 401/403 (the credential files are re-read by the
// client, so fixing the secret recovers without a restart).
//
// Likewise a 429 (or 503) whose Retry-After outlives the client's own
// retries (ClientOptions::max_retry_after) is the gateway's word for every
// call to it: until it expires no request at all goes out to that backend
// (lists, submits, gets, logs), each refused locally as kThrottled with the
// remaining wait.
//
// Each backend (--backends, docs/backends.md) has its own GatewayHealth, so
// a 401 or a Retry-After from backend A never delays backend B:
// GatewayHealthSet holds one per backend and picks it by an object's
// location; HealthCheckedGateway asks the one each call's location names.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/status.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::reconciler {

// Metrics hooks (mlspace_gateway_up, mlspace_gateway_auth_failures_total),
// labelled by the backend's name (GatewayHealth::name()). Called from worker
// and poller threads, outside GatewayHealth's lock: implementations must be
// thread-safe and quick.
class GatewayHealthObserver {
 public:
  virtual ~GatewayHealthObserver() = default;
  // The state of `backend` changed (also called once by GatewayHealth's
  // constructor with true, so the gauge exists from the start).
  virtual void OnGatewayUp(const std::string& /*backend*/, bool /*up*/) {}
  // `backend`'s gateway answered 401/403.
  virtual void OnGatewayAuthFailure(const std::string& /*backend*/) {}
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

  // `clock` and `observer` (optional) must outlive this. `name` is the
  // backend's (the metrics' `backend` label; "default" from flags).
  GatewayHealth(const Clock& clock, GatewayHealthOptions options = {},
                GatewayHealthObserver* observer = nullptr, std::string name = "default");

  const std::string& name() const { return name_; }

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

  // /readyz "gateway" (or "gateway:<name>") check: fails while
  // unauthorized, naming the error and the next probe.
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
  const std::string name_;
  std::function<void()> on_recovered_;

  mutable std::mutex mu_;
  bool authorized_ = true;
  int failed_probes_ = 0;  // consecutive 401/403 answers to probes (+ the first)
  bool probe_out_ = false;
  TimePoint next_probe_at_{};
  std::string last_error_;
  TimePoint throttled_until_{};
};

// One GatewayHealth per backend, chosen by location (the string the
// reconciler keys remote jobs by: "<backend>/<region>" with --backends, the
// plain region from flags). The reconciler does not know the backends
// configuration: `backend_of` (cmd/: backends::Catalog) names the backend a
// location belongs to. Thread-safe; the set of backends is fixed.
class GatewayHealthSet {
 public:
  // Names the backend serving `location`; a name not in the set (or empty)
  // means the default backend. Must be thread-safe.
  using BackendOf = std::function<std::string(const std::string& location)>;

  // Owns one GatewayHealth per name in `backends` (non-empty, unique; the
  // first is the default, used for calls without a location and for
  // locations `backend_of` does not place). An empty `backend_of` sends
  // every location to the default. `clock` and `observer` must outlive this.
  GatewayHealthSet(const Clock& clock, GatewayHealthOptions options,
                   GatewayHealthObserver* observer, std::vector<std::string> backends,
                   BackendOf backend_of = nullptr);
  // A set of one that serves `single` (not owned; must outlive this) for
  // every location.
  explicit GatewayHealthSet(GatewayHealth& single);

  // The health of `location`'s backend; never fails.
  GatewayHealth& For(const std::string& location) const;
  GatewayHealth& Default() const { return *all_.front(); }
  // The health named `backend`, or null.
  GatewayHealth* Find(const std::string& backend) const;
  // Every backend's, the default first.
  const std::vector<GatewayHealth*>& All() const { return all_; }

  // Called with the backend's name when one recovers (GatewayHealth::
  // SetOnRecovered of each). Set before any request.
  void SetOnRecovered(std::function<void(const std::string& backend)> fn);

 private:
  std::vector<std::unique_ptr<GatewayHealth>> owned_;
  std::vector<GatewayHealth*> all_;
  BackendOf backend_of_;
};

// A JobGateway that asks the GatewayHealth of each call's location before
// the call and reports the outcome to it. Get and Restart (no location) ask
// the default backend's. A refused call returns kUnauthorized (or
// kThrottled) with retry_after set to the wait, without any request.
// `inner` and `health` must outlive it.
class HealthCheckedGateway final : public gateway::JobGateway {
 public:
  HealthCheckedGateway(gateway::JobGateway& inner, GatewayHealthSet& health)
      : inner_(inner), health_(health) {}
  // One health for every call (a single backend).
  HealthCheckedGateway(gateway::JobGateway& inner, GatewayHealth& health)
      : inner_(inner), owned_(std::make_unique<GatewayHealthSet>(health)), health_(*owned_) {}

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
  gateway::Outcome<T> Call(GatewayHealth& health, const std::string& op, F&& f);

  gateway::JobGateway& inner_;
  std::unique_ptr<GatewayHealthSet> owned_;
  GatewayHealthSet& health_;
};

// The reason of the Stalled condition of objects waiting for the credentials.
inline constexpr char kReasonGatewayUnauthorized[] = "GatewayUnauthorized";

}  // namespace mlspace::reconciler
