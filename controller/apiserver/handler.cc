#include "controller/apiserver/handler.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "controller/api/types.h"
#include "controller/apiserver/change_log.h"
#include "controller/apiserver/events.h"
#include "controller/apiserver/object_codec.h"
#include "controller/apiserver/openapi.h"
#include "controller/apiserver/source_resource.h"
#include "controller/apiserver/table.h"
#include "controller/apiserver/writes.h"
#include "controller/core/log.h"
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

// Every verb kubectl may use; a write on a read-only server (no writer)
// is still answered 405 with the reason.
json JobVerbs() {
  return json::array(
      {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});
}

json ResourceJson() {
  return json{
      {"resource", api::kPlural},
      {"singularResource", "mlspacejob"},
      {"scope", "Namespaced"},
      {"responseKind", {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kKind}}},
      {"verbs", JobVerbs()},
      {"shortNames", json::array({"msj"})},
      {"categories", json::array({"all", "mlspace"})},
      {"subresources",
       json::array({{{"subresource", "status"},
                     {"responseKind",
                      {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kKind}}},
                     {"verbs", json::array({"get"})}},
                    // logs.cc; text/plain like pods/log, which kube-apiserver
                    // also lists with its parent's kind.
                    {{"subresource", "log"},
                     {"responseKind",
                      {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kKind}}},
                     {"verbs", json::array({"get"})}}})}};
}

json EventsResourceJson() {
  return json{{"resource", "events"},
              {"singularResource", "event"},
              {"scope", "Namespaced"},
              {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "Event"}}},
              {"verbs", json::array({"get", "list", "watch"})},
              {"shortNames", json::array({"ev"})}};
}

// Fields `kubectl describe`, `kubectl events --for` and
// `get events --field-selector` filter events on.
const std::vector<std::string_view>& EventSelectorFields() {
  static const std::vector<std::string_view> f{"involvedObject.kind",
                                               "involvedObject.name",
                                               "involvedObject.namespace",
                                               "involvedObject.uid",
                                               "involvedObject.apiVersion",
                                               "metadata.name",
                                               "metadata.namespace",
                                               "type",
                                               "reason"};
  return f;
}

std::optional<std::string> EventField(const json& e, std::string_view field) {
  size_t dot = field.find('.');
  const json* v = &e;
  std::string_view rest = field;
  while (true) {
    std::string part(rest.substr(0, dot));
    auto it = v->find(part);
    if (it == v->end()) return std::nullopt;
    v = &*it;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
    dot = rest.find('.');
  }
  if (!v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

// resourceVersion as a watch start: nullopt for ""/"0" (start with the
// current objects as ADDED), else the number.
Result<std::optional<int64_t>> ParseResourceVersion(const std::string& text) {
  if (text.empty() || text == "0") return std::optional<int64_t>();
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) {
      return InvalidArgumentError("resourceVersion \"" + text + "\": expected a number");
    }
    v = v * 10 + (c - '0');
  }
  return std::optional<int64_t>(v);
}

bool IsTrue(const std::string& v) { return v == "true" || v == "1"; }

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
           {"verbs", JobVerbs()},
           {"shortNames", json::array({"msj"})},
           {"categories", json::array({"all", "mlspace"})}};
  json status{{"name", std::string(api::kPlural) + "/status"},
              {"singularName", ""},
              {"namespaced", true},
              {"kind", api::kKind},
              {"verbs", json::array({"get"})}};
  json log_sub{{"name", std::string(api::kPlural) + "/log"},
               {"singularName", ""},
               {"namespaced", true},
               {"kind", api::kKind},
               {"verbs", json::array({"get"})}};
  json doc{{"kind", "APIResourceList"},
           {"apiVersion", "v1"},
           {"groupVersion", api::kApiVersion},
           {"resources", json::array({res, status, log_sub, SourceApiResource()})}};
  return doc.dump();
}

