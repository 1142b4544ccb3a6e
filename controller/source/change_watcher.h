#pragma once

// inotify-based watcher behind ManifestSource::WaitForChange, with an
// eventfd for Wake(). Degrades to "timeouts and Wake() only" when inotify is
// unavailable (the caller's jittered poll still finds new revisions).

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace mlspace::source {

class ChangeWatcher {
 public:
  ChangeWatcher();
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  bool inotify_available() const { return inotify_fd_ >= 0; }

  // Drops every watch (before watching a re-resolved checkout).
  void Clear();

  // Wakes on a create/delete/rename/write of an entry of `dir` whose name is
  // in `names` (empty: any name). "*.lock" names never wake: git writes
  // through lock files and the rename onto the real name is the signal.
  void WatchNames(const std::string& dir, const std::vector<std::string>& names);

  // Like WatchNames(dir, {}) for `dir` and every directory below it,
  // following directories created later (refs/heads/feature/...).
  void WatchTree(const std::string& dir);

  // Watches `dir` itself: removal or rename of it wakes; changes of its
  // entries only mark ContentChanged() (uncommitted edits don't change what
  // is reconciled, so they must not cost a reconcile).
  void WatchContent(const std::string& dir);

  enum class WaitResult { kTimeout, kChange, kWoken };
  // Blocks up to `timeout` for a relevant event or Wake(). Thread-safe with
  // the Watch* calls; one waiter at a time.
  WaitResult Wait(std::chrono::milliseconds timeout);

  // Makes the current or next Wait return kWoken. Async-signal-safe.
  void Wake();

  // True (and reset) if a WatchContent directory changed since the last call.
  bool TakeContentChanged();

 private:
  struct Watch {
    std::string path;
    bool any_name = false;
    std::set<std::string> names;
    bool recursive = false;
    bool content = false;
  };
  void AddLocked(const std::string& dir, const Watch& spec);
  void AddTreeLocked(const std::string& dir);
  // Returns true if the buffer held a waking event.
  bool ProcessEvents(const char* buf, long len);

  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::map<int, Watch> watches_;  // by watch descriptor
  bool content_changed_ = false;
};

}  // namespace mlspace::source
