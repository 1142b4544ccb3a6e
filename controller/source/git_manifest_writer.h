#pragma once

// The libgit2 ManifestWriter (issue 13, write-back to git): an API write
// becomes one commit that changes only the object's own document, on the
// checked-out branch of the --manifests work tree, or (--api-write=push
// with --git-url) on top of the fetched revision of the controller's clone,
// pushed to the remote.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "controller/api/manifest_writer.h"
#include "controller/core/result.h"
#include "controller/source/git_credentials.h"

struct git_repository;
struct git_remote;

namespace mlspace::source {

// --api-write.
enum class ApiWriteMode { kOff, kCommit, kPush };

// "off" | "commit" | "push"; the error names the flag.
Result<ApiWriteMode> ParseApiWriteMode(std::string_view text);
std::string_view ApiWriteModeName(ApiWriteMode mode);

// --git-author "Name <email>".
struct GitAuthor {
  std::string name;
  std::string email;
};
inline constexpr char kDefaultGitAuthor[] = "mlspace-controller <mlspace-controller@localhost>";
// A non-empty name, then an email in angle brackets, nothing after it; the
// error names the flag.
Result<GitAuthor> ParseGitAuthor(std::string_view text);

class GitManifestWriter final : public api::ManifestWriter {
 public:
  struct Options {
    // Exactly one of the two repositories:
    // --manifests DIR: a directory inside a (non-bare) git work tree. Writes
    // commit on the checked-out branch and update the work tree and index;
    // push mode pushes that branch to the same-named branch of `origin`.
    std::string manifests_dir;
    // --git-url: the controller's bare clone (GitRemoteSource::checkout_dir),
    // its manifests below `subdir`. Writes build on `fetched_ref` (what the
    // source serves) and need push mode: the commit is pushed to
    // `remote_branch` of `origin` ("" = the remote's default branch), then
    // `fetched_ref` moves to it.
    std::string clone_dir;
    std::string subdir;
    std::string fetched_ref = "refs/mlspace/fetched";
    std::string remote_branch;

    ApiWriteMode mode = ApiWriteMode::kCommit;
    GitAuthor author{"mlspace-controller", "mlspace-controller@localhost"};
    GitCredentials credentials;  // for push and its fetch
    // Pushes tried per write when the remote moved in between (each one
    // after a fetch and a rebase of the write onto the new remote head).
    int push_attempts = 4;
    // Called after each successful write, outside the writer's locks: the
    // controller syncs the new revision at once. May be empty.
    std::function<void()> on_commit;
    // kDelete: called with the key and the commit that removes it just
    // before the branch (or the served ref) moves to that commit — so a sync
    // that reads it knows the removal is the API's — and once more after a
    // successful write, before on_commit. The controller exempts that
    // removal from its prune guards. Called under the write lock; must not
    // call back into the writer. May be empty.
    std::function<void(const ObjectKey& key, const std::string& commit)> on_removed;
    // Called once per Write with a bounded result label ("committed",
    // "pushed", "refused", "conflict", "error"); for a metric. May be empty.
    std::function<void(std::string_view result)> on_result;
  };

  // Opens the repository. Fails when the directory is not inside a git work
  // tree (or clone_dir is not a repository), or when push mode has no
  // `origin` remote. kOff opens nothing and refuses every Write.
  static Result<std::unique_ptr<GitManifestWriter>> Open(Options options);
  ~GitManifestWriter() override;

  // api::ManifestWriter; see there. Thread-safe.
  Result<api::StoredDocument> Find(const ObjectKey& key, const std::string& path_hint) override;
  Result<api::ManifestWriteResult> Write(const api::ManifestWriteRequest& req) override;

  struct Located;  // internal: a document found at a revision

 private:
  explicit GitManifestWriter(Options options);
  Result<api::ManifestWriteResult> WriteLocked(const api::ManifestWriteRequest& req,
                                               std::string* result_label);
  // The object's document at `commit` of `repo` (hint first, then the index
  // of the manifests tree, rebuilt by a scan when the tree changed).
  Result<Located> Locate(git_repository* repo, const std::string& commit_hex, const ObjectKey& key,
                         const std::string& path_hint);
  Result<std::string> BaseRevision(git_repository* repo, std::string* branch_ref);
  std::string RepoPath(const std::string& rel) const;

  const Options options_;
  std::string subdir_;     // manifests directory inside the repository ('' = root)
  std::string work_tree_;  // with trailing '/', '' for the bare clone

  // Writes queue in arrival order (a plain mutex lets one writer wait for
  // many turns: with 20 writers its p99 was 3.4x the FIFO one).
  class FifoMutex {
   public:
    void lock();
    void unlock();

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t next_ = 0;
    uint64_t serving_ = 0;
  };
  Result<std::string> RemoteBranchLocked();

  FifoMutex write_mu_;  // one Write at a time; guards the members below
  git_repository* write_repo_ = nullptr;
  git_remote* remote_ = nullptr;
  std::string remote_branch_;  // push target on origin, resolved once

  std::mutex find_mu_;  // guards find_repo_
  git_repository* find_repo_ = nullptr;

  // key -> file (relative to the manifests directory) at index_tree_.
  std::mutex index_mu_;
  std::string index_tree_;  // hex id of the manifests tree the index describes
  std::map<ObjectKey, std::string> index_;
};

}  // namespace mlspace::source
