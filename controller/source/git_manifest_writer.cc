#include "controller/source/git_manifest_writer.h"

#include <git2.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "controller/api/yaml_json.h"
#include "controller/core/log.h"
#include "controller/source/git_internal.h"
#include "controller/source/yaml_documents.h"

namespace mlspace::source {

using api::ManifestWriteRequest;
using api::ManifestWriteResult;
using api::StoredDocument;
using api::WriteOp;
using internal::AcquireCredential;
using internal::CredentialState;
using internal::GitError;
using internal::OidHex;

struct GitManifestWriter::Located {
  std::string path;  // relative to the manifests directory
  std::string text;  // the whole file at the revision
  YamlDocumentSpan span;
  std::string revision;

  std::string Document() const {
    return text.substr(span.content_begin, span.content_end - span.content_begin);
  }
};

namespace {

namespace fs = std::filesystem;

constexpr char kRemoteName[] = "origin";
constexpr char kPushRef[] = "refs/mlspace/push";

using SignaturePtr =
    std::unique_ptr<git_signature, internal::GitDeleter<git_signature, git_signature_free>>;

Result<git_oid> ParseOid(const std::string& hex) {
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) != 0) return InternalError("malformed object id " + hex);
  return oid;
}

// The MLSpaceJob a document declares, parsed only for kind and metadata;
// nullopt for anything else (another kind, not a mapping, invalid YAML).
std::optional<ObjectKey> DocumentKey(std::string_view doc) {
  if (!HasYamlContent(doc)) return std::nullopt;
  try {
    const YAML::Node n = YAML::Load(std::string(doc));
    if (!n.IsMap()) return std::nullopt;
    const YAML::Node kind = n["kind"];
    if (!kind || !kind.IsScalar() || kind.Scalar() != "MLSpaceJob") return std::nullopt;
    const YAML::Node md = n["metadata"];
    if (!md || !md.IsMap()) return std::nullopt;
    const YAML::Node name = md["name"];
    if (!name || !name.IsScalar()) return std::nullopt;
    ObjectKey key;
    key.name = name.Scalar();
    const YAML::Node ns = md["namespace"];
    if (ns && ns.IsScalar() && !ns.Scalar().empty()) key.namespace_name = ns.Scalar();
    return key;
  } catch (const YAML::Exception&) {
    return std::nullopt;
  } catch (const std::exception&) {  // yaml-cpp may throw std::bad_alloc on hostile input
    return std::nullopt;
  }
}

// The own text of one document of `text`.
std::string_view DocumentText(std::string_view text, const YamlDocumentSpan& span) {
  return text.substr(span.content_begin, span.content_end - span.content_begin);
}

// Concatenation without a temporary per '+'.
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

// The span of the document of `text` that declares `key`.
std::optional<YamlDocumentSpan> FindDocument(std::string_view text, const ObjectKey& key) {
  for (const YamlDocumentSpan& span : SplitYamlDocuments(text)) {
    auto k = DocumentKey(DocumentText(text, span));
    if (k && *k == key) return span;
  }
  return std::nullopt;
}

Result<internal::CommitPtr> LookupCommit(git_repository* repo, const git_oid& oid) {
  git_commit* raw = nullptr;
  if (int rc = git_commit_lookup(&raw, repo, &oid); rc != 0) {
    return GitError("reading commit " + OidHex(oid), rc);
  }
  return internal::CommitPtr(raw);
}

Result<internal::TreePtr> CommitTree(git_commit* commit) {
  git_tree* raw = nullptr;
  if (int rc = git_commit_tree(&raw, commit); rc != 0) return GitError("reading a tree", rc);
  return internal::TreePtr(raw);
}

// The bytes of `repo_path` in `root`; nullopt when there is no such blob.
Result<std::optional<std::string>> ReadFileAt(git_repository* repo, git_tree* root,
                                              const std::string& repo_path) {
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, root, repo_path.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
  if (rc != 0) return GitError("looking up " + repo_path, rc);
  internal::TreeEntryPtr entry(raw);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB ||
      git_tree_entry_filemode(entry.get()) == GIT_FILEMODE_LINK) {
    return std::optional<std::string>();
  }
  MLSPACE_ASSIGN_OR_RETURN(std::string bytes,
                           internal::ReadBlobBytes(repo, OidHex(*git_tree_entry_id(entry.get()))));
  return std::optional<std::string>(std::move(bytes));
}

// The id of the manifests tree (subdir of the commit's tree); "" when absent.
std::string ManifestsTreeHex(git_tree* root, const std::string& subdir) {
  if (subdir.empty()) return OidHex(*git_tree_id(root));
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, subdir.c_str()) != 0) return "";
  internal::TreeEntryPtr entry(raw);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return "";
  return OidHex(*git_tree_entry_id(entry.get()));
}

struct PushState {
  CredentialState creds;
  std::string rejected;  // the server's reason, when it refused the update
};

int OnPushUpdate(const char* refname, const char* status, void* payload) {
  if (status != nullptr) {
    auto* state = static_cast<PushState*>(payload);
    state->rejected = std::string(refname) + ": " + status;
  }
  return 0;
}

