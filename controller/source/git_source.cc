#include "controller/source/git_source.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "controller/core/log.h"
#include "controller/source/git_internal.h"

namespace mlspace::source {
namespace {

namespace fs = std::filesystem;
using internal::GitError;

Result<std::string> RealPath(const std::string& p) {
  char* r = realpath(p.c_str(), nullptr);
  if (r == nullptr) {
    return NotFoundError("manifests directory " + p + ": " + std::strerror(errno));
  }
  std::string out(r);
  free(r);
  return out;
}

std::string WithSlash(std::string s) {
  if (s.empty() || s.back() != '/') s += '/';
  return s;
}

// True when `dir` exists and has no file at any depth.
bool HoldsNoFiles(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) return false;
  }
  return !ec;
}

std::string JoinNames(const std::set<std::string>& names, size_t max) {
  std::string out;
  size_t i = 0;
  for (const auto& n : names) {
    if (i == max) {
      out += " and " + std::to_string(names.size() - max) + " more";
      break;
    }
    if (i++ > 0) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

GitSource::GitSource(Options options)
    : options_(std::move(options)), cache_(std::make_unique<internal::TreeCache>()) {}

GitSource::~GitSource() {
  if (repo_ != nullptr) git_repository_free(repo_);
  if (status_repo_ != nullptr) git_repository_free(status_repo_);
}

Result<std::unique_ptr<GitSource>> GitSource::Open(Options options) {
  internal::EnsureLibgit2();
  if (options.manifests_dir.empty()) {
    return InvalidArgumentError("--manifests: empty directory name");
  }
  std::unique_ptr<GitSource> src(new GitSource(std::move(options)));
  std::lock_guard<std::mutex> lock(src->mu_);
  MLSPACE_RETURN_IF_ERROR(src->ResolveLocked(/*force=*/true));
  return src;
}

Status GitSource::ResolveLocked(bool force) {
  auto real = RealPath(options_.manifests_dir);
  if (!real.ok()) {
    // Vanished from the work tree (e.g. deleted but not committed): what is
    // reconciled is HEAD, so keep reading through the repository we have.
    if (repo_ != nullptr) return OkStatus();
    return real.status();
  }
  if (!force && *real == resolved_dir_ && repo_ != nullptr) return OkStatus();
  struct stat st {};
  if (stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return InvalidArgumentError("--manifests " + options_.manifests_dir + ": not a directory");
  }
  git_repository* repo = nullptr;
  int rc = git_repository_open_ext(&repo, real->c_str(), 0, nullptr);
  if (rc != 0) {
    return FailedPreconditionError("--manifests " + options_.manifests_dir +
                                   ": not inside a git work tree");
  }
  const char* wd = git_repository_workdir(repo);
  if (wd == nullptr) {
    git_repository_free(repo);
    return FailedPreconditionError("--manifests " + options_.manifests_dir +
                                   ": inside a bare repository");
  }
  auto wt_real = RealPath(wd);
  std::string wt = WithSlash(wt_real.ok() ? *wt_real : std::string(wd));
  std::string rel;
  if (WithSlash(*real) != wt) {
    if (real->compare(0, wt.size(), wt) != 0) {
      git_repository_free(repo);
      return FailedPreconditionError("--manifests " + options_.manifests_dir +
                                     ": outside the work tree " + wt);
    }
    rel = real->substr(wt.size());
  }
  if (repo_ != nullptr) {
    LogInfo("manifests directory now resolves elsewhere; reopened repository",
            {{"path", options_.manifests_dir}, {"target", *real}});
    git_repository_free(repo_);
    cache_->valid = false;
  }
  repo_ = repo;
  resolved_dir_ = *real;
  work_tree_ = wt;
  rel_path_ = rel;
  RewatchLocked();
  return OkStatus();
}

void GitSource::RewatchLocked() {
  watcher_.Clear();
  std::string gitdir = git_repository_path(repo_);
  std::string commondir = git_repository_commondir(repo_);
  // HEAD lives in the (worktree's) gitdir; refs and packed-refs in the
  // common dir, which is the same directory outside linked worktrees.
  if (fs::path(gitdir) == fs::path(commondir)) {
    watcher_.WatchNames(gitdir, {"HEAD", "packed-refs"});
  } else {
    watcher_.WatchNames(gitdir, {"HEAD"});
    watcher_.WatchNames(commondir, {"packed-refs"});
  }
  watcher_.WatchTree(WithSlash(commondir) + "refs");
  watcher_.WatchContent(resolved_dir_);
  // The git-sync swap replaces a symlink by rename in its parent directory:
  // watch the parent of DIR and of every symlink on the way to it, waking
  // only for that entry's name.
  fs::path given = fs::absolute(options_.manifests_dir).lexically_normal();
  if (given.has_filename() == false) given = given.parent_path();
  watcher_.WatchNames(given.parent_path().string(), {given.filename().string()});
  fs::path prefix;
  for (const auto& part : given) {
    prefix /= part;
    std::error_code ec;
    if (prefix.has_parent_path() && fs::is_symlink(prefix, ec)) {
      watcher_.WatchNames(prefix.parent_path().string(), {prefix.filename().string()});
    }
  }
}

Result<Snapshot> GitSource::Read() {
  std::lock_guard<std::mutex> lock(mu_);
  MLSPACE_RETURN_IF_ERROR(ResolveLocked(/*force=*/false));
  git_oid head;
  int rc = git_reference_name_to_id(&head, repo_, "HEAD");
  if (rc != 0) {
    Status s = GitError("cannot resolve HEAD in " + work_tree_, rc);
    return Status(StatusCode::kUnavailable, s.message());
  }
  auto snap = internal::ReadCommitSnapshot(repo_, head, rel_path_, cache_.get());
  if (!snap.ok() && snap.status().code() == StatusCode::kNotFound && !rel_path_.empty() &&
      HoldsNoFiles(resolved_dir_)) {
    // Git records no empty directories: an existing DIR with nothing in it
    // is the committed state "no manifests", not a missing path.
    snap = Snapshot{internal::OidHex(head), {}};
  }
  if (!snap.ok()) return snap.status();
  if (snap->revision != last_revision_) status_check_pending_ = true;
  last_revision_ = snap->revision;
  return snap;
}

void GitSource::CheckUncommitted() {
  const bool content_changed = watcher_.TakeContentChanged();
  std::string revision, work_tree, rel_path, dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status_check_pending_ && !content_changed) return;
    if (last_revision_.empty() || repo_ == nullptr) return;
    status_check_pending_ = false;
    revision = last_revision_;
    work_tree = work_tree_;
    rel_path = rel_path_;
    dir = resolved_dir_;
  }
  std::lock_guard<std::mutex> lock(status_mu_);
  if (status_repo_ == nullptr || status_repo_dir_ != work_tree) {
    if (status_repo_ != nullptr) git_repository_free(status_repo_);
    status_repo_ = nullptr;
    status_repo_dir_.clear();
    int rc = git_repository_open_ext(&status_repo_, work_tree.c_str(),
                                     GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    if (rc != 0) {
      status_repo_ = nullptr;
      LogDebug("cannot open the work tree to compare it with HEAD",
               {{"error", GitError("open " + work_tree, rc).message()}});
      return;
    }
    status_repo_dir_ = work_tree;
  }
  // The *_init functions, not the INIT macros: clang flags the macros'
  // partial aggregate initialisers.
  git_status_options opts;
  git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  std::string spec = rel_path.empty() ? std::string() : rel_path + "/";
  char* spec_c = spec.data();
  if (!spec.empty()) {
    opts.pathspec.strings = &spec_c;
    opts.pathspec.count = 1;
  }
  git_status_list* raw = nullptr;
  int rc = git_status_list_new(&raw, status_repo_, &opts);
  if (rc != 0) {
    LogDebug("cannot compare the work tree with HEAD",
             {{"error", GitError("status", rc).message()}});
    return;
  }
  internal::StatusListPtr list(raw);
  std::set<std::string> dirty;
  const size_t n = git_status_list_entrycount(list.get());
  for (size_t i = 0; i < n; ++i) {
    const git_status_entry* e = git_status_byindex(list.get(), i);
    if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED)) {
      continue;
    }
    const git_diff_delta* d =
        e->index_to_workdir != nullptr ? e->index_to_workdir : e->head_to_index;
    if (d == nullptr) continue;
    const char* p = d->new_file.path != nullptr ? d->new_file.path : d->old_file.path;
    std::string path(p);
    if (path.compare(0, spec.size(), spec) != 0) continue;
    path = path.substr(spec.size());
    if (internal::IsManifestPath(path)) dirty.insert(path);
  }
  if (dirty.empty()) {
    uncommitted_.clear();
    return;
  }
  if (revision != logged_revision_ || dirty != uncommitted_) {
    logged_revision_ = revision;
    LogWarn("uncommitted manifest changes are ignored until committed",
            {{"revision", revision.substr(0, 12)}, {"path", dir}, {"files", JoinNames(dirty, 20)}});
  }
  uncommitted_ = std::move(dirty);
}

