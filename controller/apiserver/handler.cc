#include "controller/apiserver/handler.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "controller/api/types.h"
#include "controller/apiserver/object_codec.h"
#include "controller/apiserver/source_resource.h"
#include "controller/core/object_key.h"
#include "controller/core/time_util.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

constexpr char kAggregatedContentType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const std::string kGroupPrefix = "/apis/mlspace.io/v1alpha1";

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos) parts.emplace_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

ApiResponse JsonReply(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiResponse Failure(int code, std::string_view reason, std::string_view message) {
  return JsonReply(code, StatusFailure(code, reason, message));
}

ApiResponse Text(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

bool WantsTable(const ApiRequest& req) {
  return req.Header("accept").find("as=Table") != std::string::npos;
}

json ResourceJson() {
  return json{
      {"resource", api::kPlural},
      {"singularResource", "mlspacejob"},
      {"scope", "Namespaced"},
      {"responseKind", {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kKind}}},
      {"verbs", json::array({"get", "list"})},
      {"shortNames", json::array({"msj"})},
      {"categories", json::array({"mlspace"})},
      {"subresources",
       json::array({{{"subresource", "status"},
                     {"responseKind",
                      {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kKind}}},
                     {"verbs", json::array({"get"})}}})}};
}

// Field selectors kubectl sends: metadata.name=X and metadata.namespace=X.
struct FieldSelector {
  std::string name;
  std::string namespace_name;
};

Result<FieldSelector> ParseFieldSelector(std::string_view text, std::string_view prefix) {
  FieldSelector fs;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view term = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (term.empty()) continue;
    size_t eq = term.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError("fieldSelector \"" + std::string(term) +
                                  "\": expected key=value");
    }
    std::string_view key = term.substr(0, eq);
    std::string_view value = term.substr(eq + 1);
    if (!value.empty() && value.front() == '=') value.remove_prefix(1);
    if (key == std::string(prefix) + ".name") {
      fs.name = std::string(value);
    } else if (key == std::string(prefix) + ".namespace") {
      fs.namespace_name = std::string(value);
    } else if (prefix == "involvedObject" &&
               (key == "involvedObject.kind" || key == "involvedObject.uid")) {
      // kubectl describe narrows by kind and uid too; name+namespace already
      // identify the object in this API.
    } else {
      return InvalidArgumentError("fieldSelector: field \"" + std::string(key) +
                                  "\" is not supported");
    }
  }
  return fs;
}

}  // namespace

std::string ApiRequest::Query(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

std::string ApiRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string term(text.substr(pos, comma - pos));
    pos = comma + 1;
    term.erase(std::remove(term.begin(), term.end(), ' '), term.end());
    if (term.empty()) continue;
    Term t;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string::npos) {
      t = {term.substr(0, ne), term.substr(ne + 2), Term::Op::kNotEq};
    } else if (eq != std::string::npos) {
      std::string value = term.substr(eq + 1);
      if (!value.empty() && value.front() == '=') value.erase(0, 1);
      t = {term.substr(0, eq), value, Term::Op::kEq};
    } else if (term.front() == '!') {
      t = {term.substr(1), "", Term::Op::kNotExists};
    } else if (term.find(' ') == std::string::npos && term.find('(') == std::string::npos) {
      t = {term, "", Term::Op::kExists};
    } else {
      return InvalidArgumentError("labelSelector \"" + std::string(text) +
                                  "\": set-based selectors are not supported");
    }
    if (t.key.empty()) {
      return InvalidArgumentError("labelSelector \"" + std::string(text) + "\": empty key");
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& t : terms_) {
    auto it = labels.find(t.key);
    switch (t.op) {
      case Term::Op::kEq:
        if (it == labels.end() || it->second != t.value) return false;
        break;
      case Term::Op::kNotEq:
        if (it != labels.end() && it->second == t.value) return false;
        break;
      case Term::Op::kExists:
        if (it == labels.end()) return false;
        break;
      case Term::Op::kNotExists:
        if (it != labels.end()) return false;
        break;
    }
  }
  return true;
}

std::string AggregatedDiscovery() {
  json doc{{"kind", "APIGroupDiscoveryList"},
           {"apiVersion", "apidiscovery.k8s.io/v2"},
           {"metadata", json::object()},
           {"items",
            json::array(
                {{{"metadata", {{"name", api::kGroup}}},
                  {"versions",
                   json::array({{{"version", api::kVersion},
                                 {"freshness", "Current"},
                                 {"resources", json::array({ResourceJson(),
                                                            SourceDiscoveryResource()})}}})}}})}};
  return doc.dump();
}

std::string LegacyGroupList() {
  json gv{{"groupVersion", api::kApiVersion}, {"version", api::kVersion}};
  json doc{
      {"kind", "APIGroupList"},
      {"apiVersion", "v1"},
      {"groups",
       json::array(
           {{{"name", api::kGroup}, {"versions", json::array({gv})}, {"preferredVersion", gv}}})}};
  return doc.dump();
}