std::string OpName(WriteOp op) {
  switch (op) {
    case WriteOp::kCreate:
      return "create";
    case WriteOp::kUpdate:
      return "update";
    case WriteOp::kDelete:
      return "delete";
  }
  return "write";
}

// A caller-supplied word for a commit message or log line: control bytes
// (a newline would forge trailer lines) become '?'.
std::string OneLine(std::string_view text) {
  std::string out(text.substr(0, 256));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// True when `ancestor` is `commit` or one of its ancestors.
bool IsAncestor(git_repository* repo, const git_oid& ancestor, const git_oid& commit) {
  if (git_oid_equal(&ancestor, &commit)) return true;
  return git_graph_descendant_of(repo, &commit, &ancestor) == 1;
}

// The directory of a file:// (or plain path) remote; "" for a network one.
std::string LocalRemotePath(const char* url) {
  std::string_view u = url != nullptr ? url : "";
  if (u.rfind("file://", 0) == 0) return std::string(u.substr(7));
  if (!u.empty() && u.front() == '/') return std::string(u);
  return "";
}

// Moves `branch` of the repository at `remote_path` to `commit` (already
// pushed there as `incoming`) when it fast-forwards from the branch's value
// at that moment, by a compare-and-swap of the ref; sets `*rejected` when it
// does not (the remote moved). The incoming ref is removed either way.
Status MoveLocalRemoteBranch(git_repository* repo, const std::string& remote_path,
                             const std::string& branch, const std::string& incoming,
                             const git_oid& commit, std::string* rejected) {
  git_repository* raw = nullptr;
  if (int rc = git_repository_open_ext(&raw, remote_path.c_str(),
                                       GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
                                       nullptr);
      rc != 0) {
    return GitError("opening the remote repository", rc);
  }
  internal::RepoPtr remote(raw);
  Status result = OkStatus();
  git_oid current;
  int rc = git_reference_name_to_id(&current, remote.get(), branch.c_str());
  git_reference* moved = nullptr;
  if (rc == GIT_ENOTFOUND) {
    rc = git_reference_create(&moved, remote.get(), branch.c_str(), &commit, 0, "mlspace push");
  } else if (rc == 0 && !IsAncestor(repo, current, commit)) {
    rc = GIT_EMODIFIED;  // the remote has commits this one does not build on
  } else if (rc == 0) {
    rc = git_reference_create_matching(&moved, remote.get(), branch.c_str(), &commit, 1, &current,
                                       "mlspace push");
  }
  git_reference_free(moved);
  if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS) {
    *rejected = branch + ": the remote moved (non-fast-forward)";
  } else if (rc != 0) {
    result = GitError("updating " + branch + " in the remote repository", rc);
  }
  git_reference* tmp = nullptr;
  if (git_reference_lookup(&tmp, remote.get(), incoming.c_str()) == 0) {
    git_reference_delete(tmp);
    git_reference_free(tmp);
  }
  return result;
}

// The manifests that differ between two manifests trees: every path that
// changed (their index entries go) and the objects the new versions declare.
struct ManifestChanges {
  std::set<std::string> paths;
  std::vector<std::pair<ObjectKey, std::string>> added;
};

// Fails (the caller scans instead) when a tree is gone or the change is big.
Result<ManifestChanges> DiffManifestTrees(git_repository* repo, const std::string& old_hex,
                                          const std::string& new_hex) {
  constexpr size_t kMaxDeltas = 2000;
  MLSPACE_ASSIGN_OR_RETURN(git_oid old_id, ParseOid(old_hex));
  MLSPACE_ASSIGN_OR_RETURN(git_oid new_id, ParseOid(new_hex));
  git_tree* old_raw = nullptr;
  git_tree* new_raw = nullptr;
  if (int rc = git_tree_lookup(&old_raw, repo, &old_id); rc != 0) return GitError("old tree", rc);
  internal::TreePtr old_tree(old_raw);
  if (int rc = git_tree_lookup(&new_raw, repo, &new_id); rc != 0) return GitError("new tree", rc);
  internal::TreePtr new_tree(new_raw);
  git_diff* diff_raw = nullptr;
  if (int rc = git_diff_tree_to_tree(&diff_raw, repo, old_tree.get(), new_tree.get(), nullptr);
      rc != 0) {
    return GitError("comparing manifests trees", rc);
  }
  std::unique_ptr<git_diff, void (*)(git_diff*)> diff(diff_raw, git_diff_free);
  const size_t n = git_diff_num_deltas(diff.get());
  if (n > kMaxDeltas) return ResourceExhaustedError("too many changes to follow");
  ManifestChanges out;
  for (size_t i = 0; i < n; ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    if (d->old_file.path != nullptr) out.paths.insert(d->old_file.path);
    if (d->status == GIT_DELTA_DELETED || d->new_file.path == nullptr) continue;
    const std::string path = d->new_file.path;
    out.paths.insert(path);
    if ((d->new_file.mode != GIT_FILEMODE_BLOB &&
         d->new_file.mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
        !internal::IsManifestPath(path)) {
      continue;
    }
    auto bytes = internal::ReadBlobBytes(repo, OidHex(d->new_file.id));
    if (!bytes.ok()) continue;  // too large: the controller refuses it too
    for (const YamlDocumentSpan& span : SplitYamlDocuments(*bytes)) {
      auto k = DocumentKey(DocumentText(*bytes, span));
      if (k) out.added.emplace_back(*k, path);
    }
  }
  return out;
}

}  // namespace

