#include "controller/reconciler/list_lag.h"

#include <algorithm>

#include "controller/reconciler/observed_cache.h"

namespace mlspace::reconciler {

void ListLagTracker::RecordSubmit(const std::string& region, const std::string& name,
                                  TimePoint answered_at) {
  std::lock_guard lock(mu_);
  auto& pending = pending_[region];
  if (pending.size() >= options_.max_pending) return;  // measuring is best effort
  pending.emplace(name, Pending{answered_at, Duration::zero()});
}

void ListLagTracker::Observe(const RegionSnapshot& snapshot) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(snapshot.region);
  if (it == pending_.end()) return;
  for (auto p = it->second.begin(); p != it->second.end();) {
    Pending& job = p->second;
    if (snapshot.Find(p->first) != nullptr) {
      // Counted only once the job shows up: one deleted (or purged) before
      // any list saw it says nothing about the list's lag.
      Duration& worst = worst_[snapshot.region];
      worst = std::max(worst, job.missing_for);
      p = it->second.erase(p);
      continue;
    }
    // Only a list sent after the answer should have shown the job.
    Duration missing = snapshot.started_at - job.answered_at;
    if (missing > options_.forget_after) {
      p = it->second.erase(p);
      continue;
    }
    job.missing_for = std::max(job.missing_for, missing);
    ++p;
  }
}

Duration ListLagTracker::WorstLag(const std::string& region) const {
  std::lock_guard lock(mu_);
  auto it = worst_.find(region);
  return it == worst_.end() ? Duration::zero() : it->second;
}

Duration ListLagTracker::Grace(const std::string& region, Duration configured) const {
  Duration learned =
      std::chrono::duration_cast<Duration>(WorstLag(region) * options_.safety_factor);
  return std::max(configured, std::min(options_.max_grace, learned));
}

}  // namespace mlspace::reconciler
