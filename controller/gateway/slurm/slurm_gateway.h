#pragma once

// SlurmGateway: the JobGateway over a Slurm cluster's command-line tools
// (sbatch, squeue --json, scancel, sacct), or over slurmrestd when the
// options name one (RestdClient, same job description, same job record
// parser), see docs/slurm.md.
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

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/result.h"
#include "controller/gateway/http/http_transport.h"
#include "controller/gateway/job_gateway.h"
#include "controller/gateway/slurm/runner.h"
#include "controller/gateway/slurm/slurm_options.h"

namespace mlspace::gateway::slurm {

class RestdClient;

// What one job asks of Slurm, before it is spelt as sbatch's argv or as
// slurmrestd's job description.
struct SlurmJobSpec {
  std::string name;       // --job-name: the marker's first word
  std::string comment;    // --comment: the marker + region/type tags
  std::string partition;  // from the region
  std::string output;     // <outputDir>/slurm-%j.out
  int workers = 1;        // nodes (layout node) or tasks (layout task)
  SlurmResources resources;
  std::string script;  // the batch script: srun of one launcher per worker
};

// The job for `req`: region -> partition and instance type -> resources
// through `opts`, n_workers -> nodes (or tasks), one launcher per worker
// through srun, wrapped by the container runtime. kInvalid naming the field
// when the region or instance type is not configured.
Outcome<SlurmJobSpec> BuildJobSpec(const SlurmOptions& opts, const SubmitRequest& req);

// What sbatch is run with: argv (no shell) and the batch script on stdin.
struct SbatchCommand {
  std::vector<std::string> argv;
  std::string script;
};
SbatchCommand ToSbatch(const SlurmOptions& opts, const SlurmJobSpec& spec);
// BuildJobSpec, then ToSbatch.
Outcome<SbatchCommand> BuildSbatch(const SlurmOptions& opts, const SubmitRequest& req);

// The body of slurmrestd's POST /slurm/<v>/job/submit (openapi v0.0.38):
// {"script": ..., "job": {name, comment, partition, standard_output, ...}},
// the same job as ToSbatch; `environment` is the batch script's whole
// environment (slurmrestd passes none of its own).
std::string ToRestdSubmitBody(const SlurmOptions& opts, const SlurmJobSpec& spec,
                              const std::map<std::string, std::string>& environment);

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
// slurmrestd's GET /slurm/v0.0.38/jobs answers the same document (squeue
// --json is that openapi plugin's dump): `source` names where it came from
// in messages.
Outcome<std::vector<SlurmJob>> ParseSqueueJson(std::string_view text,
                                               std::string_view source = "squeue --json");

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
  // null). Thread-safe; the runner must be too. With opts.restd, `restd`
  // is the transport to slurmrestd and the tools are not run at all.
  SlurmGateway(SlurmOptions opts, std::unique_ptr<Runner> runner,
               std::unique_ptr<http::HttpTransport> restd = nullptr);
  ~SlurmGateway() override;

  // One sbatch (or POST job/submit).
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
  const std::unique_ptr<RestdClient> restd_;  // null: the command-line tools
  mutable std::mutex mu_;
  std::set<std::string> unknown_outcome_;  // ids reported as outcome unknown
};

// Creates opts.output_dir when missing, then the gateway (ProcessRunner
// with SLURM_CONF = opts.slurm_conf when set, unless `runner` is given; a
// PocoHttpTransport to opts.restd->url when restd is configured).
Result<std::unique_ptr<JobGateway>> MakeSlurmGateway(SlurmOptions opts,
                                                     std::unique_ptr<Runner> runner = nullptr);

}  // namespace mlspace::gateway::slurm
