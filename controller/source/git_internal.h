#pragma once

// libgit2 plumbing shared by GitSource and GitRemoteSource. Not a seam:
// nothing outside controller/source includes this header.

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/result.h"
#include "controller/source/git_credentials.h"
#include "controller/source/manifest_source.h"

namespace mlspace::source::internal {

// Initialises libgit2 once per process (thread-safe, idempotent).
void EnsureLibgit2();

// The last libgit2 error as a Status: "<what>: <libgit2 message>", redacted
// (a URL with a token inside never reaches a log line).
Status GitError(std::string_view what, int code);

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
using RepoPtr = std::unique_ptr<git_repository, GitDeleter<git_repository, git_repository_free>>;
using CommitPtr = std::unique_ptr<git_commit, GitDeleter<git_commit, git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, GitDeleter<git_tree, git_tree_free>>;
using TreeEntryPtr =
    std::unique_ptr<git_tree_entry, GitDeleter<git_tree_entry, git_tree_entry_free>>;
using BlobPtr = std::unique_ptr<git_blob, GitDeleter<git_blob, git_blob_free>>;
using RemotePtr = std::unique_ptr<git_remote, GitDeleter<git_remote, git_remote_free>>;
using ReferencePtr = std::unique_ptr<git_reference, GitDeleter<git_reference, git_reference_free>>;
using StatusListPtr =
    std::unique_ptr<git_status_list, GitDeleter<git_status_list, git_status_list_free>>;

std::string OidHex(const git_oid& oid);

// The payload of AcquireCredential: the configured credentials and the
// kinds already offered to this remote (each is offered once, so a remote
// that rejects them fails instead of looping).
struct CredentialState {
  const GitCredentials* creds;
  unsigned tried = 0;
};

// A git_credential_acquire_cb for fetch and push; `payload` is a
// CredentialState*. GIT_EAUTH with a readable error when nothing (more)
// can be offered.
int AcquireCredential(git_credential** out, const char* url, const char* username_from_url,
                      unsigned int allowed, void* payload);

// True for a file name the controller reads: *.yaml, *.yml, *.json, not a
// dotfile.
bool IsManifestName(std::string_view name);

// True when `rel_path` ('/'-separated) is a manifest below the manifests
// directory: a manifest name with no dot-prefixed component.
bool IsManifestPath(std::string_view rel_path);

// The files of the last snapshot, keyed by the id of the manifests tree, so
// a revision that leaves that tree unchanged costs one lookup.
struct TreeCache {
  bool valid = false;
  git_oid tree_id{};
  std::vector<ManifestEntry> files;
};

// Reads the manifests below `subpath` ('' = the root) of `commit`. A path
// missing at that revision (or not a directory) is an error.
Result<Snapshot> ReadCommitSnapshot(git_repository* repo, const git_oid& commit,
                                    const std::string& subpath, TreeCache* cache);

// The bytes of the blob with hex id `blob_id`. A blob over kMaxBlobBytes
// is ResourceExhausted ("file is N bytes, larger than the 8 MiB limit"),
// judged from the object header without reading the blob.
Result<std::string> ReadBlobBytes(git_repository* repo, const std::string& blob_id);

}  // namespace mlspace::source::internal
