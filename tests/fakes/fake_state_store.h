#pragma once

// An in-memory StateStore for unit tests. It follows the contract of
// controller/store/state_store.h exactly as the SQLite store does (batch
// order, resource_version, event ids and trimming, intent ordering, refusal
// of secret values) and adds what tests need: every call is recorded, and
// writes or reads can be made to fail on demand.
//
// Thread-safe: every method takes one mutex. The write hook runs outside it,
// so a hook may call back into the store.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/status.h"
#include "controller/store/batch_check.h"
#include "controller/store/state_store.h"

namespace mlspace::testing {

class FakeStateStore final : public store::StateStore {
 public:
  explicit FakeStateStore(size_t max_events_per_object = store::kDefaultMaxEventsPerObject)
      : max_events_(max_events_per_object) {}

  // ---- StateStore ---------------------------------------------------------

  Result<std::optional<store::ObjectRecord>> Get(const ObjectKey& key) override {
    std::lock_guard lock(mu_);
    ++calls_.get;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    auto it = records_.find(key);
    if (it == records_.end()) return std::optional<store::ObjectRecord>();
    return std::optional<store::ObjectRecord>(it->second);
  }

  Result<std::vector<store::ObjectRecord>> List() override {
    std::lock_guard lock(mu_);
    ++calls_.list;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    std::vector<store::ObjectRecord> out;
    out.reserve(records_.size());
    for (const auto& [key, rec] : records_) out.push_back(rec);
    return out;
  }

  Status Write(const store::WriteBatch& batch) override {
    std::function<Status(const store::WriteBatch&)> hook;
    {
      std::lock_guard lock(mu_);
      ++calls_.write;
      attempted_writes_.push_back(batch);
      hook = write_hook_;
    }
    if (hook) {
      Status s = hook(batch);
      if (!s.ok()) {
        std::lock_guard lock(mu_);
        ++calls_.failed_write;
        return s;
      }
    }
    std::lock_guard lock(mu_);
    if (fail_next_write_) {
      Status s = std::move(*fail_next_write_);
      fail_next_write_.reset();
      ++calls_.failed_write;
      return s;
    }
    if (writes_before_failure_) {
      if (*writes_before_failure_ == 0) {
        ++calls_.failed_write;
        return fail_writes_status_;
      }
      --*writes_before_failure_;
    }
    if (Status s = store::ValidateBatch(batch); !s.ok()) {
      ++calls_.failed_write;
      return s;
    }
    ApplyLocked(batch);
    committed_writes_.push_back(batch);
    return OkStatus();
  }

  Result<std::vector<store::SubmitIntent>> OpenIntents() override {
    std::lock_guard lock(mu_);
    ++calls_.open_intents;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    std::vector<const Stored*> open;
    for (const auto& [marker, st] : intents_) {
      if (st.intent.state == store::IntentState::kOpen) open.push_back(&st);
    }
    std::sort(open.begin(), open.end(), [](const Stored* a, const Stored* b) {
      if (a->intent.created_at != b->intent.created_at) {
        return a->intent.created_at < b->intent.created_at;
      }
      return a->seq < b->seq;
    });
    std::vector<store::SubmitIntent> out;
    for (const Stored* st : open) out.push_back(st->intent);
    return out;
  }

  Result<std::vector<store::SubmitIntent>> Intents(const ObjectKey& key) override {
    std::lock_guard lock(mu_);
    ++calls_.intents;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    std::vector<const Stored*> mine;
    for (const auto& [marker, st] : intents_) {
      if (st.intent.key == key) mine.push_back(&st);
    }
    std::sort(mine.begin(), mine.end(), [](const Stored* a, const Stored* b) {
      if (a->intent.created_at != b->intent.created_at) {
        return a->intent.created_at > b->intent.created_at;
      }
      return a->seq > b->seq;
    });
    std::vector<store::SubmitIntent> out;
    for (const Stored* st : mine) out.push_back(st->intent);
    return out;
  }

