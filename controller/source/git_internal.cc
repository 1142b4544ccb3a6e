#include "controller/source/git_internal.h"

#include <algorithm>
#include <mutex>

#include "controller/core/redact.h"
#include "controller/source/git_credentials.h"

namespace mlspace::source::internal {

void EnsureLibgit2() {
  // Never shut down: libgit2 state lives as long as the process, and a
  // shutdown racing a late destructor is worse than a leak at exit.
  static const int kInit = git_libgit2_init();
  (void)kInit;
}

Status GitError(std::string_view what, int code) {
  const git_error* e = git_error_last();
  std::string msg(what);
  msg += ": ";
  msg += (e != nullptr && e->message != nullptr) ? e->message : "libgit2 error";
  msg = RedactUrlsIn(Redact(msg));
  StatusCode sc = StatusCode::kInternal;
  if (code == GIT_ENOTFOUND) sc = StatusCode::kNotFound;
  if (code == GIT_EAUTH) sc = StatusCode::kUnauthenticated;
  if (e != nullptr && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_SSH ||
                       e->klass == GIT_ERROR_HTTP || e->klass == GIT_ERROR_OS)) {
    sc = StatusCode::kUnavailable;
  }
  return Status(sc, msg);
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

bool IsManifestName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  auto ends = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends(".yaml") || ends(".yml") || ends(".json");
}

bool IsManifestPath(std::string_view rel_path) {
  size_t start = 0;
  while (true) {
    size_t slash = rel_path.find('/', start);
    std::string_view part = rel_path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (slash == std::string_view::npos) return IsManifestName(part);
    if (part.empty() || part.front() == '.') return false;
    start = slash + 1;
  }
}

namespace {

// Depth-first walk collecting manifest blobs. Manual recursion rather than
// git_tree_walk so dot-directories are skipped without loading them.
Status CollectTree(git_repository* repo, const git_tree* tree, const std::string& prefix,
                   std::vector<ManifestEntry>* out) {
  const size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree, i);
    const char* name = git_tree_entry_name(e);
    if (name[0] == '.') continue;
    switch (git_tree_entry_type(e)) {
      case GIT_OBJECT_TREE: {
        git_tree* sub_raw = nullptr;
        int rc = git_tree_lookup(&sub_raw, repo, git_tree_entry_id(e));
        if (rc != 0) return GitError("reading tree " + prefix + name, rc);
        TreePtr sub(sub_raw);
        MLSPACE_RETURN_IF_ERROR(CollectTree(repo, sub.get(), prefix + name + "/", out));
        break;
      }
      case GIT_OBJECT_BLOB:
        // Symlinks (mode 120000) are blobs too; their bytes are a path, not
        // a manifest, so only regular files count.
        if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) break;
        if (IsManifestName(name)) {
          out->push_back({prefix + name, OidHex(*git_tree_entry_id(e))});
        }
        break;
      default:  // submodules (commits) are not followed
        break;
    }
  }
  return OkStatus();
}

}  // namespace

