#pragma once

// Backend types by name: each type checks its own settings of a backend
// entry (so --check-config reports them) and builds the JobGateway. The
// built-in types are registered in one place, RegisterBuiltinTypes
// (builtin_types.cc); adding a type is one Register call there.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controller/backends/config.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"
#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::backends {

// What a factory may need from the controller's flags.
struct BuildContext {
  const Clock* clock = nullptr;  // required
  std::string state_dir;         // --state-dir (a local backend's default home)
  std::string secrets_dir;       // --secrets-dir (default credentials directory)
  std::string local_launcher;    // --local-launcher resolved (may be empty)
  // The Gateway v2 client's request hook for backend `name` (may be empty).
  std::function<gateway::http::RequestObserver(const std::string& name)> http_observer;
};

struct BackendType {
  // Keys of an entry this type reads, besides the common ones (name, type,
  // default, regions, instanceTypes, maxWorkers). Any other key is an
  // "unknown field" error. Empty: the type checks its keys itself.
  std::set<std::string> keys;
  // The regions an entry without a `regions` table accepts (unchanged).
  // Empty: every name. mlspace and local: the Gateway v2 regions.
  std::vector<std::string> default_regions;
  // Validates the type's settings of `b` (b.node). Errors are
  // "file:line: field: message" lines joined by '\n'. May be empty.
  std::function<Status(const BackendConfig& b)> check;
  // Builds the gateway. Called once per backend at start.
  std::function<Result<std::unique_ptr<gateway::JobGateway>>(const BackendConfig& b,
                                                             const BuildContext& ctx)>
      make;
  // Optional: fills the entry's region / instance-type tables from the
  // type's own settings when the entry has none (slurm: its partitions and
  // instance types), so the manifest check knows what the backend maps.
  std::function<void(BackendConfig& b)> derive_tables;
};

// Not thread-safe while registering; read-only afterwards.
class TypeRegistry {
 public:
  // Fails when `name` is taken or `type.make` is empty.
  Status Register(const std::string& name, BackendType type);
  const BackendType* Find(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, BackendType> types_;
};

// Registers mlspace and local (and every type added since: the one place).
void RegisterBuiltinTypes(TypeRegistry& registry);

// "file:line: field: message" for `node` (its mark) inside entry `b`.
std::string At(const BackendConfig& b, const YAML::Node& node, const std::string& field,
               const std::string& message);

}  // namespace mlspace::backends
