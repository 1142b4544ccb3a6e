#pragma once

// LocalGateway: the JobGateway that runs each job as a local process group
// through mlspace-launch, the "run locally" mode and the embedded default.
//
// State directory layout (one folder per job, so a restarted controller finds
// everything it needs without a database):
//   <state>/jobs/<name>/job.json   the record (request, status, times);
//                                  written to job.json.tmp then renamed.
//                                  env_variables values are masked ("***"):
//                                  they may be secrets. A job still pending
//                                  when the gateway stops is therefore
//                                  reported Failed by the next gateway, and
//                                  a reloaded job cannot be restarted.
//   <state>/jobs/<name>/output.log stdout and stderr of the job
//   <state>/jobs/<name>/pid        "<job pid> <supervisor pid>", by the
//                                  supervisor once the job is forked
//   <state>/jobs/<name>/exit       "exit N" or "signal N", by the supervisor
//                                  once the job has ended
//
// Each job gets a small supervisor process (double-forked, in its own
// session, so it outlives the gateway's process): it forks the job into its
// own process group, waits for it and records the outcome in `exit`. A
// gateway constructed on the same state directory later picks the outcome
// up, so neither a restart nor a crash of the controller kills running jobs
// or loses outcomes.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway {

// The only variables a local job inherits from the gateway's process (with
// defaults when unset: PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8, HOME
// and USER from the password database). Everything else a job sees comes from
// its request: env_variables, then MLSPACE_JOB_NAME, then the launch spec.
inline constexpr const char* kLocalJobBaseEnv[] = {"PATH", "HOME", "LANG", "USER"};
// What job.json holds instead of each env_variables value.
inline constexpr char kMaskedValue[] = "***";

struct LocalGatewayOptions {
  std::string state_dir;  // required; created when missing
  // The executable run for every job. Empty: the request's `script`.
  std::string launcher_path;
  // Jobs running at once; further jobs stay pending. >= 1.
  int max_running = 4;
  // Between SIGTERM and SIGKILL on cancel.
  Duration kill_grace = std::chrono::seconds(10);
  // How often the background thread looks for ended jobs.
  Duration poll_interval = std::chrono::milliseconds(100);
  // Region reported for jobs that did not name one (the service's default).
  std::string default_region = "DGX2-MT";
};

class LocalGateway final : public JobGateway {
 public:
  // Loads the job records of `opts.state_dir` and starts the background
  // thread. Fails when the directory cannot be created or a record cannot be
  // parsed (the error names the file).
  static Result<std::unique_ptr<LocalGateway>> Create(LocalGatewayOptions opts,
                                                      const Clock& clock = SystemClock::Get());

  // Stops the background thread. Running jobs keep running (their
  // supervisors record the outcome); a later LocalGateway reports it.
  ~LocalGateway() override;

  LocalGateway(const LocalGateway&) = delete;
  LocalGateway& operator=(const LocalGateway&) = delete;

  // Records a pending job; it starts when a slot is free. Names look like
  // "lj-<16 hex>". kInvalid when ValidateSubmitRequest fails.
  Outcome<std::string> Submit(const SubmitRequest& req) override;
  Outcome<RemoteJob> Get(const std::string& job_name) override;
  // All jobs of the region (page_size is ignored: one local "page").
  Outcome<std::vector<RemoteJob>> List(const ListOptions& opts) override;
  // Pending: stopped at once. Running: SIGTERM to the process group, SIGKILL
  // after kill_grace; reported as stopped once it ended. Finished: no-op.
  Outcome<CancelResult> Cancel(const std::string& job_name, const std::string& region) override;
  // A new job with the same request. kInvalid for a job loaded from disk
  // whose request had env_variables (their values were not kept).
  Outcome<std::string> Restart(const std::string& job_name) override;
  // The last `tail` lines of output.log (0 = all).
  Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                            int tail) override;

  // The stored request of a job (the emulator reports queue/allocation).
  std::optional<SubmitRequest> Request(const std::string& job_name) const;
  // Exit code of a finished job (128+signal when killed); nullopt otherwise.
  std::optional<int> ExitCode(const std::string& job_name) const;
  // Runs one round of the background work now (tests).
  void PollNow();

 private:
  struct Job;

  LocalGateway(LocalGatewayOptions opts, const Clock& clock);
  Status Load();
  void Loop();
  void PollLocked();
  Status StartLocked(Job& job);
  Status PersistLocked(const Job& job);
  std::string JobDir(const std::string& name) const;
  RemoteJob ToRemote(const Job& job) const;
  std::string NewName();

  const LocalGatewayOptions opts_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
  std::vector<std::string> order_;  // submit order, for stable lists
  uint64_t seq_ = 0;
  std::thread thread_;
};

}  // namespace mlspace::gateway