Result<Snapshot> ReadCommitSnapshot(git_repository* repo, const git_oid& commit,
                                    const std::string& subpath, TreeCache* cache) {
  Snapshot snap;
  snap.revision = OidHex(commit);
  git_commit* commit_raw = nullptr;
  int rc = git_commit_lookup(&commit_raw, repo, &commit);
  if (rc != 0) return GitError("reading commit " + snap.revision, rc);
  CommitPtr c(commit_raw);
  git_tree* root_raw = nullptr;
  rc = git_commit_tree(&root_raw, c.get());
  if (rc != 0) return GitError("reading the tree of " + snap.revision, rc);
  TreePtr root(root_raw);

  git_oid tree_id = *git_tree_id(root.get());
  if (!subpath.empty()) {
    git_tree_entry* entry_raw = nullptr;
    rc = git_tree_entry_bypath(&entry_raw, root.get(), subpath.c_str());
    if (rc == GIT_ENOTFOUND) {
      return NotFoundError("manifests path " + subpath + " not found at revision " + snap.revision);
    }
    if (rc != 0) return GitError("looking up " + subpath, rc);
    TreeEntryPtr entry(entry_raw);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      return FailedPreconditionError("manifests path " + subpath +
                                     " is not a directory at revision " + snap.revision);
    }
    tree_id = *git_tree_entry_id(entry.get());
  }
  if (cache != nullptr && cache->valid && git_oid_equal(&cache->tree_id, &tree_id)) {
    snap.files = cache->files;
    return snap;
  }
  git_tree* tree_raw = nullptr;
  rc = git_tree_lookup(&tree_raw, repo, &tree_id);
  if (rc != 0) return GitError("reading tree " + subpath, rc);
  TreePtr tree(tree_raw);
  MLSPACE_RETURN_IF_ERROR(CollectTree(repo, tree.get(), "", &snap.files));
  // Git orders "a/" after "a.yaml" by its own rule; the seam promises plain
  // byte order of paths.
  std::sort(snap.files.begin(), snap.files.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  if (cache != nullptr) {
    cache->valid = true;
    cache->tree_id = tree_id;
    cache->files = snap.files;
  }
  return snap;
}

Result<std::string> ReadBlobBytes(git_repository* repo, const std::string& blob_id) {
  git_oid oid;
  if (blob_id.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, blob_id.c_str()) != 0) {
    return InvalidArgumentError("malformed blob id '" + blob_id + "'");
  }
  // The size from the object header first: a huge blob (a committed
  // dataset) must never be inflated into memory only to be refused.
  git_odb* odb_raw = nullptr;
  if (int rc = git_repository_odb(&odb_raw, repo); rc != 0) {
    return GitError("opening the object database", rc);
  }
  std::unique_ptr<git_odb, void (*)(git_odb*)> odb(odb_raw, git_odb_free);
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (int rc = git_odb_read_header(&size, &type, odb.get(), &oid); rc != 0) {
    if (rc == GIT_ENOTFOUND) return NotFoundError("blob " + blob_id + " not found");
    return GitError("reading blob " + blob_id, rc);
  }
  if (size > kMaxBlobBytes) {
    return ResourceExhaustedError("file is " + std::to_string(size) + " bytes, larger than the " +
                                  std::to_string(kMaxBlobBytes >> 20) + " MiB limit");
  }
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, repo, &oid);
  if (rc == GIT_ENOTFOUND) return NotFoundError("blob " + blob_id + " not found");
  if (rc != 0) return GitError("reading blob " + blob_id, rc);
  BlobPtr blob(raw);
  const auto* bytes = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return std::string(bytes, static_cast<size_t>(git_blob_rawsize(blob.get())));
}

int AcquireCredential(git_credential** out, const char* /*url*/, const char* username_from_url,
                      unsigned int allowed, void* payload) {
  auto* state = static_cast<CredentialState*>(payload);
  auto choice = SelectCredential(
      *state->creds, allowed, username_from_url != nullptr ? username_from_url : "", state->tried);
  if (!choice) {
    git_error_set_str(GIT_ERROR_NET, state->tried != 0
                                         ? "git remote rejected the configured credentials"
                                         : "git remote requires credentials and none are "
                                           "configured for this kind of URL");
    return GIT_EAUTH;
  }
  switch (choice->kind) {
    case CredentialChoice::Kind::kSshKey:
      state->tried |= kCredSshKey;
      return git_credential_ssh_key_new(
          out, choice->username.c_str(),
          choice->pubkey_path.empty() ? nullptr : choice->pubkey_path.c_str(),
          choice->key_path.c_str(), choice->secret.empty() ? nullptr : choice->secret.c_str());
    case CredentialChoice::Kind::kUsername:
      state->tried |= kCredUsername;
      return git_credential_username_new(out, choice->username.c_str());
    case CredentialChoice::Kind::kUserPass:
      state->tried |= kCredUserPass;
      return git_credential_userpass_plaintext_new(out, choice->username.c_str(),
                                                   choice->secret.c_str());
  }
  return GIT_PASSTHROUGH;
}

}  // namespace mlspace::source::internal
