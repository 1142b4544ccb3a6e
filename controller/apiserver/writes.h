#pragma once

// The write verbs of mlspacejobs (issue 13): create (POST), update (PUT),
// merge patch, JSON patch, server-side apply, delete and deletecollection,
// each with ?dryRun=All. Everything the API decides before the git
// write-back happens here — body limits, names, patching the document as
// committed, field ownership, validation exactly as a committed manifest,
// optimistic concurrency — then api::ManifestWriter writes and commits.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "controller/api/manifest_writer.h"
#include "controller/apiserver/handler.h"
#include "controller/core/clock.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

class ChangeLog;

// Bodies above this are refused with 413 before they are parsed (the
// Poco server stops reading one byte past it).
inline constexpr size_t kMaxWriteBodyBytes = 3 << 20;

// Called once per write request with its verb ("create", "update",
// "patch", "apply", "delete", "deletecollection") and the HTTP code of the
// answer (metrics: mlspace_api_writes_total{verb,code}). May be empty.
using WriteObserver = std::function<void(std::string_view verb, int code)>;
// HandlerOptions::job_check: "spec.field: message" on refusal.
using JobCheck = std::function<Status(const api::JobSpec&)>;

class WriteApi {
 public:
  // `writer` must not be null; `changes` may be (the store is read then).
  // `store`, `clock` and `changes` must outlive this object.
  WriteApi(store::StateStore& store, const Clock& clock,
           std::shared_ptr<api::ManifestWriter> writer, const ChangeLog* changes,
           WriteObserver observer, JobCheck check = nullptr);

  // A write on R (`name` empty: POST or DELETE of the collection) or on
  // R/{name}[/{subresource}] in namespace `ns`, by `user` ("" = anonymous).
  // Thread-safe: writes are serialized (read, check, write under one
  // mutex), so two writes never race between the resourceVersion check and
  // the commit. Refused writes are logged (one WARN line) and observed.
  ApiResponse Handle(const ApiRequest& req, const std::string& ns, const std::string& name,
                     const std::string& subresource, const std::string& user) const;

 private:
  struct Params;
  ApiResponse Dispatch(const ApiRequest& req, const Params& p) const;
  ApiResponse Create(const ApiRequest& req, const Params& p) const;
  ApiResponse Update(const ApiRequest& req, const Params& p) const;
  ApiResponse Patch(const ApiRequest& req, const Params& p) const;
  ApiResponse Apply(const ApiRequest& req, const Params& p) const;
  ApiResponse Delete(const ApiRequest& req, const Params& p) const;
  ApiResponse DeleteCollection(const ApiRequest& req, const Params& p) const;
  // Validates `doc` and writes it (unless dry run); the answer for kubectl.
  // Update and patch (not apply): server fields restored from `old`, and
  // the write recorded as an Update entry of managedFields when the object
  // has them.
  // The writer's request removing `stored`, the document of `key`.
  static api::ManifestWriteRequest DeleteRequest(const Params& p, const ObjectKey& key,
                                                 const api::StoredDocument& stored);
  void TrackNonApplyWrite(const Params& p, const nlohmann::json& old, nlohmann::json& doc) const;
  ApiResponse Commit(const Params& p, nlohmann::json doc, api::WriteOp op,
                     const std::optional<api::StoredDocument>& stored, int ok_code) const;
  Result<std::optional<store::ObjectRecord>> Current(const ObjectKey& key) const;

  store::StateStore& store_;
  const Clock& clock_;
  std::shared_ptr<api::ManifestWriter> writer_;
  const ChangeLog* changes_;
  WriteObserver observer_;
  JobCheck check_;
  mutable std::mutex mu_;
};

}  // namespace mlspace::apiserver