std::string CoreAggregatedDiscovery() {
  json doc{
      {"kind", "APIGroupDiscoveryList"},
      {"apiVersion", "apidiscovery.k8s.io/v2"},
      {"metadata", json::object()},
      {"items", json::array({{{"metadata", json::object()},
                              {"versions", json::array({{{"version", "v1"},
                                                         {"freshness", "Current"},
                                                         {"resources", json::array({
                                                                           EventsResourceJson(),
                                                                       })}}})}}})}};
  return doc.dump();
}

std::string CoreResourceList() {
  json doc{{"kind", "APIResourceList"},
           {"groupVersion", "v1"},
           {"resources", json::array({{{"name", "events"},
                                       {"singularName", "event"},
                                       {"namespaced", true},
                                       {"kind", "Event"},
                                       {"verbs", json::array({"get", "list", "watch"})},
                                       {"shortNames", json::array({"ev"})}}})}};
  return doc.dump();
}

ApiHandler::ApiHandler(store::StateStore& store, const Clock& clock, ControllerHooks hooks,
                       HandlerOptions options)
    : store_(store), clock_(clock), hooks_(std::move(hooks)), options_(std::move(options)) {
  if (options_.writer) {
    writes_ = std::make_shared<WriteApi>(store_, clock_, options_.writer, options_.changes,
                                         options_.on_write, options_.job_check);
  }
}

std::optional<std::string> ApiHandler::Authenticate(const ApiRequest& req) const {
  if (options_.tokens) {
    auto user = options_.tokens->Authenticate(req.Header("authorization"));
    if (!user) return std::nullopt;
    return user->name;
  }
  if (options_.token.empty()) return std::string();
  std::string expected = "Bearer " + options_.token;
  std::string got = req.Header("authorization");
  if (got.size() == expected.size() &&
      CRYPTO_memcmp(got.data(), expected.data(), got.size()) == 0) {
    return std::string("api-token");
  }
  return std::nullopt;
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
  auto user = Authenticate(req);
  if (!user) return Failure(401, "Unauthorized", "Unauthorized");
  ApiResponse resp = Route(req);
  resp.user = std::move(*user);
  return resp;
}

ApiResponse ApiHandler::Route(const ApiRequest& req) const {
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
  if (req.path == "/openapi/v3") {
    ApiResponse r;
    r.body = OpenApiRoot();
    return r;
  }
  if (req.path == std::string("/openapi/v3/apis/") + api::kApiVersion) {
    auto doc = OpenApiGroupVersion();
    if (!doc.ok()) return Failure(500, "InternalError", doc.status().message());
    ApiResponse r;
    r.body = **doc;
    return r;
  }
  // The core group serves events only (kubectl describe, get events,
  // kubectl events). Listing v1 with at least one resource keeps kubectl's
  // discovery cache valid (an empty v1 makes it refetch on every command).
  if (!parts.empty() && parts[0] == "api") return HandleCore(req, parts);
  return Failure(404, "NotFound", "the server could not find the requested resource");
}

