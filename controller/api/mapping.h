#pragma once

// From an MLSpaceJob to what is sent: the Gateway v2 submit body and the
// launch spec that rides in its `flags`. Pure functions, tested field by
// field; the only I/O is ResolveSecrets reading the secrets directory.

#include <map>
#include <string>

#include "controller/api/types.h"
#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::api {

// Where mlspace-launch lives on a region's shared NFS (DESIGN.md section 6).
inline constexpr char kDefaultLauncherPath[] = "/home/jovyan/.mlspace/bin/mlspace-launch";

struct SubmitOptions {
  std::string launcher_path = kDefaultLauncherPath;  // spec.launcherPath wins
  std::string marker;  // mlsj:<ns>/<name>/<generation8>/<attempt>, -> job_desc
  // Env var name -> value for every env entry with a secretKeyRef, as
  // returned by ResolveSecrets.
  std::map<std::string, std::string> secret_values;
};

// Reads every secretKeyRef of `spec` from secrets_dir/<name>/<key> (the
// layout of a mounted Kubernetes Secret), trailing newline trimmed, and
// registers each value with SecretRegistry so it is masked wherever it
// might leak. Returns env var name -> value. Errors name the env var and
// the secret reference, never a value.
Result<std::map<std::string, std::string>> ResolveSecrets(const JobSpec& spec,
                                                          const std::string& secrets_dir);

// executable = command[0], args = command[1..], env = spec.env in order with
// secrets from `secret_values`, work_dir = workingDir. Fails when a secret
// value is missing or the command is empty.
Result<launchspec::LaunchSpec> BuildLaunchSpec(
    const MLSpaceJob& job, const std::map<std::string, std::string>& secret_values);

// The RunJobRequest for one attempt. env_variables stays empty: the
// environment travels inside the launch spec (flags), so secrets are never
// in job_desc or env_variables where the service shows them.
Result<gateway::SubmitRequest> BuildSubmitRequest(const MLSpaceJob& job,
                                                  const SubmitOptions& options);

// "mlsj:<namespace>/<name>/<first 8 of spec_hash>/<attempt>" (DESIGN.md 4).
std::string SubmitMarker(const MLSpaceJob& job, int attempt);

}  // namespace mlspace::api
