// The built-in backend types. Adding a type is one Register call in
// RegisterBuiltinTypes below (docs/backends.md, "Adding a backend type").

#include <cstdlib>
#include <string>

#include "controller/backends/registry.h"
#include "controller/gateway/http/credentials.h"
#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/local/local_gateway.h"
#include "controller/gateway/slurm/slurm_gateway.h"
#include "controller/gateway/slurm/slurm_options.h"

namespace mlspace::backends {
namespace {

// Reads optional scalars of an entry, collecting "file:line: field: message"
// lines for the ones of the wrong kind.
class Settings {
 public:
  explicit Settings(const BackendConfig& b) : b_(b) {}

  void String(const char* key, std::string& out) {
    if (!b_.node) return;
    const YAML::Node n = b_.node[key];
    if (!n) return;
    if (!n.IsScalar() || n.Scalar().empty()) {
      Error(n, key, "expected a non-empty string");
      return;
    }
    out = n.Scalar();
  }
  void Bool(const char* key, bool& out) {
    if (!b_.node) return;
    const YAML::Node n = b_.node[key];
    if (n && (!n.IsScalar() || !YAML::convert<bool>::decode(n, out))) {
      Error(n, key, "expected true or false");
    }
  }
  template <typename T>
  void Number(const char* key, T& out, T min, T max) {
    if (!b_.node) return;
    const YAML::Node n = b_.node[key];
    if (!n) return;
    T v{};
    if (!n.IsScalar() || !YAML::convert<T>::decode(n, v) || v < min || v > max) {
      Error(n, key, "expected a number in " + std::to_string(min) + ".." + std::to_string(max));
      return;
    }
    out = v;
  }
  void Error(const YAML::Node& n, const std::string& key, const std::string& message) {
    errors_ += (errors_.empty() ? "" : "\n") + At(b_, n, key, message);
  }
  Status status() const { return errors_.empty() ? OkStatus() : InvalidArgumentError(errors_); }

