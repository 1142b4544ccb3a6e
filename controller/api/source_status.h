#pragma once

// The MLSpaceSource resource: the status of the controller's manifest source
// (as Flux's GitRepository/Kustomization have one). Produced by the
// Controller's source sync, read by the API (kubectl get mlspacesources) and
// the metrics bridge (gitops_source_*, gitops_manifests).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.h"

namespace mlspace::api {

inline constexpr char kSourceKind[] = "MLSpaceSource";
inline constexpr char kSourcePlural[] = "mlspacesources";
inline constexpr char kSourceSingular[] = "mlspacesource";
inline constexpr char kSourceShortName[] = "msrc";

// Ready condition reasons.
inline constexpr char kSourceReasonProgressing[] = "Progressing";  // not read yet
inline constexpr char kSourceReasonSynced[] = "Synced";
inline constexpr char kSourceReasonFetchFailed[] = "FetchFailed";  // remote fetch failed
inline constexpr char kSourceReasonReadFailed[] = "ReadFailed";    // revision unreadable

// A manifest file of the current revision that cannot be (fully) applied.
struct InvalidSourceFile {
  std::string path;     // relative to the manifests directory
  std::string reason;   // ParseError | InvalidSpec | DuplicateName
  std::string message;  // its first error, one line: "path:line:col: ..."
};

struct SourceStatus {
  // At most this many invalid files are listed; `invalid_files_total` counts all.
  static constexpr size_t kMaxListedInvalidFiles = 100;

  std::string name;  // metadata.name of the MLSpaceSource
  // Where manifests come from: the --git-url (userinfo masked) or the
  // --manifests directory; `ref` is --git-ref ("" = remote HEAD / work tree).
  std::string url;
  std::string ref;
  bool remote = false;
  TimePoint created{};   // the controller's start (creationTimestamp, AGE)
  uint64_t version = 0;  // bumped by every published status (resourceVersion)

  std::string revision;                   // the revision the objects come from
  std::optional<TimePoint> last_sync;     // last read that was current (fetch ok too)
  std::optional<TimePoint> last_attempt;  // last sync attempt, good or not
  std::optional<TimePoint> last_fetch;    // last remote fetch attempt
  std::string last_fetch_error;           // of the last fetch/read; "" when it succeeded
  uint64_t fetch_errors = 0;              // failed fetches and reads since start

  bool ready = false;
  std::string reason;   // kSourceReason*
  std::string message;  // one line
  TimePoint ready_transition{};

  // Documents of the current revision: valid objects; documents that could
  // not be used (a file that does not parse counts once; every copy of a
  // duplicated name counts); documents of other kinds (ignored).
  size_t valid = 0;
  size_t invalid = 0;
  size_t ignored = 0;
  size_t files = 0;
  std::vector<InvalidSourceFile> invalid_files;  // by path, capped
  size_t invalid_files_total = 0;
};

// The current SourceStatus, swapped whole by the source sync. Thread-safe.
class SourceStatusHolder {
 public:
  std::shared_ptr<const SourceStatus> Get() const {
    std::lock_guard lock(mu_);
    return status_;
  }
  void Set(std::shared_ptr<const SourceStatus> s) {
    std::lock_guard lock(mu_);
    status_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const SourceStatus> status_;
};

}  // namespace mlspace::api
