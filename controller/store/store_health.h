#pragma once

// A StateStore decorator that makes store failures visible (issue 11): a
// full disk used to fail hundreds of writes while both probes said ok.
//  - every failed call is counted by operation (the observer feeds
//    mlspace_state_store_errors_total{op});
//  - a failed write (Write, RecordInstance) turns Check() — the /readyz
//    "store" check — failed, naming the error, until a write succeeds again;
//  - one WARN line per failure episode (its first failed write) and one
//    INFO line when writes succeed again, not one line per write.
// A batch the store refuses as malformed (kInvalidArgument: an empty key, a
// secret value in a message) is the caller's bug, not the store's health: it
// is counted but does not turn readiness red.
//
// Header-only: the store seam folder is an interface library.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "controller/core/log.h"
#include "controller/core/status.h"
#include "controller/store/state_store.h"

namespace mlspace::store {

// Thread-safe as the target is; `on_error` is called from the calling
// thread, outside the decorator's lock, and must be thread-safe.
class HealthTrackingStore final : public StateStoreWrapper {
 public:
  using ErrorObserver = std::function<void(std::string_view op)>;

  explicit HealthTrackingStore(StateStore& target, ErrorObserver on_error = {})
      : StateStoreWrapper(target), on_error_(std::move(on_error)) {}

  Result<std::optional<ObjectRecord>> Get(const ObjectKey& key) override {
    return Read("get", target().Get(key));
  }
  Result<std::vector<ObjectRecord>> List() override { return Read("list", target().List()); }
  Result<std::vector<SubmitIntent>> OpenIntents() override {
    return Read("intents", target().OpenIntents());
  }
  Result<std::vector<SubmitIntent>> Intents(const ObjectKey& key) override {
    return Read("intents", target().Intents(key));
  }
  Result<std::vector<Event>> Events(const ObjectKey& key, size_t limit) override {
    return Read("events", target().Events(key, limit));
  }
  Result<StoreIdentity> Identity() override { return Read("identity", target().Identity()); }

  Status Write(const WriteBatch& batch) override { return Wrote("write", target().Write(batch)); }
  Status RecordInstance(const std::string& instance) override {
    return Wrote("record_instance", target().RecordInstance(instance));
  }

  // OK unless the last write failed: then kUnavailable naming its error and
  // how many writes failed since the last success.
  Status Check() const {
    std::lock_guard lock(mu_);
    if (failed_writes_ == 0) return OkStatus();
    return UnavailableError("state store writes failing (" + std::to_string(failed_writes_) +
                            " since the last success): " + last_error_);
  }

  // Adapter for metrics::Probes::AddReadyCheck; the store must outlive it.
  std::function<Status()> AsCheck() const {
    return [this] { return Check(); };
  }

 private:
  template <typename T>
  Result<T> Read(std::string_view op, Result<T> r) {
    if (!r.ok()) Failed(op);
    return r;
  }

  Status Wrote(std::string_view op, Status s) {
    if (s.ok()) {
      int64_t failed = 0;
      {
        std::lock_guard lock(mu_);
        failed = failed_writes_;
        failed_writes_ = 0;
        last_error_.clear();
      }
      if (failed > 0) {
        LogInfo("state store writes succeed again", {{"failedWrites", std::to_string(failed)}});
      }
      return s;
    }
    Failed(op);
    if (s.code() == StatusCode::kInvalidArgument) return s;
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = failed_writes_ == 0;
      ++failed_writes_;
      last_error_ = s.message();
    }
    if (first) {
      LogWarn("state store write failed; /readyz reports not ready until a write succeeds",
              {{"op", std::string(op)}, {"error", s.message()}});
    }
    return s;
  }

  void Failed(std::string_view op) {
    if (on_error_) on_error_(op);
  }

  const ErrorObserver on_error_;
  mutable std::mutex mu_;
  int64_t failed_writes_ = 0;
  std::string last_error_;
};

}  // namespace mlspace::store
