#pragma once

// Which regions the RegionPoller must list: the desired jobs' regions, the
// regions of objects with a run in flight, and the regions of the submit
// intents that were open at start-up. The JobReconciler reports each
// object's run after every step (SetActive) and the open intents once at
// start (AddIntentRegion); the poller asks RegionsInUse before each poll.
// Owned by the ObservedCache, so the poller side keeps it and
// JobReconciler::Reconcile only reconciles.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "controller/core/object_key.h"
#include "controller/reconciler/desired_state.h"

namespace mlspace::reconciler {

// Thread-safe: SetActive is called from worker threads (one call at a time
// per key), RegionsInUse from the poll thread.
class RegionTracker {
 public:
  // `key` has a run in flight in `region`; an empty `region` means it has
  // none (finished, removed, dropped), and forgets the key.
  void SetActive(const ObjectKey& key, const std::string& region);

  // A submit intent open at start-up names `region`: it stays listed for
  // the life of the process (an ambiguous submit is resolved by a list).
  void AddIntentRegion(const std::string& region);

  // The desired jobs' regions of `desired` (may be null), plus the regions
  // of runs in flight and of primed intents. The desired part is computed
  // once per DesiredState (10,000 objects, a handful of regions) and reused
  // while the same state is passed.
  std::set<std::string> RegionsInUse(const std::shared_ptr<const DesiredState>& desired);

  // How a desired job's location is found (ReconcilerOptions::locate);
  // empty = spec.region. Set before the first RegionsInUse.
  void SetLocator(std::function<std::string(const api::JobSpec&)> locate) {
    std::lock_guard lock(mu_);
    locate_ = std::move(locate);
    desired_regions_of_.reset();
  }

 private:
  std::mutex mu_;
  std::map<ObjectKey, std::string> active_regions_;  // objects with a run in flight
  std::map<std::string, int> active_region_counts_;  // region → entries of active_regions_
  std::set<std::string> primed_intent_regions_;
  std::weak_ptr<const DesiredState> desired_regions_of_;
  std::set<std::string> desired_regions_;
  std::function<std::string(const api::JobSpec&)> locate_;
};

}  // namespace mlspace::reconciler
