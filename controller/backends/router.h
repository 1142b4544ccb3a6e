#pragma once

// Reaching the right backend per object. A "location" is what the
// reconciler, the observed cache and the state store key remote jobs by
// (ObjectRecord::region, SubmitIntent::region, the lists): with a
// --backends file it is "<backend>/<region>" (the manifest's region name),
// from flags it is the plain region. A plain location found in the store
// (written before a --backends file was used) belongs to the default
// backend. So every list, marker and adoption is per (backend, region): a
// marker carried by a job of backend B never settles an intent of A.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "controller/api/types.h"
#include "controller/backends/config.h"
#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::backends {

// The configuration's answers, without any gateway: what the desired-state
// validation and --check-config need. Immutable, thread-safe.
class Catalog {
 public:
  explicit Catalog(BackendsConfig config);

  // OK, or InvalidArgument naming the field: spec.backend (unknown name),
  // spec.region / spec.instanceType (not mapped by the backend),
  // spec.workers (above the backend's maxWorkers).
  Status CheckJob(const api::JobSpec& spec) const;

  // The location of a valid spec's jobs (see above).
  std::string Locate(const api::JobSpec& spec) const;

  struct Target {
    size_t index = 0;           // into config().backends
    std::string remote_region;  // the backend's own region name
  };
  // The name of the backend a location belongs to: the one it names when
  // configured, else (a plain location, or a backend no longer configured)
  // the default's. Never fails: what GatewayHealth is asked about a call.
  std::string BackendName(const std::string& location) const;

  // The backend (and its region) a location names. NotFound for a backend
  // no longer configured, InvalidArgument for a region it does not map.
  Result<Target> Resolve(const std::string& location) const;

  const BackendsConfig& config() const { return config_; }

 private:
  const BackendConfig& BackendOf(const api::JobSpec& spec) const;
  BackendsConfig config_;
  size_t default_index_ = 0;
};

// A JobGateway over the configured backends' gateways, routed by location:
// List/Cancel/Logs by their region argument, Submit by the request's region
// (the reconciler puts the intent's location there), GetIn by its region.
// Remote jobs come back with region = their location. Get and Restart (no
// location) ask the default backend. Thread-safe when every backend is.
class BackendRouter final : public gateway::JobGateway {
 public:
  // `gateways[i]` serves `catalog->config().backends[i]`; none null.
  BackendRouter(std::shared_ptr<const Catalog> catalog,
                std::vector<std::unique_ptr<gateway::JobGateway>> gateways);

  gateway::Outcome<std::string> Submit(const gateway::SubmitRequest& req) override;
  gateway::Outcome<gateway::RemoteJob> Get(const std::string& job_name) override;
  gateway::Outcome<gateway::RemoteJob> GetIn(const std::string& job_name,
                                             const std::string& location) override;
  gateway::Outcome<std::vector<gateway::RemoteJob>> List(const gateway::ListOptions& opts) override;
  gateway::Outcome<gateway::CancelResult> Cancel(const std::string& job_name,
                                                 const std::string& location) override;
  gateway::Outcome<std::string> Restart(const std::string& job_name) override;
  gateway::Outcome<std::string> Logs(const std::string& job_name, const std::string& location,
                                     int tail) override;

  const Catalog& catalog() const { return *catalog_; }

  // Called after every call that reached a backend: its configured name,
  // the operation (submit, get, list, cancel, restart, logs) and "ok" or the
  // error kind in snake_case (not_found, invalid, ...). Set before the
  // first call; may be empty. Runs on the caller's thread.
  using CallObserver = std::function<void(const std::string& backend, std::string_view operation,
                                          std::string_view result)>;
  void SetObserver(CallObserver observer) { observer_ = std::move(observer); }

 private:
  // The gateway and remote region for `location`, or an Error (kInvalid)
  // naming the location.
  struct Route {
    gateway::JobGateway* gateway = nullptr;
    std::string remote_region;
    size_t index = 0;
  };
  gateway::Outcome<Route> RouteTo(const std::string& location, const char* op) const;
  size_t DefaultIndex() const;

  std::shared_ptr<const Catalog> catalog_;
  std::vector<std::unique_ptr<gateway::JobGateway>> gateways_;
  CallObserver observer_;

  template <typename T>
  gateway::Outcome<T> Note(size_t index, std::string_view op, gateway::Outcome<T> out) const;
};

}  // namespace mlspace::backends