ApiResponse ApiHandler::HandleCore(const ApiRequest& req,
                                   const std::vector<std::string>& parts) const {
  if (parts.size() == 1) {
    ApiResponse r;
    if (req.Header("accept").find("apidiscovery.k8s.io") != std::string::npos) {
      r.content_type = kAggregatedContentType;
      r.body = CoreAggregatedDiscovery();
    } else {
      r.body = json{{"kind", "APIVersions"},
                    {"versions", json::array({"v1"})},
                    {"serverAddressByClientCIDRs",
                     json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}})}}
                   .dump();
    }
    return r;
  }
  if (parts[1] != "v1") {
    return Failure(404, "NotFound", "the server could not find the requested resource");
  }
  if (parts.size() == 2) {
    ApiResponse r;
    r.body = CoreResourceList();
    return r;
  }
  // /api/v1/events, /api/v1/namespaces/{ns}/events[/{name}]
  if (parts.size() == 3 && parts[2] == "events") return HandleEvents(req, "");
  if (parts.size() >= 5 && parts.size() <= 6 && parts[2] == "namespaces" && parts[4] == "events") {
    if (parts.size() == 5) return HandleEvents(req, parts[3]);
    ApiRequest one = req;
    one.query.erase("fieldSelector");
    one.query.emplace("fieldSelector", "metadata.name=" + parts[5]);
    ApiResponse r = HandleEvents(one, parts[3]);
    if (r.status != 200 || WantsTable(req)) return r;
    json list = json::parse(r.body);
    if (list["items"].empty()) {
      return Failure(404, "NotFound", "events \"" + parts[5] + "\" not found");
    }
    return JsonReply(200, list["items"][0]);
  }
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
  if (namespaced && parts.size() == i + 2 && parts[i + 1] == "log") {
    return ServeJobLog(req, ObjectKey{ns, parts[i]}, store_, hooks_.job_logs, options_.logs);
  }
  if (req.method != "GET" && writes_ && namespaced && parts.size() <= i + 2) {
    std::string name = parts.size() > i ? parts[i] : "";
    std::string sub = parts.size() > i + 1 ? parts[i + 1] : "";
    return writes_->Handle(req, ns, name, sub, Authenticate(req).value_or(""));
  }
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

namespace {

// Filters shared by list and watch.
struct ListFilter {
  std::optional<std::string> ns;  // a copy: watches outlive the request
  LabelSelector labels;
  FieldSelector fields;

  bool Matches(const store::ObjectRecord& r) const {
    if (ns && r.key.namespace_name != *ns) return false;
    if (!labels.Matches(r.labels)) return false;
    return fields.Matches([&r](std::string_view f) { return JobField(r, f); });
  }
};

Result<ListFilter> ParseListFilter(const ApiRequest& req, const std::string* ns) {
  ListFilter f;
  if (ns) f.ns = *ns;
  MLSPACE_ASSIGN_OR_RETURN(f.labels, LabelSelector::Parse(req.Query("labelSelector")));
  MLSPACE_ASSIGN_OR_RETURN(f.fields,
                           FieldSelector::Parse(req.Query("fieldSelector"), JobSelectorFields()));
  return f;
}

std::string ListBody(const std::vector<VersionPtr>& items, int64_t rv) {
  size_t size = 160;
  for (const auto& v : items) size += v->text.size() + 1;
  std::string body;
  body.reserve(size);
  body += R"({"apiVersion":")";
  body += api::kApiVersion;
  body += R"(","kind":")";
  body += api::kKind;
  body += R"(List","metadata":{"resourceVersion":")";
  body += std::to_string(rv);
  body += R"("},"items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    body += items[i]->text;
  }
  body += "]}";
  return body;
}

}  // namespace

ApiResponse ApiHandler::ListObjects(const ApiRequest& req, const std::string* ns) const {
  auto filter = ParseListFilter(req, ns);
  if (!filter.ok()) return Failure(400, "BadRequest", filter.status().message());
  auto include = ParseIncludeObject(req.Query("includeObject"));
  if (!include.ok()) return Failure(400, "BadRequest", include.status().message());
  if (IsTrue(req.Query("watch"))) return WatchObjects(req, ns);

  std::vector<VersionPtr> selected;
  int64_t rv = 0;
  if (options_.changes) {
    for (auto& v : options_.changes->List(&rv)) {
      if (filter->Matches(v->record)) selected.push_back(std::move(v));
    }
  } else {
    auto all = store_.List();
    if (!all.ok()) return Failure(500, "InternalError", all.status().message());
    for (auto& r : *all) {
      rv = std::max(rv, r.resource_version);
      if (IsServed(r) && filter->Matches(r)) selected.push_back(MakeVersion(std::move(r)));
    }
  }
  ApiResponse r;
  r.body =
      WantsTable(req) ? TableBody(selected, rv, clock_.Now(), *include) : ListBody(selected, rv);
  return r;
}

