#include "controller/api/mapping.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "controller/core/redact.h"

namespace mlspace::api {

namespace {

// Secret names are DNS-1123 subdomains and keys [-._a-zA-Z0-9]+ (the CRD
// checks both); checked again here because they become a path.
bool SafePathPart(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 253) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::map<std::string, std::string>> ResolveSecrets(const JobSpec& spec,
                                                          const std::string& secrets_dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : spec.env) {
    if (!e.secret_key_ref) continue;
    const auto& ref = *e.secret_key_ref;
    std::string what = "env " + e.name + ": secret " + ref.name + "/" + ref.key;
    if (!SafePathPart(ref.name) || !SafePathPart(ref.key)) {
      return InvalidArgumentError(what + ": invalid secret name or key");
    }
    if (secrets_dir.empty()) {
      return FailedPreconditionError(what + ": no --secrets-dir configured");
    }
    std::string file = secrets_dir + "/" + ref.name + "/" + ref.key;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      int err = errno;
      std::string msg = what;
      msg.append(": cannot read ").append(file).append(": ").append(std::strerror(err));
      return NotFoundError(msg);
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) {
      std::string msg = what;
      msg.append(": cannot read ").append(file);
      return NotFoundError(msg);
    }
    std::string value = buf.str();
    // Kubernetes Secret files have no trailing newline, hand-made ones
    // usually do (echo > file); either spelling means the same value.
    if (!value.empty() && value.back() == '\n') value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
    SecretRegistry::Get().Add(value);
    out[e.name] = std::move(value);
  }
  return out;
}

Result<launchspec::LaunchSpec> BuildLaunchSpec(
    const MLSpaceJob& job, const std::map<std::string, std::string>& secret_values) {
  const JobSpec& s = job.spec;
  if (s.command.empty()) {
    return InvalidArgumentError(job.key().ToString() + ": spec.command is empty");
  }
  launchspec::LaunchSpec ls;
  ls.executable = s.command.front();
  ls.args.assign(s.command.begin() + 1, s.command.end());
  ls.work_dir = s.working_dir;
  for (const auto& e : s.env) {
    if (e.value) {
      ls.env.emplace_back(e.name, *e.value);
    } else if (e.secret_key_ref) {
      auto it = secret_values.find(e.name);
      if (it == secret_values.end()) {
        return FailedPreconditionError(job.key().ToString() + ": env " + e.name + ": secret " +
                                       e.secret_key_ref->name + "/" + e.secret_key_ref->key +
                                       " was not resolved");
      }
      ls.env.emplace_back(e.name, it->second);
    } else {
      ls.env.emplace_back(e.name, "");
    }
  }
  return ls;
}

Result<gateway::SubmitRequest> BuildSubmitRequest(const MLSpaceJob& job,
                                                  const SubmitOptions& options) {
  const JobSpec& s = job.spec;
  MLSPACE_ASSIGN_OR_RETURN(launchspec::LaunchSpec ls, BuildLaunchSpec(job, options.secret_values));
  gateway::SubmitRequest r;
  r.script = s.launcher_path ? *s.launcher_path : options.launcher_path;
  r.base_image = s.image;
  r.instance_type = s.instance_type;
  r.region = s.region;
  r.type = s.type;
  r.n_workers = s.workers;
  r.processes_per_worker = s.processes_per_worker;
  r.priority_class = s.priority_class;
  if (!s.queue.empty()) r.queue_name = s.queue;
  if (!s.allocation.empty()) r.allocation_name = s.allocation;
  if (!options.marker.empty()) r.job_desc = options.marker;
  r.max_retry = s.max_retry;
  if (s.health_check) {
    gateway::HealthParams h;
    h.log_period = s.health_check->log_period_minutes;
    if (!s.health_check->action.empty()) h.action = s.health_check->action;
    if (s.health_check->notify) h.sub_actions.push_back("notify");
    r.health_params = std::move(h);
  }
  r.internet = s.internet;
  r.flags = launchspec::EncodeFlags(ls);
  return r;
}

std::string SubmitMarker(const MLSpaceJob& job, int attempt) {
  return "mlsj:" + job.metadata.namespace_name + "/" + job.metadata.name + "/" +
         job.spec_hash.substr(0, 8) + "/" + std::to_string(attempt);
}

}  // namespace mlspace::api
