#include "controller/backends/router.h"

#include <utility>

namespace mlspace::backends {
namespace {

std::string_view ResultLabel(gateway::ErrorKind k) {
  switch (k) {
    case gateway::ErrorKind::kNotFound:
      return "not_found";
    case gateway::ErrorKind::kInvalid:
      return "invalid";
    case gateway::ErrorKind::kUnauthorized:
      return "unauthorized";
    case gateway::ErrorKind::kThrottled:
      return "throttled";
    case gateway::ErrorKind::kUnavailable:
      return "unavailable";
    case gateway::ErrorKind::kAmbiguous:
      return "ambiguous";
    case gateway::ErrorKind::kInternal:
      break;
  }
  return "internal";
}

gateway::Error RouteError(const std::string& message) {
  gateway::Error e;
  e.kind = gateway::ErrorKind::kInvalid;
  e.message = message;
  return e;
}

}  // namespace

Catalog::Catalog(BackendsConfig config) : config_(std::move(config)) {
  for (size_t i = 0; i < config_.backends.size(); ++i) {
    if (config_.backends[i].name == config_.default_name) default_index_ = i;
  }
}

const BackendConfig& Catalog::BackendOf(const api::JobSpec& spec) const {
  if (!spec.backend.empty()) {
    if (const BackendConfig* b = config_.Find(spec.backend)) return *b;
  }
  return config_.backends[default_index_];
}

Status Catalog::CheckJob(const api::JobSpec& spec) const {
  if (!spec.backend.empty() && !config_.Find(spec.backend)) {
    std::string names;
    for (const auto& n : config_.Names()) names += (names.empty() ? "" : ", ") + n;
    return InvalidArgumentError("spec.backend: unknown backend \"" + spec.backend +
                                "\" (configured: " + names + ")");
  }
  const BackendConfig& b = BackendOf(spec);
  if (!b.regions.Map(spec.region)) {
    return InvalidArgumentError("spec.region: backend " + b.name + " does not map region \"" +
                                spec.region + "\" (known: " + b.regions.Known() + ")");
  }
  if (!b.instance_types.Map(spec.instance_type)) {
    return InvalidArgumentError("spec.instanceType: backend " + b.name +
                                " does not map instance type \"" + spec.instance_type +
                                "\" (known: " + b.instance_types.Known() + ")");
  }
  if (b.max_workers && spec.workers > *b.max_workers) {
    return InvalidArgumentError("spec.workers: " + std::to_string(spec.workers) +
                                " is more than backend " + b.name + " allows (maxWorkers " +
                                std::to_string(*b.max_workers) + ")");
  }
  return OkStatus();
}

std::string Catalog::Locate(const api::JobSpec& spec) const {
  if (!config_.qualified) return spec.region;
  return BackendOf(spec).name + "/" + spec.region;
}

std::string Catalog::BackendName(const std::string& location) const {
  if (config_.qualified) {
    if (size_t slash = location.find('/'); slash != std::string::npos) {
      if (const BackendConfig* b = config_.Find(std::string_view(location).substr(0, slash))) {
        return b->name;
      }
    }
  }
  return config_.backends[default_index_].name;
}

Result<Catalog::Target> Catalog::Resolve(const std::string& location) const {
  Target t;
  std::string region = location;
  t.index = default_index_;
  if (config_.qualified) {
    // A plain location predates the --backends file: the default backend's.
    if (size_t slash = location.find('/'); slash != std::string::npos) {
      std::string name = location.substr(0, slash);
      region = location.substr(slash + 1);
      bool found = false;
      for (size_t i = 0; i < config_.backends.size(); ++i) {
        if (config_.backends[i].name == name) {
          t.index = i;
          found = true;
        }
      }
      if (!found) {
        return NotFoundError("location " + location + ": backend \"" + name +
                             "\" is not configured (--backends)");
      }
    }
  }
  const BackendConfig& b = config_.backends[t.index];
  auto remote = b.regions.Map(region);
  if (!remote) {
    return InvalidArgumentError("location " + location + ": backend " + b.name +
                                " does not map region \"" + region + "\"");
  }
  t.remote_region = *remote;
  return t;
}

BackendRouter::BackendRouter(std::shared_ptr<const Catalog> catalog,
                             std::vector<std::unique_ptr<gateway::JobGateway>> gateways)
    : catalog_(std::move(catalog)), gateways_(std::move(gateways)) {}

gateway::Outcome<BackendRouter::Route> BackendRouter::RouteTo(const std::string& location,
                                                              const char* op) const {
  auto t = catalog_->Resolve(location);
  if (!t.ok()) return RouteError(std::string(op) + ": " + t.status().message());
  return Route{gateways_[t->index].get(), t->remote_region, t->index};
}

template <typename T>
gateway::Outcome<T> BackendRouter::Note(size_t index, std::string_view op,
                                        gateway::Outcome<T> out) const {
  if (observer_) {
    observer_(catalog_->config().backends[index].name, op,
              out.ok() ? std::string_view("ok") : ResultLabel(out.error().kind));
  }
  return out;
}

gateway::Outcome<std::string> BackendRouter::Submit(const gateway::SubmitRequest& req) {
  std::string what = req.label.empty() ? std::string("submit") : "submit " + req.label;
  gateway::SubmitRequest out = req;
  size_t index = DefaultIndex();
  if (req.region) {
    auto t = catalog_->Resolve(*req.region);
    if (!t.ok()) return RouteError(what + ": " + t.status().message());
    index = t->index;
    out.region = t->remote_region;
  }
  const BackendConfig& b = catalog_->config().backends[index];
  auto type = b.instance_types.Map(req.instance_type);
  if (!type) {
    return RouteError(what + ": spec.instanceType: backend " + b.name +
                      " does not map instance type \"" + req.instance_type + "\"");
  }
  out.instance_type = *type;
  return Note(index, "submit", gateways_[index]->Submit(out));
}

size_t BackendRouter::DefaultIndex() const {
  const auto& backends = catalog_->config().backends;
  for (size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].name == catalog_->config().default_name) return i;
  }
  return 0;
}