Result<std::string> GitSource::ReadBlob(const std::string& blob_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return internal::ReadBlobBytes(repo_, blob_id);
}

Status GitSource::Refresh() { return OkStatus(); }

bool GitSource::WaitForChange(std::chrono::milliseconds timeout) {
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + timeout;
  auto changed = [&](ChangeWatcher::WaitResult r) {
    if (r == ChangeWatcher::WaitResult::kTimeout) return false;
    last_change_ = steady_clock::now().time_since_epoch().count();
    return true;
  };
  // The work-tree comparison stats every file (~100 ms for 10,000), so it
  // runs here, when the caller has finished with the revision, not in Read;
  // and only once no change came for uncommitted_quiet, so a commit that
  // follows an edit (or another commit) is never queued behind it.
  if (options_.report_uncommitted) {
    const int64_t last = last_change_;
    const auto quiet_until =
        steady_clock::time_point(steady_clock::duration(last)) + options_.uncommitted_quiet;
    if (last != 0 && steady_clock::now() < quiet_until) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::min(deadline, quiet_until) -
                                                               steady_clock::now());
      if (changed(watcher_.Wait(std::max(wait, std::chrono::milliseconds(0))))) return true;
    }
    if (last == 0 || steady_clock::now() >= quiet_until) CheckUncommitted();
  }
  auto rest = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady_clock::now());
  return changed(watcher_.Wait(std::max(rest, std::chrono::milliseconds(0))));
}

void GitSource::Wake() { watcher_.Wake(); }

std::string GitSource::work_tree() const {
  std::lock_guard<std::mutex> lock(mu_);
  return work_tree_;
}

std::string GitSource::relative_path() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rel_path_;
}

std::vector<std::string> GitSource::uncommitted_files() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return {uncommitted_.begin(), uncommitted_.end()};
}

}  // namespace mlspace::source