Result<ApiWriteMode> ParseApiWriteMode(std::string_view text) {
  if (text == "off") return ApiWriteMode::kOff;
  if (text == "commit") return ApiWriteMode::kCommit;
  if (text == "push") return ApiWriteMode::kPush;
  return InvalidArgumentError("--api-write \"" + std::string(text) +
                              "\": expected one of off|commit|push");
}

std::string_view ApiWriteModeName(ApiWriteMode mode) {
  switch (mode) {
    case ApiWriteMode::kOff:
      return "off";
    case ApiWriteMode::kCommit:
      return "commit";
    case ApiWriteMode::kPush:
      return "push";
  }
  return "off";
}

Result<GitAuthor> ParseGitAuthor(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("--git-author \"" + std::string(text) +
                                "\": expected \"Name <email>\" (" + why + ")");
  };
  size_t lt = text.find('<');
  size_t gt = text.rfind('>');
  if (lt == std::string_view::npos || gt == std::string_view::npos || gt < lt) {
    return bad("no <email>");
  }
  if (gt + 1 != text.size()) return bad("text after the email");
  GitAuthor a;
  std::string_view name = text.substr(0, lt);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
  a.name = std::string(name);
  a.email = std::string(text.substr(lt + 1, gt - lt - 1));
  if (a.name.empty()) return bad("empty name");
  if (a.email.empty() || a.email.find_first_of("<> \t\n") != std::string::npos) {
    return bad("bad email");
  }
  for (char c : a.name) {
    if (c == '<' || c == '>' || c == '\n' || c == '\r' || c == '\0') return bad("bad name");
  }
  return a;
}

GitManifestWriter::GitManifestWriter(Options options) : options_(std::move(options)) {}

GitManifestWriter::~GitManifestWriter() {
  if (remote_ != nullptr) git_remote_free(remote_);
  if (write_repo_ != nullptr) git_repository_free(write_repo_);
  if (find_repo_ != nullptr) git_repository_free(find_repo_);
}

Result<std::unique_ptr<GitManifestWriter>> GitManifestWriter::Open(Options options) {
  internal::EnsureLibgit2();
  if (options.manifests_dir.empty() == options.clone_dir.empty()) {
    return InvalidArgumentError("git writer: give exactly one of manifests_dir and clone_dir");
  }
  std::unique_ptr<GitManifestWriter> w(new GitManifestWriter(std::move(options)));
  const Options& o = w->options_;
  if (o.mode == ApiWriteMode::kOff) return w;

  std::string open_path;
  unsigned flags = 0;
  if (!o.manifests_dir.empty()) {
    char* real = realpath(o.manifests_dir.c_str(), nullptr);
    if (real == nullptr) {
      return FailedPreconditionError("--manifests \"" + o.manifests_dir + "\": not found");
    }
    open_path = real;
    free(real);
  } else {
    if (o.mode != ApiWriteMode::kPush) {
      return FailedPreconditionError(
          "--api-write=commit needs a local --manifests work tree; with --git-url use push "
          "(or off)");
    }
    open_path = o.clone_dir;
    flags = GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE;
  }
  for (git_repository** slot : {&w->write_repo_, &w->find_repo_}) {
    int rc = git_repository_open_ext(slot, open_path.c_str(), flags, nullptr);
    if (rc != 0) return GitError("--api-write: opening the repository of " + open_path, rc);
  }
  if (!o.manifests_dir.empty()) {
    if (git_repository_is_bare(w->write_repo_)) {
      return FailedPreconditionError("--manifests \"" + o.manifests_dir +
                                     "\": a bare repository has no work tree to write");
    }
    w->work_tree_ = git_repository_workdir(w->write_repo_);
    std::string dir = open_path + "/";
    if (dir.rfind(w->work_tree_, 0) != 0) {
      return FailedPreconditionError("--manifests \"" + o.manifests_dir +
                                     "\": not below the work tree " + w->work_tree_);
    }
    w->subdir_ = dir.substr(w->work_tree_.size());
  } else {
    w->subdir_ = o.subdir;
    while (!w->subdir_.empty() && w->subdir_.front() == '/') w->subdir_.erase(0, 1);
  }
  while (!w->subdir_.empty() && w->subdir_.back() == '/') w->subdir_.pop_back();

  if (o.mode == ApiWriteMode::kPush) {
    int rc = git_remote_lookup(&w->remote_, w->write_repo_, kRemoteName);
    if (rc == GIT_ENOTFOUND) {
      return FailedPreconditionError("--api-write=push: the repository has no remote \"origin\"");
    }
    if (rc != 0) return GitError("--api-write=push: reading remote origin", rc);
  }
  return w;
}

