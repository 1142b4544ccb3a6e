#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/core/result.h"
#include "controller/source/change_watcher.h"
#include "controller/source/manifest_source.h"

struct git_repository;

namespace mlspace::source {

namespace internal {
struct TreeCache;
}

// --manifests DIR: the manifests committed at HEAD of the git work tree that
// contains DIR. Uncommitted edits are ignored (and logged once per revision).
// DIR, or any directory above it, may be a symlink that is atomically swapped
// (git-sync): the path is re-resolved on every Read and the repository
// re-opened when it points elsewhere.
class GitSource final : public ManifestSource {
 public:
  struct Options {
    std::string manifests_dir;
    // Compare the work tree with HEAD to log uncommitted manifest edits
    // (costs a stat per file on each new revision; done in WaitForChange,
    // off the Read path, through a second repository handle so Read and
    // ReadBlob never wait for it).
    bool report_uncommitted = true;
    // The comparison waits until WaitForChange has seen no change for this
    // long, so a burst of commits is never delayed by it.
    std::chrono::milliseconds uncommitted_quiet = std::chrono::seconds(1);
  };

  // Fails when DIR does not exist or is not inside a git work tree. A
  // repository without commits opens fine; Read reports it.
  static Result<std::unique_ptr<GitSource>> Open(Options options);
  ~GitSource() override;

  // ManifestSource. Read fails (never returns an empty snapshot instead)
  // when HEAD cannot be resolved or DIR is missing at HEAD.
  Result<Snapshot> Read() override;
  Result<std::string> ReadBlob(const std::string& blob_id) override;
  Status Refresh() override;  // no-op: the work tree is updated by others
  bool WaitForChange(std::chrono::milliseconds timeout) override;
  void Wake() override;

  // The repository work tree root and DIR relative to it (for logs, tests).
  std::string work_tree() const;
  std::string relative_path() const;
  // Manifest files (relative to DIR) that differed from HEAD at the last
  // check (made by WaitForChange after a new revision was read or the
  // directory changed), when report_uncommitted is on.
  std::vector<std::string> uncommitted_files() const;

 private:
  explicit GitSource(Options options);
  // Re-resolves DIR; (re)opens the repository and the watches if it moved.
  Status ResolveLocked(bool force);
  void RewatchLocked();
  // Takes mu_ only to copy what it needs; scans under status_mu_.
  void CheckUncommitted();

  const Options options_;
  ChangeWatcher watcher_;
  mutable std::mutex mu_;
  git_repository* repo_ = nullptr;
  std::string resolved_dir_;  // realpath of DIR at the last resolve
  std::string work_tree_;     // with trailing '/'
  std::string rel_path_;      // '' for the work tree root
  std::unique_ptr<internal::TreeCache> cache_;
  std::string last_revision_;
  bool status_check_pending_ = false;

  // The work-tree comparison's own handle and results; status_mu_ and mu_
  // are never held together.
  mutable std::mutex status_mu_;
  git_repository* status_repo_ = nullptr;
  std::string status_repo_dir_;
  std::set<std::string> uncommitted_;
  std::string logged_revision_;
  // steady_clock ticks of the last change WaitForChange reported (0: none).
  std::atomic<int64_t> last_change_{0};
};

}  // namespace mlspace::source
