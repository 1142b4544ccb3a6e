#include "controller/api/codec.h"

#include <cstdlib>

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <limits>

#include "controller/core/time_util.h"

namespace mlspace::api {

using nlohmann::json;

namespace {

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xF]);
  }
  return out;
}

// Typed getters over validated JSON: a mismatch is an error naming the path.
class Reader {
 public:
  Reader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  bool Has(const char* key) const {
    return obj_.is_object() && obj_.contains(key) && !obj_.at(key).is_null();
  }
  std::string Path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  Status String(const char* key, std::string& out) const {
    if (!Has(key)) return OkStatus();
    const json& v = obj_.at(key);
    if (!v.is_string()) return InvalidArgumentError(Path(key) + ": must be a string");
    out = v.get<std::string>();
    return OkStatus();
  }
  Status OptString(const char* key, std::optional<std::string>& out) const {
    if (!Has(key)) return OkStatus();
    std::string s;
    MLSPACE_RETURN_IF_ERROR(String(key, s));
    out = std::move(s);
    return OkStatus();
  }
  template <typename Int>
  Status Integer(const char* key, Int& out) const {
    if (!Has(key)) return OkStatus();
    const json& v = obj_.at(key);
    if (!v.is_number()) return InvalidArgumentError(Path(key) + ": must be an integer");
    double d = v.get<double>();
    if (d != static_cast<double>(static_cast<int64_t>(d)) ||
        d < static_cast<double>(std::numeric_limits<Int>::min()) ||
        d > static_cast<double>(std::numeric_limits<Int>::max())) {
      return InvalidArgumentError(Path(key) + ": must be an integer in range");
    }
    out = static_cast<Int>(v.is_number_float() ? static_cast<int64_t>(d) : v.get<int64_t>());
    return OkStatus();
  }
  template <typename Int>
  Status OptInteger(const char* key, std::optional<Int>& out) const {
    if (!Has(key)) return OkStatus();
    Int v{};
    MLSPACE_RETURN_IF_ERROR(Integer(key, v));
    out = v;
    return OkStatus();
  }
  Status Bool(const char* key, bool& out) const {
    if (!Has(key)) return OkStatus();
    const json& v = obj_.at(key);
    if (!v.is_boolean()) return InvalidArgumentError(Path(key) + ": must be a boolean");
    out = v.get<bool>();
    return OkStatus();
  }
  Status OptBool(const char* key, std::optional<bool>& out) const {
    if (!Has(key)) return OkStatus();
    bool b = false;
    MLSPACE_RETURN_IF_ERROR(Bool(key, b));
    out = b;
    return OkStatus();
  }
  Result<const json*> Object(const char* key) const {
    const json& v = obj_.at(key);
    if (!v.is_object()) return InvalidArgumentError(Path(key) + ": must be an object");
    return &v;
  }
  Result<const json*> Array(const char* key) const {
    const json& v = obj_.at(key);
    if (!v.is_array()) return InvalidArgumentError(Path(key) + ": must be an array");
    return &v;
  }

 private:
  const json& obj_;
  std::string path_;
};

Status TimeField(const Reader& r, const json& obj, const char* key, std::optional<TimePoint>& out) {
  if (!r.Has(key)) return OkStatus();
  if (!obj.at(key).is_string()) return InvalidArgumentError(r.Path(key) + ": must be a string");
  auto t = ParseRfc3339(obj.at(key).get<std::string>());
  if (!t.ok()) return InvalidArgumentError(r.Path(key) + ": " + t.status().message());
  out = *t;
  return OkStatus();
}

}  // namespace

