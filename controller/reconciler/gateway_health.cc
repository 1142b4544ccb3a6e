#include "controller/reconciler/gateway_health.h"

#include <algorithm>
#include <cmath>

#include "controller/core/log.h"
#include "controller/core/redact.h"
#include "controller/core/time_util.h"

namespace mlspace::reconciler {
namespace {

std::string Secs(Duration d) {
  return FormatDuration(std::chrono::ceil<std::chrono::seconds>(std::max(d, Duration::zero())));
}

// Whether an answer proves the service accepted the credentials: it said
// something other than 401/403 about the request itself. No answer, 429 and
// 5xx (refused before or regardless of authentication) prove nothing, and
// neither does a request refused locally before sending (http_status 0).
bool ProvesAuthorized(const gateway::Error& e) {
  if (e.kind == gateway::ErrorKind::kUnauthorized) return false;
  return e.http_status >= 200 && e.http_status < 500 && e.http_status != 429;
}

}  // namespace

GatewayHealth::GatewayHealth(const Clock& clock, GatewayHealthOptions options,
                             GatewayHealthObserver* observer, std::string name)
    : clock_(clock), options_(options), observer_(observer), name_(std::move(name)) {
  if (observer_) observer_->OnGatewayUp(name_, true);
}

void GatewayHealth::SetOnRecovered(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_recovered_ = std::move(fn);
}

Duration GatewayHealth::BackoffLocked() const {
  const double base = std::chrono::duration<double>(options_.auth_backoff_base).count();
  const double cap = std::chrono::duration<double>(options_.auth_backoff_cap).count();
  const double d = std::min(cap, base * std::pow(2.0, std::clamp(failed_probes_ - 1, 0, 30)));
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(d));
}

GatewayHealth::Ticket GatewayHealth::Admit() {
  std::lock_guard lock(mu_);
  Ticket t;
  const TimePoint now = clock_.Now();
  if (now < throttled_until_) {
    t.allowed = false;
    t.throttled = true;
    t.wait = throttled_until_ - now;
    return t;
  }
  if (authorized_) return t;
  if (probe_out_ || now < next_probe_at_) {
    t.allowed = false;
    // While a probe is out its answer decides; look again after a backoff.
    t.wait = probe_out_ ? BackoffLocked() : next_probe_at_ - now;
    return t;
  }
  probe_out_ = true;
  t.probe = true;
  LogDebug("gateway unauthorized: sending one probe request",
           {{"backend", name_}, {"failedProbes", std::to_string(failed_probes_)}});
  return t;
}

void GatewayHealth::Report(const Ticket& ticket, const gateway::Error* error) {
  if (!ticket.allowed) return;
  bool went_down = false;
  bool went_up = false;
  bool auth_failure = false;
  Duration next{0};
  std::string message;
  std::function<void()> recovered;
  bool throttle_started = false;
  Duration throttle{0};
  {
    std::lock_guard lock(mu_);
    if (ticket.probe) probe_out_ = false;
    const TimePoint now = clock_.Now();
    if (error && error->kind == gateway::ErrorKind::kThrottled && error->http_status != 0 &&
        error->retry_after > Duration::zero() && now + error->retry_after > throttled_until_) {
      throttle_started = now >= throttled_until_;
      throttled_until_ = now + error->retry_after;
      throttle = error->retry_after;
      message = Redact(error->message);
    }
    if (error && error->kind == gateway::ErrorKind::kUnauthorized) {
      auth_failure = true;
      message = Redact(error->message);
      last_error_ = message;
      if (authorized_) {
        authorized_ = false;
        failed_probes_ = 1;
        went_down = true;
      } else if (ticket.probe) {
        ++failed_probes_;
      }
      // Answers of requests admitted before the state changed only count;
      // the backoff grows with the probes alone.
      if (went_down || ticket.probe) next_probe_at_ = now + BackoffLocked();
      next = next_probe_at_ - now;
    } else if (error == nullptr || ProvesAuthorized(*error)) {
      if (!authorized_) {
        authorized_ = true;
        failed_probes_ = 0;
        last_error_.clear();
        went_up = true;
        recovered = on_recovered_;
      }
    } else if (ticket.probe && !authorized_) {
      // The probe got no verdict (network, 429, 5xx): try again later.
      next_probe_at_ = now + BackoffLocked();
    }
  }
  if (went_down) {
    LogWarn(
        "gateway rejects the credentials; pausing gateway requests (one probe per backoff) until "
        "they work; check MLSPACE_* or the files under --secrets-dir (or the backend's "
        "secretsDir)",
        {{"backend", name_}, {"error", message}, {"nextProbeIn", Secs(next)}});
  } else if (auth_failure) {
    LogDebug("gateway still rejects the credentials",
             {{"backend", name_}, {"error", message}, {"nextProbeIn", Secs(next)}});
  }
  if (went_up) {
    LogInfo("gateway accepts the credentials again; resuming gateway requests",
            {{"backend", name_}});
  }
  if (throttle_started) {
    LogWarn("gateway asked the controller to wait (Retry-After); no requests to it until then",
            {{"backend", name_}, {"error", message}, {"retryAfter", Secs(throttle)}});
  } else if (throttle > Duration::zero()) {
    LogDebug("gateway extended its Retry-After",
             {{"backend", name_}, {"retryAfter", Secs(throttle)}});
  }
  if (observer_) {
    if (auth_failure) observer_->OnGatewayAuthFailure(name_);
    if (went_down) observer_->OnGatewayUp(name_, false);
    if (went_up) observer_->OnGatewayUp(name_, true);
  }
  if (recovered) recovered();
}

