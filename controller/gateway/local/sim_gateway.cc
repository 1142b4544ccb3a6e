#include "controller/gateway/local/sim_gateway.h"

#include <algorithm>
#include <mutex>
#include <random>

namespace mlspace::gateway {
namespace {

Error NotFound(const std::string& op, const std::string& name) {
  Error e;
  e.kind = ErrorKind::kNotFound;
  e.message = op + " " + name + ": job not found";
  return e;
}

}  // namespace

SimulatedGateway::SimulatedGateway(SimGatewayOptions opts, const Clock& clock)
    : opts_(std::move(opts)), clock_(clock), salt_(std::random_device{}()) {}

RemoteJob SimulatedGateway::View(const Job& job, TimePoint now) const {
  RemoteJob r;
  r.name = job.name;
  r.region = job.region;
  r.job_desc = job.job_desc;
  r.instance_type = job.instance_type;
  r.created = job.created;
  const TimePoint start = job.created + opts_.pending_duration;
  const TimePoint end = start + opts_.run_duration;
  // A stop freezes the clock of the job at the moment it was cancelled.
  const TimePoint at = job.stopped_at ? std::min(now, *job.stopped_at) : now;
  if (at >= end) {
    r.status = job.fails ? RemoteStatus::kFailed : RemoteStatus::kCompleted;
    r.started = start;
    r.completed = end;
  } else if (job.stopped_at && now >= *job.stopped_at) {
    r.status = RemoteStatus::kStopped;
    if (at >= start) r.started = start;
    r.completed = *job.stopped_at;
  } else if (at >= start) {
    r.status = RemoteStatus::kRunning;
    r.started = start;
  } else {
    r.status = RemoteStatus::kPending;
  }
  return r;
}

Outcome<std::string> SimulatedGateway::Submit(const SubmitRequest& req) {
  Job job;
  job.region = req.region.value_or(opts_.default_region);
  job.job_desc = req.job_desc.value_or("");
  job.instance_type = req.instance_type;
  job.created = clock_.Now();
  const auto it = req.env_variables.find("MLSPACE_SIM_RESULT");
  job.fails = it != req.env_variables.end() && it->second == "failed";
  job.req = std::make_shared<const SubmitRequest>(req);
  std::unique_lock<std::shared_mutex> lock(mu_);
  // splitmix64 of a counter: unique without a collision check.
  uint64_t z = salt_ + 0x9e3779b97f4a7c15ULL * ++counter_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "sj-0000000000000000";
  for (int i = 18; i >= 3; --i) {
    name[static_cast<size_t>(i)] = kHex[z & 0xf];
    z >>= 4;
  }
  job.name = name;
  index_.emplace(name, jobs_.size());
  jobs_.push_back(std::move(job));
  return name;
}

Outcome<RemoteJob> SimulatedGateway::Get(const std::string& job_name) {
  const TimePoint now = clock_.Now();
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto it = index_.find(job_name);
  if (it == index_.end()) return NotFound("get", job_name);
  return View(jobs_[it->second], now);
}

Outcome<std::vector<RemoteJob>> SimulatedGateway::List(const ListOptions& opts) {
  const TimePoint now = clock_.Now();
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<RemoteJob> out;
  out.reserve(jobs_.size());
  for (const Job& job : jobs_) {
    if (!opts.region.empty() && job.region != opts.region) continue;
    RemoteJob r = View(job, now);
    if (!opts.statuses.empty() &&
        std::find(opts.statuses.begin(), opts.statuses.end(), r.status) == opts.statuses.end()) {
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Outcome<CancelResult> SimulatedGateway::Cancel(const std::string& job_name,
                                               const std::string& region) {
  const TimePoint now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  const auto it = index_.find(job_name);
  if (it == index_.end()) return CancelResult::kNotFound;
  Job& job = jobs_[it->second];
  if (!region.empty() && job.region != region) return CancelResult::kNotFound;
  if (!job.stopped_at && !IsFinished(View(job, now).status)) job.stopped_at = now;
  return CancelResult::kDeleted;
}

Outcome<std::string> SimulatedGateway::Restart(const std::string& job_name) {
  std::shared_ptr<const SubmitRequest> req;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const auto it = index_.find(job_name);
    if (it == index_.end()) return NotFound("restart", job_name);
    req = jobs_[it->second].req;
  }
  return Submit(*req);
}

Outcome<std::string> SimulatedGateway::Logs(const std::string& job_name, const std::string& region,
                                            int tail) {
  auto job = Get(job_name);
  if (!job.ok()) return job.error();
  if (!region.empty() && job->region != region) return NotFound("logs", job_name);
  std::vector<std::string> lines{"[sim] " + job_name + " pending"};
  if (job->started) lines.push_back("[sim] " + job_name + " running");
  if (IsFinished(job->status)) {
    std::string s(RemoteStatusName(job->status));
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lines.push_back("[sim] " + job_name + " " + s);
  }
  size_t from = 0;
  if (tail > 0 && lines.size() > static_cast<size_t>(tail)) {
    from = lines.size() - static_cast<size_t>(tail);
  }
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

size_t SimulatedGateway::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return jobs_.size();
}

}  // namespace mlspace::gateway
