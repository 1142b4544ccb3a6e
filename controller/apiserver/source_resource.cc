#include "controller/apiserver/source_resource.h"

#include <algorithm>

#include "controller/api/types.h"
#include "controller/apiserver/object_codec.h"
#include "controller/core/redact.h"
#include "controller/core/time_util.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

ApiResponse Reply(int code, const json& body) {
  ApiResponse r;
  r.status = code;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

json Time(const std::optional<TimePoint>& t) { return t ? json(FormatRfc3339(*t)) : json(nullptr); }

json Metadata(const api::SourceStatus& s) {
  return json{{"name", s.name},
              {"resourceVersion", std::to_string(s.version)},
              {"creationTimestamp", FormatRfc3339(s.created)}};
}

std::string SourceColumn(const api::SourceStatus& s) {
  return s.ref.empty() ? s.url : s.url + "@" + s.ref;
}

json NotFound(const std::string& name) {
  json st = StatusFailure(
      404, "NotFound",
      std::string(api::kSourcePlural) + "." + api::kGroup + " \"" + name + "\" not found");
  st["details"] = {{"name", name}, {"group", api::kGroup}, {"kind", api::kSourcePlural}};
  return st;
}

}  // namespace

json SourceToObject(const api::SourceStatus& s) {
  json invalid = json::array();
  for (const auto& f : s.invalid_files) {
    invalid.push_back({{"path", f.path}, {"reason", f.reason}, {"message", Redact(f.message)}});
  }
  json spec{{"url", s.url}};
  if (!s.ref.empty()) spec["ref"] = s.ref;
  spec["type"] = s.remote ? "git-remote" : "git-worktree";
  json status{
      {"revision", s.revision},
      {"lastSyncTime", Time(s.last_sync)},
      {"lastAttemptTime", Time(s.last_attempt)},
      {"fetchErrors", s.fetch_errors},
      {"conditions", json::array({{{"type", "Ready"},
                                   {"status", s.ready ? "True" : "False"},
                                   {"reason", s.reason},
                                   {"message", Redact(s.message)},
                                   {"lastTransitionTime", FormatRfc3339(s.ready_transition)}}})},
      {"manifests",
       {{"files", s.files}, {"valid", s.valid}, {"invalid", s.invalid}, {"ignored", s.ignored}}},
      {"invalidFiles", std::move(invalid)},
      {"invalidFilesTotal", s.invalid_files_total}};
  if (s.remote) status["lastFetchTime"] = Time(s.last_fetch);
  if (!s.last_fetch_error.empty()) status["lastFetchError"] = Redact(s.last_fetch_error);
  return json{{"apiVersion", api::kApiVersion},
              {"kind", api::kSourceKind},
              {"metadata", Metadata(s)},
              {"spec", std::move(spec)},
              {"status", std::move(status)}};
}

json SourcesToTable(const std::vector<const api::SourceStatus*>& statuses, TimePoint now) {
  json columns = json::array({
      {{"name", "Name"}, {"type", "string"}, {"format", "name"}},
      {{"name", "Source"}, {"type", "string"}},
      {{"name", "Revision"}, {"type", "string"}},
      {{"name", "Ready"}, {"type", "string"}},
      {{"name", "Message"}, {"type", "string"}},
      {{"name", "Age"}, {"type", "date"}},
  });
  json rows = json::array();
  uint64_t rv = 0;
  for (const api::SourceStatus* s : statuses) {
    rv = std::max(rv, s->version);
    rows.push_back({{"cells", json::array({s->name, SourceColumn(*s), s->revision.substr(0, 12),
                                           s->ready ? "True" : "False", Redact(s->message),
                                           FormatAge(now - s->created)})},
                    {"object",
                     {{"kind", "PartialObjectMetadata"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", Metadata(*s)}}}});
  }
  return json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", std::to_string(rv)}}},
              {"columnDefinitions", std::move(columns)},
              {"rows", std::move(rows)}};
}

ApiResponse HandleSourceRequest(const ApiRequest& req, const std::vector<std::string>& parts,
                                const api::SourceStatus* status, TimePoint now) {
  // parts: apis mlspace.io v1alpha1 mlspacesources [name]
  if (parts.size() > 5) {
    return Reply(
        404, StatusFailure(404, "NotFound", "the server could not find the requested resource"));
  }
  if (req.method != "GET") {
    return Reply(405, StatusFailure(405, "MethodNotAllowed",
                                    "method " + req.method +
                                        " is not supported: mlspacesources are read-only, "
                                        "written by the controller"));
  }
  const bool table = req.Header("accept").find("as=Table") != std::string::npos;
  if (parts.size() == 5) {
    if (status == nullptr || parts[4] != status->name) return Reply(404, NotFound(parts[4]));
    if (table) return Reply(200, SourcesToTable({status}, now));
    return Reply(200, SourceToObject(*status));
  }
  if (req.Query("watch") == "true" || req.Query("watch") == "1") {
    return Reply(
        405, StatusFailure(405, "MethodNotAllowed", "watch is not supported for mlspacesources"));
  }
  std::vector<const api::SourceStatus*> selected;
  if (status != nullptr) {
    // kubectl get msrc NAME may arrive as a list with fieldSelector.
    std::string field = req.Query("fieldSelector");
    const std::string prefix = "metadata.name=";
    if (field.empty() ||
        (field.rfind(prefix, 0) == 0 && (field.substr(prefix.size()) == status->name ||
                                         field.substr(prefix.size()) == "=" + status->name))) {
      selected.push_back(status);
    }
  }
  if (table) return Reply(200, SourcesToTable(selected, now));
  json items = json::array();
  uint64_t rv = 0;
  for (const api::SourceStatus* s : selected) {
    items.push_back(SourceToObject(*s));
    rv = std::max(rv, s->version);
  }
  return Reply(200, json{{"apiVersion", api::kApiVersion},
                         {"kind", std::string(api::kSourceKind) + "List"},
                         {"metadata", {{"resourceVersion", std::to_string(rv)}}},
                         {"items", std::move(items)}});
}

json SourceDiscoveryResource() {
  json kind{{"group", api::kGroup}, {"version", api::kVersion}, {"kind", api::kSourceKind}};
  return json{{"resource", api::kSourcePlural},
              {"singularResource", api::kSourceSingular},
              {"scope", "Cluster"},
              {"responseKind", kind},
              {"verbs", json::array({"get", "list"})},
              {"shortNames", json::array({api::kSourceShortName})},
              {"categories", json::array({"mlspace"})}};
}

json SourceApiResource() {
  return json{{"name", api::kSourcePlural},
              {"singularName", api::kSourceSingular},
              {"namespaced", false},
              {"kind", api::kSourceKind},
              {"verbs", json::array({"get", "list"})},
              {"shortNames", json::array({api::kSourceShortName})},
              {"categories", json::array({"mlspace"})}};
}

}  // namespace mlspace::apiserver
