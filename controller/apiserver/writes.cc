#include "controller/apiserver/writes.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "controller/api/codec.h"
#include "controller/api/crd.h"
#include "controller/api/manifest.h"
#include "controller/api/types.h"
#include "controller/api/yaml_json.h"
#include "controller/apiserver/change_log.h"
#include "controller/apiserver/object_codec.h"
#include "controller/apiserver/patch.h"
#include "controller/apiserver/ssa.h"
#include "controller/apiserver/table.h"
#include "controller/core/log.h"
#include "controller/core/object_key.h"
#include "controller/core/redact.h"
#include "controller/core/time_util.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

enum class FieldValidation { kStrict, kWarn, kIgnore };

ApiResponse Reply(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiResponse Fail(int code, std::string_view reason, std::string_view message) {
  return Reply(code, StatusFailure(code, reason, message));
}

// Invalid UTF-8 (a field name from a fuzzed body) is replaced, never thrown.
std::string Quoted(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ObjectRef(const std::string& name) {
  return std::string(api::kPlural) + "." + api::kGroup + " " + Quoted(name);
}

ApiResponse Conflict(const std::string& name, std::string_view message) {
  json s = StatusFailure(
      409, "Conflict",
      "Operation cannot be fulfilled on " + ObjectRef(name) + ": " + std::string(message));
  s["details"] = {{"name", name}, {"group", api::kGroup}, {"kind", api::kPlural}};
  return Reply(409, s);
}

constexpr char kStaleMessage[] =
    "the object has been modified; please apply your changes to the latest version and try again";

ApiResponse AlreadyExists(const std::string& name) {
  json s = StatusFailure(409, "AlreadyExists", ObjectRef(name) + " already exists");
  s["details"] = {{"name", name}, {"group", api::kGroup}, {"kind", api::kPlural}};
  return Reply(409, s);
}

// What the writer's failures mean to a client (see api::ManifestWriter).
ApiResponse WriterError(const Status& s, const std::string& name) {
  switch (s.code()) {
    case StatusCode::kAborted:
      return Conflict(name, s.message());
    case StatusCode::kNotFound:
      return Reply(404, NotFoundStatus(name));
    case StatusCode::kAlreadyExists:
      return AlreadyExists(name);
    case StatusCode::kFailedPrecondition:
      return Fail(405, "MethodNotAllowed", s.message());
    case StatusCode::kUnavailable:
      return Fail(503, "ServiceUnavailable", s.message());
    case StatusCode::kInvalidArgument:
      return Fail(400, "BadRequest", s.message());
    default:
      return Fail(500, "InternalError", s.message());
  }
}

// One field cause for a 422, from one ParseObjectDocument error
// ("<source>: <field>: <message>" or "<source>: unknown field \"f\"").
struct Cause {
  std::string field;
  std::string message;
  bool unknown_field = false;
};

constexpr char kSource[] = "request";

Cause ParseCause(std::string_view error) {
  std::string_view rest = error;
  std::string prefix = std::string(kSource) + ": ";
  if (rest.substr(0, prefix.size()) == prefix) rest.remove_prefix(prefix.size());
  Cause c;
  constexpr std::string_view kUnknown = "unknown field \"";
  if (rest.substr(0, kUnknown.size()) == kUnknown) {
    size_t end = rest.rfind('"');
    c.field = std::string(rest.substr(kUnknown.size(), end - kUnknown.size()));
    c.message = std::string(rest);
    c.unknown_field = true;
    return c;
  }
  size_t colon = rest.find(": ");
  if (colon != std::string_view::npos &&
      rest.substr(0, colon).find(' ') == std::string_view::npos) {
    c.field = std::string(rest.substr(0, colon));
    c.message = std::string(rest.substr(colon + 2));
  } else {
    c.message = std::string(rest);
  }
  return c;
}

std::string CauseReason(const Cause& c) {
  if (c.unknown_field) return "FieldValueNotSupported";
  if (c.message.find("is required") != std::string::npos) return "FieldValueRequired";
  if (c.message.find("must be one of") != std::string::npos) return "FieldValueNotSupported";
  return "FieldValueInvalid";
}

ApiResponse Invalid(const std::string& name, const std::vector<Cause>& causes) {
  json list = json::array();
  std::string joined;
  for (const auto& c : causes) {
    std::string line = c.field.empty() ? c.message : c.field + ": " + c.message;
    if (c.unknown_field) line = c.message;
    joined += (joined.empty() ? "" : ", ") + line;
    list.push_back({{"reason", CauseReason(c)}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) joined = "[" + joined + "]";
  json s = StatusFailure(
      422, "Invalid",
      std::string(api::kKind) + "." + api::kGroup + " " + Quoted(name) + " is invalid: " + joined);
  s["details"] = {{"name", name}, {"group", api::kGroup}, {"kind", api::kKind}, {"causes", list}};
  return Reply(422, s);
}

// "spec.env[0].name" -> {"spec", "env", 0, "name"} as a JSON pointer.
json::json_pointer PointerOf(const std::string& path) {
  json::json_pointer ptr;
  std::string seg;
  auto flush = [&] {
    if (!seg.empty()) ptr /= seg;
    seg.clear();
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      flush();
    } else if (c == '[') {
      flush();
      size_t end = path.find(']', i);
      if (end == std::string::npos) break;
      ptr /= path.substr(i + 1, end - i - 1);
      i = end;
    } else {
      seg += c;
    }
  }
  flush();
  return ptr;
}

void ErasePointer(json& doc, const json::json_pointer& ptr) {
  if (ptr.empty()) return;
  try {
    json::json_pointer parent = ptr.parent_pointer();
    if (!doc.contains(parent)) return;
    json& p = doc.at(parent);
    if (p.is_object()) p.erase(ptr.back());
  } catch (const json::exception&) {
    // A path the validator reported cannot be malformed; if it were, the
    // re-validation below reports the field again.
  }
}

// Server-owned metadata and status never come from a request: the
// document keeps what it had (a committed `kubectl get -o yaml` copy keeps
// its bytes), and a request cannot add them.
void RestoreServerFields(const json& old, json& doc, bool keep_managed_fields) {
  static const char* const kServer[] = {
      "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields"};
  if (!doc.is_object()) return;
  json& md = doc["metadata"];
  if (!md.is_object()) return;
  const json* old_md = old.is_object() && old.contains("metadata") && old["metadata"].is_object()
                           ? &old["metadata"]
                           : nullptr;
  for (const char* k : kServer) {
    if (keep_managed_fields && std::string_view(k) == "managedFields") continue;
    if (old_md && old_md->contains(k)) {
      md[k] = (*old_md)[k];
    } else {
      md.erase(k);
    }
  }
  if (old.is_object() && old.contains("status")) {
    doc["status"] = old["status"];
  } else {
    doc.erase("status");
  }
}

const json* Meta(const json& doc, const char* key) {
  if (!doc.is_object()) return nullptr;
  auto md = doc.find("metadata");
  if (md == doc.end() || !md->is_object()) return nullptr;
  auto it = md->find(key);
  return it == md->end() ? nullptr : &*it;
}

std::string MetaString(const json& doc, const char* key) {
  const json* v = Meta(doc, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// The committed document with the CRD's defaults filled into its spec:
// what the served object shows, so a JSON patch written against `kubectl
// get -o yaml` (replace /spec/workers, test /spec/type) finds its paths.
json WithDefaults(const json& doc) {
  json out = doc;
  auto validator = api::CrdValidator();
  if (!validator.ok() || !out.is_object() || !out.contains("spec") || !out["spec"].is_object()) {
    return out;
  }
  if (!(*validator)->ApplyDefaults(out["spec"], api::kCrdSpecSchemaPointer).ok()) return doc;
  return out;
}

// Drops from `result` every member the defaulting added (absent from
// `committed`, present in `defaulted`) that the patch left at its default
// value, so defaults never reach git unless a patch set them.
void StripUntouchedDefaults(const json& committed, const json& defaulted, json& result) {
  if (!defaulted.is_object() || !result.is_object()) return;
  for (auto it = defaulted.begin(); it != defaulted.end(); ++it) {
    auto r = result.find(it.key());
    if (r == result.end()) continue;
    auto c = committed.is_object() ? committed.find(it.key()) : committed.end();
    if (!committed.is_object() || c == committed.end()) {
      if (*r == it.value()) result.erase(r);
      continue;
    }
    if (c->is_object() && it.value().is_object()) StripUntouchedDefaults(*c, it.value(), *r);
  }
}

std::string ManagerFromUserAgent(const std::string& ua) {
  std::string m = ua.substr(0, ua.find('/'));
  return m.empty() ? "unknown" : m;
}

}  // namespace

struct WriteApi::Params {
  std::string verb;
  ObjectKey key;
  bool dry_run = false;
  FieldValidation validation = FieldValidation::kStrict;
  std::string field_manager;
  bool force = false;
  std::string user;
  std::string user_agent;
};

WriteApi::WriteApi(store::StateStore& store, const Clock& clock,
                   std::shared_ptr<api::ManifestWriter> writer, const ChangeLog* changes,
                   WriteObserver observer, JobCheck check)
    : store_(store),
      clock_(clock),
      writer_(std::move(writer)),
      changes_(changes),
      observer_(std::move(observer)),
      check_(std::move(check)) {}

Result<std::optional<store::ObjectRecord>> WriteApi::Current(const ObjectKey& key) const {
  if (changes_) {
    VersionPtr v = changes_->Get(key);
    if (!v) return std::optional<store::ObjectRecord>();
    return std::optional<store::ObjectRecord>(v->record);
  }
  auto rec = store_.Get(key);
  if (!rec.ok()) return rec.status();
  if (rec->has_value() && !IsServed(**rec)) return std::optional<store::ObjectRecord>();
  return std::move(*rec);
}

ApiResponse WriteApi::Handle(const ApiRequest& req, const std::string& ns, const std::string& name,
                             const std::string& subresource, const std::string& user) const {
  Params p;
  p.user = user;
  p.user_agent = req.Header("user-agent");
  p.key = ObjectKey{ns, name};
  if (req.method == "POST") {
    p.verb = "create";
  } else if (req.method == "PUT") {
    p.verb = "update";
  } else if (req.method == "PATCH") {
    p.verb = PatchTypeFromContentType(req.Header("content-type")) == PatchType::kApply ? "apply"
                                                                                       : "patch";
  } else if (req.method == "DELETE") {
    p.verb = name.empty() ? "deletecollection" : "delete";
  } else {
    p.verb = "other";
  }

  auto answer = [&]() -> ApiResponse {
    if (p.verb == "other" || (name.empty() && p.verb != "create" && p.verb != "deletecollection") ||
        (!name.empty() && p.verb == "create")) {
      return Fail(405, "MethodNotAllowed", "method " + req.method + " is not allowed here");
    }
    if (!subresource.empty()) {
      if (subresource == "status") {
        return Fail(405, "MethodNotAllowed",
                    "the status subresource is written by the controller only");
      }
      return Fail(404, "NotFound", "the server could not find the requested resource");
    }
    if (req.body.size() > kMaxWriteBodyBytes) {
      return Fail(413, "RequestEntityTooLarge",
                  "Request entity too large: limit is " + std::to_string(kMaxWriteBodyBytes));
    }
    if (!IsDns1123Label(ns)) {
      return Invalid(name, {{"metadata.namespace", Quoted(ns) + " is not a DNS-1123 label"}});
    }
    if (!name.empty() && !IsDns1123Label(name)) {
      return Invalid(name, {{"metadata.name", Quoted(name) + " is not a DNS-1123 label"}});
    }
    if (std::string dry = req.Query("dryRun"); dry == "All") {
      p.dry_run = true;
    } else if (!dry.empty()) {
      return Fail(400, "BadRequest", "dryRun \"" + dry + "\": the only supported value is All");
    }
    std::string fv = req.Query("fieldValidation");
    if (fv.empty() || fv == "Strict") {
      p.validation = FieldValidation::kStrict;
    } else if (fv == "Warn") {
      p.validation = FieldValidation::kWarn;
    } else if (fv == "Ignore") {
      p.validation = FieldValidation::kIgnore;
    } else {
      return Fail(400, "BadRequest",
                  "fieldValidation \"" + fv + "\": expected Strict, Warn or Ignore");
    }
    p.field_manager = req.Query("fieldManager");
    if (p.field_manager.size() > 128) {
      return Fail(400, "BadRequest", "fieldManager: must be at most 128 characters");
    }
    std::string force = req.Query("force");
    if (force == "true") {
      p.force = true;
    } else if (!force.empty() && force != "false") {
      return Fail(400, "BadRequest", "force \"" + force + "\": expected true or false");
    }
    if (p.force && p.verb != "apply") {
      return Fail(400, "BadRequest", "force is only allowed for apply (server-side apply) patches");
    }
    std::lock_guard<std::mutex> lock(mu_);
    return Dispatch(req, p);
  };
  ApiResponse r = answer();
  if (r.status >= 400) {
    std::string reason, message;
    json body = json::parse(r.body, nullptr, false);
    if (body.is_object()) {
      reason = body.value("reason", "");
      message = body.value("message", "");
    }
    LogWarn("API write refused", {{"user", user.empty() ? "anonymous" : user},
                                  {"verb", p.verb},
                                  {"object", p.key.name.empty() ? ns + "/*" : p.key.ToString()},
                                  {"code", std::to_string(r.status)},
                                  {"reason", reason},
                                  {"message", message}});
  }
  if (observer_) observer_(p.verb, r.status);
  return r;
}

ApiResponse WriteApi::Dispatch(const ApiRequest& req, const Params& p) const {
  if (p.verb == "create") return Create(req, p);
  if (p.verb == "update") return Update(req, p);
  if (p.verb == "apply") return Apply(req, p);
  if (p.verb == "patch") return Patch(req, p);
  if (p.verb == "delete") return Delete(req, p);
  return DeleteCollection(req, p);
}

namespace {

// The request's object: a JSON (or YAML) mapping whose namespace and name,
// when given, match the URL. Fills in the namespace (and the name, when
// `name` is set) if absent.
Result<json> RequestObject(const ApiRequest& req, const std::string& ns, const std::string& name,
                           bool allow_yaml) {
  std::string ct = req.Header("content-type");
  bool yaml = allow_yaml || ct.find("yaml") != std::string::npos;
  MLSPACE_ASSIGN_OR_RETURN(json obj, ParseBody(req.body, yaml));
  if (!obj.is_object()) return InvalidArgumentError("the request body must be an object");
  json& md = obj["metadata"];
  if (md.is_null()) md = json::object();
  if (!md.is_object()) return InvalidArgumentError("metadata: must be an object");
  if (auto it = md.find("namespace"); it != md.end() && !it->is_null()) {
    if (*it != ns) {
      return InvalidArgumentError(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
  } else {
    md["namespace"] = ns;
  }
  if (!name.empty()) {
    if (auto it = md.find("name"); it != md.end() && !it->is_null()) {
      if (*it != name) {
        return InvalidArgumentError(
            "the name of the object (" +
            Quoted(it->is_string() ? it->get<std::string>()
                                   : it->dump(-1, ' ', false, json::error_handler_t::replace)) +
            ") does not match the name on the URL (" + name + ")");
      }
    } else {
      md["name"] = name;
    }
  }
  return obj;
}

Result<json> DocumentJson(const api::StoredDocument& stored) {
  auto doc = api::internal::YamlToJson(stored.yaml);
  if (!doc.ok()) {
    return InternalError(stored.path +
                         ": the committed document does not parse: " + doc.status().message());
  }
  return std::move(*doc);
}

}  // namespace

ApiResponse WriteApi::Create(const ApiRequest& req, const Params& p) const {
  auto obj = RequestObject(req, p.key.namespace_name, "", false);
  if (!obj.ok()) return Fail(400, "BadRequest", obj.status().message());
  Params q = p;
  q.key.name = MetaString(*obj, "name");
  RestoreServerFields(json::object(), *obj, false);
  if (IsDns1123Label(q.key.name)) {
    auto found = writer_->Find(q.key, "");
    if (found.ok()) return AlreadyExists(q.key.name);
    if (found.status().code() != StatusCode::kNotFound)
      return WriterError(found.status(), q.key.name);
  }
  return Commit(q, std::move(*obj), api::WriteOp::kCreate, std::nullopt, 201);
}

ApiResponse WriteApi::Update(const ApiRequest& req, const Params& p) const {
  auto obj = RequestObject(req, p.key.namespace_name, p.key.name, false);
  if (!obj.ok()) return Fail(400, "BadRequest", obj.status().message());
  auto rec = Current(p.key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());
  auto stored = writer_->Find(p.key, *rec ? (*rec)->source_path : "");
  if (!stored.ok()) return WriterError(stored.status(), p.key.name);
  auto old = DocumentJson(*stored);
  if (!old.ok()) return Fail(500, "InternalError", old.status().message());
  std::string rv = MetaString(*obj, "resourceVersion");
  if (!rv.empty() && (!*rec || rv != std::to_string((*rec)->resource_version))) {
    return Conflict(p.key.name, kStaleMessage);
  }
  json doc = std::move(*obj);
  TrackNonApplyWrite(p, *old, doc);
  return Commit(p, std::move(doc), api::WriteOp::kUpdate, *stored, 200);
}

ApiResponse WriteApi::Patch(const ApiRequest& req, const Params& p) const {
  PatchType type = PatchTypeFromContentType(req.Header("content-type"));
  if (type != PatchType::kMerge && type != PatchType::kJson) {
    return Fail(415, "UnsupportedMediaType",
                std::string("the body of the request was in an unknown format - accepted media "
                            "types include: ") +
                    kAcceptedPatchTypes);
  }
  auto body = ParseBody(req.body, false);
  if (!body.ok()) return Fail(400, "BadRequest", body.status().message());
  auto rec = Current(p.key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());
  auto stored = writer_->Find(p.key, *rec ? (*rec)->source_path : "");
  if (!stored.ok()) return WriterError(stored.status(), p.key.name);
  auto old = DocumentJson(*stored);
  if (!old.ok()) return Fail(500, "InternalError", old.status().message());
  if (!old->is_object()) return Fail(500, "InternalError", stored->path + ": not a mapping");

  // The patch sees the live resourceVersion, so a patch that carries one
  // (kubectl apply with a resourceVersion in the file, kubectl diff, a
  // JSON patch "test") is checked against it.
  json working = *old;
  std::string live_rv = *rec ? std::to_string((*rec)->resource_version) : "";
  if (!working["metadata"].is_object()) working["metadata"] = json::object();
  if (!live_rv.empty()) working["metadata"]["resourceVersion"] = live_rv;
  // A JSON patch addresses the served (defaulted) object; its defaults
  // are dropped again where the patch left them alone.
  json base = type == PatchType::kJson ? WithDefaults(working) : working;
  auto patched = ApplyPatch(type, base, *body);
  if (patched.ok() && type == PatchType::kJson) StripUntouchedDefaults(working, base, *patched);
  if (!patched.ok()) {
    if (patched.status().code() == StatusCode::kFailedPrecondition) {
      return Fail(422, "Invalid", patched.status().message());
    }
    return Fail(400, "BadRequest", patched.status().message());
  }
  json doc = std::move(*patched);
  if (!doc.is_object() || !doc["metadata"].is_object()) {
    return Fail(422, "Invalid", "metadata: the patch leaves no metadata object");
  }
  if (MetaString(doc, "resourceVersion") != live_rv && Meta(doc, "resourceVersion")) {
    return Conflict(p.key.name, kStaleMessage);
  }
  if (MetaString(doc, "name") != p.key.name) {
    return Fail(400, "BadRequest",
                "the name of the object does not match the name on the URL (" + p.key.name + ")");
  }
  if (const json* ns = Meta(doc, "namespace");
      ns && !ns->is_null() && *ns != p.key.namespace_name) {
    return Fail(400, "BadRequest",
                "the namespace of the object does not match the namespace on the URL (" +
                    p.key.namespace_name + ")");
  }
  const json* old_mf = Meta(*old, "managedFields");
  const json* new_mf = Meta(doc, "managedFields");
  bool explicit_mf =
      (old_mf == nullptr) != (new_mf == nullptr) || (old_mf && new_mf && *old_mf != *new_mf);
  if (explicit_mf && new_mf && !new_mf->is_null()) {
    // kubectl rewrites managedFields itself when it upgrades a
    // client-side-applied object to server-side apply: taken as given.
    auto managed = ParseManagedFields(*new_mf);
    if (!managed.ok()) return Fail(422, "Invalid", managed.status().message());
    RestoreServerFields(*old, doc, true);
    if (managed->empty()) {
      doc["metadata"].erase("managedFields");
    } else {
      doc["metadata"]["managedFields"] = ManagedFieldsToJson(*managed);
    }
  } else {
    TrackNonApplyWrite(p, *old, doc);
  }
  return Commit(p, std::move(doc), api::WriteOp::kUpdate, *stored, 200);
}

ApiResponse WriteApi::Apply(const ApiRequest& req, const Params& p) const {
  if (p.field_manager.empty()) {
    return Fail(400, "BadRequest", "PATCH (apply) requires the fieldManager query parameter");
  }
  auto config = RequestObject(req, p.key.namespace_name, p.key.name, true);
  if (!config.ok()) return Fail(400, "BadRequest", config.status().message());
  auto rec = Current(p.key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());
  std::optional<api::StoredDocument> stored;
  std::optional<json> old;
  auto found = writer_->Find(p.key, *rec ? (*rec)->source_path : "");
  if (found.ok()) {
    auto doc = DocumentJson(*found);
    if (!doc.ok()) return Fail(500, "InternalError", doc.status().message());
    stored = std::move(*found);
    old = std::move(*doc);
  } else if (found.status().code() != StatusCode::kNotFound) {
    return WriterError(found.status(), p.key.name);
  }
  std::string rv = MetaString(*config, "resourceVersion");
  if (!rv.empty() && (!*rec || rv != std::to_string((*rec)->resource_version))) {
    return Conflict(p.key.name, kStaleMessage);
  }
  std::vector<ManagedEntry> managed;
  if (old) {
    const json* mf = Meta(*old, "managedFields");
    auto parsed = mf ? ParseManagedFields(*mf) : Result<std::vector<ManagedEntry>>(managed);
    if (mf && parsed.ok()) {
      managed = std::move(*parsed);
    } else {
      managed.push_back({kBeforeFirstApply, "Update", api::kApiVersion, "", LeafFields(*old)});
    }
  }
  json applied = *config;
  RestoreServerFields(json::object(), applied, false);
  std::string now = FormatRfc3339(clock_.Now());
  ApplyOutcome out = ServerSideApply(old ? &*old : nullptr, managed, applied, p.field_manager,
                                     p.force, api::kApiVersion, now);
  if (!out.conflicts.empty()) {
    json causes = json::array();
    for (const auto& c : out.conflicts) {
      causes.push_back({{"reason", "FieldManagerConflict"},
                        {"message", "conflict with " + c.manager},
                        {"field", FieldPathString(c.path)}});
    }
    json s = StatusFailure(409, "Conflict", ConflictMessage(out.conflicts));
    s["details"] = {
        {"name", p.key.name}, {"group", api::kGroup}, {"kind", api::kPlural}, {"causes", causes}};
    return Reply(409, s);
  }
  json doc = std::move(out.object);
  RestoreServerFields(old ? *old : json::object(), doc, false);
  doc["metadata"]["managedFields"] = ManagedFieldsToJson(out.managed);
  if (old) return Commit(p, std::move(doc), api::WriteOp::kUpdate, stored, 200);
  return Commit(p, std::move(doc), api::WriteOp::kCreate, std::nullopt, 201);
}

api::ManifestWriteRequest WriteApi::DeleteRequest(const Params& p, const ObjectKey& key,
                                                  const api::StoredDocument& stored) {
  api::ManifestWriteRequest w;
  w.op = api::WriteOp::kDelete;
  w.key = key;
  w.verb = p.verb;
  w.user = p.user;
  w.path_hint = stored.path;
  // Only the document the caller saw is removed, never a newer edit of it.
  w.expected_yaml = stored.yaml;
  return w;
}

void WriteApi::TrackNonApplyWrite(const Params& p, const json& old, json& doc) const {
  RestoreServerFields(old, doc, false);
  const json* mf = Meta(old, "managedFields");
  if (mf == nullptr) return;  // never server-side applied: nothing to track
  auto managed = ParseManagedFields(*mf);
  if (!managed.ok()) return;
  TrackUpdate(*managed, old, doc,
              p.field_manager.empty() ? ManagerFromUserAgent(p.user_agent) : p.field_manager,
              api::kApiVersion, FormatRfc3339(clock_.Now()));
  doc["metadata"]["managedFields"] = ManagedFieldsToJson(*managed);
}

ApiResponse WriteApi::Commit(const Params& p, json doc, api::WriteOp op,
                             const std::optional<api::StoredDocument>& stored, int ok_code) const {
  const std::string name = p.key.name;
  // Validation exactly as for a committed manifest; unknown fields are
  // refused (Strict), or dropped with a warning (Warn) or silently
  // (Ignore), as kube-apiserver prunes them.
  std::vector<std::string> warnings;
  api::ManifestDocument parsed = api::ParseObjectDocument(doc, kSource);
  if (parsed.kind == api::ManifestDocument::Kind::kInvalid &&
      p.validation != FieldValidation::kStrict) {
    bool pruned = false;
    for (const auto& e : parsed.errors) {
      Cause c = ParseCause(e);
      if (!c.unknown_field) continue;
      ErasePointer(doc, PointerOf(c.field));
      if (p.validation == FieldValidation::kWarn)
        warnings.push_back("unknown field " + Quoted(c.field));
      pruned = true;
    }
    if (pruned) parsed = api::ParseObjectDocument(doc, kSource);
  }
  if (parsed.kind == api::ManifestDocument::Kind::kIgnored) {
    return Fail(400, "BadRequest", ParseCause(parsed.warning).message);
  }
  if (parsed.kind != api::ManifestDocument::Kind::kJob) {
    std::vector<Cause> causes;
    bool all_unknown = true;
    for (const auto& e : parsed.errors) {
      causes.push_back(ParseCause(e));
      all_unknown = all_unknown && causes.back().unknown_field;
    }
    if (all_unknown && !causes.empty()) {
      std::string msg = "strict decoding error: ";
      for (size_t i = 0; i < causes.size(); ++i) msg += (i ? ", " : "") + causes[i].message;
      return Fail(400, "BadRequest", msg);
    }
    return Invalid(name.empty() ? MetaString(doc, "name") : name, causes);
  }
  const api::MLSpaceJob& job = *parsed.job;
  if (check_) {
    if (Status s = check_(job.spec); !s.ok())
      return Invalid(job.key().name, {ParseCause(s.message())});
  }
  if (job.key() != p.key) {
    return Fail(400, "BadRequest",
                "the object's namespace/name " + job.key().ToString() +
                    " does not match the request's " + p.key.ToString());
  }
  auto rec = Current(p.key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());

  bool changed = true;
  if (stored) {
    auto before = api::internal::YamlToJson(stored->yaml);
    changed = !before.ok() || *before != doc;
  }
  if (changed && !p.dry_run) {
    auto yaml = api::internal::JsonToYaml(doc);
    if (!yaml.ok()) return Fail(500, "InternalError", yaml.status().message());
    api::ManifestWriteRequest w;
    w.op = op;
    w.key = p.key;
    w.yaml = std::move(*yaml);
    w.verb = p.verb;
    w.user = p.user;
    w.path_hint = stored ? stored->path : (*rec ? (*rec)->source_path : "");
    if (stored) w.expected_yaml = stored->yaml;
    auto written = writer_->Write(w);
    if (!written.ok()) return WriterError(written.status(), name);
  }

  // The answer: the controller has not synced the commit yet, so the
  // object is its current record with the new metadata and spec; its
  // resourceVersion stays the record's until the controller records the
  // commit (docs/api.md "Writes").
  json obj;
  if (*rec && op != api::WriteOp::kCreate) {
    obj = RecordToObject(**rec);
    if (job.spec_hash != (*rec)->spec_hash) {
      obj["metadata"]["generation"] = (*rec)->generation + 1;
    }
  } else {
    store::ObjectRecord fresh;
    fresh.key = p.key;
    fresh.generation = 1;
    fresh.created_at = clock_.Now();
    obj = RecordToObject(fresh);
    obj["metadata"].erase("resourceVersion");
  }
  json& md = obj["metadata"];
  md.erase("labels");
  md.erase("annotations");
  if (!job.metadata.labels.empty()) md["labels"] = job.metadata.labels;
  if (!job.metadata.annotations.empty()) md["annotations"] = job.metadata.annotations;
  if (const json* mf = Meta(doc, "managedFields")) md["managedFields"] = *mf;
  json spec = json::parse(
      Redact(api::SpecToJson(job.spec).dump(-1, ' ', false, json::error_handler_t::replace)),
      nullptr, false);
  obj["spec"] = spec.is_discarded() ? json::object() : spec;
  ApiResponse r = Reply(ok_code, obj);
  if (!warnings.empty()) {
    std::string header;
    for (const auto& w : warnings) header += (header.empty() ? "" : ", ") + ("299 - " + Quoted(w));
    r.headers["Warning"] = header;
  }
  return r;
}

ApiResponse WriteApi::Delete(const ApiRequest& req, const Params& p) const {
  Params q = p;
  std::string precondition_rv;
  if (!req.body.empty()) {
    auto opts = ParseBody(req.body, false);
    if (!opts.ok() || !opts->is_object()) {
      return Fail(400, "BadRequest", "the request body must be a DeleteOptions object");
    }
    if (auto dr = opts->find("dryRun"); dr != opts->end() && dr->is_array()) {
      for (const auto& v : *dr) q.dry_run = q.dry_run || v == "All";
    }
    if (auto pre = opts->find("preconditions"); pre != opts->end() && pre->is_object()) {
      precondition_rv = pre->value("resourceVersion", "");
    }
  }
  auto rec = Current(p.key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());
  auto stored = writer_->Find(p.key, *rec ? (*rec)->source_path : "");
  if (!stored.ok()) return WriterError(stored.status(), p.key.name);
  if (!precondition_rv.empty() &&
      (!*rec || precondition_rv != std::to_string((*rec)->resource_version))) {
    return Conflict(p.key.name, kStaleMessage);
  }
  if (!q.dry_run) {
    auto written = writer_->Write(DeleteRequest(p, p.key, *stored));
    if (!written.ok()) return WriterError(written.status(), p.key.name);
  }
  json details{{"name", p.key.name}, {"group", api::kGroup}, {"kind", api::kPlural}};
  if (*rec) details["uid"] = ObjectUid(**rec);
  return Reply(200, json{{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", json::object()},
                         {"status", "Success"},
                         {"details", details}});
}

ApiResponse WriteApi::DeleteCollection(const ApiRequest& req, const Params& p) const {
  auto labels = LabelSelector::Parse(req.Query("labelSelector"));
  if (!labels.ok()) return Fail(400, "BadRequest", labels.status().message());
  auto fields = FieldSelector::Parse(req.Query("fieldSelector"), JobSelectorFields());
  if (!fields.ok()) return Fail(400, "BadRequest", fields.status().message());
  std::vector<store::ObjectRecord> records;
  int64_t rv = 0;
  if (changes_) {
    for (const auto& v : changes_->List(&rv)) records.push_back(v->record);
  } else {
    auto all = store_.List();
    if (!all.ok()) return Fail(500, "InternalError", all.status().message());
    for (auto& r : *all) {
      rv = std::max(rv, r.resource_version);
      if (IsServed(r)) records.push_back(std::move(r));
    }
  }
  json items = json::array();
  for (const auto& r : records) {
    if (r.key.namespace_name != p.key.namespace_name || !labels->Matches(r.labels) ||
        !fields->Matches([&r](std::string_view f) { return JobField(r, f); })) {
      continue;
    }
    auto stored = writer_->Find(r.key, r.source_path);
    if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) continue;
    if (!stored.ok()) return WriterError(stored.status(), r.key.name);
    if (!p.dry_run) {
      auto written = writer_->Write(DeleteRequest(p, r.key, *stored));
      if (!written.ok()) return WriterError(written.status(), r.key.name);
    }
    items.push_back(RecordToObject(r));
  }
  return Reply(200, json{{"apiVersion", api::kApiVersion},
                         {"kind", std::string(api::kKind) + "List"},
                         {"metadata", {{"resourceVersion", std::to_string(rv)}}},
                         {"items", std::move(items)}});
}

}  // namespace mlspace::apiserver