Duration GatewayHealth::Blocked() const {
  std::lock_guard lock(mu_);
  if (authorized_) return Duration::zero();
  const TimePoint now = clock_.Now();
  if (probe_out_) return BackoffLocked();
  return now < next_probe_at_ ? next_probe_at_ - now : Duration::zero();
}

Duration GatewayHealth::ThrottledFor() const {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.Now();
  return now < throttled_until_ ? throttled_until_ - now : Duration::zero();
}

bool GatewayHealth::authorized() const {
  std::lock_guard lock(mu_);
  return authorized_;
}

std::string GatewayHealth::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

Status GatewayHealth::Check() const {
  std::lock_guard lock(mu_);
  if (authorized_) return OkStatus();
  const TimePoint now = clock_.Now();
  std::string when =
      probe_out_ ? "a probe request is in flight" : "next probe in " + Secs(next_probe_at_ - now);
  return UnavailableError("gateway rejects the credentials (" + last_error_ + "); " + when);
}

GatewayHealthSet::GatewayHealthSet(const Clock& clock, GatewayHealthOptions options,
                                   GatewayHealthObserver* observer,
                                   std::vector<std::string> backends, BackendOf backend_of)
    : backend_of_(std::move(backend_of)) {
  if (backends.empty()) backends.push_back("default");
  for (auto& name : backends) {
    owned_.push_back(std::make_unique<GatewayHealth>(clock, options, observer, std::move(name)));
    all_.push_back(owned_.back().get());
  }
}

GatewayHealthSet::GatewayHealthSet(GatewayHealth& single) : all_{&single} {}

GatewayHealth* GatewayHealthSet::Find(const std::string& backend) const {
  for (GatewayHealth* h : all_) {
    if (h->name() == backend) return h;
  }
  return nullptr;
}

GatewayHealth& GatewayHealthSet::For(const std::string& location) const {
  if (all_.size() == 1 || !backend_of_) return Default();
  GatewayHealth* h = Find(backend_of_(location));
  return h ? *h : Default();
}

void GatewayHealthSet::SetOnRecovered(std::function<void(const std::string& backend)> fn) {
  for (GatewayHealth* h : all_) {
    h->SetOnRecovered([fn, name = h->name()] {
      if (fn) fn(name);
    });
  }
}

template <typename T, typename F>
gateway::Outcome<T> HealthCheckedGateway::Call(GatewayHealth& health, const std::string& op,
                                               F&& f) {
  GatewayHealth::Ticket t = health.Admit();
  // With several backends the refusal names the one refusing.
  const std::string who = health_.All().size() > 1 ? "backend " + health.name() : "the gateway";
  if (!t.allowed && t.throttled) {
    gateway::Error e;
    e.kind = gateway::ErrorKind::kThrottled;
    e.message =
        op + ": not sent, " + who + " asked to wait (Retry-After); next attempt in " + Secs(t.wait);
    e.retry_after = t.wait;
    return e;
  }
  if (!t.allowed) {
    gateway::Error e;
    e.kind = gateway::ErrorKind::kUnauthorized;
    e.message = op + ": not sent, " + who + " rejects the credentials (" + health.last_error() +
                "); next attempt in " + Secs(t.wait);
    e.retry_after = t.wait;
    return e;
  }
  gateway::Outcome<T> out = f();
  health.Report(t, out.ok() ? nullptr : &out.error());
  return out;
}

gateway::Outcome<std::string> HealthCheckedGateway::Submit(const gateway::SubmitRequest& req) {
  // The reconciler puts the intent's location in the request's region when
  // locations name backends; otherwise every call is the default's.
  return Call<std::string>(health_.For(req.region.value_or("")),
                           "submit " + (req.label.empty() ? req.script : req.label),
                           [&] { return inner_.Submit(req); });
}

gateway::Outcome<gateway::RemoteJob> HealthCheckedGateway::Get(const std::string& job_name) {
  return Call<gateway::RemoteJob>(health_.Default(), "get " + job_name,
                                  [&] { return inner_.Get(job_name); });
}

gateway::Outcome<gateway::RemoteJob> HealthCheckedGateway::GetIn(const std::string& job_name,
                                                                 const std::string& region) {
  return Call<gateway::RemoteJob>(health_.For(region), "get " + job_name,
                                  [&] { return inner_.GetIn(job_name, region); });
}

gateway::Outcome<std::vector<gateway::RemoteJob>> HealthCheckedGateway::List(
    const gateway::ListOptions& opts) {
  return Call<std::vector<gateway::RemoteJob>>(health_.For(opts.region), "list " + opts.region,
                                               [&] { return inner_.List(opts); });
}

gateway::Outcome<gateway::CancelResult> HealthCheckedGateway::Cancel(const std::string& job_name,
                                                                     const std::string& region) {
  return Call<gateway::CancelResult>(health_.For(region), "cancel " + job_name,
                                     [&] { return inner_.Cancel(job_name, region); });
}

gateway::Outcome<std::string> HealthCheckedGateway::Restart(const std::string& job_name) {
  return Call<std::string>(health_.Default(), "restart " + job_name,
                           [&] { return inner_.Restart(job_name); });
}

gateway::Outcome<std::string> HealthCheckedGateway::Logs(const std::string& job_name,
                                                         const std::string& region, int tail) {
  return Call<std::string>(health_.For(region), "logs " + job_name,
                           [&] { return inner_.Logs(job_name, region, tail); });
}

}  // namespace mlspace::reconciler
