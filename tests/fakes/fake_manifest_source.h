#pragma once

// An in-memory ManifestSource for reconciler and controller tests: tests set
// the snapshot (and the blobs it lists), make Read/ReadBlob/Refresh fail on
// demand, signal changes, and inspect which calls were made.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/result.h"
#include "controller/core/status.h"
#include "controller/source/manifest_source.h"

namespace mlspace::testing {

class FakeManifestSource final : public source::ManifestSource {
 public:
  // A content-derived id (FNV-1a, 16 hex digits) so equal bytes get equal
  // ids, like git blob ids. Deterministic across runs.
  static std::string BlobIdFor(const std::string& content) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : content) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }

  // Replaces the current revision with `files` (path → content); blob ids are
  // derived from content and the blobs become readable. Signals a change.
  void SetFiles(std::string revision, const std::map<std::string, std::string>& files) {
    source::Snapshot snap;
    snap.revision = std::move(revision);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [path, content] : files) {
        std::string id = BlobIdFor(content);
        blobs_[id] = content;
        snap.files.push_back({path, id});
      }
    }
    SetSnapshot(std::move(snap));
  }

  // Replaces the current snapshot as given (sorted by path here, as the seam
  // promises). Blobs must be added with PutBlob. Signals a change.
  void SetSnapshot(source::Snapshot snap) {
    std::sort(snap.files.begin(), snap.files.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_ = std::move(snap);
      changed_ = true;
    }
    cv_.notify_all();
  }

  void PutBlob(const std::string& id, std::string content) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[id] = std::move(content);
  }

  // While set, Read() returns this error (the snapshot is kept).
  void FailRead(Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    read_error_ = std::move(error);
  }
  void ClearReadFailure() {
    std::lock_guard<std::mutex> lock(mu_);
    read_error_.reset();
  }
  // While set, ReadBlob(id) returns this error.
  void FailBlob(const std::string& id, Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    blob_errors_[id] = std::move(error);
  }
  void ClearBlobFailure(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    blob_errors_.erase(id);
  }
  // While set, Refresh() returns this error.
  void FailRefresh(Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    refresh_error_ = std::move(error);
  }
  void ClearRefreshFailure() {
    std::lock_guard<std::mutex> lock(mu_);
    refresh_error_.reset();
  }

  // Makes a pending or the next WaitForChange return true (like a commit
  // seen by inotify) without changing the snapshot.
  void NotifyChange() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      changed_ = true;
    }
    cv_.notify_all();
  }

  // ManifestSource.
  Result<source::Snapshot> Read() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++read_calls_;
    if (read_error_) return *read_error_;
    return snapshot_;
  }

  Result<std::string> ReadBlob(const std::string& blob_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    blob_reads_.push_back(blob_id);
    if (auto it = blob_errors_.find(blob_id); it != blob_errors_.end()) {
      return it->second;
    }
    auto it = blobs_.find(blob_id);
    if (it == blobs_.end()) return NotFoundError("blob " + blob_id + " not found");
    return it->second;
  }

  Status Refresh() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++refresh_calls_;
    if (refresh_error_) return *refresh_error_;
    return OkStatus();
  }

  // Returns true at once if a change or Wake() is pending (and consumes it),
  // else waits up to `timeout` of real time for one.
  bool WaitForChange(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++wait_calls_;
    bool fired = cv_.wait_for(lock, timeout, [&] { return changed_ || woken_; });
    changed_ = false;
    woken_ = false;
    return fired;
  }

  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++wake_calls_;
      woken_ = true;
    }
    cv_.notify_all();
  }

  // Recorded calls.
  int read_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return read_calls_;
  }
  int refresh_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refresh_calls_;
  }
  int wait_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wait_calls_;
  }
  int wake_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wake_calls_;
  }
  // Every blob id passed to ReadBlob, in call order.
  std::vector<std::string> blob_reads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blob_reads_;
  }
  int blob_read_count(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count(blob_reads_.begin(), blob_reads_.end(), id));
  }
  void ClearCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    read_calls_ = refresh_calls_ = wait_calls_ = wake_calls_ = 0;
    blob_reads_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  source::Snapshot snapshot_;
  std::map<std::string, std::string> blobs_;
  std::optional<Status> read_error_;
  std::optional<Status> refresh_error_;
  std::map<std::string, Status> blob_errors_;
  bool changed_ = false;
  bool woken_ = false;
  int read_calls_ = 0;
  int refresh_calls_ = 0;
  int wait_calls_ = 0;
  int wake_calls_ = 0;
  std::vector<std::string> blob_reads_;
};

}  // namespace mlspace::testing
