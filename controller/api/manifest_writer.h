#pragma once

// The ManifestWriter seam: how an API write (kubectl apply, patch, delete)
// becomes a change of the manifests in git. The API server (apiserver/)
// decides WHAT the object's document must become (patching, validation,
// optimistic concurrency, dry run); the writer decides WHERE and HOW it is
// written (which file, which bytes, the commit, the push). Implementations:
// the libgit2 writer in controller/source, a fake under tests/fakes.
//
// Header-only on purpose: both sides link mlspace::api, neither links the
// other.

#include <optional>
#include <string>

#include "controller/core/object_key.h"
#include "controller/core/result.h"

namespace mlspace::api {

// The text of one object's YAML document as committed at HEAD.
struct StoredDocument {
  std::string path;      // relative to the manifests directory, '/'-separated
  std::string yaml;      // the document's own bytes (no "---" separators)
  std::string revision;  // the commit it was read at
};

enum class WriteOp {
  kCreate,  // a new object: `<namespace>/<name>.yaml` unless the file exists
  kUpdate,  // replace the object's document, in the file it lives in
  kDelete,  // remove the document (and the file when it was the last)
};

struct ManifestWriteRequest {
  WriteOp op = WriteOp::kUpdate;
  ObjectKey key;
  // kCreate/kUpdate: the complete new document (apiVersion, kind, metadata,
  // spec), YAML, already validated by the caller. Empty for kDelete.
  std::string yaml;
  // For the commit message and the audit line: the Kubernetes verb
  // ("create", "update", "patch", "apply", "delete", "deletecollection")
  // and the authenticated caller ("" = anonymous).
  std::string verb;
  std::string user;
  // The file the caller believes holds the object (status.sourcePath), to
  // avoid scanning the tree; verified by the writer, ignored when wrong.
  std::string path_hint;
  // When set, the write is refused with kAborted if the object's document
  // at HEAD is no longer this text (someone changed it since the caller
  // read it): the caller's optimistic-concurrency guard against git pushes
  // and hand edits racing the API.
  std::optional<std::string> expected_yaml;
};

struct ManifestWriteResult {
  std::string path;    // the file written (or removed)
  std::string commit;  // the new commit's sha ("" when nothing changed)
  bool file_removed = false;
};

// Thread-safe: writes are serialized inside; Find may run concurrently.
class ManifestWriter {
 public:
  virtual ~ManifestWriter() = default;

  // The document that declares `key` at HEAD. NotFound when no committed
  // document declares it; another error when the tree cannot be read.
  virtual Result<StoredDocument> Find(const ObjectKey& key, const std::string& path_hint) = 0;

  // Changes the object's document and commits (and pushes, in push mode).
  // Returns once the commit exists (and, in push mode, the push was
  // accepted). Failures leave the work tree and the branch as they were:
  //   kAborted            the file has uncommitted edits in the work tree,
  //                       expected_yaml no longer matches, or a push was
  //                       rejected and could not be rebased (409)
  //   kNotFound           kUpdate/kDelete of an object no document declares
  //   kAlreadyExists      kCreate of an object a document already declares
  //   kFailedPrecondition writes are off (--api-write=off)
  //   kUnavailable        the remote could not be reached (push mode)
  // After a successful commit the controller has been asked to sync it at
  // once; the call does not wait for the reconcile.
  virtual Result<ManifestWriteResult> Write(const ManifestWriteRequest& req) = 0;
};

}  // namespace mlspace::api
