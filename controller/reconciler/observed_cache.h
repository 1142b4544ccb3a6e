#pragma once

// What the gateway last said about each region, from one list per region per
// poll. Reconcilers read it instead of calling the gateway per object; the
// RegionPoller fills it and enqueues the objects whose remote jobs changed.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/object_key.h"
#include "controller/gateway/job_gateway.h"
#include "controller/reconciler/list_lag.h"
#include "controller/reconciler/region_tracker.h"

namespace mlspace::reconciler {

// One successful list of one region. Immutable once published.
struct RegionSnapshot {
  std::string region;
  uint64_t generation = 0;  // 1 for the first successful list, +1 per list
  TimePoint started_at{};   // when the list request was sent: jobs created
                            // before this instant are expected in it
  TimePoint finished_at{};
  // Hashed, not ordered: a poll builds both for every job of the region
  // (5,000 names and markers sharing long prefixes), and nobody iterates
  // them in order.
  std::unordered_map<std::string, gateway::RemoteJob> jobs;             // by name
  std::unordered_map<std::string, std::vector<std::string>> by_marker;  // marker → names

  const gateway::RemoteJob* Find(const std::string& name) const {
    auto it = jobs.find(name);
    return it == jobs.end() ? nullptr : &it->second;
  }
  // Jobs carrying `marker`, oldest first (created, then name).
  std::vector<const gateway::RemoteJob*> WithMarker(const std::string& marker) const;
};

// Thread-safe.
class ObservedCache {
 public:
  // The newest successful list of `region`, or null if none yet.
  std::shared_ptr<const RegionSnapshot> Region(const std::string& region) const;

  // Publishes a successful list and returns the objects (by marker) whose
  // remote jobs appeared, changed status or disappeared, plus every key that
  // asked to be woken by this region's next list (WatchNextList).
  std::vector<ObjectKey> Update(const std::string& region, std::vector<gateway::RemoteJob> jobs,
                                TimePoint started_at, TimePoint finished_at);

  // Records a failed list (the previous snapshot stays). Returns the number
  // of consecutive failures of this region.
  int RecordFailure(const std::string& region);

  // Asks for `key` to be enqueued after the next successful list of
  // `region` (an ambiguous submit or a job missing from a list waits for it).
  void WatchNextList(const std::string& region, const ObjectKey& key);

  // Regions listed at least once.
  std::set<std::string> Regions() const;

  // Which markers this controller looks at: those naming `instance`, and
  // legacy ones (no instance) when `legacy_markers` (its store predates
  // instance-qualified markers). Jobs with any other marker are kept by name
  // only: never indexed by marker, never waking a key, so they cannot be
  // adopted or taken for duplicates. Until this is called (unit tests of the
  // cache alone) every marker is indexed. Affects later Updates.
  void SetOwner(std::string instance, bool legacy_markers);

  // The list visibility lag learned from this controller's own submits;
  // every Update feeds it the new snapshot.
  ListLagTracker& lag() { return lag_; }
  const ListLagTracker& lag() const { return lag_; }

  // The regions to list (the reconciler feeds it, the poller reads it).
  RegionTracker& regions_in_use() { return regions_in_use_; }

 private:
  ListLagTracker lag_;
  RegionTracker regions_in_use_;
  struct Owner {
    bool set = false;
    std::string instance;
    bool legacy_markers = false;
  };
  mutable std::mutex mu_;
  Owner owner_;
  std::map<std::string, std::shared_ptr<const RegionSnapshot>> regions_;
  std::map<std::string, std::set<ObjectKey>> watchers_;
  std::map<std::string, int> failures_;
};

// Events for metrics and logs (e.g. list latency, failures).
class PollObserver {
 public:
  virtual ~PollObserver() = default;
  virtual void OnList(const std::string& /*region*/, bool /*ok*/, Duration /*took*/,
                      size_t /*jobs*/) {}
  // After each successful list: the worst list visibility lag of the region
  // seen so far (ListLagTracker::WorstLag).
  virtual void OnListVisibilityLag(const std::string& /*region*/, Duration /*worst*/) {}
};

// One poll: one List per region in use, results published to the cache, and
// the affected keys enqueued. The caller runs PollOnce on a jittered
// interval (Controller) — never per object.
class RegionPoller {
 public:
  RegionPoller(gateway::JobGateway& gateway, ObservedCache& cache, const Clock& clock,
               std::function<std::set<std::string>()> regions_in_use,
               std::function<void(const ObjectKey&)> enqueue, PollObserver* observer = nullptr);

  // Lists every region in use once. Returns the number of regions whose list
  // failed (they are retried at the next poll).
  int PollOnce();

 private:
  gateway::JobGateway& gateway_;
  ObservedCache& cache_;
  const Clock& clock_;
  std::function<std::set<std::string>()> regions_in_use_;
  std::function<void(const ObjectKey&)> enqueue_;
  PollObserver* observer_;
};

}  // namespace mlspace::reconciler