  Result<std::vector<store::Event>> Events(const ObjectKey& key, size_t limit) override {
    std::lock_guard lock(mu_);
    ++calls_.events;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    std::vector<store::Event> out;
    auto it = events_.find(key);
    if (it == events_.end()) return out;
    const auto& all = it->second;
    size_t start = all.size() > limit ? all.size() - limit : 0;
    out.assign(all.begin() + static_cast<std::ptrdiff_t>(start), all.end());
    return out;
  }

  Result<store::StoreIdentity> Identity() override {
    std::lock_guard lock(mu_);
    ++calls_.identity;
    MLSPACE_RETURN_IF_ERROR(TakeReadFailureLocked());
    return identity_;
  }

  // Same contract as the SQLite store; a pending write failure (FailNextWrite,
  // FailWritesAfter) fails it too.
  Status RecordInstance(const std::string& instance) override {
    std::lock_guard lock(mu_);
    ++calls_.record_instance;
    if (instance.empty()) return InvalidArgumentError("fake state store: empty instance name");
    if (fail_next_write_) {
      Status s = std::move(*fail_next_write_);
      fail_next_write_.reset();
      return s;
    }
    if (writes_before_failure_ && *writes_before_failure_ == 0) return fail_writes_status_;
    if (identity_.instance.empty()) identity_.instance = instance;
    if (identity_.instance != instance) {
      return FailedPreconditionError("fake state store belongs to instance \"" +
                                     identity_.instance + "\", not \"" + instance + "\"");
    }
    return OkStatus();
  }

  // Makes the store look upgraded from before instance-qualified markers.
  void SetLegacyMarkers(bool legacy) {
    std::lock_guard lock(mu_);
    identity_.legacy_markers = legacy;
  }

  // ---- Failure injection --------------------------------------------------

  // The next Write returns `status` and changes nothing.
  void FailNextWrite(Status status) {
    std::lock_guard lock(mu_);
    fail_next_write_ = std::move(status);
  }

  // The next `n` Writes behave normally; every Write after them returns
  // `status` and changes nothing, until ClearFailures().
  void FailWritesAfter(
      int n, Status status = UnavailableError("fake state store: injected write failure")) {
    std::lock_guard lock(mu_);
    writes_before_failure_ = n < 0 ? 0 : n;
    fail_writes_status_ = std::move(status);
  }

  // The next read (Get, List, OpenIntents, Intents or Events) returns `status`.
  void FailNextRead(Status status) {
    std::lock_guard lock(mu_);
    fail_next_read_ = std::move(status);
  }

  // Every read returns `status` until ClearFailures().
  void FailAllReads(Status status) {
    std::lock_guard lock(mu_);
    fail_all_reads_ = std::move(status);
  }

  // Runs before each Write is applied (outside the store's lock); a non-OK
  // result fails that Write with it and changes nothing. Lets a test stop a
  // reconciler at an exact write (e.g. "crash after the intent commit").
  void SetWriteHook(std::function<Status(const store::WriteBatch&)> hook) {
    std::lock_guard lock(mu_);
    write_hook_ = std::move(hook);
  }

  void ClearFailures() {
    std::lock_guard lock(mu_);
    fail_next_write_.reset();
    writes_before_failure_.reset();
    fail_next_read_.reset();
    fail_all_reads_.reset();
    write_hook_ = nullptr;
  }

  // ---- Recorded calls and contents ---------------------------------------

  struct CallCounts {
    int get = 0;
    int list = 0;
    int write = 0;         // every Write call, failed or not
    int failed_write = 0;  // Writes that returned an error
    int open_intents = 0;
    int intents = 0;
    int events = 0;
    int identity = 0;
    int record_instance = 0;
  };
  CallCounts calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  // Every batch passed to Write, in call order, failed ones included.
  std::vector<store::WriteBatch> attempted_writes() const {
    std::lock_guard lock(mu_);
    return attempted_writes_;
  }
  // The batches that were applied, in order.
  std::vector<store::WriteBatch> committed_writes() const {
    std::lock_guard lock(mu_);
    return committed_writes_;
  }

