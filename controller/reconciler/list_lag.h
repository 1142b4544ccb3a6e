#pragma once

// How long the gateway's list takes to show a job this controller created,
// learned from its own submits. The ambiguous-submit rule (docs/reconcile.md)
// re-sends a marker that stayed absent from lists for --ambiguous-submit-grace
// after the POST; when the list lags longer than that and the submit answer
// was lost, the re-send creates a duplicate. The tracker measures the lag
// and keeps the grace above a safe multiple of the worst lag seen.

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "controller/core/clock.h"

namespace mlspace::reconciler {

struct RegionSnapshot;

class ListLagTracker {
 public:
  struct Options {
    // The grace is kept at least this many times the worst lag seen.
    double safety_factor = 3.0;
    // Upper bound of the learned grace: a job whose create was truly lost
    // is re-sent at the latest after this (plus the absent-list count).
    Duration max_grace = std::chrono::minutes(30);
    // Submits not seen in any list this long after the answer are dropped
    // (created and deleted between two lists, or never created).
    Duration forget_after = std::chrono::hours(1);
    // Bound on the submits waiting to be seen, per region.
    size_t max_pending = 100000;
  };

  ListLagTracker() : ListLagTracker(Options()) {}
  explicit ListLagTracker(Options options) : options_(options) {}

  // A POST /jobs in `region` answered `name` at `answered_at`. Thread-safe.
  void RecordSubmit(const std::string& region, const std::string& name, TimePoint answered_at);

  // Looks for the submitted jobs in a successful list. A job's lag is the
  // longest time from its POST answer to the start of a list that still did
  // not show it; it counts toward WorstLag when a list finally shows the
  // job (one never seen is forgotten after forget_after). Thread-safe.
  void Observe(const RegionSnapshot& snapshot);

  // The worst lag of any of this controller's jobs in `region` (zero until
  // a list missed one that later appeared).
  Duration WorstLag(const std::string& region) const;

  // max(configured, min(max_grace, safety_factor × WorstLag(region))).
  Duration Grace(const std::string& region, Duration configured) const;

 private:
  const Options options_;
  mutable std::mutex mu_;
  struct Pending {
    TimePoint answered_at;
    Duration missing_for;  // longest answer → start of a list without it
  };
  // region → job name → its submit, until a list shows it.
  std::map<std::string, std::unordered_map<std::string, Pending>> pending_;
  std::map<std::string, Duration> worst_;
};

}  // namespace mlspace::reconciler
