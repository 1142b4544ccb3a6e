#pragma once

// The ManifestSource seam: the committed manifests the controller must
// make true. Implementations: the git checkout reader (local work tree, or a
// clone fetched from --git-url) in this folder; a fake under tests/fakes.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "controller/core/result.h"

namespace mlspace::source {

// The largest manifest file read (the manifest parser's own limit, 8 MiB).
inline constexpr size_t kMaxBlobBytes = size_t{8} << 20;

struct ManifestEntry {
  std::string path;     // relative to the manifests directory, '/'-separated
  std::string blob_id;  // content id (git blob sha): equal ids, equal bytes
};

// One revision's manifest files (*.yaml, *.yml, *.json below the directory),
// sorted by path.
struct Snapshot {
  std::string revision;  // commit sha
  std::vector<ManifestEntry> files;
};

// Thread-safe.
class ManifestSource {
 public:
  virtual ~ManifestSource() = default;

  // The manifests at the current committed revision (HEAD of the checkout).
  // An error whenever the tree cannot be read completely: a source that
  // fails never looks like "all manifests removed".
  virtual Result<Snapshot> Read() = 0;

  // The bytes of one blob listed in a Snapshot. Callers cache parses by
  // blob_id, so only changed files are read and parsed again. A blob over
  // kMaxBlobBytes is ResourceExhausted with its size, without being read
  // (the file is invalid; the source is fine).
  virtual Result<std::string> ReadBlob(const std::string& blob_id) = 0;

  // Brings the checkout up to date when it follows a remote (fetch), a no-op
  // for a local work tree. Failure keeps the last good revision.
  virtual Status Refresh() = 0;

  // Blocks up to `timeout` for a sign that the revision may have changed
  // (inotify on HEAD/refs and the directory); returns true if one came.
  // Spurious wakeups are allowed; callers Read() and compare revisions.
  virtual bool WaitForChange(std::chrono::milliseconds timeout) = 0;

  // Wakes a WaitForChange (shutdown, POST /reconcile).
  virtual void Wake() = 0;
};

}  // namespace mlspace::source
