#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "controller/core/result.h"
#include "controller/source/change_watcher.h"
#include "controller/source/git_credentials.h"
#include "controller/source/manifest_source.h"

struct git_repository;
struct git_remote;

namespace mlspace::source {

namespace internal {
struct TreeCache;
}

// --git-url URL --git-ref REF: a bare clone in STATE_DIR/checkout, fetched
// on Refresh(). What is read is the commit REF pointed to at the last good
// fetch (kept in refs/mlspace/fetched, so it also survives a restart). The
// fetch is forced: a force-push that rewrites history is followed.
class GitRemoteSource final : public ManifestSource {
 public:
  struct Options {
    std::string url;        // file://, https://, ssh:// or scp-like user@host:path
    std::string ref;        // branch, tag or full ref; "" or "HEAD": default branch
    std::string subdir;     // manifests directory inside the repository
    std::string state_dir;  // the clone lives in state_dir/checkout
    GitCredentials credentials;
  };

  // Creates or reopens the clone; does not fetch (call Refresh). An existing
  // clone of another URL is re-pointed at `url`.
  static Result<std::unique_ptr<GitRemoteSource>> Open(Options options);
  ~GitRemoteSource() override;

  // The manifests of the last good fetch; an error before the first one.
  Result<Snapshot> Read() override;
  Result<std::string> ReadBlob(const std::string& blob_id) override;
  // Fetches REF. On failure the last good revision stays and is served.
  // A fetch that moves the revision makes WaitForChange return at once.
  Status Refresh() override;
  bool WaitForChange(std::chrono::milliseconds timeout) override;
  void Wake() override;

  std::string checkout_dir() const { return checkout_dir_; }

 private:
  explicit GitRemoteSource(Options options);
  Status FetchLocked();

  const Options options_;
  const std::string checkout_dir_;
  ChangeWatcher watcher_;  // only its eventfd: remote changes arrive by fetch
  mutable std::mutex mu_;
  git_repository* repo_ = nullptr;
  git_remote* remote_ = nullptr;  // "origin", looked up once
  std::unique_ptr<internal::TreeCache> cache_;
};

}  // namespace mlspace::source