gateway::Outcome<gateway::RemoteJob> BackendRouter::Get(const std::string& job_name) {
  return Note(DefaultIndex(), "get", gateways_[DefaultIndex()]->Get(job_name));
}

gateway::Outcome<gateway::RemoteJob> BackendRouter::GetIn(const std::string& job_name,
                                                          const std::string& location) {
  auto r = RouteTo(location, "get");
  if (!r.ok()) return r.error();
  auto out = Note(r->index, "get", r->gateway->GetIn(job_name, r->remote_region));
  if (!out.ok()) return out;
  gateway::RemoteJob j = std::move(out).value();
  j.region = location;
  return j;
}

gateway::Outcome<std::vector<gateway::RemoteJob>> BackendRouter::List(
    const gateway::ListOptions& opts) {
  auto r = RouteTo(opts.region, "list");
  if (!r.ok()) return r.error();
  gateway::ListOptions o = opts;
  o.region = r->remote_region;
  auto out = Note(r->index, "list", r->gateway->List(o));
  if (!out.ok()) return out;
  std::vector<gateway::RemoteJob> jobs = std::move(out).value();
  for (auto& j : jobs) j.region = opts.region;
  return jobs;
}

gateway::Outcome<gateway::CancelResult> BackendRouter::Cancel(const std::string& job_name,
                                                              const std::string& location) {
  auto r = RouteTo(location, "cancel");
  if (!r.ok()) return r.error();
  return Note(r->index, "cancel", r->gateway->Cancel(job_name, r->remote_region));
}

gateway::Outcome<std::string> BackendRouter::Restart(const std::string& job_name) {
  return Note(DefaultIndex(), "restart", gateways_[DefaultIndex()]->Restart(job_name));
}

gateway::Outcome<std::string> BackendRouter::Logs(const std::string& job_name,
                                                  const std::string& location, int tail) {
  auto r = RouteTo(location, "logs");
  if (!r.ok()) return r.error();
  return Note(r->index, "logs", r->gateway->Logs(job_name, r->remote_region, tail));
}

}  // namespace mlspace::backends
