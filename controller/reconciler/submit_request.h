#pragma once

// From an MLSpaceJob to what is sent: the Gateway v2 submit body and the
// launch spec that rides in its `flags`. Pure functions, tested field by
// field; secret values come through the SecretResolver seam (cmd/ gives it
// a DirectorySecretResolver over --secrets-dir), so nothing here reads files.

#include <map>
#include <string>

#include "controller/api/types.h"
#include "controller/core/result.h"
#include "controller/core/secret_file.h"
#include "controller/gateway/job_gateway.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::reconciler {

// Where mlspace-launch lives on a region's shared NFS (DESIGN.md section 6).
inline constexpr char kDefaultLauncherPath[] = "/home/jovyan/.mlspace/bin/mlspace-launch";

struct SubmitOptions {
  std::string launcher_path = kDefaultLauncherPath;  // spec.launcherPath wins
  std::string marker;  // the submit marker (marker.h: MakeMarker), -> job_desc
  // Env var name -> value for every env entry with a secretKeyRef, and
  // SecretFileEnvName(i) -> content for every secret file, as returned by
  // ResolveSecrets.
  std::map<std::string, std::string> secret_values;
};

// ~/.ssh/config installed with spec.ssh.ephemeralKeys: the workers' host
// keys are new for every job, so they are accepted on first use.
inline constexpr char kSshConfig[] =
    "Host *\n"
    "  StrictHostKeyChecking accept-new\n"
    "  IdentityFile ~/.ssh/id_ed25519\n";

// Where every job with spec.ssh.ephemeralKeys also finds its own pair:
// <this><namespace>.<name>/id_ed25519 on each worker.
inline constexpr char kSshJobDir[] = "~/.ssh/mlspace/";

// The request's env_variables name carrying the content of spec.files[index]
// when it is a secret: "MLSPACE_SECRET_FILE_<index>".
std::string SecretFileEnvName(size_t index);

// Resolves every secretKeyRef of `spec` (env and files) through `secrets` (which registers
// each value with SecretRegistry, so it is masked wherever it might leak).
// Returns env var name -> value (files under SecretFileEnvName). Errors name
// the env var or file and the secret reference, never a value; their code is
// the resolver's (kFailedPrecondition for a secret file over 64 KiB).
Result<std::map<std::string, std::string>> ResolveSecrets(const api::JobSpec& spec,
                                                          const SecretResolver& secrets);

// executable = command[0], args = command[1..], env = spec.env in order
// without the secretKeyRef entries, whose names go to env_from (their values
// travel in the request's env_variables, never in the spec), work_dir =
// workingDir. Fails when a secret value is missing from `secret_values` or
// the command is empty.
Result<launchspec::LaunchSpec> BuildLaunchSpec(
    const api::MLSpaceJob& job, const std::map<std::string, std::string>& secret_values);

// The RunJobRequest for one attempt. Plain env values travel inside the
// launch spec (flags); secret values in env_variables, so they are in neither
// the job's argv (`ps`) nor the spec (--print-spec), only in the job's
// definition on the service (docs/security.md says who can read it).
Result<gateway::SubmitRequest> BuildSubmitRequest(const api::MLSpaceJob& job,
                                                  const SubmitOptions& options);

}  // namespace mlspace::reconciler
