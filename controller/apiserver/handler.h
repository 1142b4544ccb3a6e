#pragma once

// The Kubernetes-compatible API as a pure request → response function. The
// Poco adapter (server.h) only moves bytes; routing, encoding, auth and
// selectors live here so they are tested without sockets.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controller/api/source_status.h"
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

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

// What the API needs from the running controller. Each may be called from
// any HTTP thread concurrently; leaving one empty means "always true"/no-op.
struct ControllerHooks {
  std::function<bool()> healthy;            // worker loop not stuck
  std::function<bool(std::string*)> ready;  // store open, source synced once
  std::function<void()> trigger_reconcile;  // POST /reconcile
  // The MLSpaceSource status (GET mlspacesources); empty or null: none.
  // (Defaulted, so brace-initialising the first three stays warning-free.)
  std::function<std::shared_ptr<const api::SourceStatus>()> source_status = {};
};

// The controller's readiness report in controller-runtime's format
// ({ok, body}; verbose = "?verbose": every check listed).
using ReadyReport = std::function<std::pair<bool, std::string>(bool verbose)>;

struct HandlerOptions {
  std::string token;  // required as "Authorization: Bearer" when non-empty
  std::string version = "v0.1.0";
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
  ApiResponse HandleResource(const ApiRequest& req, const std::vector<std::string>& parts) const;
  ApiResponse HandleEvents(const ApiRequest& req, const std::string& ns) const;
  ApiResponse ListObjects(const ApiRequest& req, const std::string* ns) const;
  ApiResponse GetObject(const ApiRequest& req, const std::string& ns,
                        const std::string& name) const;
  bool Authorized(const ApiRequest& req) const;

  store::StateStore& store_;
  const Clock& clock_;
  ControllerHooks hooks_;
  ReadyReport ready_report_;
  HandlerOptions options_;
};

// The API's discovery documents (exposed for tests).
std::string AggregatedDiscovery();
std::string LegacyGroupList();
std::string ApiResourceList();

}  // namespace mlspace::apiserver