std::string ApiResourceList() {
  json res{{"name", api::kPlural},
           {"singularName", "mlspacejob"},
           {"namespaced", true},
           {"kind", api::kKind},
           {"verbs", json::array({"get", "list"})},
           {"shortNames", json::array({"msj"})},
           {"categories", json::array({"mlspace"})}};
  json status{{"name", std::string(api::kPlural) + "/status"},
              {"singularName", ""},
              {"namespaced", true},
              {"kind", api::kKind},
              {"verbs", json::array({"get"})}};
  json doc{{"kind", "APIResourceList"},
           {"apiVersion", "v1"},
           {"groupVersion", api::kApiVersion},
           {"resources", json::array({res, status, SourceApiResource()})}};
  return doc.dump();
}

ApiHandler::ApiHandler(store::StateStore& store, const Clock& clock, ControllerHooks hooks,
                       HandlerOptions options)
    : store_(store), clock_(clock), hooks_(std::move(hooks)), options_(std::move(options)) {}

bool ApiHandler::Authorized(const ApiRequest& req) const {
  if (options_.token.empty()) return true;
  std::string expected = "Bearer " + options_.token;
  std::string got = req.Header("authorization");
  return got.size() == expected.size() &&
         CRYPTO_memcmp(got.data(), expected.data(), got.size()) == 0;
}

ApiResponse ApiHandler::Handle(const ApiRequest& req) const {
  if (req.path == "/healthz" || req.path == "/livez") {
    bool ok = !hooks_.healthy || hooks_.healthy();
    return Text(ok ? 200 : 500, ok ? "ok" : "unhealthy: worker loop stuck");
  }
  if (req.path == "/readyz" && ready_report_) {
    auto [ok, body] = ready_report_(req.query.count("verbose") > 0);
    return Text(ok ? 200 : 503, body);
  }
  if (req.path == "/readyz") {
    std::string why;
    bool ok = !hooks_.ready || hooks_.ready(&why);
    return Text(ok ? 200 : 503, ok ? "ok" : "not ready: " + why);
  }
  if (!Authorized(req)) return Failure(401, "Unauthorized", "Unauthorized");

  auto parts = SplitPath(req.path);
  if (req.path == "/reconcile") {
    if (req.method != "POST") return Failure(405, "MethodNotAllowed", "use POST /reconcile");
    if (hooks_.trigger_reconcile) hooks_.trigger_reconcile();
    ApiResponse r = JsonReply(202, json{{"status", "accepted"}});
    return r;
  }
  if (req.method != "GET" && (parts.empty() || parts[0] != "apis")) {
    return Failure(405, "MethodNotAllowed", "method " + req.method + " is not allowed here");
  }
  if (req.path == "/version") {
    return JsonReply(200, json{{"major", "1"},
                               {"minor", "32"},
                               {"gitVersion", options_.version},
                               {"platform", "linux/amd64"}});
  }
  if (parts.size() == 1 && parts[0] == "apis") {
    if (req.Header("accept").find("apidiscovery.k8s.io") != std::string::npos) {
      ApiResponse r;
      r.content_type = kAggregatedContentType;
      r.body = AggregatedDiscovery();
      return r;
    }
    ApiResponse r;
    r.body = LegacyGroupList();
    return r;
  }
  if (parts.size() == 2 && parts[0] == "apis" && parts[1] == api::kGroup) {
    json gv{{"groupVersion", api::kApiVersion}, {"version", api::kVersion}};
    return JsonReply(200, json{{"kind", "APIGroup"},
                               {"apiVersion", "v1"},
                               {"name", api::kGroup},
                               {"versions", json::array({gv})},
                               {"preferredVersion", gv}});
  }
  if (parts.size() >= 3 && parts[0] == "apis" && parts[1] == api::kGroup &&
      parts[2] == api::kVersion) {
    if (parts.size() == 3) {
      ApiResponse r;
      r.body = ApiResourceList();
      return r;
    }
    if (parts[3] == api::kSourcePlural) {
      auto source = hooks_.source_status ? hooks_.source_status() : nullptr;
      return HandleSourceRequest(req, parts, source.get(), clock_.Now());
    }
    return HandleResource(req, parts);
  }
  // Core events, for kubectl describe: /api/v1/namespaces/{ns}/events.
  if (parts.size() == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" &&
      parts[4] == "events" && req.method == "GET") {
    return HandleEvents(req, parts[3]);
  }
  // /api itself answers 404 on purpose: an empty core group makes kubectl
  // refetch discovery on every command.
  return Failure(404, "NotFound", "the server could not find the requested resource");
}