json SpecToJson(const JobSpec& s) {
  json j = json::object();
  j["region"] = s.region;
  j["image"] = s.image;
  j["instanceType"] = s.instance_type;
  j["workers"] = s.workers;
  if (s.processes_per_worker) j["processesPerWorker"] = *s.processes_per_worker;
  j["type"] = s.type;
  j["command"] = s.command;
  if (!s.working_dir.empty()) j["workingDir"] = s.working_dir;
  if (!s.env.empty()) {
    json env = json::array();
    for (const auto& e : s.env) {
      json item = {{"name", e.name}};
      if (e.value) item["value"] = *e.value;
      if (e.secret_key_ref) {
        item["valueFrom"] = {
            {"secretKeyRef", {{"name", e.secret_key_ref->name}, {"key", e.secret_key_ref->key}}}};
      }
      env.push_back(std::move(item));
    }
    j["env"] = std::move(env);
  }
  if (s.priority_class) j["priorityClass"] = *s.priority_class;
  if (s.internet) j["internet"] = *s.internet;
  if (!s.queue.empty()) j["queue"] = s.queue;
  if (!s.allocation.empty()) j["allocation"] = s.allocation;
  if (s.health_check) {
    json h = {{"logPeriodMinutes", s.health_check->log_period_minutes}};
    if (!s.health_check->action.empty()) h["action"] = s.health_check->action;
    if (s.health_check->notify) h["notify"] = true;
    j["healthCheck"] = std::move(h);
  }
  if (s.max_retry) j["maxRetry"] = *s.max_retry;
  if (s.launcher_path) j["launcherPath"] = *s.launcher_path;
  // Absent when empty: the spec hash of a job without files is unchanged.
  if (!s.files.empty()) {
    json files = json::array();
    for (const auto& f : s.files) {
      json item = {{"path", f.path}};
      if (f.content) item["content"] = *f.content;
      if (f.secret_key_ref) {
        item["secretKeyRef"] = {{"name", f.secret_key_ref->name}, {"key", f.secret_key_ref->key}};
      }
      if (f.mode) item["mode"] = *f.mode;
      files.push_back(std::move(item));
    }
    j["files"] = std::move(files);
  }
  if (s.ssh_ephemeral_keys) j["ssh"] = {{"ephemeralKeys", true}};  // absent when off: same hash
  // Only when set: a spec without it hashes as before backends existed.
  if (!s.backend.empty()) j["backend"] = s.backend;
  json rp = {{"backoffLimit", s.run_policy.backoff_limit},
             {"suspend", s.run_policy.suspend},
             {"onSpecChange",
              s.run_policy.on_spec_change == SpecChangePolicy::kIgnore ? "Ignore" : "Replace"}};
  if (s.run_policy.active_deadline_seconds) {
    rp["activeDeadlineSeconds"] = *s.run_policy.active_deadline_seconds;
  }
  j["runPolicy"] = std::move(rp);
  return j;
}