ApiResponse ApiHandler::WatchObjects(const ApiRequest& req, const std::string* ns) const {
  if (!options_.changes) {
    return Failure(405, "MethodNotAllowed", "watch needs the controller's change log");
  }
  auto filter = ParseListFilter(req, ns);
  if (!filter.ok()) return Failure(400, "BadRequest", filter.status().message());
  auto include = ParseIncludeObject(req.Query("includeObject"));
  if (!include.ok()) return Failure(400, "BadRequest", include.status().message());
  auto from = ParseResourceVersion(req.Query("resourceVersion"));
  if (!from.ok()) return Failure(400, "BadRequest", from.status().message());
  std::chrono::seconds timeout = options_.max_watch;
  if (std::string t = req.Query("timeoutSeconds"); !t.empty()) {
    auto v = ParseResourceVersion(t);  // same grammar: a non-negative integer
    if (!v.ok() || !v->has_value()) {
      return Failure(400, "BadRequest", "timeoutSeconds \"" + t + "\": expected seconds > 0");
    }
    timeout = std::min(timeout, std::chrono::seconds(**v));
  }

  ApiResponse r;
  bool table = WantsTable(req);
  r.content_type = table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
  r.stream = [this, filter = std::move(*filter), include = *include, from = *from, timeout, table,
              bookmarks = IsTrue(req.Query("allowWatchBookmarks"))](const ChunkWriter& write) {
    const ChangeLog& log = *options_.changes;
    auto start = std::chrono::steady_clock::now();
    auto end = start + timeout;
    auto next_bookmark = start + options_.bookmark_interval;
    std::string buf;
    auto event = [&](std::string_view type, const ObjectVersion& v) {
      buf += R"({"type":")";
      buf += type;
      buf += R"(","object":)";
      if (table) {
        buf += VersionsToTable({std::make_shared<ObjectVersion>(v)}, v.record.resource_version,
                               clock_.Now(), include)
                   .dump(-1, ' ', false, json::error_handler_t::replace);
      } else {
        buf += v.text;
      }
      buf += "}\n";
    };
    auto gone = [&](int64_t rv) {
      json status = StatusFailure(410, "Expired",
                                  "too old resource version: " + std::to_string(rv) + " (" +
                                      std::to_string(log.OldestResumableVersion()) + ")");
      write(json{{"type", "ERROR"}, {"object", status}}.dump() + "\n");
    };

    int64_t cursor = 0;
    if (!from) {
      int64_t rv = 0;
      for (const auto& v : log.List(&rv)) {
        if (filter.Matches(v->record)) event("ADDED", *v);
      }
      cursor = rv;
      if (!buf.empty() && !write(buf)) return;
      buf.clear();
    } else {
      cursor = *from;
      // A version this log never issued (the controller restarted since
      // the client listed) is as unusable as one it forgot: relist.
      if (cursor > log.CurrentVersion()) return gone(cursor);
    }
    std::vector<Change> changes;
    while (write("")) {
      auto now = std::chrono::steady_clock::now();
      if (now >= end) return;
      // Wake at least once a second to notice a closed client.
      auto wait_until = std::min({end, now + std::chrono::seconds(1), next_bookmark});
      changes.clear();
      switch (log.WaitForChanges(cursor, wait_until, &changes)) {
        case ChangeLog::WaitResult::kShutdown:
          return;
        case ChangeLog::WaitResult::kGone:
          // Fell behind the bounded history (a slow reader): drop it; the
          // client relists, as informers do on 410.
          return gone(cursor);
        case ChangeLog::WaitResult::kTimeout:
          if (bookmarks && std::chrono::steady_clock::now() >= next_bookmark) {
            next_bookmark = std::chrono::steady_clock::now() + options_.bookmark_interval;
            json mark{{"type", "BOOKMARK"},
                      {"object",
                       {{"kind", api::kKind},
                        {"apiVersion", api::kApiVersion},
                        {"metadata", {{"resourceVersion", std::to_string(cursor)}}}}}};
            if (!write(mark.dump() + "\n")) return;
          }
          break;
        case ChangeLog::WaitResult::kChanges:
          for (const auto& c : changes) {
            cursor = c.resource_version;
            if (filter.Matches(c.object->record)) event(ChangeTypeName(c.type), *c.object);
          }
          if (!buf.empty() && !write(buf)) return;
          buf.clear();
          break;
      }
    }
  };
  return r;
}