 private:
  const BackendConfig& b_;
  std::string errors_;
};

// --- mlspace: the Gateway v2 HTTP client --------------------------------

struct MlspaceOptions {
  std::string url;
  bool insecure = false;
  std::string secrets_dir;  // empty: the environment and --secrets-dir
  double rate = 10;
  int burst = 20;
};

Result<MlspaceOptions> ParseMlspace(const BackendConfig& b) {
  MlspaceOptions o;
  Settings s(b);
  s.String("url", o.url);
  s.Bool("insecure", o.insecure);
  s.String("secretsDir", o.secrets_dir);
  s.Number<double>("rate", o.rate, 0.1, 10000);
  s.Number<int>("burst", o.burst, 1, 100000);
  if (o.url.empty() && !b.node["url"]) {
    s.Error(b.node, "url", "required: the Gateway v2 base URL, e.g. https://api.ai.cloud.ru");
  } else if (!o.url.empty() && !o.url.starts_with("https://") && !o.url.starts_with("http://")) {
    s.Error(b.node["url"], "url", "expected an http:// or https:// URL");
  }
  MLSPACE_RETURN_IF_ERROR(s.status());
  return o;
}

Result<std::unique_ptr<gateway::JobGateway>> MakeMlspace(const BackendConfig& b,
                                                         const BuildContext& ctx) {
  MLSPACE_ASSIGN_OR_RETURN(MlspaceOptions m, ParseMlspace(b));
  // A backend with its own secretsDir reads its credentials there only: the
  // MLSPACE_* environment belongs to the default, flag-described gateway.
  gateway::http::EnvLookup env = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  std::string dir = m.secrets_dir;
  if (dir.empty()) {
    dir = ctx.secrets_dir;
    env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
  }
  auto creds = gateway::http::CredentialFiles::Load(env, dir, *ctx.clock);
  if (!creds.ok()) {
    return InvalidArgumentError("backend " + b.name + ": credentials: " + creds.status().message());
  }
  gateway::http::ClientOptions o;
  o.base_url = m.url;
  o.credential_files = *creds;
  o.allow_insecure = m.insecure;
  o.rate_per_second = m.rate;
  o.burst = m.burst;
  o.clock = ctx.clock;
  if (ctx.http_observer) o.observer = ctx.http_observer(b.name);
  auto client = gateway::http::MakeGatewayClient(o);
  if (!client.ok()) {
    return InvalidArgumentError("backend " + b.name + ": url: " + client.status().message());
  }
  return std::unique_ptr<gateway::JobGateway>(std::move(*client));
}

// --- local: LocalGateway (jobs as local processes) -----------------------

struct LocalOptions {
  std::string state_dir;
  std::string launcher;
  int max_running = 4;
};

Result<LocalOptions> ParseLocal(const BackendConfig& b) {
  LocalOptions o;
  Settings s(b);
  s.String("stateDir", o.state_dir);
  s.String("launcher", o.launcher);
  s.Number<int>("maxRunning", o.max_running, 1, 1024);
  MLSPACE_RETURN_IF_ERROR(s.status());
  return o;
}

Result<std::unique_ptr<gateway::JobGateway>> MakeLocal(const BackendConfig& b,
                                                       const BuildContext& ctx) {
  MLSPACE_ASSIGN_OR_RETURN(LocalOptions l, ParseLocal(b));
  gateway::LocalGatewayOptions o;
  // The default backend keeps the directory --gateway=local always used, so
  // moving from flags to a --backends file finds the same jobs.
  o.state_dir = !l.state_dir.empty() ? l.state_dir
                : b.is_default       ? ctx.state_dir + "/local-jobs"
                                     : ctx.state_dir + "/local-jobs-" + b.name;
  o.launcher_path = l.launcher.empty() ? ctx.local_launcher : l.launcher;
  o.max_running = l.max_running;
  if (o.launcher_path.empty()) {
    return InvalidArgumentError("backend " + b.name +
                                ": mlspace-launch not found; set launcher or --local-launcher");
  }
  auto local = gateway::LocalGateway::Create(o, *ctx.clock);
  if (!local.ok()) {
    return InvalidArgumentError("backend " + b.name + ": " + local.status().message());
  }
  return std::unique_ptr<gateway::JobGateway>(std::move(*local));
}

// --- slurm: SlurmGateway (package slurm, docs/slurm.md) --------------------
// Its settings are the --slurm-config mapping, nested under `slurm:`.

Result<gateway::slurm::SlurmOptions> ParseSlurm(const BackendConfig& b) {
  const YAML::Node n = b.node ? b.node["slurm"] : YAML::Node();
  if (!n || !n.IsMap()) {
    return InvalidArgumentError(
        At(b, n ? n : b.node, "slurm", "required: a mapping of Slurm settings (docs/slurm.md)"));
  }
  std::string where = At(b, n, "slurm", "");
  where.resize(where.size() - 2);  // "file:line: backends[x].slurm"
  return gateway::slurm::ParseSlurmOptions(n, where);
}

Result<std::unique_ptr<gateway::JobGateway>> MakeSlurm(const BackendConfig& b,
                                                       const BuildContext&) {
  MLSPACE_ASSIGN_OR_RETURN(auto o, ParseSlurm(b));
  auto g = gateway::slurm::MakeSlurmGateway(std::move(o));
  if (!g.ok()) return InvalidArgumentError("backend " + b.name + ": " + g.status().message());
  return std::move(g).value();
}

// SlurmGateway maps regions to partitions and instance types to resources
// itself: the manifest's names pass unchanged, and only those it knows are
// accepted (unless the entry has its own tables).
void SlurmTables(BackendConfig& b) {
  auto o = ParseSlurm(b);
  if (!o.ok()) return;
  if (!b.node["regions"]) {
    b.regions = NameMap{false, {}};
    for (const auto& [region, partition] : o->partitions) b.regions.names[region] = region;
  }
  if (!b.node["instanceTypes"] && !o->instance_types.empty()) {
    b.instance_types = NameMap{false, {}};
    for (const auto& [type, res] : o->instance_types) b.instance_types.names[type] = type;
  }
}

}  // namespace

void RegisterBuiltinTypes(TypeRegistry& registry) {
  // Both send a Gateway v2 RunJobRequest (LocalGateway validates it too):
  // without a table, a manifest's region must be a Gateway region.
  (void)registry.Register("mlspace",
                          {{"url", "insecure", "secretsDir", "rate", "burst"},
                           gateway::GatewayRegions(),
                           [](const BackendConfig& b) { return ParseMlspace(b).status(); },
                           MakeMlspace,
                           nullptr});
  (void)registry.Register("local", {{"stateDir", "launcher", "maxRunning"},
                                    gateway::GatewayRegions(),
                                    [](const BackendConfig& b) { return ParseLocal(b).status(); },
                                    MakeLocal,
                                    nullptr});
  (void)registry.Register("slurm", {{"slurm"},
                                    {},
                                    [](const BackendConfig& b) { return ParseSlurm(b).status(); },
                                    MakeSlurm,
                                    SlurmTables});
}

}  // namespace mlspace::backends