Result<JobSpec> SpecFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("spec: must be an object");
  JobSpec s;
  Reader r(j, "spec");
  MLSPACE_RETURN_IF_ERROR(r.String("region", s.region));
  MLSPACE_RETURN_IF_ERROR(r.String("image", s.image));
  MLSPACE_RETURN_IF_ERROR(r.String("instanceType", s.instance_type));
  MLSPACE_RETURN_IF_ERROR(r.Integer("workers", s.workers));
  MLSPACE_RETURN_IF_ERROR(r.OptInteger("processesPerWorker", s.processes_per_worker));
  MLSPACE_RETURN_IF_ERROR(r.String("type", s.type));
  if (r.Has("command")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* cmd, r.Array("command"));
    for (size_t i = 0; i < cmd->size(); ++i) {
      if (!(*cmd)[i].is_string()) {
        return InvalidArgumentError("spec.command[" + std::to_string(i) + "]: must be a string");
      }
      s.command.push_back((*cmd)[i].get<std::string>());
    }
  }
  MLSPACE_RETURN_IF_ERROR(r.String("workingDir", s.working_dir));
  if (r.Has("env")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* env, r.Array("env"));
    for (size_t i = 0; i < env->size(); ++i) {
      std::string p = "spec.env[" + std::to_string(i) + "]";
      const json& item = (*env)[i];
      if (!item.is_object()) return InvalidArgumentError(p + ": must be an object");
      Reader ir(item, p);
      EnvVar e;
      MLSPACE_RETURN_IF_ERROR(ir.String("name", e.name));
      MLSPACE_RETURN_IF_ERROR(ir.OptString("value", e.value));
      if (ir.Has("valueFrom")) {
        MLSPACE_ASSIGN_OR_RETURN(const json* vf, ir.Object("valueFrom"));
        Reader vr(*vf, p + ".valueFrom");
        if (vr.Has("secretKeyRef")) {
          MLSPACE_ASSIGN_OR_RETURN(const json* ref, vr.Object("secretKeyRef"));
          Reader rr(*ref, p + ".valueFrom.secretKeyRef");
          SecretKeyRef skr;
          MLSPACE_RETURN_IF_ERROR(rr.String("name", skr.name));
          MLSPACE_RETURN_IF_ERROR(rr.String("key", skr.key));
          e.secret_key_ref = std::move(skr);
        }
      }
      s.env.push_back(std::move(e));
    }
  }
  MLSPACE_RETURN_IF_ERROR(r.OptString("priorityClass", s.priority_class));
  MLSPACE_RETURN_IF_ERROR(r.OptBool("internet", s.internet));
  MLSPACE_RETURN_IF_ERROR(r.String("queue", s.queue));
  MLSPACE_RETURN_IF_ERROR(r.String("allocation", s.allocation));
  if (r.Has("healthCheck")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* hc, r.Object("healthCheck"));
    Reader hr(*hc, "spec.healthCheck");
    HealthCheck h;
    MLSPACE_RETURN_IF_ERROR(hr.Integer("logPeriodMinutes", h.log_period_minutes));
    MLSPACE_RETURN_IF_ERROR(hr.String("action", h.action));
    MLSPACE_RETURN_IF_ERROR(hr.Bool("notify", h.notify));
    s.health_check = std::move(h);
  }
  MLSPACE_RETURN_IF_ERROR(r.OptInteger("maxRetry", s.max_retry));
  MLSPACE_RETURN_IF_ERROR(r.OptString("launcherPath", s.launcher_path));
  if (r.Has("files")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* files, r.Array("files"));
    for (size_t i = 0; i < files->size(); ++i) {
      std::string p = "spec.files[" + std::to_string(i) + "]";
      const json& item = (*files)[i];
      if (!item.is_object()) return InvalidArgumentError(p + ": must be an object");
      Reader fr(item, p);
      JobFile f;
      MLSPACE_RETURN_IF_ERROR(fr.String("path", f.path));
      MLSPACE_RETURN_IF_ERROR(fr.OptString("content", f.content));
      if (fr.Has("secretKeyRef")) {
        MLSPACE_ASSIGN_OR_RETURN(const json* ref, fr.Object("secretKeyRef"));
        Reader rr(*ref, p + ".secretKeyRef");
        SecretKeyRef skr;
        MLSPACE_RETURN_IF_ERROR(rr.String("name", skr.name));
        MLSPACE_RETURN_IF_ERROR(rr.String("key", skr.key));
        f.secret_key_ref = std::move(skr);
      }
      if (fr.Has("mode")) {
        // An integer (0o600 or 384 in YAML) or a string of octal digits.
        const json& m = item.at("mode");
        if (m.is_number_integer()) {
          f.mode = m.get<int>();
        } else if (m.is_string()) {
          const std::string text = m.get<std::string>();
          char* end = nullptr;
          const long v = text.empty() ? -1 : std::strtol(text.c_str(), &end, 8);
          if (end == nullptr || *end != '\0' || v < 0) {
            return InvalidArgumentError(p + ".mode: must be octal digits, got \"" + text + "\"");
          }
          f.mode = static_cast<int>(v);
        } else {
          return InvalidArgumentError(p + ".mode: must be an integer or a string");
        }
        if (*f.mode < 0 || *f.mode > 0777) {
          return InvalidArgumentError(p + ".mode: must be 0..0777");
        }
      }
      s.files.push_back(std::move(f));
    }
  }
  if (r.Has("ssh")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* ssh, r.Object("ssh"));
    Reader sr(*ssh, "spec.ssh");
    MLSPACE_RETURN_IF_ERROR(sr.Bool("ephemeralKeys", s.ssh_ephemeral_keys));
  }
  MLSPACE_RETURN_IF_ERROR(r.String("backend", s.backend));
  if (r.Has("runPolicy")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* rp, r.Object("runPolicy"));
    Reader pr(*rp, "spec.runPolicy");
    MLSPACE_RETURN_IF_ERROR(pr.Integer("backoffLimit", s.run_policy.backoff_limit));
    MLSPACE_RETURN_IF_ERROR(
        pr.OptInteger("activeDeadlineSeconds", s.run_policy.active_deadline_seconds));
    MLSPACE_RETURN_IF_ERROR(pr.Bool("suspend", s.run_policy.suspend));
    std::string policy = "Replace";
    MLSPACE_RETURN_IF_ERROR(pr.String("onSpecChange", policy));
    if (policy == "Replace") {
      s.run_policy.on_spec_change = SpecChangePolicy::kReplace;
    } else if (policy == "Ignore") {
      s.run_policy.on_spec_change = SpecChangePolicy::kIgnore;
    } else {
      return InvalidArgumentError("spec.runPolicy.onSpecChange: must be Replace or Ignore");
    }
  }
  return s;
}

