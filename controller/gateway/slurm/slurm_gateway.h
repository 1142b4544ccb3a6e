#pragma once

// SlurmGateway: the JobGateway over a Slurm cluster's command-line tools
// (sbatch, squeue --json, scancel, sacct), see docs/slurm.md.
//
// A job's name (what Submit returns) is its Slurm job id. Its --job-name and
// --comment carry the request's job_desc (the submit marker); the comment
// also carries "mlspace-region=R mlspace-instance-type=T", which is how List
// recognises the jobs this gateway made and reports their region.
//
// Output goes to <outputDir>/slurm-<id>.out; the batch script writes
// "exit N" (srun's exit status) to <outputDir>/slurm-<id>.exit when the job
// ends, so a job Slurm has forgotten (MinJobAge passed while the controller
// was away, no accounting) still has a truthful outcome.

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"
#include "controller/gateway/slurm/runner.h"
#include "controller/gateway/slurm/slurm_options.h"

namespace mlspace::gateway::slurm {

// What sbatch is run with: argv (no shell) and the batch script on stdin.
struct SbatchCommand {
  std::vector<std::string> argv;
  std::string script;
};

// The sbatch command for `req`: region -> partition and instance type ->
// resources through `opts`, n_workers -> nodes (or tasks), one launcher per
// worker through srun, wrapped by the container runtime. kInvalid naming the
// field when the region or instance type is not configured.
Outcome<SbatchCommand> BuildSbatch(const SlurmOptions& opts, const SubmitRequest& req);

// A job as squeue --json (or sacct) reports it.
struct SlurmJob {
  std::string id;
  std::string name;
  std::string comment;
  std::string state;   // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
  std::string reason;  // state_reason: why it is pending or failed
  std::string partition;
  std::optional<int> exit_code;  // decoded; only set once it ended
  std::optional<TimePoint> submitted, started, ended;
};

// Parses the whole answer of `squeue --json` (Slurm 22.05, openapi
// v0.0.38; later versions' {"number": N, "set": true} numbers are accepted
// too). kInternal naming what was wrong when it is not that document;
// the answer's own "errors" array is reported as kUnavailable.
Outcome<std::vector<SlurmJob>> ParseSqueueJson(std::string_view text);

// Slurm's job state names -> the gateway's statuses.
RemoteStatus MapJobState(std::string_view state);

// squeue reports exit_code as a wait(2) status: 768 is exit 3, 9 is
// SIGKILL (-> 137).
int DecodeWaitStatus(int raw);

// The RemoteJob for a SlurmJob: region and instance type from the comment's
// tags, job_desc = the comment, exit code only for finished jobs.
RemoteJob ToRemoteJob(const SlurmJob& job);

// How a failed sbatch maps to an Error: not started -> kUnavailable, timed
// out or killed -> kAmbiguous, Slurm unreachable before sending ->
// kUnavailable, a lost answer (socket timed out) -> kAmbiguous, anything
// else Slurm refused (invalid partition, QOS limits, ...) -> kInvalid with
// Slurm's own "error:" lines.
Error MapSbatchFailure(const CommandResult& r, std::string_view what);

class SlurmGateway final : public JobGateway {
 public:
  // `runner` runs the Slurm tools (a ProcessRunner with SLURM_CONF when
  // null). Thread-safe; the runner must be too.
  SlurmGateway(SlurmOptions opts, std::unique_ptr<Runner> runner);

  // One sbatch.
  Outcome<std::string> Submit(const SubmitRequest& req) override;
  // squeue; when Slurm no longer knows the job: sacct (when accounting is
  // on), else the exit file, else status kTerminated with "outcome
  // unknown" appended to its Logs. kNotFound only when none of them has
  // ever heard of it.
  Outcome<RemoteJob> Get(const std::string& job_name) override;
  // Exactly one `squeue --json`; the jobs of this gateway in opts.region.
  Outcome<std::vector<RemoteJob>> List(const ListOptions& opts) override;
  // scancel; kNotFound when Slurm does not know the id.
  Outcome<CancelResult> Cancel(const std::string& job_name, const std::string& region) override;
  // Not offered by Slurm in the MLSpace sense: kInvalid.
  Outcome<std::string> Restart(const std::string& job_name) override;
  // The tail of <outputDir>/slurm-<id>.out.
  Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                            int tail) override;

 private:
  CommandResult Run(const std::vector<std::string>& argv, const std::string& input = "");
  Outcome<std::vector<SlurmJob>> Squeue();
  Outcome<std::optional<RemoteJob>> FromSacct(const std::string& id);
  std::optional<RemoteJob> FromExitFile(const std::string& id) const;

  const SlurmOptions opts_;
  const std::unique_ptr<Runner> runner_;
  mutable std::mutex mu_;
  std::set<std::string> unknown_outcome_;  // ids reported as outcome unknown
};

// Creates opts.output_dir when missing, then the gateway (ProcessRunner
// with SLURM_CONF = opts.slurm_conf when set, unless `runner` is given).
Result<std::unique_ptr<JobGateway>> MakeSlurmGateway(SlurmOptions opts,
                                                     std::unique_ptr<Runner> runner = nullptr);

}  // namespace mlspace::gateway::slurm
