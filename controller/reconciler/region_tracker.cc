#include "controller/reconciler/region_tracker.h"

namespace mlspace::reconciler {

void RegionTracker::SetActive(const ObjectKey& key, const std::string& region) {
  std::lock_guard lock(mu_);
  auto it = active_regions_.find(key);
  if (it != active_regions_.end()) {
    if (!region.empty() && it->second == region) return;
    if (--active_region_counts_[it->second] == 0) active_region_counts_.erase(it->second);
    active_regions_.erase(it);
  }
  if (!region.empty()) {
    active_regions_.emplace(key, region);
    ++active_region_counts_[region];
  }
}

void RegionTracker::AddIntentRegion(const std::string& region) {
  std::lock_guard lock(mu_);
  primed_intent_regions_.insert(region);
}

std::set<std::string> RegionTracker::RegionsInUse(
    const std::shared_ptr<const DesiredState>& desired) {
  std::lock_guard lock(mu_);
  if (desired != desired_regions_of_.lock()) {
    desired_regions_.clear();
    if (desired) {
      for (const auto& [k, v] : desired->objects) {
        if (!v->job || v->job->spec.region.empty()) continue;
        desired_regions_.insert(locate_ ? locate_(v->job->spec) : v->job->spec.region);
      }
    }
    desired_regions_of_ = desired;
  }
  std::set<std::string> out = desired_regions_;
  for (const auto& [r, n] : active_region_counts_) out.insert(r);
  out.insert(primed_intent_regions_.begin(), primed_intent_regions_.end());
  return out;
}

}  // namespace mlspace::reconciler