ApiResponse ApiHandler::GetObject(const ApiRequest& req, const std::string& ns,
                                  const std::string& name) const {
  auto include = ParseIncludeObject(req.Query("includeObject"));
  if (!include.ok()) return Failure(400, "BadRequest", include.status().message());
  VersionPtr v;
  if (options_.changes) {
    v = options_.changes->Get(ObjectKey{ns, name});
  } else {
    auto rec = store_.Get(ObjectKey{ns, name});
    if (!rec.ok()) return Failure(500, "InternalError", rec.status().message());
    if (rec->has_value() && IsServed(**rec)) v = MakeVersion(std::move(**rec));
  }
  if (!v) return JsonReply(404, NotFoundStatus(name));
  if (WantsTable(req)) {
    return JsonReply(200, VersionsToTable({v}, v->record.resource_version, clock_.Now(), *include));
  }
  ApiResponse r;
  r.body = v->text;
  return r;
}

ApiResponse ApiHandler::HandleEvents(const ApiRequest& req, const std::string& ns) const {
  if (IsTrue(req.Query("watch"))) return WatchEvents(req, ns);
  auto fields = FieldSelector::Parse(req.Query("fieldSelector"), EventSelectorFields());
  if (!fields.ok()) return Failure(400, "BadRequest", fields.status().message());
  // Taken before reading the store: a watch from here may repeat an event
  // the list shows, never miss one.
  std::string rv =
      options_.changes ? std::to_string(options_.changes->CurrentEventVersion()) : std::string();
  auto items = CollectEvents(ns, *fields);
  if (!items.ok()) return Failure(500, "InternalError", items.status().message());
  if (WantsTable(req)) return JsonReply(200, EventTable(*items, clock_.Now(), rv));
  return JsonReply(200, EventList(std::move(*items), rv));
}

Result<json> ApiHandler::CollectEvents(const std::string& ns, const FieldSelector& fields) const {
  json items = json::array();
  std::string kind = fields.Equal("involvedObject.kind");
  if (!kind.empty() && kind != api::kKind) return items;
  // Removed objects' records stay in the store (not served as objects) and
  // so do their events: list every record, served or not.
  std::vector<store::ObjectRecord> records;
  std::string name = fields.Equal("involvedObject.name");
  if (!name.empty() && !ns.empty()) {
    auto rec = store_.Get(ObjectKey{ns, name});
    if (!rec.ok()) return rec.status();
    if (rec->has_value()) records.push_back(std::move(**rec));
  } else {
    auto all = store_.List();
    if (!all.ok()) return all.status();
    for (auto& r : *all) {
      if (ns.empty() || r.key.namespace_name == ns) records.push_back(std::move(r));
    }
  }
  for (const auto& r : records) {
    auto events = store_.Events(r.key, 500);
    if (!events.ok()) return events.status();
    std::string uid = ObjectUid(r);
    for (const auto& e : *events) {
      json ej = EventToJson(e, uid);
      if (fields.Matches([&ej](std::string_view f) { return EventField(ej, f); })) {
        items.push_back(std::move(ej));
      }
    }
  }
  return items;
}

