#include "controller/apiserver/change_log.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "controller/apiserver/events.h"
#include "controller/apiserver/object_codec.h"

namespace mlspace::apiserver {

std::string_view ChangeTypeName(ChangeType t) {
  switch (t) {
    case ChangeType::kAdded:
      return "ADDED";
    case ChangeType::kModified:
      return "MODIFIED";
    case ChangeType::kDeleted:
      return "DELETED";
  }
  return "MODIFIED";
}

bool IsServed(const store::ObjectRecord& r) { return r.status.phase != api::Phase::kRemoved; }

void ObjectVersion::Encode() {
  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  text = dump(object);
  auto meta = object.find("metadata");
  metadata_text = meta == object.end() ? "{}" : dump(*meta);
}

VersionPtr MakeVersion(store::ObjectRecord r) {
  auto v = std::make_shared<ObjectVersion>();
  v->object = RecordToObject(r);
  v->Encode();
  v->record = std::move(r);
  return v;
}

ChangeLog::ChangeLog(size_t history) : history_(std::max<size_t>(history, 1)) {
  event_rv_ = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  event_oldest_ = event_rv_;
}

Status ChangeLog::Load(store::StateStore& store) {
  auto all = store.List();
  if (!all.ok()) return all.status().WithContext("API change log");
  std::lock_guard lock(mu_);
  current_.clear();
  changes_.clear();
  int64_t rv = rv_;
  for (const auto& r : *all) rv = std::max(rv, r.resource_version);
  for (auto& r : *all) {
    if (!IsServed(r)) continue;
    ObjectKey key = r.key;
    current_[key] = MakeVersion(std::move(r));
  }
  rv_ = rv;
  oldest_ = rv;
  cv_.notify_all();
  return OkStatus();
}

void ChangeLog::PublishLocked(ChangeType type, VersionPtr v) {
  changes_.push_back(Change{v->record.resource_version, type, std::move(v)});
  while (changes_.size() > history_) {
    oldest_ = changes_.front().resource_version;
    changes_.pop_front();
  }
}

void ChangeLog::Apply(const store::WriteBatch& batch) {
  // Objects are encoded before taking the lock; inside it only the rv is
  // stamped and pointers move, so readers and watchers never wait on JSON.
  struct Pending {
    ObjectKey key;
    std::shared_ptr<ObjectVersion> version;  // null: a plain delete
  };
  std::vector<Pending> pending;
  pending.reserve(batch.deletes.size() + batch.upserts.size());
  for (const auto& k : batch.deletes) pending.push_back({k, nullptr});
  for (const auto& r : batch.upserts) {
    auto v = std::make_shared<ObjectVersion>();
    v->record = r;
    v->object = RecordToObject(r);
    pending.push_back({r.key, std::move(v)});
  }
  auto stamp = [](ObjectVersion& v, int64_t rv) {
    v.record.resource_version = rv;
    v.object["metadata"]["resourceVersion"] = std::to_string(rv);
    v.Encode();
  };

  std::lock_guard lock(mu_);
  for (auto& p : pending) {
    auto it = current_.find(p.key);
    if (!p.version || !IsServed(p.version->record)) {
      if (it == current_.end()) continue;
      // DELETED carries the final state: the Removed record when there is
      // one (its conditions say why), else the last served version.
      std::shared_ptr<ObjectVersion> last =
          p.version ? p.version : std::make_shared<ObjectVersion>(*it->second);
      current_.erase(it);
      stamp(*last, ++rv_);
      PublishLocked(ChangeType::kDeleted, std::move(last));
      continue;
    }
    ChangeType type = it == current_.end() ? ChangeType::kAdded : ChangeType::kModified;
    stamp(*p.version, ++rv_);
    VersionPtr v = std::move(p.version);
    current_[p.key] = v;
    PublishLocked(type, std::move(v));
  }
  cv_.notify_all();
}

std::vector<VersionPtr> ChangeLog::List(int64_t* resource_version) const {
  std::lock_guard lock(mu_);
  std::vector<VersionPtr> out;
  out.reserve(current_.size());
  for (const auto& [key, v] : current_) out.push_back(v);
  if (resource_version) *resource_version = rv_;
  return out;
}

VersionPtr ChangeLog::Get(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto it = current_.find(key);
  return it == current_.end() ? nullptr : it->second;
}

int64_t ChangeLog::CurrentVersion() const {
  std::lock_guard lock(mu_);
  return rv_;
}

int64_t ChangeLog::OldestResumableVersion() const {
  std::lock_guard lock(mu_);
  return oldest_;
}

ChangeLog::WaitResult ChangeLog::WaitForChanges(int64_t after,
                                                std::chrono::steady_clock::time_point deadline,
                                                std::vector<Change>* out) const {
  std::unique_lock lock(mu_);
  if (after < oldest_) return WaitResult::kGone;
  if (!cv_.wait_until(lock, deadline,
                      [&] { return shutdown_ || rv_ > after || after < oldest_; })) {
    return WaitResult::kTimeout;
  }
  if (shutdown_) return WaitResult::kShutdown;
  if (after < oldest_) return WaitResult::kGone;
  // History is in rv order: binary search for the first change after `after`.
  auto first =
      std::upper_bound(changes_.begin(), changes_.end(), after,
                       [](int64_t rv, const Change& c) { return rv < c.resource_version; });
  out->insert(out->end(), first, changes_.end());
  return WaitResult::kChanges;
}

void ChangeLog::ApplyEvents(std::vector<std::pair<ChangeType, nlohmann::json>> events) {
  if (events.empty()) return;
  std::lock_guard lock(mu_);
  for (auto& [type, ev] : events) {
    int64_t rv = ++event_rv_;
    ev["metadata"]["resourceVersion"] = std::to_string(rv);
    event_changes_.push_back(
        EventChange{rv, type, std::make_shared<const nlohmann::json>(std::move(ev))});
    while (event_changes_.size() > history_) {
      event_oldest_ = event_changes_.front().resource_version;
      event_changes_.pop_front();
    }
  }
  cv_.notify_all();
}

int64_t ChangeLog::CurrentEventVersion() const {
  std::lock_guard lock(mu_);
  return event_rv_;
}

int64_t ChangeLog::OldestResumableEventVersion() const {
  std::lock_guard lock(mu_);
  return event_oldest_;
}

ChangeLog::WaitResult ChangeLog::WaitForEvents(int64_t after,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::vector<EventChange>* out) const {
  std::unique_lock lock(mu_);
  if (after < event_oldest_) return WaitResult::kGone;
  if (!cv_.wait_until(lock, deadline,
                      [&] { return shutdown_ || event_rv_ > after || after < event_oldest_; })) {
    return WaitResult::kTimeout;
  }
  if (shutdown_) return WaitResult::kShutdown;
  if (after < event_oldest_) return WaitResult::kGone;
  auto first =
      std::upper_bound(event_changes_.begin(), event_changes_.end(), after,
                       [](int64_t rv, const EventChange& c) { return rv < c.resource_version; });
  out->insert(out->end(), first, event_changes_.end());
  return WaitResult::kChanges;
}

void ChangeLog::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

Status ObservingStore::Write(const store::WriteBatch& batch) {
  std::lock_guard lock(write_mu_);
  Status s = inner_.Write(batch);
  if (s.ok()) {
    log_.Apply(batch);
    PublishEvents(batch);
  }
  return s;
}

void ObservingStore::PublishEvents(const store::WriteBatch& batch) {
  if (batch.events.empty()) return;
  // The batch's events carry neither id nor count (the store assigns them
  // when it aggregates): read each object's newest rows back and match them
  // by the aggregation key. Under write_mu_, so no other write interleaves.
  using AggKey = std::tuple<std::string, std::string, std::string>;  // type, reason, message
  std::map<ObjectKey, std::map<AggKey, int64_t>> written;            // how often in this batch
  for (const auto& e : batch.events) ++written[e.key][AggKey{e.type, e.reason, e.message}];
  std::vector<std::pair<ChangeType, nlohmann::json>> out;
  for (const auto& [key, keys] : written) {
    auto stored = inner_.Events(key, keys.size() + 64);
    if (!stored.ok()) continue;  // watchers miss it; lists still show it
    auto rec = inner_.Get(key);
    std::string uid = rec.ok() && rec->has_value() ? ObjectUid(**rec) : "";
    std::set<AggKey> seen;
    for (const auto& e : *stored) {
      AggKey k{e.type, e.reason, e.message};
      auto it = keys.find(k);
      if (it == keys.end() || !seen.insert(k).second) continue;
      // A row whose whole count came from this batch is new.
      ChangeType type = e.count <= it->second ? ChangeType::kAdded : ChangeType::kModified;
      out.emplace_back(type, EventToJson(e, uid));
    }
  }
  log_.ApplyEvents(std::move(out));
}

}  // namespace mlspace::apiserver