ApiResponse ApiHandler::HandleResource(const ApiRequest& req,
                                       const std::vector<std::string>& parts) const {
  // parts: apis mlspace.io v1alpha1 [namespaces ns] mlspacejobs [name [status]]
  size_t i = 3;
  std::string ns;
  bool namespaced = false;
  if (parts.size() > i + 1 && parts[i] == "namespaces") {
    ns = parts[i + 1];
    namespaced = true;
    i += 2;
  }
  if (parts.size() <= i || parts[i] != api::kPlural) {
    return Failure(404, "NotFound", "the server could not find the requested resource");
  }
  ++i;
  if (req.method != "GET") {
    return Failure(405, "MethodNotAllowed",
                   "method " + req.method + " is not supported yet: change manifests in git");
  }
  if (parts.size() == i) return ListObjects(req, namespaced ? &ns : nullptr);
  if (!namespaced)
    return Failure(404, "NotFound", "the server could not find the requested resource");
  if (parts.size() == i + 1 || (parts.size() == i + 2 && parts[i + 1] == "status")) {
    return GetObject(req, ns, parts[i]);
  }
  return Failure(404, "NotFound", "the server could not find the requested resource");
}

ApiResponse ApiHandler::ListObjects(const ApiRequest& req, const std::string* ns) const {
  auto selector = LabelSelector::Parse(req.Query("labelSelector"));
  if (!selector.ok()) return Failure(400, "BadRequest", selector.status().message());
  auto fields = ParseFieldSelector(req.Query("fieldSelector"), "metadata");
  if (!fields.ok()) return Failure(400, "BadRequest", fields.status().message());
  if (req.Query("watch") == "true" || req.Query("watch") == "1") {
    return Failure(405, "MethodNotAllowed", "watch is not supported yet");
  }
  auto all = store_.List();
  if (!all.ok()) return Failure(500, "InternalError", all.status().message());
  std::vector<store::ObjectRecord> selected;
  int64_t rv = 0;
  for (auto& r : *all) {
    rv = std::max(rv, r.resource_version);
    if (ns && r.key.namespace_name != *ns) continue;
    if (!fields->name.empty() && r.key.name != fields->name) continue;
    if (!fields->namespace_name.empty() && r.key.namespace_name != fields->namespace_name) continue;
    if (!selector->Matches(r.labels)) continue;
    selected.push_back(std::move(r));
  }
  if (WantsTable(req)) return JsonReply(200, RecordsToTable(selected, rv, clock_.Now()));
  return JsonReply(200, RecordsToList(selected, rv));
}

ApiResponse ApiHandler::GetObject(const ApiRequest& req, const std::string& ns,
                                  const std::string& name) const {
  auto rec = store_.Get(ObjectKey{ns, name});
  if (!rec.ok()) return Failure(500, "InternalError", rec.status().message());
  if (!rec->has_value()) return JsonReply(404, NotFoundStatus(name));
  const store::ObjectRecord& r = **rec;
  if (WantsTable(req)) return JsonReply(200, RecordsToTable({r}, r.resource_version, clock_.Now()));
  return JsonReply(200, RecordToObject(r));
}

ApiResponse ApiHandler::HandleEvents(const ApiRequest& req, const std::string& ns) const {
  auto fields = ParseFieldSelector(req.Query("fieldSelector"), "involvedObject");
  if (!fields.ok()) return Failure(400, "BadRequest", fields.status().message());
  json items = json::array();
  std::vector<ObjectKey> keys;
  if (!fields->name.empty()) {
    keys.push_back(ObjectKey{ns, fields->name});
  } else {
    auto all = store_.List();
    if (!all.ok()) return Failure(500, "InternalError", all.status().message());
    for (const auto& r : *all) {
      if (r.key.namespace_name == ns) keys.push_back(r.key);
    }
  }
  for (const auto& key : keys) {
    auto events = store_.Events(key, 500);
    if (!events.ok()) return Failure(500, "InternalError", events.status().message());
    for (const auto& e : *events) {
      std::string ts = FormatRfc3339(e.time);
      items.push_back(
          {{"metadata",
            {{"name", key.name + "." + std::to_string(e.id)}, {"namespace", key.namespace_name}}},
           {"involvedObject",
            {{"kind", api::kKind},
             {"apiVersion", api::kApiVersion},
             {"name", key.name},
             {"namespace", key.namespace_name}}},
           {"reason", e.reason},
           {"message", e.message},
           {"type", e.type},
           {"count", 1},
           {"firstTimestamp", ts},
           {"lastTimestamp", ts},
           {"source", {{"component", "mlspace-controller"}}}});
    }
  }
  return JsonReply(200, json{{"kind", "EventList"},
                             {"apiVersion", "v1"},
                             {"metadata", json::object()},
                             {"items", std::move(items)}});
}

}  // namespace mlspace::apiserver