// Same resourceVersion, 410, bookmark and timeout rules as WatchObjects,
// over the change log's event sequence.
ApiResponse ApiHandler::WatchEvents(const ApiRequest& req, const std::string& ns) const {
  if (!options_.changes) {
    return Failure(405, "MethodNotAllowed", "watch needs the controller's change log");
  }
  auto fields = FieldSelector::Parse(req.Query("fieldSelector"), EventSelectorFields());
  if (!fields.ok()) return Failure(400, "BadRequest", fields.status().message());
  auto from = ParseResourceVersion(req.Query("resourceVersion"));
  if (!from.ok()) return Failure(400, "BadRequest", from.status().message());
  std::chrono::seconds timeout = options_.max_watch;
  if (std::string t = req.Query("timeoutSeconds"); !t.empty()) {
    auto v = ParseResourceVersion(t);
    if (!v.ok() || !v->has_value()) {
      return Failure(400, "BadRequest", "timeoutSeconds \"" + t + "\": expected seconds > 0");
    }
    timeout = std::min(timeout, std::chrono::seconds(**v));
  }
  ApiResponse r;
  bool table = WantsTable(req);
  r.content_type = table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
  r.stream = [this, ns, fields = std::move(*fields), from = *from, timeout, table,
              bookmarks = IsTrue(req.Query("allowWatchBookmarks"))](const ChunkWriter& write) {
    const ChangeLog& log = *options_.changes;
    auto start = std::chrono::steady_clock::now();
    auto end = start + timeout;
    auto next_bookmark = start + options_.bookmark_interval;
    std::string buf;
    auto selected = [&](const json& e) {
      return (ns.empty() || e["metadata"]["namespace"] == ns) &&
             fields.Matches([&e](std::string_view f) { return EventField(e, f); });
    };
    auto event = [&](std::string_view type, const json& e) {
      buf += R"({"type":")";
      buf += type;
      buf += R"(","object":)";
      const json& obj = table ? EventTable(json::array({e}), clock_.Now(),
                                           e["metadata"]["resourceVersion"].get<std::string>())
                              : e;
      buf += obj.dump(-1, ' ', false, json::error_handler_t::replace);
      buf += "}\n";
    };
    auto gone = [&](int64_t rv) {
      json status = StatusFailure(410, "Expired",
                                  "too old resource version: " + std::to_string(rv) + " (" +
                                      std::to_string(log.OldestResumableEventVersion()) + ")");
      write(json{{"type", "ERROR"}, {"object", status}}.dump() + "\n");
    };
    int64_t cursor = 0;
    if (!from) {
      cursor = log.CurrentEventVersion();
      auto items = CollectEvents(ns, fields);
      if (!items.ok()) {
        write(json{{"type", "ERROR"},
                   {"object", StatusFailure(500, "InternalError", items.status().message())}}
                  .dump() +
              "\n");
        return;
      }
      for (auto& e : *items) {
        e["metadata"]["resourceVersion"] = std::to_string(cursor);
        event("ADDED", e);
      }
      if (!buf.empty() && !write(buf)) return;
      buf.clear();
    } else {
      cursor = *from;
      if (cursor > log.CurrentEventVersion()) return gone(cursor);
    }
    std::vector<EventChange> changes;
    while (write("")) {
      auto now = std::chrono::steady_clock::now();
      if (now >= end) return;
      auto wait_until = std::min({end, now + std::chrono::seconds(1), next_bookmark});
      changes.clear();
      switch (log.WaitForEvents(cursor, wait_until, &changes)) {
        case ChangeLog::WaitResult::kShutdown:
          return;
        case ChangeLog::WaitResult::kGone:
          return gone(cursor);
        case ChangeLog::WaitResult::kTimeout:
          if (bookmarks && std::chrono::steady_clock::now() >= next_bookmark) {
            next_bookmark = std::chrono::steady_clock::now() + options_.bookmark_interval;
            json mark{{"type", "BOOKMARK"},
                      {"object",
                       {{"kind", "Event"},
                        {"apiVersion", "v1"},
                        {"metadata", {{"resourceVersion", std::to_string(cursor)}}}}}};
            if (!write(mark.dump() + "\n")) return;
          }
          break;
        case ChangeLog::WaitResult::kChanges:
          for (const auto& c : changes) {
            cursor = c.resource_version;
            if (selected(*c.event)) event(ChangeTypeName(c.type), *c.event);
          }
          if (!buf.empty() && !write(buf)) return;
          buf.clear();
          break;
      }
    }
  };
  return r;
}

}  // namespace mlspace::apiserver