std::string GitManifestWriter::RepoPath(const std::string& rel) const {
  return subdir_.empty() ? rel : subdir_ + "/" + rel;
}

void GitManifestWriter::FifoMutex::lock() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = next_++;
  cv_.wait(lock, [&] { return serving_ == ticket; });
}

void GitManifestWriter::FifoMutex::unlock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++serving_;
  }
  cv_.notify_all();
}

Result<std::string> GitManifestWriter::RemoteBranchLocked() {
  if (!remote_branch_.empty()) return remote_branch_;
  // What the remote advertises: the branch --git-ref names (a tag or any
  // other ref cannot take a commit), or its default branch.
  git_remote_callbacks cb;
  git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
  CredentialState cs{&options_.credentials};
  cb.credentials = AcquireCredential;
  cb.payload = &cs;
  int rc = git_remote_connect(remote_, GIT_DIRECTION_FETCH, &cb, nullptr, nullptr);
  if (rc != 0) {
    Status s = GitError("connecting to the remote", rc);
    return s.code() == StatusCode::kUnauthenticated ? s : UnavailableError(s.message());
  }
  std::string branch;
  const std::string& ref = options_.remote_branch;
  if (ref.empty() || ref == "HEAD") {
    git_buf buf = GIT_BUF_INIT;
    rc = git_remote_default_branch(&buf, remote_);
    if (rc == 0) branch.assign(buf.ptr, buf.size);
    git_buf_dispose(&buf);
  } else {
    const std::string want = ref.rfind("refs/", 0) == 0 ? ref : "refs/heads/" + ref;
    const git_remote_head** heads = nullptr;
    size_t n = 0;
    rc = git_remote_ls(&heads, &n, remote_);
    for (size_t i = 0; rc == 0 && i < n; ++i) {
      if (want == heads[i]->name) branch = want;
    }
  }
  Status ls_error = rc != 0 ? GitError("listing the remote's branches", rc) : OkStatus();
  git_remote_disconnect(remote_);
  if (!ls_error.ok()) return ls_error;
  if (branch.rfind("refs/heads/", 0) != 0) {
    return FailedPreconditionError("--api-write=push: --git-ref " +
                                   (ref.empty() ? std::string("HEAD") : ref) +
                                   " is not a branch of the remote; pushes go to a branch");
  }
  remote_branch_ = branch;
  return branch;
}

Result<std::string> GitManifestWriter::BaseRevision(git_repository* repo, std::string* branch_ref) {
  git_oid oid;
  if (options_.clone_dir.empty()) {
    git_reference* head_raw = nullptr;
    int rc = git_reference_lookup(&head_raw, repo, "HEAD");
    if (rc != 0) return GitError("reading HEAD", rc);
    internal::ReferencePtr head(head_raw);
    if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) {
      return FailedPreconditionError(
          "HEAD is detached: writes commit on the checked-out branch, and there is none");
    }
    if (branch_ref != nullptr) *branch_ref = git_reference_symbolic_target(head.get());
    rc = git_reference_name_to_id(&oid, repo, "HEAD");
    if (rc == GIT_ENOTFOUND) return FailedPreconditionError("the repository has no commit yet");
    if (rc != 0) return GitError("resolving HEAD", rc);
  } else {
    int rc = git_reference_name_to_id(&oid, repo, options_.fetched_ref.c_str());
    if (rc == GIT_ENOTFOUND) return UnavailableError("no revision fetched yet");
    if (rc != 0) return GitError("resolving the fetched revision", rc);
  }
  return OidHex(oid);
}