std::string SpecHash(const JobSpec& spec) {
  json j = SpecToJson(spec);
  j["runPolicy"].erase("suspend");
  // Replacement keeps hashing total on bytes that are not UTF-8.
  return Sha256Hex(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

json ConditionToJson(const Condition& c) {
  json j = {{"type", c.type}, {"status", c.status}};
  if (!c.reason.empty()) j["reason"] = c.reason;
  if (!c.message.empty()) j["message"] = c.message;
  if (c.last_transition_time != TimePoint{}) {
    j["lastTransitionTime"] = FormatRfc3339(c.last_transition_time);
  }
  return j;
}

json StatusToJson(const JobStatus& s) {
  json j = json::object();
  j["phase"] = std::string(PhaseName(s.phase));
  json conds = json::array();
  for (const auto& c : s.conditions) conds.push_back(ConditionToJson(c));
  j["conditions"] = std::move(conds);
  if (!s.remote_job_name.empty()) j["remoteJobName"] = s.remote_job_name;
  j["attempt"] = s.attempt;
  if (s.observed_generation != 0) j["observedGeneration"] = s.observed_generation;
  if (!s.synced_revision.empty()) j["syncedRevision"] = s.synced_revision;
  if (s.start_time) j["startTime"] = FormatRfc3339(*s.start_time);
  if (s.completion_time) j["completionTime"] = FormatRfc3339(*s.completion_time);
  if (!s.last_error.empty()) j["lastError"] = s.last_error;
  if (s.exit_code) j["exitCode"] = *s.exit_code;
  return j;
}

Result<JobStatus> StatusFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("status: must be an object");
  JobStatus s;
  Reader r(j, "status");
  std::string phase = "Pending";
  MLSPACE_RETURN_IF_ERROR(r.String("phase", phase));
  auto p = ParsePhase(phase);
  if (!p) return InvalidArgumentError("status.phase: unknown phase \"" + phase + "\"");
  s.phase = *p;
  if (r.Has("conditions")) {
    MLSPACE_ASSIGN_OR_RETURN(const json* conds, r.Array("conditions"));
    for (size_t i = 0; i < conds->size(); ++i) {
      std::string path = "status.conditions[" + std::to_string(i) + "]";
      const json& cj = (*conds)[i];
      if (!cj.is_object()) return InvalidArgumentError(path + ": must be an object");
      Reader cr(cj, path);
      Condition c;
      MLSPACE_RETURN_IF_ERROR(cr.String("type", c.type));
      MLSPACE_RETURN_IF_ERROR(cr.String("status", c.status));
      MLSPACE_RETURN_IF_ERROR(cr.String("reason", c.reason));
      MLSPACE_RETURN_IF_ERROR(cr.String("message", c.message));
      std::optional<TimePoint> t;
      MLSPACE_RETURN_IF_ERROR(TimeField(cr, cj, "lastTransitionTime", t));
      if (t) c.last_transition_time = *t;
      s.conditions.push_back(std::move(c));
    }
  }
  MLSPACE_RETURN_IF_ERROR(r.String("remoteJobName", s.remote_job_name));
  MLSPACE_RETURN_IF_ERROR(r.Integer("attempt", s.attempt));
  MLSPACE_RETURN_IF_ERROR(r.Integer("observedGeneration", s.observed_generation));
  MLSPACE_RETURN_IF_ERROR(r.String("syncedRevision", s.synced_revision));
  MLSPACE_RETURN_IF_ERROR(TimeField(r, j, "startTime", s.start_time));
  MLSPACE_RETURN_IF_ERROR(TimeField(r, j, "completionTime", s.completion_time));
  MLSPACE_RETURN_IF_ERROR(r.String("lastError", s.last_error));
  MLSPACE_RETURN_IF_ERROR(r.OptInteger("exitCode", s.exit_code));
  return s;
}

json ToJson(const MLSpaceJob& job, const JobStatus* status, const ServerMeta& meta) {
  json md = json::object();
  md["name"] = job.metadata.name;
  md["namespace"] = job.metadata.namespace_name;
  if (!meta.uid.empty()) md["uid"] = meta.uid;
  if (!meta.resource_version.empty()) md["resourceVersion"] = meta.resource_version;
  if (meta.generation != 0) md["generation"] = meta.generation;
  if (meta.creation_timestamp) md["creationTimestamp"] = FormatRfc3339(*meta.creation_timestamp);
  if (!job.metadata.labels.empty()) md["labels"] = job.metadata.labels;
  json ann = json::object();
  for (const auto& [k, v] : job.metadata.annotations) ann[k] = v;
  if (!job.spec_hash.empty()) ann[kSpecHashAnnotation] = job.spec_hash;
  if (!job.source_path.empty()) ann[kSourcePathAnnotation] = job.source_path;
  if (!ann.empty()) md["annotations"] = std::move(ann);
  json j = {{"apiVersion", kApiVersion},
            {"kind", kKind},
            {"metadata", std::move(md)},
            {"spec", SpecToJson(job.spec)}};
  if (status) j["status"] = StatusToJson(*status);
  return j;
}

}  // namespace mlspace::api
