#include "controller/source/git_remote_source.h"

#include <filesystem>
#include <vector>

#include "controller/core/log.h"
#include "controller/source/git_internal.h"

namespace mlspace::source {
namespace {

namespace fs = std::filesystem;
using internal::AcquireCredential;
using internal::CredentialState;
using internal::GitError;

constexpr char kFetchedRef[] = "refs/mlspace/fetched";
constexpr char kRemoteName[] = "origin";

// The remote ref that REF names, looked up in what the server advertises:
// a full ref as is, else refs/heads/REF, then refs/tags/REF; "" is HEAD.
Result<std::string> ResolveRemoteRef(git_remote* remote, const std::string& ref,
                                     const std::string& url) {
  const git_remote_head** heads = nullptr;
  size_t n = 0;
  int rc = git_remote_ls(&heads, &n, remote);
  if (rc != 0) return GitError("listing refs of " + RedactUrl(url), rc);
  std::vector<std::string> candidates;
  if (ref.empty() || ref == "HEAD") {
    candidates = {"HEAD"};
  } else if (ref.rfind("refs/", 0) == 0) {
    candidates = {ref};
  } else {
    candidates = {"refs/heads/" + ref, "refs/tags/" + ref};
  }
  for (const auto& c : candidates) {
    for (size_t i = 0; i < n; ++i) {
      if (c == heads[i]->name) return c;
    }
  }
  return NotFoundError("git ref '" + (ref.empty() ? "HEAD" : ref) + "' not found at " +
                       RedactUrl(url));
}

}  // namespace

GitRemoteSource::GitRemoteSource(Options options)
    : options_(std::move(options)),
      checkout_dir_((fs::path(options_.state_dir) / "checkout").string()),
      cache_(std::make_unique<internal::TreeCache>()) {}

GitRemoteSource::~GitRemoteSource() {
  if (remote_ != nullptr) git_remote_free(remote_);
  if (repo_ != nullptr) git_repository_free(repo_);
}

Result<std::unique_ptr<GitRemoteSource>> GitRemoteSource::Open(Options options) {
  internal::EnsureLibgit2();
  if (options.url.empty()) return InvalidArgumentError("--git-url: empty");
  if (options.state_dir.empty()) {
    return InvalidArgumentError("--state-dir is required with --git-url");
  }
  while (!options.subdir.empty() && options.subdir.back() == '/') {
    options.subdir.pop_back();
  }
  while (!options.subdir.empty() && options.subdir.front() == '/') {
    options.subdir.erase(0, 1);
  }
  std::unique_ptr<GitRemoteSource> src(new GitRemoteSource(std::move(options)));
  const std::string& dir = src->checkout_dir_;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return FailedPreconditionError("cannot create " + dir + ": " + ec.message());
  }
  git_repository* repo = nullptr;
  int rc = git_repository_open_ext(
      &repo, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, nullptr);
  if (rc == GIT_ENOTFOUND) {
    rc = git_repository_init(&repo, dir.c_str(), /*is_bare=*/1);
  }
  if (rc != 0) return GitError("opening the clone in " + dir, rc);
  src->repo_ = repo;

  git_remote* remote_raw = nullptr;
  rc = git_remote_lookup(&remote_raw, repo, kRemoteName);
  if (rc == GIT_ENOTFOUND) {
    // Refspecs are passed on each fetch; the remote's own default is unused.
    rc = git_remote_create_with_fetchspec(&remote_raw, repo, kRemoteName, src->options_.url.c_str(),
                                          "+refs/heads/*:refs/remotes/origin/*");
  } else if (rc == 0 && src->options_.url != git_remote_url(remote_raw)) {
    LogInfo("git URL changed; re-pointing the clone", {{"url", RedactUrl(src->options_.url)}});
    rc = git_remote_set_url(repo, kRemoteName, src->options_.url.c_str());
  }
  internal::RemotePtr remote(remote_raw);
  if (rc == 0 && src->options_.url != git_remote_url(remote.get())) {
    // set_url changes the config, not a remote object already loaded.
    remote_raw = nullptr;
    rc = git_remote_lookup(&remote_raw, repo, kRemoteName);
    remote.reset(remote_raw);
  }
  if (rc != 0) {
    return GitError("configuring remote " + RedactUrl(src->options_.url), rc);
  }
  // One remote object for the life of the source: libgit2 1.5 leaks pcre2
  // match data (~20 KB) on every git_remote_lookup, so a lookup per fetch
  // would grow the controller without bound.
  src->remote_ = remote.release();
  return src;
}

