#include "controller/reconciler/observed_cache.h"

#include <algorithm>

#include "controller/core/log.h"
#include "controller/reconciler/marker.h"

namespace mlspace::reconciler {

std::vector<const gateway::RemoteJob*> RegionSnapshot::WithMarker(const std::string& marker) const {
  std::vector<const gateway::RemoteJob*> out;
  auto it = by_marker.find(marker);
  if (it == by_marker.end()) return out;
  for (const auto& name : it->second) {
    if (const auto* j = Find(name)) out.push_back(j);
  }
  std::sort(out.begin(), out.end(), [](const gateway::RemoteJob* a, const gateway::RemoteJob* b) {
    TimePoint ta = a->created.value_or(TimePoint::max());
    TimePoint tb = b->created.value_or(TimePoint::max());
    if (ta != tb) return ta < tb;
    return a->name < b->name;
  });
  return out;
}

std::shared_ptr<const RegionSnapshot> ObservedCache::Region(const std::string& region) const {
  std::lock_guard lock(mu_);
  auto it = regions_.find(region);
  return it == regions_.end() ? nullptr : it->second;
}

void ObservedCache::SetOwner(std::string instance, bool legacy_markers) {
  std::lock_guard lock(mu_);
  owner_ = Owner{true, std::move(instance), legacy_markers};
}

std::vector<ObjectKey> ObservedCache::Update(const std::string& region,
                                             std::vector<gateway::RemoteJob> jobs,
                                             TimePoint started_at, TimePoint finished_at) {
  Owner owner;
  {
    std::lock_guard lock(mu_);
    owner = owner_;
  }
  // The marker of a job if it is one this controller looks at.
  struct Found {
    std::string marker;
    ParsedMarker parsed;
  };
  auto marker_of = [&owner](const gateway::RemoteJob& job) -> std::optional<Found> {
    auto m = FindMarker(job.job_desc);
    if (!m) return std::nullopt;
    auto p = ParseMarker(*m);
    if (!p) return std::nullopt;
    if (owner.set && (p->legacy() ? !owner.legacy_markers : p->instance != owner.instance)) {
      return std::nullopt;
    }
    return Found{std::move(*m), std::move(*p)};
  };
  auto add_key_of = [&marker_of](const gateway::RemoteJob& job, std::set<ObjectKey>& out) {
    if (auto f = marker_of(job)) out.insert(f->parsed.key);
  };
  auto snap = std::make_shared<RegionSnapshot>();
  snap->region = region;
  snap->started_at = started_at;
  snap->finished_at = finished_at;
  snap->jobs.reserve(jobs.size());
  snap->by_marker.reserve(jobs.size());
  for (auto& j : jobs) {
    if (auto f = marker_of(j)) snap->by_marker[std::move(f->marker)].push_back(j.name);
    std::string name = j.name;
    snap->jobs.emplace(std::move(name), std::move(j));
  }
  std::set<ObjectKey> affected;
  std::lock_guard lock(mu_);
  auto it = regions_.find(region);
  std::shared_ptr<const RegionSnapshot> prev = it == regions_.end() ? nullptr : it->second;
  snap->generation = prev ? prev->generation + 1 : 1;
  for (const auto& [name, job] : snap->jobs) {
    const gateway::RemoteJob* old = prev ? prev->Find(name) : nullptr;
    if (!old || old->status != job.status || old->pending_reason != job.pending_reason) {
      add_key_of(job, affected);
    }
  }
  if (prev) {
    for (const auto& [name, job] : prev->jobs) {
      if (!snap->Find(name)) add_key_of(job, affected);
    }
  }
  auto w = watchers_.find(region);
  if (w != watchers_.end()) {
    affected.insert(w->second.begin(), w->second.end());
    watchers_.erase(w);
  }
  lag_.Observe(*snap);
  regions_[region] = std::move(snap);
  failures_[region] = 0;
  return {affected.begin(), affected.end()};
}

int ObservedCache::RecordFailure(const std::string& region) {
  std::lock_guard lock(mu_);
  return ++failures_[region];
}

void ObservedCache::WatchNextList(const std::string& region, const ObjectKey& key) {
  std::lock_guard lock(mu_);
  watchers_[region].insert(key);
}

std::set<std::string> ObservedCache::Regions() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [r, s] : regions_) out.insert(r);
  return out;
}

RegionPoller::RegionPoller(gateway::JobGateway& gateway, ObservedCache& cache, const Clock& clock,
                           std::function<std::set<std::string>()> regions_in_use,
                           std::function<void(const ObjectKey&)> enqueue, PollObserver* observer)
    : gateway_(gateway),
      cache_(cache),
      clock_(clock),
      regions_in_use_(std::move(regions_in_use)),
      enqueue_(std::move(enqueue)),
      observer_(observer) {}

int RegionPoller::PollOnce() {
  int failed = 0;
  for (const std::string& region : regions_in_use_()) {
    if (region.empty()) continue;
    gateway::ListOptions opts;
    opts.region = region;
    TimePoint started = clock_.Now();
    auto out = gateway_.List(opts);
    TimePoint finished = clock_.Now();
    if (!out.ok()) {
      ++failed;
      int n = cache_.RecordFailure(region);
      std::vector<LogField> fields{{"region", region},
                                   {"error", out.error().message},
                                   {"consecutiveFailures", std::to_string(n)}};
      // 401/403 is the backend-wide state its GatewayHealth warns about once
      // per change; a WARN per poll would repeat it every interval.
      // Likewise a list refused locally during a Retry-After pause
      // (http_status 0): GatewayHealth logged the pause once.
      if (out.Is(gateway::ErrorKind::kUnauthorized) ||
          (out.Is(gateway::ErrorKind::kThrottled) && out.error().http_status == 0)) {
        LogDebug("list failed", fields);
      } else {
        LogWarn("list failed", fields);
      }
      if (observer_) observer_->OnList(region, false, finished - started, 0);
      continue;
    }
    size_t count = out.value().size();
    auto keys = cache_.Update(region, std::move(out).value(), started, finished);
    if (observer_) {
      observer_->OnList(region, true, finished - started, count);
      observer_->OnListVisibilityLag(region, cache_.lag().WorstLag(region));
    }
    for (const auto& k : keys) enqueue_(k);
  }
  return failed;
}

}  // namespace mlspace::reconciler
