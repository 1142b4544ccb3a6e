#include "controller/source/change_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "controller/core/log.h"

namespace mlspace::source {
namespace {

constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ChangeWatcher::ChangeWatcher() {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    LogWarn("inotify unavailable; manifest changes are found by polling only",
            {{"error", std::strerror(errno)}});
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ChangeWatcher::~ChangeWatcher() {
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ChangeWatcher::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [wd, w] : watches_) inotify_rm_watch(inotify_fd_, wd);
  watches_.clear();
}

void ChangeWatcher::AddLocked(const std::string& dir, const Watch& spec) {
  if (inotify_fd_ < 0) return;
  int wd = inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask | IN_MASK_ADD);
  if (wd < 0) {
    LogDebug("cannot watch directory", {{"path", dir}, {"error", std::strerror(errno)}});
    return;
  }
  // One inode, one descriptor: a directory watched for two reasons merges
  // both specs.
  Watch& w = watches_[wd];
  w.path = dir;
  w.any_name = w.any_name || spec.any_name;
  w.names.insert(spec.names.begin(), spec.names.end());
  w.recursive = w.recursive || spec.recursive;
  w.content = w.content || spec.content;
}

void ChangeWatcher::WatchNames(const std::string& dir, const std::vector<std::string>& names) {
  Watch spec;
  spec.any_name = names.empty();
  spec.names.insert(names.begin(), names.end());
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(dir, spec);
}

void ChangeWatcher::AddTreeLocked(const std::string& dir) {
  Watch spec;
  spec.any_name = true;
  spec.recursive = true;
  AddLocked(dir, spec);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      AddTreeLocked(it->path().string());
    }
  }
}

void ChangeWatcher::WatchTree(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  AddTreeLocked(dir);
}

void ChangeWatcher::WatchContent(const std::string& dir) {
  Watch spec;
  spec.content = true;
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(dir, spec);
}

bool ChangeWatcher::ProcessEvents(const char* buf, long len) {
  bool wake = false;
  std::lock_guard<std::mutex> lock(mu_);
  for (long off = 0; off < len;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
    off += static_cast<long>(sizeof(inotify_event) + ev->len);
    if ((ev->mask & IN_Q_OVERFLOW) != 0) {
      wake = true;  // lost events: assume the worst
      continue;
    }
    auto it = watches_.find(ev->wd);
    if (it == watches_.end()) continue;
    if ((ev->mask & IN_IGNORED) != 0) {
      watches_.erase(it);
      continue;
    }
    Watch& w = it->second;
    if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
      // The directory itself went away (a swapped or deleted checkout).
      if (w.content || w.recursive) wake = true;
      continue;
    }
    std::string name = ev->len > 0 ? std::string(ev->name) : std::string();
    if (w.recursive && (ev->mask & IN_ISDIR) != 0 && (ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0) {
      AddTreeLocked(w.path + "/" + name);
    }
    if (w.content) content_changed_ = true;
    if (name.empty() || EndsWith(name, ".lock")) continue;
    if (w.any_name || w.names.count(name) != 0) wake = true;
  }
  return wake;
}

ChangeWatcher::WaitResult ChangeWatcher::Wait(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  alignas(inotify_event) char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int n = poll(fds, inotify_fd_ >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return WaitResult::kTimeout;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t v;
      while (read(wake_fd_, &v, sizeof v) > 0) {
      }
      return WaitResult::kWoken;
    }
    if (n > 0 && inotify_fd_ >= 0 && (fds[1].revents & POLLIN) != 0) {
      bool wake = false;
      long len;
      while ((len = read(inotify_fd_, buf, sizeof buf)) > 0) {
        wake = ProcessEvents(buf, len) || wake;
      }
      if (wake) return WaitResult::kChange;
    }
    if (Clock::now() >= deadline) return WaitResult::kTimeout;
  }
}

void ChangeWatcher::Wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) {
    ssize_t r = write(wake_fd_, &one, sizeof one);
    (void)r;
  }
}

bool ChangeWatcher::TakeContentChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  bool c = content_changed_;
  content_changed_ = false;
  return c;
}

}  // namespace mlspace::source
