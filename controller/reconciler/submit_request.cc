#include "controller/reconciler/submit_request.h"

namespace mlspace::reconciler {

using api::JobSpec;
using api::MLSpaceJob;

Result<std::map<std::string, std::string>> ResolveSecrets(const JobSpec& spec,
                                                          const SecretResolver& secrets) {
  std::map<std::string, std::string> out;
  for (const auto& e : spec.env) {
    if (!e.secret_key_ref) continue;
    const auto& ref = *e.secret_key_ref;
    auto value = secrets.Resolve(ref.name, ref.key);
    if (!value.ok()) {
      return Status(value.status().code(), "env " + e.name + ": secret " + ref.name + "/" +
                                               ref.key + ": " + value.status().message());
    }
    out[e.name] = std::move(*value);
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
      // The value travels in the request's env_variables; the spec names it.
      ls.env_from.push_back(e.name);
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
  for (const auto& e : s.env) {
    if (e.secret_key_ref) r.env_variables[e.name] = options.secret_values.at(e.name);
  }
  r.flags = launchspec::EncodeFlags(ls);
  return r;
}

}  // namespace mlspace::reconciler
