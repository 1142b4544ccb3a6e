#pragma once

// The Slurm backend's configuration (docs/slurm.md): how MLSpace regions and
// instance types map onto partitions and resources, which container runtime
// wraps the launcher, where job output goes, and the Slurm tools to run.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace::gateway::slurm {

// What one instance type asks of Slurm, per worker (one task per worker).
struct SlurmResources {
  std::optional<int> cpus_per_task;  // --cpus-per-task
  std::string mem;                   // --mem, e.g. "64G"; empty = partition default
  std::string gres;                  // --gres, e.g. "gpu:a100:8"; empty = none
};

enum class ContainerRuntime {
  kNone,       // the launcher runs on the node itself
  kApptainer,  // srun apptainer exec IMAGE mlspace-launch ...
  kPyxis,      // srun --container-image=IMAGE mlspace-launch ...
};

std::string_view ContainerRuntimeName(ContainerRuntime r);

// How workers are laid out: one node per worker (the MLSpace meaning), or
// one task per worker anywhere (a single-node test cluster standing in for
// several nodes).
enum class WorkerLayout { kNode, kTask };

enum class Accounting {
  kAuto,  // ask sacct; "accounting storage is disabled" means off
  kOn,    // ask sacct; its failure is an error
  kOff,   // never run sacct
};

// slurmrestd instead of the command-line tools (docs/slurm.md, "restd mode").
struct RestdOptions {
  enum class Auth {
    kJwt,    // X-SLURM-USER-TOKEN (read from token_file) + X-SLURM-USER-NAME
    kLocal,  // rest_auth/local: the unix socket's peer credentials, no headers
  };
  // "http://127.0.0.1:6820" (loopback, or any host with https) or
  // "unix:/run/slurmrestd/slurmrestd.socket".
  std::string url;
  // The openapi plugin: "v0.0.38" is Slurm 22.05's (slurmrestd -s list);
  // paths are /slurm/<v>/... and, for accounting, /slurmdb/<v>/....
  std::string api_version = "v0.0.38";
  Auth auth = Auth::kJwt;
  // kJwt: a file holding the token (e.g. `scontrol token` output, with or
  // without its "SLURM_JWT=" prefix); re-read on every request so a rotated
  // token is picked up. Never logged.
  std::string token_file;
  std::string user_name;
  // The batch script's environment (slurmrestd passes none of its own):
  // PATH from the controller's, SLURM_CONF when slurmConf is set, then these.
  std::map<std::string, std::string> environment;
};

struct SlurmOptions {
  // Region -> partition. A region not listed is refused at submit.
  std::map<std::string, std::string> partitions;
  // Region assumed for a request without one.
  std::string default_region;
  // Instance type -> resources. A type not listed is refused at submit.
  std::map<std::string, SlurmResources> instance_types;
  ContainerRuntime container_runtime = ContainerRuntime::kNone;
  // Put before the request's base_image (e.g. "docker://" for Apptainer).
  std::string image_prefix;
  WorkerLayout worker_layout = WorkerLayout::kNode;
  // Shared directory (visible on every node and to the controller) holding
  // slurm-<id>.out and slurm-<id>.exit per job. Required.
  std::string output_dir;
  // The launcher on the nodes; empty = the request's `script`.
  std::string launcher_path;
  std::string sbatch = "sbatch";
  std::string squeue = "squeue";
  std::string scancel = "scancel";
  std::string sacct = "sacct";
  std::string srun = "srun";
  std::string apptainer = "apptainer";
  // Exported as SLURM_CONF to every Slurm tool when set.
  std::string slurm_conf;
  Accounting accounting = Accounting::kAuto;
  // Extra sbatch arguments for every job (e.g. "--account=ml", "--qos=high").
  std::vector<std::string> extra_sbatch_args;
  // Per Slurm command; a submit that times out is ambiguous.
  Duration command_timeout = std::chrono::seconds(30);
  // When set, every Slurm call goes to slurmrestd instead of the tools.
  std::optional<RestdOptions> restd;
};

// Slurm's --mem spelling ("64G", "512M", "1T", "2048" = MB) in megabytes,
// as slurmrestd's memory_per_node wants it; nullopt when not such a size.
std::optional<int64_t> MemToMegabytes(std::string_view mem);

// Parses the mapping (YAML or JSON):
//   partitions: {REGION: PARTITION, ...}            required, non-empty
//   defaultRegion: REGION                           optional, must be listed
//   instanceTypes: {TYPE: {cpusPerTask: N, mem: "64G", gres: "gpu:8"}, ...}
//   containerRuntime: none | apptainer | pyxis      default none
//   imagePrefix, workerLayout: node | task, outputDir (required),
//   launcherPath, sbatch, squeue, scancel, sacct, srun, apptainer, slurmConf,
//   accounting: auto | on | off, sbatchArgs: [..], commandTimeoutSeconds: N
//   restd: {url, apiVersion, auth: jwt | local, tokenFile, userName,
//           environment: {NAME: value}}             optional (RestdOptions)
// With restd, sbatchArgs may only hold --account=, --qos=, --reservation=
// and --constraint= (the job description fields they map to).
// Unknown keys are refused. Errors are one line naming `where` and the
// field, e.g. "backends.yaml: slurm.instanceTypes.a100.cpusPerTask: expected
// a positive integer".
Result<SlurmOptions> ParseSlurmOptions(const YAML::Node& node, std::string_view where);

// Reads and parses a YAML file whose top level is that mapping.
Result<SlurmOptions> LoadSlurmOptionsFile(const std::string& path);

}  // namespace mlspace::gateway::slurm