Result<GitManifestWriter::Located> GitManifestWriter::Locate(git_repository* repo,
                                                             const std::string& commit_hex,
                                                             const ObjectKey& key,
                                                             const std::string& path_hint) {
  MLSPACE_ASSIGN_OR_RETURN(git_oid oid, ParseOid(commit_hex));
  MLSPACE_ASSIGN_OR_RETURN(internal::CommitPtr commit, LookupCommit(repo, oid));
  MLSPACE_ASSIGN_OR_RETURN(internal::TreePtr root, CommitTree(commit.get()));
  auto try_file = [&](const std::string& rel) -> Result<std::optional<Located>> {
    MLSPACE_ASSIGN_OR_RETURN(auto text, ReadFileAt(repo, root.get(), RepoPath(rel)));
    if (!text) return std::optional<Located>();
    auto span = FindDocument(*text, key);
    if (!span) return std::optional<Located>();
    return std::optional<Located>(Located{rel, std::move(*text), *span, commit_hex});
  };
  if (!path_hint.empty() && internal::IsManifestPath(path_hint)) {
    MLSPACE_ASSIGN_OR_RETURN(auto found, try_file(path_hint));
    if (found) return std::move(*found);
  }
  const std::string tree_hex = ManifestsTreeHex(root.get(), subdir_);
  auto not_found = [&] {
    return NotFoundError("no committed document declares mlspacejob " + key.ToString());
  };
  if (tree_hex.empty()) return not_found();
  {
    std::string indexed;
    bool current = false;
    {
      std::lock_guard<std::mutex> lock(index_mu_);
      if (index_tree_ == tree_hex) {
        current = true;
        auto it = index_.find(key);
        if (it != index_.end()) indexed = it->second;
      }
    }
    if (current && indexed.empty()) return not_found();
    if (current) {
      MLSPACE_ASSIGN_OR_RETURN(auto found, try_file(indexed));
      if (found) return std::move(*found);
    }
  }
  // Another revision: carry the index over by the files that changed.
  std::string old_tree;
  {
    std::lock_guard<std::mutex> lock(index_mu_);
    old_tree = index_tree_;
  }
  if (!old_tree.empty() && old_tree != tree_hex) {
    auto changes = DiffManifestTrees(repo, old_tree, tree_hex);
    if (changes.ok()) {
      std::string indexed;
      bool current = false;
      {
        std::lock_guard<std::mutex> lock(index_mu_);
        if (index_tree_ == old_tree) {
          for (auto it = index_.begin(); it != index_.end();) {
            it = changes->paths.count(it->second) != 0 ? index_.erase(it) : std::next(it);
          }
          for (auto& [k, p] : changes->added) index_.emplace(k, p);
          index_tree_ = tree_hex;
        }
        if (index_tree_ == tree_hex) {
          current = true;
          auto it = index_.find(key);
          if (it != index_.end()) indexed = it->second;
        }
      }
      if (current && indexed.empty()) return not_found();
      if (current) {
        MLSPACE_ASSIGN_OR_RETURN(auto found, try_file(indexed));
        if (found) return std::move(*found);
      }
    }
  }
  // No index yet, too many changes, or the index is wrong: scan it all.
  MLSPACE_ASSIGN_OR_RETURN(Snapshot snap,
                           internal::ReadCommitSnapshot(repo, oid, subdir_, nullptr));
  std::map<ObjectKey, std::string> index;
  for (const ManifestEntry& f : snap.files) {
    auto bytes = internal::ReadBlobBytes(repo, f.blob_id);
    if (!bytes.ok()) continue;  // too large: the controller refuses it too
    for (const YamlDocumentSpan& span : SplitYamlDocuments(*bytes)) {
      auto k = DocumentKey(DocumentText(*bytes, span));
      if (k) index.emplace(*k, f.path);  // the first declaration wins, as in path order
    }
  }
  std::string path;
  if (auto it = index.find(key); it != index.end()) path = it->second;
  {
    std::lock_guard<std::mutex> lock(index_mu_);
    index_tree_ = tree_hex;
    index_ = std::move(index);
  }
  if (path.empty()) return not_found();
  MLSPACE_ASSIGN_OR_RETURN(auto found, try_file(path));
  if (!found) return not_found();
  return std::move(*found);
}

Result<StoredDocument> GitManifestWriter::Find(const ObjectKey& key, const std::string& path_hint) {
  if (options_.mode == ApiWriteMode::kOff) {
    return FailedPreconditionError("writes are off (--api-write=off)");
  }
  try {
    std::lock_guard<std::mutex> lock(find_mu_);
    MLSPACE_ASSIGN_OR_RETURN(std::string base, BaseRevision(find_repo_, nullptr));
    MLSPACE_ASSIGN_OR_RETURN(Located loc, Locate(find_repo_, base, key, path_hint));
    return StoredDocument{loc.path, loc.Document(), loc.revision};
  } catch (const std::exception& e) {
    return InternalError(std::string("finding a manifest: ") + e.what());
  }
}

Result<ManifestWriteResult> GitManifestWriter::Write(const ManifestWriteRequest& req) {
  std::string label = "error";
  Result<ManifestWriteResult> r = InternalError("not written");
  {
    std::lock_guard<FifoMutex> lock(write_mu_);
    try {
      r = WriteLocked(req, &label);
    } catch (const std::exception& e) {
      r = InternalError(std::string("writing a manifest: ") + e.what());
    }
  }
  const std::string object = req.key.ToString();
  const std::string user = req.user.empty() ? "anonymous" : OneLine(req.user);
  const std::string verb = req.verb.empty() ? OpName(req.op) : OneLine(req.verb);
  if (r.ok()) {
    LogInfo("api write committed", {{"user", user},
                                    {"verb", verb},
                                    {"object", object},
                                    {"file", r->path},
                                    {"commit", r->commit},
                                    {"result", label}});
  } else {
    LogInfo("api write refused", {{"user", user},
                                  {"verb", verb},
                                  {"object", object},
                                  {"result", label},
                                  {"error", r.status().message()}});
  }
  if (options_.on_result) options_.on_result(label);
  if (r.ok() && !r->commit.empty() && req.op == api::WriteOp::kDelete && options_.on_removed) {
    options_.on_removed(req.key, r->commit);
  }
  if (r.ok() && !r->commit.empty() && options_.on_commit) options_.on_commit();
  return r;
}