Status GitRemoteSource::Refresh() {
  std::string before, after;
  Status s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo_, kFetchedRef) == 0) {
      before = internal::OidHex(oid);
    }
    s = FetchLocked();
    if (s.ok() && git_reference_name_to_id(&oid, repo_, kFetchedRef) == 0) {
      after = internal::OidHex(oid);
    }
  }
  if (!s.ok()) {
    LogWarn("git fetch failed; keeping the last good revision", {{"url", RedactUrl(options_.url)},
                                                                 {"revision", before.substr(0, 12)},
                                                                 {"error", s.message()}});
    return s;
  }
  if (after != before) {
    LogInfo("fetched new revision",
            {{"url", RedactUrl(options_.url)}, {"revision", after.substr(0, 12)}});
    watcher_.Wake();
  }
  return OkStatus();
}

Status GitRemoteSource::FetchLocked() {
  const std::string where = RedactUrl(options_.url);
  git_remote* remote = remote_;
  int rc = 0;

  CredentialState cred_state{&options_.credentials};
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = AcquireCredential;
  callbacks.payload = &cred_state;

  rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc != 0) return GitError("connecting to " + where, rc);
  auto src_ref = ResolveRemoteRef(remote, options_.ref, options_.url);
  if (!src_ref.ok()) {
    git_remote_disconnect(remote);
    return src_ref.status();
  }
  // Forced ('+'): a rewritten history replaces ours rather than failing as
  // a non-fast-forward.
  std::string refspec = "+" + *src_ref + ":" + kFetchedRef;
  char* spec_c = refspec.data();
  git_strarray specs{&spec_c, 1};
  git_fetch_options fetch_opts;
  git_fetch_options_init(&fetch_opts, GIT_FETCH_OPTIONS_VERSION);
  fetch_opts.callbacks = callbacks;
  fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  fetch_opts.update_fetchhead = 0;
  rc = git_remote_download(remote, &specs, &fetch_opts);
  git_remote_disconnect(remote);
  if (rc != 0) return GitError("fetching " + *src_ref + " from " + where, rc);
  rc = git_remote_update_tips(remote, &callbacks, /*update_fetchhead=*/0,
                              GIT_REMOTE_DOWNLOAD_TAGS_NONE, "mlspace fetch");
  if (rc != 0) return GitError("updating refs from " + where, rc);
  git_oid oid;
  rc = git_reference_name_to_id(&oid, repo_, kFetchedRef);
  if (rc != 0) {
    return GitError("no commit fetched for " + *src_ref + " from " + where, rc);
  }
  return OkStatus();
}

Result<Snapshot> GitRemoteSource::Read() {
  std::lock_guard<std::mutex> lock(mu_);
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo_, kFetchedRef);
  if (rc == GIT_ENOTFOUND) {
    return UnavailableError("no revision fetched yet from " + RedactUrl(options_.url));
  }
  if (rc != 0) return GitError("resolving the fetched revision", rc);
  return internal::ReadCommitSnapshot(repo_, oid, options_.subdir, cache_.get());
}

Result<std::string> GitRemoteSource::ReadBlob(const std::string& blob_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return internal::ReadBlobBytes(repo_, blob_id);
}

bool GitRemoteSource::WaitForChange(std::chrono::milliseconds timeout) {
  return watcher_.Wait(timeout) != ChangeWatcher::WaitResult::kTimeout;
}

void GitRemoteSource::Wake() { watcher_.Wake(); }

}  // namespace mlspace::source
