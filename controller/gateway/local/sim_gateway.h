#pragma once

// SimulatedGateway: the emulator's `--execute=none` backend. No processes:
// a job is Pending for `pending_duration` after submission, then Running
// for `run_duration`, then Completed (or Failed when its env_variables set
// MLSPACE_SIM_RESULT=failed). Status is computed from the clock on every
// read, so there are no timers and 10,000+ jobs cost only their records.

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/core/clock.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway {

struct SimGatewayOptions {
  Duration pending_duration = std::chrono::seconds(1);
  Duration run_duration = std::chrono::seconds(5);
  std::string default_region = "DGX2-MT";
};

class SimulatedGateway final : public JobGateway {
 public:
  explicit SimulatedGateway(SimGatewayOptions opts, const Clock& clock = SystemClock::Get());

  // Names look like "sj-<16 hex>".
  Outcome<std::string> Submit(const SubmitRequest& req) override;
  Outcome<RemoteJob> Get(const std::string& job_name) override;
  // Submit order; page_size ignored.
  Outcome<std::vector<RemoteJob>> List(const ListOptions& opts) override;
  // A job that has not finished becomes Stopped at once.
  Outcome<CancelResult> Cancel(const std::string& job_name, const std::string& region) override;
  Outcome<std::string> Restart(const std::string& job_name) override;
  // Synthetic lines, one per state reached.
  Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                            int tail) override;

  size_t size() const;

 private:
  struct Job {
    std::string name;
    std::string region;
    std::string job_desc;
    std::string instance_type;
    TimePoint created;
    bool fails = false;
    std::optional<TimePoint> stopped_at;
    std::shared_ptr<const SubmitRequest> req;
  };
  RemoteJob View(const Job& job, TimePoint now) const;

  const SimGatewayOptions opts_;
  const Clock& clock_;
  mutable std::shared_mutex mu_;
  std::vector<Job> jobs_;
  std::unordered_map<std::string, size_t> index_;
  uint64_t counter_ = 0;
  const uint64_t salt_;
};

}  // namespace mlspace::gateway
