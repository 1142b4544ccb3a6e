#include "controller/apiserver/change_log.h"

#include <algorithm>

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

namespace {

VersionPtr MakeVersion(store::ObjectRecord r) {
  auto v = std::make_shared<ObjectVersion>();
  v->object = RecordToObject(r);
  v->Encode();
  v->record = std::move(r);
  return v;
}

}  // namespace

ChangeLog::ChangeLog(size_t history) : history_(std::max<size_t>(history, 1)) {}

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

void ChangeLog::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

Status ObservingStore::Write(const store::WriteBatch& batch) {
  std::lock_guard lock(write_mu_);
  Status s = inner_.Write(batch);
  if (s.ok()) log_.Apply(batch);
  return s;
}

}  // namespace mlspace::apiserver