Result<ManifestWriteResult> GitManifestWriter::WriteLocked(const ManifestWriteRequest& req,
                                                           std::string* label) {
  const std::string object = "mlspacejob " + req.key.ToString();
  *label = "refused";
  if (options_.mode == ApiWriteMode::kOff) {
    return FailedPreconditionError("writes are off (--api-write=off)");
  }
  if (!IsDns1123Label(req.key.namespace_name) || !IsDns1123Label(req.key.name)) {
    return InvalidArgumentError(object + ": namespace and name must be DNS-1123 labels");
  }
  if (req.op != WriteOp::kDelete) {
    auto declared = DocumentKey(req.yaml);
    if (!declared) return InvalidArgumentError(object + ": the new document is not an MLSpaceJob");
    if (*declared != req.key) {
      return InvalidArgumentError(object + ": the new document declares " + declared->ToString());
    }
  }
  git_repository* repo = write_repo_;
  const bool local = options_.clone_dir.empty();
  const bool push = options_.mode == ApiWriteMode::kPush;
  std::string branch_ref;
  MLSPACE_ASSIGN_OR_RETURN(std::string base_hex, BaseRevision(repo, &branch_ref));
  MLSPACE_ASSIGN_OR_RETURN(git_oid local_head, ParseOid(base_hex));
  std::string remote_branch;  // refs/heads/... on origin
  if (push) {
    if (local) {
      remote_branch = branch_ref;
    } else {
      MLSPACE_ASSIGN_OR_RETURN(remote_branch, RemoteBranchLocked());
    }
  }

  SignaturePtr sig;
  {
    git_signature* raw = nullptr;
    if (int rc =
            git_signature_now(&raw, options_.author.name.c_str(), options_.author.email.c_str());
        rc != 0) {
      return GitError("--git-author", rc);
    }
    sig.reset(raw);
  }
  const std::string verb = req.verb.empty() ? OpName(req.op) : OneLine(req.verb);
  const std::string user = req.user.empty() ? "anonymous" : OneLine(req.user);

  std::optional<std::string> original_doc;  // at the first base: a rebase must find it unchanged
  const int attempts = std::max(1, options_.push_attempts);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    MLSPACE_ASSIGN_OR_RETURN(const git_oid base, ParseOid(base_hex));
    MLSPACE_ASSIGN_OR_RETURN(internal::CommitPtr base_commit, LookupCommit(repo, base));
    MLSPACE_ASSIGN_OR_RETURN(internal::TreePtr base_root, CommitTree(base_commit.get()));

    // What the file must become.
    std::string path;
    std::optional<std::string> new_text;  // nullopt: remove the file
    bool file_removed = false;
    auto loc = Locate(repo, base_hex, req.key, req.path_hint);
    if (req.op == WriteOp::kCreate) {
      if (loc.ok()) {
        *label = "conflict";
        return AlreadyExistsError(object + " already exists in " + loc->path);
      }
      if (loc.status().code() != StatusCode::kNotFound) return loc.status();
      path = req.key.namespace_name + "/" + req.key.name + ".yaml";
      MLSPACE_ASSIGN_OR_RETURN(auto existing, ReadFileAt(repo, base_root.get(), RepoPath(path)));
      new_text =
          existing ? AppendYamlDocument(*existing, req.yaml) : AppendYamlDocument("", req.yaml);
    } else {
      if (!loc.ok()) {
        if (loc.status().code() == StatusCode::kNotFound && attempt > 0) *label = "conflict";
        return loc.status();
      }
      path = loc->path;
      const std::string doc = loc->Document();
      if (req.expected_yaml && *req.expected_yaml != doc) {
        *label = "conflict";
        return AbortedError(Cat(object, " in ", path, " changed since it was read (now at ",
                                base_hex.substr(0, 12), "); read it again and retry"));
      }
      if (!original_doc) {
        original_doc = doc;
      } else if (*original_doc != doc) {
        *label = "conflict";
        return AbortedError(Cat(object, " in ", path,
                                " was changed on the remote by a concurrent push; read it "
                                "again and retry"));
      }
      if (req.op == WriteOp::kUpdate) {
        std::string doc_text = req.yaml;
        if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
          // A JSON manifest stays JSON (YAML would load, but the file would
          // no longer be what its name says).
          MLSPACE_ASSIGN_OR_RETURN(nlohmann::json j, api::internal::YamlToJson(req.yaml));
          doc_text = j.dump(2) + "\n";
        }
        new_text = ReplaceYamlDocument(loc->text, loc->span, doc_text);
      } else {
        std::string rest = RemoveYamlDocument(loc->text, loc->span);
        if (HasYamlContent(rest)) {
          new_text = std::move(rest);
        } else {
          file_removed = true;
        }
      }
    }
    const std::string repo_path = RepoPath(path);

    // Never overwrite a hand edit that is not committed yet.
    if (local) {
      unsigned int status = 0;
      int rc = git_status_file(&status, repo, repo_path.c_str());
      if (rc == 0 && status != GIT_STATUS_CURRENT) {
        return AbortedError(path +
                            " has uncommitted changes in the work tree or index; commit or "
                            "discard them first");
      }
      if (rc != 0 && rc != GIT_ENOTFOUND) return GitError("checking the status of " + path, rc);
    }

    // The new tree: the base with only this file changed.
    git_tree_update update{};
    update.path = repo_path.c_str();
    git_oid blob_id{};
    if (new_text) {
      if (int rc = git_blob_create_from_buffer(&blob_id, repo, new_text->data(), new_text->size());
          rc != 0) {
        return GitError("writing " + path, rc);
      }
      update.action = GIT_TREE_UPDATE_UPSERT;
      update.id = blob_id;
      update.filemode = GIT_FILEMODE_BLOB;
      // Keep an executable bit the file had.
      git_tree_entry* e = nullptr;
      if (git_tree_entry_bypath(&e, base_root.get(), repo_path.c_str()) == 0) {
        if (git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB_EXECUTABLE) {
          update.filemode = GIT_FILEMODE_BLOB_EXECUTABLE;
        }
        git_tree_entry_free(e);
      }
    } else {
      update.action = GIT_TREE_UPDATE_REMOVE;
    }
    git_oid tree_id;
    if (int rc = git_tree_create_updated(&tree_id, repo, base_root.get(), 1, &update); rc != 0) {
      return GitError("building the tree for " + path, rc);
    }
    if (git_oid_equal(&tree_id, git_tree_id(base_root.get()))) {
      *label = "unchanged";
      return ManifestWriteResult{path, "", false};  // the document already says this
    }
    git_tree* new_root_raw = nullptr;
    if (int rc = git_tree_lookup(&new_root_raw, repo, &tree_id); rc != 0) {
      return GitError("reading the new tree", rc);
    }
    internal::TreePtr new_root(new_root_raw);
    const std::string message = Cat(verb, " ", req.key.ToString(), " by ", user,
                                    "\n\nmlspace-controller API: ", OpName(req.op), " of ", path,
                                    file_removed ? " (file removed)\n" : "\n");
    git_oid commit_id;
    const git_commit* parents[] = {base_commit.get()};
    if (int rc = git_commit_create(&commit_id, repo, nullptr, sig.get(), sig.get(), nullptr,
                                   message.c_str(), new_root.get(), 1, parents);
        rc != 0) {
      return GitError("committing " + path, rc);
    }
    const std::string commit_hex = OidHex(commit_id);

    if (push) {
      if (local && !IsAncestor(repo, local_head, commit_id)) {
        *label = "conflict";
        return AbortedError("the local branch " + branch_ref +
                            " has commits the remote does not; push or reset it first");
      }
      git_reference* tmp = nullptr;
      if (int rc = git_reference_create(&tmp, repo, kPushRef, &commit_id, 1, "mlspace push");
          rc != 0) {
        return GitError("preparing the push", rc);
      }
      git_reference_free(tmp);
      PushState ps{{&options_.credentials}, {}};
      git_push_options po;
      git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
      po.callbacks.credentials = AcquireCredential;
      po.callbacks.push_update_reference = OnPushUpdate;
      po.callbacks.payload = &ps;
      // AcquireCredential reads a CredentialState at the start of PushState.
      static_assert(offsetof(PushState, creds) == 0);
      // libgit2's local (file://) transport moves the remote ref without
      // comparing it to what it advertised, so a push racing another one
      // could overwrite it. There the objects go to a ref of their own and
      // the branch moves by compare-and-swap in the remote repository.
      const std::string remote_path = LocalRemotePath(git_remote_url(remote_));
      const std::string incoming = "refs/mlspace/incoming/" + commit_hex;
      std::string spec = std::string(kPushRef) + ":" + remote_branch;
      if (!remote_path.empty()) spec = "+" + std::string(kPushRef) + ":" + incoming;
      char* spec_c = spec.data();
      git_strarray specs{&spec_c, 1};
      int rc = git_remote_push(remote_, &specs, &po);
      Status push_error = rc != 0 ? GitError("pushing to " + remote_branch, rc) : OkStatus();
      if (rc == 0 && !remote_path.empty()) {
        Status moved = MoveLocalRemoteBranch(repo, remote_path, remote_branch, incoming, commit_id,
                                             &ps.rejected);
        if (!moved.ok()) {
          rc = -1;
          push_error = moved;
        }
      }
      git_reference* pr = nullptr;
      if (git_reference_lookup(&pr, repo, kPushRef) == 0) {
        git_reference_delete(pr);
        git_reference_free(pr);
      }
      if (rc != 0 || !ps.rejected.empty()) {
        // Rejected (the remote moved) or failed: the remote head tells.
        const std::string tracking =
            local ? "refs/remotes/origin/" + remote_branch.substr(11) : options_.fetched_ref;
        std::string fspec = Cat("+", remote_branch, ":", tracking);
        char* fspec_c = fspec.data();
        git_strarray fspecs{&fspec_c, 1};
        git_fetch_options fo;
        git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
        CredentialState cs{&options_.credentials};
        fo.callbacks.credentials = AcquireCredential;
        fo.callbacks.payload = &cs;
        fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
        fo.update_fetchhead = 0;
        if (int frc = git_remote_fetch(remote_, &fspecs, &fo, "mlspace fetch after rejected push");
            frc != 0) {
          Status fs = GitError("fetching " + remote_branch + " after a failed push", frc);
          *label = "error";
          // Neither push nor fetch went through: the remote is out of reach
          // (or refuses the credentials, which stays Unauthenticated).
          const Status& first = push_error.ok() ? fs : push_error;
          if (first.code() == StatusCode::kUnauthenticated) return first;
          return UnavailableError(first.message());
        }
        git_oid remote_head;
        if (int grc = git_reference_name_to_id(&remote_head, repo, tracking.c_str()); grc != 0) {
          *label = "error";
          return GitError("reading the fetched " + remote_branch, grc);
        }
        if (git_oid_equal(&remote_head, &base)) {
          // The remote did not move: the push failed for another reason.
          *label = "error";
          return push_error.ok()
                     ? InternalError("push of " + remote_branch + " refused: " + ps.rejected)
                     : push_error;
        }
        LogInfo("api write: push rejected, rebasing onto the remote",
                {{"object", req.key.ToString()},
                 {"remote", OidHex(remote_head).substr(0, 12)},
                 {"attempt", std::to_string(attempt + 1)}});
        base_hex = OidHex(remote_head);
        continue;
      }
    }

    // Before the source can read the commit: the controller's prune guards
    // must know this removal is the API's when its sync sees it.
    if (req.op == WriteOp::kDelete && options_.on_removed) options_.on_removed(req.key, commit_hex);

    // Move the branch (or the served revision) to the new commit.
    if (local) {
      git_reference* moved = nullptr;
      int rc = git_reference_create_matching(&moved, repo, branch_ref.c_str(), &commit_id, 1,
                                             &local_head, message.c_str());
      if (rc == GIT_EMODIFIED && !push) {
        // Someone committed meanwhile: build on their commit.
        git_reference_free(moved);
        MLSPACE_ASSIGN_OR_RETURN(base_hex, BaseRevision(repo, &branch_ref));
        MLSPACE_ASSIGN_OR_RETURN(git_oid head, ParseOid(base_hex));
        local_head = head;
        original_doc.reset();
        continue;
      }
      if (rc != 0) return GitError(Cat("moving ", branch_ref, " to ", commit_hex), rc);
      git_reference_free(moved);
      // The work tree and index follow (the file is clean, checked above).
      MLSPACE_ASSIGN_OR_RETURN(internal::CommitPtr head_commit, LookupCommit(repo, local_head));
      MLSPACE_ASSIGN_OR_RETURN(internal::TreePtr head_tree, CommitTree(head_commit.get()));
      git_checkout_options co;
      git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
      co.checkout_strategy = GIT_CHECKOUT_SAFE;
      co.baseline = head_tree.get();
      char* path_c = const_cast<char*>(repo_path.c_str());
      if (git_oid_equal(&local_head, &base)) {
        co.paths = git_strarray{&path_c, 1};
        co.checkout_strategy |= GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
      }
      rc = git_checkout_tree(repo, reinterpret_cast<const git_object*>(new_root.get()), &co);
      if (rc != 0) {
        *label = "error";
        Status s = GitError(
            "committed " + commit_hex.substr(0, 12) + " but could not update the work tree", rc);
        LogError("api write: work tree not updated", {{"error", s.message()}});
        return s;
      }
    } else {
      git_oid current;
      if (git_reference_name_to_id(&current, repo, options_.fetched_ref.c_str()) == 0 &&
          IsAncestor(repo, current, commit_id)) {
        git_reference* moved = nullptr;
        if (git_reference_create_matching(&moved, repo, options_.fetched_ref.c_str(), &commit_id, 1,
                                          &current, "mlspace api write") == 0) {
          git_reference_free(moved);
        }
      }
    }

    // Carry the index of the manifests tree forward to the new tree.
    {
      const std::string old_tree = ManifestsTreeHex(base_root.get(), subdir_);
      const std::string new_tree = ManifestsTreeHex(new_root.get(), subdir_);
      std::lock_guard<std::mutex> lock(index_mu_);
      if (index_tree_ == old_tree && !old_tree.empty()) {
        for (auto it = index_.begin(); it != index_.end();) {
          it = it->second == path ? index_.erase(it) : std::next(it);
        }
        if (new_text) {
          for (const YamlDocumentSpan& span : SplitYamlDocuments(*new_text)) {
            auto k = DocumentKey(DocumentText(*new_text, span));
            if (k) index_.emplace(*k, path);
          }
        }
        index_tree_ = new_tree;
      }
    }
    *label = push ? "pushed" : "committed";
    return ManifestWriteResult{path, commit_hex, file_removed};
  }
  *label = "conflict";
  return AbortedError(object + ": the remote kept moving; gave up after " +
                      std::to_string(attempts) + " attempts");
}

}  // namespace mlspace::source
