#pragma once

// An in-memory api::ManifestWriter for apiserver unit tests: one document
// per object (path → YAML text), the writer's contract checks
// (expected_yaml → kAborted, create of a declared object → kAlreadyExists,
// update/delete of an undeclared one → kNotFound), every Write recorded,
// and failures on demand. Thread-safe (one mutex). The real libgit2 writer
// is tested against real repositories in tests/source.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/api/manifest_writer.h"

namespace mlspace::testing {

class FakeManifestWriter final : public api::ManifestWriter {
 public:
  // Declares `key` in `path` with `yaml` as committed (no Write recorded).
  void Put(const ObjectKey& key, std::string yaml, std::string path = "");
  // The committed text of `key`'s document, if any.
  std::optional<std::string> Yaml(const ObjectKey& key) const;
  // Changes the committed text behind the API's back (a concurrent push).
  void Touch(const ObjectKey& key, std::string yaml);

  // The next Write (only) fails with `s` and changes nothing.
  void FailNextWrite(Status s);
  // Every Find fails with `s` until cleared with an OK status.
  void FailFind(Status s);

  // Called after each successful Write (outside the lock), e.g. to play
  // the controller recording the commit in a store.
  void OnCommit(std::function<void(const api::ManifestWriteRequest&)> hook);

  std::vector<api::ManifestWriteRequest> writes() const;
  // Forgets every document and recorded write (fuzzing: a fresh world).
  void Reset();
  int finds() const;

  Result<api::StoredDocument> Find(const ObjectKey& key, const std::string& path_hint) override;
  Result<api::ManifestWriteResult> Write(const api::ManifestWriteRequest& req) override;

 private:
  Result<api::ManifestWriteResult> WriteLocked(const api::ManifestWriteRequest& req);
  struct Doc {
    std::string path;
    std::string yaml;
  };
  mutable std::mutex mu_;
  std::map<ObjectKey, Doc> docs_;
  std::vector<api::ManifestWriteRequest> writes_;
  std::optional<Status> fail_next_;
  Status fail_find_;
  int finds_ = 0;
  std::function<void(const api::ManifestWriteRequest&)> on_commit_;
  int commits_ = 0;
};

}  // namespace mlspace::testing
