#pragma once

// The Kubernetes-compatible API as a pure request → response function. The
// Poco adapter (server.h) only moves bytes; routing, encoding, auth and
// selectors live here so they are tested without sockets.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/api/manifest_writer.h"
#include "controller/api/source_status.h"
#include "controller/apiserver/auth.h"
#include "controller/apiserver/logs.h"
#include "controller/apiserver/table.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

struct ApiRequest {
  std::string method;                             // "GET", "POST", ...
  std::string path;                               // without the query string
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // names lowercased
  std::string body;

  // The first value of `key`, or "".
  std::string Query(const std::string& key) const;
  std::string Header(const std::string& lower_name) const;
};

// Writes one piece of a streamed answer (and flushes it); false once the
// client went away or the server is stopping. An empty piece writes nothing
// and only asks "still wanted?" (a watch asks about once a second).
using ChunkWriter = std::function<bool(std::string_view)>;

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
  // When set, the answer is streamed with chunked transfer encoding: the
  // server calls it once on the request's thread; `body` is not sent.
  std::function<void(const ChunkWriter&)> stream = nullptr;
  // The authenticated user ("" when no token is configured), for logs.
  std::string user = "";
};

class ChangeLog;
class WriteApi;

// What the API needs from the running controller. Each may be called from
// any HTTP thread concurrently; leaving one empty means "always true"/no-op.
struct ControllerHooks {
  std::function<bool()> healthy;            // worker loop not stuck
  std::function<bool(std::string*)> ready;  // store open, source synced once
  std::function<void()> trigger_reconcile;  // POST /reconcile
  // The MLSpaceSource status (GET mlspacesources); empty or null: none.
  // (Defaulted, so brace-initialising the first three stays warning-free.)
  std::function<std::shared_ptr<const api::SourceStatus>()> source_status = {};
  JobLogsFn job_logs = nullptr;  // the log subresource (JobGateway::Logs)
};

// The controller's readiness report in controller-runtime's format
// ({ok, body}; verbose = "?verbose": every check listed).
using ReadyReport = std::function<std::pair<bool, std::string>(bool verbose)>;

struct HandlerOptions {
  std::string token;  // required as "Authorization: Bearer" when non-empty
  std::string version = "v0.1.0";
  // --api-token-file users; when set, every request but the probes needs
  // one of its tokens (and `token` is not used).
  std::shared_ptr<const TokenAuthenticator> tokens = nullptr;
  LogOptions logs = {};
  // What list/get/watch serve (must outlive the handler). Null: lists and
  // gets read the store directly and watch is refused (unit tests only).
  const ChangeLog* changes = nullptr;
  // Watch BOOKMARK period when allowWatchBookmarks=true, and the longest a
  // watch without timeoutSeconds lasts (kube-apiserver's default is 30-60m).
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
  std::chrono::seconds max_watch{std::chrono::minutes(30)};
  // Where writes (create, update, patch, apply, delete) go. Null: the API
  // is read-only and writes are 405 (--api-write=off).
  std::shared_ptr<api::ManifestWriter> writer = nullptr;
  // The controller's checks beyond the CRD (the configured backends: known
  // backend, mapped region and instance type), so a write is refused exactly
  // as the same manifest committed by hand would be Invalid. May be empty.
  std::function<Status(const api::JobSpec&)> job_check = nullptr;
  // Called once per write request with its verb and answer code (the
  // mlspace_api_writes_total metric). May be empty.
  std::function<void(std::string_view verb, int code)> on_write = nullptr;
};

// Parsed labelSelector: equality (=, ==), inequality (!=), existence (key)
// and non-existence (!key), comma-separated, as kubectl sends them.
class LabelSelector {
 public:
  static Result<LabelSelector> Parse(std::string_view text);
  bool Matches(const std::map<std::string, std::string>& labels) const;

 private:
  struct Term {
    std::string key;
    std::string value;
    enum class Op { kEq, kNotEq, kExists, kNotExists } op;
  };
  std::vector<Term> terms_;
};

// Thread-safe: holds no mutable state beyond what StateStore guards.
class ApiHandler {
 public:
  ApiHandler(store::StateStore& store, const Clock& clock, ControllerHooks hooks,
             HandlerOptions options);

  ApiResponse Handle(const ApiRequest& req) const;

  // When set, /readyz answers with the report (so every readiness check,
  // e.g. "gateway", shows on the API port) instead of hooks.ready. Call
  // before the server starts.
  void SetReadyReport(ReadyReport report) { ready_report_ = std::move(report); }

 private:
  ApiResponse Route(const ApiRequest& req) const;
  ApiResponse HandleResource(const ApiRequest& req, const std::vector<std::string>& parts) const;
  ApiResponse HandleEvents(const ApiRequest& req, const std::string& ns) const;
  ApiResponse WatchEvents(const ApiRequest& req, const std::string& ns) const;
  // The stored events of `ns` ("" = all) that `fields` selects, as v1 Events.
  Result<nlohmann::json> CollectEvents(const std::string& ns, const FieldSelector& fields) const;
  ApiResponse HandleCore(const ApiRequest& req, const std::vector<std::string>& parts) const;
  ApiResponse ListObjects(const ApiRequest& req, const std::string* ns) const;
  ApiResponse WatchObjects(const ApiRequest& req, const std::string* ns) const;
  ApiResponse GetObject(const ApiRequest& req, const std::string& ns,
                        const std::string& name) const;
  // The user a request authenticates as ("" with no token configured);
  // nullopt when it must be refused.
  std::optional<std::string> Authenticate(const ApiRequest& req) const;

  store::StateStore& store_;
  const Clock& clock_;
  ControllerHooks hooks_;
  ReadyReport ready_report_;
  HandlerOptions options_;
  std::shared_ptr<const WriteApi> writes_;  // null: read-only (no writer)
};

// The API's discovery documents (exposed for tests).
std::string AggregatedDiscovery();
std::string LegacyGroupList();
std::string ApiResourceList();
// Core group: /api (APIVersions), /api/v1 (events only) and the aggregated
// form kubectl asks /api for.
std::string CoreAggregatedDiscovery();
std::string CoreResourceList();

}  // namespace mlspace::apiserver
