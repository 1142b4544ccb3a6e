#include "controller/apiserver/table.h"

#include "controller/api/codec.h"
#include "controller/apiserver/object_codec.h"

namespace mlspace::apiserver {

using nlohmann::json;

Result<IncludeObject> ParseIncludeObject(std::string_view text) {
  if (text.empty() || text == "Metadata") return IncludeObject::kMetadata;
  if (text == "Object") return IncludeObject::kObject;
  if (text == "None") return IncludeObject::kNone;
  return InvalidArgumentError("includeObject \"" + std::string(text) +
                              "\": expected Object, Metadata or None");
}

json TableColumns() {
  return json::array({
      {{"name", "Name"}, {"type", "string"}, {"format", "name"}, {"description", "Object name"}},
      {{"name", "Region"}, {"type", "string"}, {"description", "spec.region"}},
      {{"name", "Phase"}, {"type", "string"}, {"description", "status.phase"}},
      {{"name", "Reason"},
       {"type", "string"},
       {"description", "Reason of the condition behind the phase"}},
      {{"name", "Attempts"}, {"type", "integer"}, {"description", "status.attempt"}},
      {{"name", "Age"}, {"type", "date"}, {"description", "metadata.creationTimestamp"}},
      {{"name", "Remote Job"},
       {"type", "string"},
       {"priority", 1},
       {"description", "status.remoteJobName"}},
      {{"name", "Image"}, {"type", "string"}, {"priority", 1}, {"description", "spec.image"}},
      {{"name", "Message"},
       {"type", "string"},
       {"priority", 1},
       {"description", "Message of the condition behind the phase"}},
  });
}

std::pair<std::string, std::string> PhaseReason(const api::JobStatus& s) {
  if (const auto* c = api::FindCondition(s.conditions, api::kCondStalled);
      c && c->status == "True") {
    return {c->reason, c->message};
  }
  const char* type = nullptr;
  switch (s.phase) {
    case api::Phase::kInvalid:
      type = api::kCondAccepted;
      break;
    case api::Phase::kFailed:
      type = api::kCondFailed;
      break;
    case api::Phase::kSucceeded:
      type = api::kCondComplete;
      break;
    case api::Phase::kRunning:
      type = api::kCondRunning;
      break;
    case api::Phase::kSubmitted:
      type = api::kCondSubmitted;
      break;
    case api::Phase::kSuspended:
      type = api::kCondSuspended;
      break;
    case api::Phase::kPending:
    case api::Phase::kRemoved:
      break;
  }
  if (type) {
    if (const auto* c = api::FindCondition(s.conditions, type)) return {c->reason, c->message};
  }
  return {"", s.last_error};
}

namespace {

json NullIfEmpty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json Cells(const ObjectVersion& v, TimePoint now) {
  const store::ObjectRecord& r = v.record;
  auto [reason, message] = PhaseReason(r.status);
  std::string image;
  if (auto it = v.object.find("spec"); it != v.object.end() && it->is_object()) {
    image = it->value("image", "");
  }
  return json::array({r.key.name, r.region, std::string(api::PhaseName(r.status.phase)),
                      NullIfEmpty(reason), r.status.attempt, FormatAge(now - r.created_at),
                      NullIfEmpty(r.status.remote_job_name), NullIfEmpty(image),
                      NullIfEmpty(message)});
}

// PartialObjectMetadata as nlohmann dumps it (keys sorted), up to metadata.
constexpr char kPartialPrefix[] =
    R"({"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":)";

}  // namespace

json TableRow(const ObjectVersion& v, TimePoint now, IncludeObject include) {
  json row{{"cells", Cells(v, now)}};
  switch (include) {
    case IncludeObject::kNone:
      break;
    case IncludeObject::kMetadata:
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", v.object.at("metadata")}};
      break;
    case IncludeObject::kObject:
      row["object"] = v.object;
      break;
  }
  return row;
}

std::string TableBody(const std::vector<VersionPtr>& versions, int64_t resource_version,
                      TimePoint now, IncludeObject include) {
  std::string body = VersionsToTable({}, resource_version, now, include).dump();
  // It ends with "rows":[]} (keys sorted, rows last): splice the rows in.
  constexpr std::string_view kTail = "[]}";
  body.resize(body.size() - kTail.size());
  body += '[';
  for (size_t i = 0; i < versions.size(); ++i) {
    const ObjectVersion& v = *versions[i];
    if (i) body += ',';
    body += R"({"cells":)";
    body += Cells(v, now).dump(-1, ' ', false, json::error_handler_t::replace);
    switch (include) {
      case IncludeObject::kNone:
        break;
      case IncludeObject::kMetadata:
        body += R"(,"object":)";
        body += kPartialPrefix;
        body += v.metadata_text;
        body += '}';
        break;
      case IncludeObject::kObject:
        body += R"(,"object":)";
        body += v.text;
        break;
    }
    body += '}';
  }
  body += "]}";
  return body;
}

json VersionsToTable(const std::vector<VersionPtr>& versions, int64_t resource_version,
                     TimePoint now, IncludeObject include, bool column_definitions) {
  json rows = json::array();
  for (const auto& v : versions) rows.push_back(TableRow(*v, now, include));
  return json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", std::to_string(resource_version)}}},
              {"columnDefinitions", column_definitions ? TableColumns() : json(nullptr)},
              {"rows", std::move(rows)}};
}

Result<FieldSelector> FieldSelector::Parse(std::string_view text,
                                           const std::vector<std::string_view>& allowed) {
  FieldSelector fs;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view term = text.substr(pos, comma - pos);
    pos = comma + 1;
    while (!term.empty() && term.front() == ' ') term.remove_prefix(1);
    while (!term.empty() && term.back() == ' ') term.remove_suffix(1);
    if (term.empty()) continue;
    Term t;
    size_t op = term.find("!=");
    size_t value_at = 0;
    if (op != std::string_view::npos) {
      t.negate = true;
      value_at = op + 2;
    } else if ((op = term.find("==")) != std::string_view::npos) {
      value_at = op + 2;
    } else if ((op = term.find('=')) != std::string_view::npos) {
      value_at = op + 1;
    } else {
      return InvalidArgumentError("fieldSelector \"" + std::string(term) +
                                  "\": expected field=value, field==value or field!=value");
    }
    t.field = std::string(term.substr(0, op));
    t.value = std::string(term.substr(value_at));
    bool known = false;
    for (auto f : allowed) known = known || f == t.field;
    if (!known) {
      std::string list;
      for (auto f : allowed) list += (list.empty() ? "" : ", ") + std::string(f);
      return InvalidArgumentError("fieldSelector: field \"" + t.field +
                                  "\" is not supported (supported: " + list + ")");
    }
    fs.terms_.push_back(std::move(t));
  }
  return fs;
}

std::string FieldSelector::Equal(std::string_view field) const {
  for (const auto& t : terms_) {
    if (!t.negate && t.field == field) return t.value;
  }
  return "";
}

std::optional<std::string> JobField(const store::ObjectRecord& r, std::string_view field) {
  if (field == "metadata.name") return r.key.name;
  if (field == "metadata.namespace") return r.key.namespace_name;
  if (field == "status.phase") return std::string(api::PhaseName(r.status.phase));
  return std::nullopt;
}

}  // namespace mlspace::apiserver
