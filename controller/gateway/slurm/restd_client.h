#pragma once

// RestdClient: the Slurm calls SlurmGateway needs, made to slurmrestd
// (openapi v0.0.38, Slurm 22.05) over an http::HttpTransport instead of the
// command-line tools. The job description and the job record parser are
// the CLI path's own (ToRestdSubmitBody, ParseSqueueJson); what differs is
// only how an exchange's failure maps to an Error, which keeps the same
// exactly-once rules: a submit whose answer was lost is kAmbiguous, never
// re-sent here.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/result.h"
#include "controller/gateway/http/http_transport.h"
#include "controller/gateway/job_gateway.h"
#include "controller/gateway/slurm/slurm_options.h"

namespace mlspace::gateway::slurm {

struct SlurmJob;

// The largest GET /jobs answer read (22.05 pretty-prints about 4 KiB per
// job: some 16000 jobs); a longer one is an error, never held whole.
inline constexpr size_t kRestdJobsAnswerCap = size_t{64} << 20;

class RestdClient {
 public:
  // `transport` talks to opts.url. `slurm_conf` (when not empty) is put
  // into every job's environment as SLURM_CONF, for srun inside the job.
  RestdClient(RestdOptions opts, std::string slurm_conf,
              std::unique_ptr<http::HttpTransport> transport);

  // POST /slurm/<v>/job/submit with `body` (ToRestdSubmitBody). The job id,
  // or: not sent -> kUnavailable; sent but no answer, or an answer without
  // a job id -> kAmbiguous; 401/403 -> kUnauthorized; Slurm's "errors"
  // (invalid partition, QOS limits, ...) -> as MapSbatchFailure maps sbatch's
  // stderr (kInvalid in Slurm's words, unless they say the controller was
  // unreachable or the answer was lost). `what` prefixes messages.
  Outcome<std::string> Submit(const std::string& body, const std::string& what);

  // One GET /slurm/<v>/jobs: every job slurmctld knows. kUnavailable when
  // it fails in any way (a read has no effect to be ambiguous about).
  Outcome<std::vector<SlurmJob>> Jobs();

  // DELETE /slurm/<v>/job/<id> (SIGKILL, as scancel). kNotFound on "Invalid
  // job id"; a job already finished counts as deleted (scancel exits 0).
  Outcome<CancelResult> Cancel(const std::string& id);

  // GET /slurmdb/<v>/job/<id>: the job as accounting remembers it. nullopt
  // when accounting has no such job, or (`accounting` kAuto) when
  // slurmrestd has no slurmdb endpoints (its dbv0.0.N plugin loads only
  // with slurmdbd).
  Outcome<std::optional<RemoteJob>> AccountingJob(const std::string& id, Accounting accounting);

  // The batch script's environment: PATH (the controller's, or a default),
  // SLURM_CONF when configured, then opts.environment.
  const std::map<std::string, std::string>& job_environment() const { return environment_; }

 private:
  Outcome<http::HttpExchange> Exchange(const std::string& method, const std::string& path,
                                       const std::string& body, size_t cap);
  // A bodiless call that is safe to repeat: no answer -> kUnavailable,
  // 401/403 -> kUnauthorized, any other answer returned as it is.
  Outcome<http::HttpResponse> Call(const std::string& method, const std::string& path, size_t cap);
  // An answer that is not what was hoped for, in Slurm's words when it gave
  // "errors", as kUnavailable.
  static Error Failed(const std::string& method, const std::string& path,
                      const http::HttpResponse& resp);

  const RestdOptions opts_;
  const std::unique_ptr<http::HttpTransport> transport_;
  std::map<std::string, std::string> environment_;
};

// Parses GET /slurmdb/v0.0.38/job/<id>'s answer ({"jobs": [{"job_id",
// "state": {"current"}, "exit_code": {"return_code", "signal":
// {"signal_id"}}, "comment": {"job"}, ...}]}) into the job `id`, or
// nullopt when it is not there.
Outcome<std::optional<RemoteJob>> ParseSlurmdbJob(std::string_view text, const std::string& id);

}  // namespace mlspace::gateway::slurm
