#include "controller/reconciler/submit_request.h"

#include "controller/reconciler/ssh_keys.h"

namespace mlspace::reconciler {

static_assert(api::kMaxSpecFileBytes == launchspec::kMaxFileBytes);
static_assert(api::kMaxSpecSecretFileBytes == launchspec::kMaxSecretFileBytes);
static_assert(api::kMaxSpecFilesTotalBytes == launchspec::kMaxFilesTotalBytes);
static_assert(api::kMaxSpecFiles == launchspec::kMaxFiles);

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
  for (size_t i = 0; i < spec.files.size(); ++i) {
    const api::JobFile& f = spec.files[i];
    if (!f.secret_key_ref) continue;
    const auto& ref = *f.secret_key_ref;
    const std::string what =
        "files[" + std::to_string(i) + "] " + f.path + ": secret " + ref.name + "/" + ref.key;
    auto value = secrets.Resolve(ref.name, ref.key);
    if (!value.ok()) {
      return Status(value.status().code(), what + ": " + value.status().message());
    }
    if (value->size() > api::kMaxSpecSecretFileBytes) {
      return FailedPreconditionError(what + ": " + std::to_string(value->size()) +
                                     " bytes; a secret file holds at most " +
                                     std::to_string(api::kMaxSpecSecretFileBytes));
    }
    out[SecretFileEnvName(i)] = std::move(*value);
  }
  return out;
}

std::string SecretFileEnvName(size_t index) {
  return api::kSecretFileEnvPrefix + std::to_string(index);
}

Result<launchspec::LaunchSpec> BuildLaunchSpec(
    const MLSpaceJob& job, const std::map<std::string, std::string>& secret_values) {
  const JobSpec& s = job.spec;
  if (s.command.empty()) {
    return InvalidArgumentError(job.key().ToString() + ": spec.command is empty");
  }
  launchspec::LaunchSpec ls;
  size_t total = 0;
  for (size_t i = 0; i < s.files.size(); ++i) {
    const api::JobFile& f = s.files[i];
    launchspec::FileSpec file;
    file.path = f.path;
    file.mode = static_cast<unsigned>(f.mode.value_or(0644));
    if (f.secret_key_ref) {
      auto it = secret_values.find(SecretFileEnvName(i));
      if (it == secret_values.end()) {
        return FailedPreconditionError(job.key().ToString() + ": files[" + std::to_string(i) +
                                       "] " + f.path + ": secret " + f.secret_key_ref->name + "/" +
                                       f.secret_key_ref->key + " was not resolved");
      }
      file.content_env = SecretFileEnvName(i);
      total += it->second.size();
    } else {
      file.content = f.content.value_or("");
      total += file.content.size();
    }
    ls.files.push_back(std::move(file));
  }
  if (total > api::kMaxSpecFilesTotalBytes) {
    return FailedPreconditionError(job.key().ToString() + ": spec.files total " +
                                   std::to_string(total) + " bytes with secrets; at most " +
                                   std::to_string(api::kMaxSpecFilesTotalBytes));
  }
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

namespace {

// The files that install an attempt's key pair on every worker, after the
// job's own files (so they win over a spec.files entry of the same path).
// The private key's content rides in env_variables. A home shared with the
// user (Slurm, LocalGateway) must not lose the user's own files: the pair
// and the config go to the usual places only where nothing is there
// ("keep"), the public key is added to authorized_keys beside the lines
// already in it ("append"), and the pair is always also at the job's own
// `~/.ssh/mlspace/<namespace>.<name>/` (replaced per attempt).
Status AddSshKeyFiles(launchspec::LaunchSpec& ls, std::string& private_key, const ObjectKey& key) {
  MLSPACE_ASSIGN_OR_RETURN(SshKeyPair pair, GenerateSshKeyPair("mlspace-job-" + key.ToString()));
  private_key = std::move(pair.private_key);
  using launchspec::FileSpec;
  using launchspec::FileWrite;
  const std::string carrier = SecretFileEnvName(ls.files.size());
  const std::string own_dir = std::string(kSshJobDir) + key.namespace_name + "." + key.name + "/";
  ls.files.push_back({own_dir + "id_ed25519", "", carrier, 0600, FileWrite::kReplace});
  ls.files.push_back({own_dir + "id_ed25519.pub", pair.public_line, "", 0644, FileWrite::kReplace});
  // No id_ed25519.pub there: ssh needs only the private key, and a public
  // key written beside a user's own private key would not match it.
  ls.files.push_back({"~/.ssh/id_ed25519", "", carrier, 0600, FileWrite::kKeepExisting});
  ls.files.push_back(
      {"~/.ssh/authorized_keys", pair.public_line, "", 0600, FileWrite::kAppendLines});
  ls.files.push_back(
      {"~/.ssh/config", std::string(kSshConfig), "", 0600, FileWrite::kKeepExisting});
  return OkStatus();
}

}  // namespace

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
  // Generated per request: a resend after an ambiguous submit builds a new
  // request and gets a new pair; the durable intent never holds one.
  std::string ssh_private;
  if (s.ssh_ephemeral_keys && s.workers > 1) {
    MLSPACE_RETURN_IF_ERROR(AddSshKeyFiles(ls, ssh_private, job.key()));
  }
  for (const auto& e : s.env) {
    if (e.secret_key_ref) r.env_variables[e.name] = options.secret_values.at(e.name);
  }
  // Secret file contents as base64: env_variables is JSON text, a file
  // need not be.
  for (const auto& f : ls.files) {
    if (f.content_env.empty()) continue;
    auto it = options.secret_values.find(f.content_env);
    r.env_variables[f.content_env] =
        launchspec::Base64Encode(it != options.secret_values.end() ? it->second : ssh_private);
  }
  r.flags = launchspec::EncodeFlags(ls);
  return r;
}

}  // namespace mlspace::reconciler