  // Every stored intent, whatever its state, by marker.
  std::map<std::string, store::SubmitIntent> AllIntents() const {
    std::lock_guard lock(mu_);
    std::map<std::string, store::SubmitIntent> out;
    for (const auto& [marker, st] : intents_) out.emplace(marker, st.intent);
    return out;
  }

  // The last resource_version handed out (0 before the first upsert).
  int64_t resource_version() const {
    std::lock_guard lock(mu_);
    return resource_version_;
  }

  size_t record_count() const {
    std::lock_guard lock(mu_);
    return records_.size();
  }

 private:
  struct Stored {
    store::SubmitIntent intent;
    uint64_t seq = 0;  // first insertion order, the tie-break of equal times
  };

  store::StoreIdentity identity_;

  Status TakeReadFailureLocked() {
    if (fail_all_reads_) return *fail_all_reads_;
    if (fail_next_read_) {
      Status s = std::move(*fail_next_read_);
      fail_next_read_.reset();
      return s;
    }
    return OkStatus();
  }

  // Same order as the SQLite store: deletes, upserts, intents, events.
  void ApplyLocked(const store::WriteBatch& batch) {
    for (const ObjectKey& key : batch.deletes) {
      records_.erase(key);
      events_.erase(key);
      std::erase_if(intents_, [&](const auto& kv) { return kv.second.intent.key == key; });
    }
    for (const store::ObjectRecord& rec : batch.upserts) {
      store::ObjectRecord copy = rec;
      copy.resource_version = ++resource_version_;
      records_[copy.key] = std::move(copy);
    }
    for (const store::SubmitIntent& intent : batch.intents) {
      auto it = intents_.find(intent.marker);
      if (it == intents_.end()) {
        intents_.emplace(intent.marker, Stored{intent, ++intent_seq_});
      } else {
        it->second.intent = intent;
      }
    }
    for (const store::Event& e : batch.events) {
      auto& list = events_[e.key];
      // Aggregated like the SQLite store: one entry per (type, reason,
      // message), kept ordered by last time, then id.
      auto same = std::find_if(list.begin(), list.end(), [&](const store::Event& x) {
        return x.type == e.type && x.reason == e.reason && x.message == e.message;
      });
      store::Event copy;
      if (same != list.end()) {
        copy = *same;
        list.erase(same);
        copy.count += 1;
        copy.time = std::max(copy.time, e.time);
        copy.first_time = std::min(copy.first_time, e.time);
      } else {
        copy = e;
        copy.id = ++event_id_;
        copy.count = 1;
        copy.first_time = e.time;
      }
      auto pos = std::upper_bound(list.begin(), list.end(), copy,
                                  [](const store::Event& a, const store::Event& b) {
                                    return a.time != b.time ? a.time < b.time : a.id < b.id;
                                  });
      list.insert(pos, std::move(copy));
      if (list.size() > max_events_) {
        list.erase(list.begin(),
                   list.begin() + static_cast<std::ptrdiff_t>(list.size() - max_events_));
      }
    }
  }

  const size_t max_events_;
  mutable std::mutex mu_;
  std::map<ObjectKey, store::ObjectRecord> records_;
  std::map<std::string, Stored> intents_;
  std::map<ObjectKey, std::vector<store::Event>> events_;
  int64_t resource_version_ = 0;
  int64_t event_id_ = 0;
  uint64_t intent_seq_ = 0;

  CallCounts calls_;
  std::vector<store::WriteBatch> attempted_writes_;
  std::vector<store::WriteBatch> committed_writes_;
  std::optional<Status> fail_next_write_;
  std::optional<int> writes_before_failure_;
  Status fail_writes_status_;
  std::optional<Status> fail_next_read_;
  std::optional<Status> fail_all_reads_;
  std::function<Status(const store::WriteBatch&)> write_hook_;
};

}  // namespace mlspace::testing
