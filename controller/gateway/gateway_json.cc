#include "controller/gateway/gateway_json.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>

#include "controller/core/redact.h"
#include "controller/core/time_util.h"

namespace mlspace::gateway {
namespace {

using nlohmann::json;

constexpr size_t kMaxTextDetail = 200;

Result<json> ParseObject(std::string_view body, std::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InternalError(std::string(what) + ": answer is not JSON");
  if (!j.is_object()) return InternalError(std::string(what) + ": answer is not a JSON object");
  return j;
}

Result<std::string> RequiredString(const json& j, std::string_view what, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return InternalError(std::string(what) + ": field " + key + " missing or not a string");
  }
  return it->get<std::string>();
}

std::string OptionalString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// Epoch seconds; 0 and absent mean "not yet".
std::optional<TimePoint> EpochField(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  if (v <= 0) return std::nullopt;
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(v)));
}

// The service writes Python isoformat: offset or Z, sometimes neither (UTC).
std::optional<TimePoint> DateTimeField(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  std::string s = it->get<std::string>();
  if (s.empty()) return std::nullopt;
  auto t = ParseRfc3339(s);
  if (t.ok()) return *t;
  if (s.find(' ') != std::string::npos) s[s.find(' ')] = 'T';
  t = ParseRfc3339(s + "Z");
  if (t.ok()) return *t;
  return std::nullopt;
}

int64_t EpochSeconds(std::optional<TimePoint> t) {
  if (!t) return 0;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

void AppendEscaped(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// "a100.8gpu" -> 8; CPU instance types -> 0.
int GpuCount(const std::string& instance_type) {
  const size_t pos = instance_type.find("gpu");
  if (pos == std::string::npos) return 0;
  size_t start = pos;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(instance_type[start - 1]))) --start;
  int n = 0;
  std::from_chars(instance_type.data() + start, instance_type.data() + pos, n);
  return n;
}

std::string FirstLine(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  size_t end = text.find_first_of("\r\n");
  std::string line(text.substr(0, end));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.size() > kMaxTextDetail) line = line.substr(0, kMaxTextDetail) + "...";
  return line;
}

std::string LocPart(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return v.dump();
}

}  // namespace

json SubmitRequestToJson(const SubmitRequest& req) {
  json j = json::object();
  j["script"] = req.script;
  j["base_image"] = req.base_image;
  j["instance_type"] = req.instance_type;
  if (req.region) j["region"] = *req.region;
  if (req.type) j["type"] = *req.type;
  if (req.n_workers) j["n_workers"] = *req.n_workers;
  if (req.processes_per_worker) j["processes_per_worker"] = *req.processes_per_worker;
  if (req.priority_class) j["priority_class"] = *req.priority_class;
  if (req.queue_name) j["queue_name"] = *req.queue_name;
  if (req.allocation_name) j["allocation_name"] = *req.allocation_name;
  if (req.job_desc) j["job_desc"] = *req.job_desc;
  if (req.max_retry) j["max_retry"] = *req.max_retry;
  if (req.health_params) {
    json h = json::object();
    h["log_period"] = req.health_params->log_period;
    if (req.health_params->action) h["action"] = *req.health_params->action;
    if (!req.health_params->sub_actions.empty()) {
      h["sub_actions"] = req.health_params->sub_actions;
    }
    j["health_params"] = std::move(h);
  }
  if (req.checkpoint_dir) j["checkpoint_dir"] = *req.checkpoint_dir;
  if (req.logs_dir) j["logs_dir"] = *req.logs_dir;
  if (req.conda_env) j["conda_env"] = *req.conda_env;
  if (req.internet) j["internet"] = *req.internet;
  if (!req.env_variables.empty()) j["env_variables"] = req.env_variables;
  if (!req.flags.empty()) j["flags"] = req.flags;
  if (req.shm_size_class) j["shm_size_class"] = *req.shm_size_class;
  return j;
}

Result<SubmitRequest> SubmitRequestFromJson(const json& body) {
  if (!body.is_object()) return InvalidArgumentError("body: must be a JSON object");
  try {
    SubmitRequest r;
    auto str = [&](const char* key, std::string& out) -> Status {
      auto it = body.find(key);
      if (it == body.end()) return InvalidArgumentError(std::string(key) + ": required");
      if (!it->is_string()) return InvalidArgumentError(std::string(key) + ": must be a string");
      out = it->get<std::string>();
      return OkStatus();
    };
    MLSPACE_RETURN_IF_ERROR(str("script", r.script));
    MLSPACE_RETURN_IF_ERROR(str("base_image", r.base_image));
    MLSPACE_RETURN_IF_ERROR(str("instance_type", r.instance_type));
    auto opt_str = [&](const char* key, std::optional<std::string>& out) -> Status {
      auto it = body.find(key);
      if (it == body.end() || it->is_null()) return OkStatus();
      if (!it->is_string()) return InvalidArgumentError(std::string(key) + ": must be a string");
      out = it->get<std::string>();
      return OkStatus();
    };
    auto opt_int = [&](const char* key, std::optional<int>& out) -> Status {
      auto it = body.find(key);
      if (it == body.end() || it->is_null()) return OkStatus();
      if (!it->is_number_integer()) {
        return InvalidArgumentError(std::string(key) + ": must be an integer");
      }
      out = it->get<int>();
      return OkStatus();
    };
    MLSPACE_RETURN_IF_ERROR(opt_str("region", r.region));
    MLSPACE_RETURN_IF_ERROR(opt_str("type", r.type));
    MLSPACE_RETURN_IF_ERROR(opt_int("n_workers", r.n_workers));
    if (auto it = body.find("processes_per_worker");
        it != body.end() && !(it->is_string() && *it == "default")) {
      MLSPACE_RETURN_IF_ERROR(opt_int("processes_per_worker", r.processes_per_worker));
    }
    MLSPACE_RETURN_IF_ERROR(opt_str("priority_class", r.priority_class));
    MLSPACE_RETURN_IF_ERROR(opt_str("queue_name", r.queue_name));
    MLSPACE_RETURN_IF_ERROR(opt_str("allocation_name", r.allocation_name));
    MLSPACE_RETURN_IF_ERROR(opt_str("job_desc", r.job_desc));
    MLSPACE_RETURN_IF_ERROR(opt_int("max_retry", r.max_retry));
    MLSPACE_RETURN_IF_ERROR(opt_str("checkpoint_dir", r.checkpoint_dir));
    MLSPACE_RETURN_IF_ERROR(opt_str("logs_dir", r.logs_dir));
    MLSPACE_RETURN_IF_ERROR(opt_str("conda_env", r.conda_env));
    MLSPACE_RETURN_IF_ERROR(opt_str("shm_size_class", r.shm_size_class));
    if (auto it = body.find("internet"); it != body.end() && !it->is_null()) {
      if (!it->is_boolean()) return InvalidArgumentError("internet: must be a boolean");
      r.internet = it->get<bool>();
    }
    for (const char* key : {"env_variables", "flags"}) {
      auto it = body.find(key);
      if (it == body.end() || it->is_null()) continue;
      if (!it->is_object()) return InvalidArgumentError(std::string(key) + ": must be an object");
      auto& out = std::string_view(key) == "flags" ? r.flags : r.env_variables;
      for (const auto& [k, v] : it->items()) {
        // The service stringifies scalar values; keep their JSON text.
        out[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
    if (auto it = body.find("health_params"); it != body.end() && !it->is_null()) {
      if (!it->is_object()) return InvalidArgumentError("health_params: must be an object");
      HealthParams h;
      auto lp = it->find("log_period");
      if (lp == it->end() || !lp->is_number_integer()) {
        return InvalidArgumentError("health_params.log_period: required integer");
      }
      h.log_period = lp->get<int>();
      if (auto a = it->find("action"); a != it->end() && a->is_string()) {
        h.action = a->get<std::string>();
      }
      if (auto s = it->find("sub_actions"); s != it->end() && s->is_array()) {
        for (const auto& v : *s) {
          if (v.is_string()) h.sub_actions.push_back(v.get<std::string>());
        }
      }
      r.health_params = std::move(h);
    }
    return r;
  } catch (const json::exception& e) {
    return InvalidArgumentError(std::string("body: ") + e.what());
  }
}

json RestartRequestToJson(const std::string& job_name) { return json{{"job_name", job_name}}; }

json ServiceAccountToJson(const std::string& client_id, const std::string& client_secret) {
  return json{{"client_id", client_id}, {"client_secret", client_secret}};
}

Result<std::string> ParseJobNameResponse(std::string_view body) {
  MLSPACE_ASSIGN_OR_RETURN(json j, ParseObject(body, "job answer"));
  MLSPACE_ASSIGN_OR_RETURN(std::string name, RequiredString(j, "job answer", "job_name"));
  if (name.empty()) return InternalError("job answer: empty job_name");
  return name;
}

json JobNameResponseToJson(const std::string& job_name, TimePoint created) {
  return json{{"job_name", job_name}, {"status", "Pending"}, {"created_at", EpochSeconds(created)}};
}

Result<ServiceToken> ParseServiceAuthResponse(std::string_view body) {
  MLSPACE_ASSIGN_OR_RETURN(json j, ParseObject(body, "service_auth answer"));
  auto tok = j.find("token");
  if (tok == j.end() || !tok->is_object()) {
    return InternalError("service_auth answer: field token missing or not an object");
  }
  ServiceToken t;
  MLSPACE_ASSIGN_OR_RETURN(t.access_token,
                           RequiredString(*tok, "service_auth answer", "access_token"));
  auto exp = tok->find("expires_in");
  if (exp == tok->end() || !exp->is_number()) {
    return InternalError("service_auth answer: field token.expires_in missing or not a number");
  }
  t.expires_in =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(exp->get<double>()));
  if (t.access_token.empty()) return InternalError("service_auth answer: empty access_token");
  return t;
}

json ServiceAuthResponseToJson(const ServiceToken& token) {
  return json{{"token",
               {{"access_token", token.access_token},
                {"token_type", "Bearer"},
                {"expires_in",
                 std::chrono::duration_cast<std::chrono::seconds>(token.expires_in).count()}}},
              {"status", "ok"},
              {"error_code", 0},
              {"error_message", ""}};
}

Result<ListPage> ParseListJobsResponse(std::string_view body) {
  MLSPACE_ASSIGN_OR_RETURN(json j, ParseObject(body, "list answer"));
  ListPage page;
  auto count = j.find("count");
  if (count == j.end() || !count->is_number_integer()) {
    return InternalError("list answer: field count missing or not an integer");
  }
  page.count = count->get<int64_t>();
  auto jobs = j.find("jobs");
  if (jobs == j.end() || !jobs->is_array()) {
    return InternalError("list answer: field jobs missing or not an array");
  }
  page.jobs.reserve(jobs->size());
  size_t index = 0;
  for (const auto& item : *jobs) {
    std::string what = "list answer: jobs[" + std::to_string(index++) + "]";
    if (!item.is_object()) return InternalError(what + ": not an object");
    RemoteJob job;
    MLSPACE_ASSIGN_OR_RETURN(job.name, RequiredString(item, what, "job_name"));
    MLSPACE_ASSIGN_OR_RETURN(std::string status, RequiredString(item, what, "status"));
    job.status = ParseRemoteStatus(status);
    job.region = OptionalString(item, "region");
    job.job_desc = OptionalString(item, "job_desc");
    job.instance_type = OptionalString(item, "instance_type");
    job.created = DateTimeField(item, "created_dt");
    job.completed = DateTimeField(item, "completed_dt");
    page.jobs.push_back(std::move(job));
  }
  return page;
}

std::string JobUid(const std::string& job_name) {
  const size_t h1 = std::hash<std::string>{}(job_name);
  const size_t h2 = std::hash<std::string>{}(job_name + "#uid");
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx",
                static_cast<unsigned>(h1 & 0xffffffffU),
                static_cast<unsigned>((h1 >> 32) & 0xffffU),
                static_cast<unsigned>((h1 >> 48) & 0xfffU), static_cast<unsigned>(h2 & 0xfffU),
                static_cast<unsigned long long>((h2 >> 12) & 0xffffffffffffULL));
  return buf;
}

// ListJobsResponse written by hand: a 6,000-job answer is the emulator's
// largest and most frequent body, and building it as a json tree costs
// several times more than appending.
std::string ListJobsResponseText(int64_t count, const std::vector<RemoteJob>& jobs, size_t from,
                                 size_t to, TimePoint now) {
  to = std::min(to, jobs.size());
  from = std::min(from, to);
  std::string out;
  out.reserve(64 + (to - from) * 520);
  out += "{\"count\":";
  out += std::to_string(count);
  out += ",\"jobs\":[";
  for (size_t i = from; i < to; ++i) {
    const RemoteJob& j = jobs[i];
    if (i != from) out += ',';
    out += "{\"uid\":\"";
    out += JobUid(j.name);
    out += "\",\"job_name\":";
    AppendEscaped(out, j.name);
    out += ",\"status\":\"";
    out += RemoteStatusName(j.status);
    out += "\",\"region\":";
    AppendEscaped(out, j.region);
    out += ",\"instance_type\":";
    AppendEscaped(out, j.instance_type);
    out += ",\"job_desc\":";
    AppendEscaped(out, j.job_desc);
    out += ",\"job_author\":\"N/A\",\"created_dt\":\"";
    out += FormatRfc3339(j.created.value_or(TimePoint{}));
    const std::optional<TimePoint> updated = j.completed ? j.completed : j.started;
    out += "\",\"updated_dt\":";
    out += updated ? "\"" + FormatRfc3339(*updated) + "\"" : std::string("null");
    out += ",\"completed_dt\":";
    out += j.completed ? "\"" + FormatRfc3339(*j.completed) + "\"" : std::string("null");
    out += ",\"cost\":\"0\",\"gpu_count\":";
    out += std::to_string(GpuCount(j.instance_type));
    out += ",\"duration\":";
    if (j.started) {
      const TimePoint end = j.completed.value_or(now);
      out += "\"" +
             std::to_string(std::max<int64_t>(
                 0, std::chrono::duration_cast<std::chrono::seconds>(end - *j.started).count())) +
             "s\"";
    } else {
      out += "null";
    }
    out +=
        ",\"namespace\":\"emulator\",\"queue_name\":\"default\","
        "\"queue_id\":\"00000000-0000-4000-8000-000000000001\","
        "\"allocation_name\":\"default\","
        "\"allocation_id\":\"00000000-0000-4000-8000-000000000002\"}";
  }
  out += "],\"status\":\"ok\",\"error_code\":0,\"error_message\":\"\"}";
  return out;
}

json ListJobsResponseToJson(int64_t count, const std::vector<RemoteJob>& jobs, TimePoint now) {
  return json::parse(ListJobsResponseText(count, jobs, 0, jobs.size(), now));
}

Result<std::optional<RemoteJob>> ParseGetJobStatusResponse(std::string_view body) {
  MLSPACE_ASSIGN_OR_RETURN(json j, ParseObject(body, "status answer"));
  MLSPACE_ASSIGN_OR_RETURN(std::string status, RequiredString(j, "status answer", "status"));
  if (status == "job not found") return std::optional<RemoteJob>();
  RemoteJob job;
  MLSPACE_ASSIGN_OR_RETURN(job.name, RequiredString(j, "status answer", "job_name"));
  job.status = ParseRemoteStatus(status);
  if (job.status == RemoteStatus::kUnknown) {
    return InternalError("status answer: unknown status \"" + status + "\"");
  }
  job.created = EpochField(j, "created_at");
  job.started = EpochField(j, "running_at");
  job.completed = EpochField(j, "completed_at");
  return std::optional<RemoteJob>(std::move(job));
}

json GetJobStatusResponseToJson(const RemoteJob& job) {
  std::string status(RemoteStatusName(job.status));
  for (auto& c : status) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return json{{"uid", JobUid(job.name)},
              {"job_name", job.name},
              {"status", status},
              {"created_at", EpochSeconds(job.created)},
              {"pending_at", EpochSeconds(job.created)},
              {"running_at", EpochSeconds(job.started)},
              {"completed_at", EpochSeconds(job.completed)},
              {"error_code", 0},
              {"error_message", ""}};
}

json GetJobStatusNotFoundToJson(const std::string& job_name) {
  return json{{"job_name", job_name},
              {"status", "job not found"},
              {"error_code", 0},
              {"error_message", "job not found"}};
}

Result<CancelResult> ParseDeleteJobResponse(std::string_view body) {
  MLSPACE_ASSIGN_OR_RETURN(json j, ParseObject(body, "delete answer"));
  MLSPACE_ASSIGN_OR_RETURN(std::string status, RequiredString(j, "delete answer", "status"));
  if (status == "deleted") return CancelResult::kDeleted;
  if (status == "job not found") return CancelResult::kNotFound;
  return InternalError("delete answer: unexpected status \"" + status + "\"");
}

json DeleteJobResponseToJson(const std::string& job_name, CancelResult result, TimePoint when) {
  bool deleted = result == CancelResult::kDeleted;
  return json{{"job_name", job_name},
              {"deleted_at", std::to_string(EpochSeconds(when))},
              {"status", deleted ? "deleted" : "job not found"},
              {"error_code", 0},
              {"error_message", deleted ? "" : "job not found"}};
}

std::string FieldError::ToString() const {
  std::string out;
  for (const auto& part : loc) {
    if (!out.empty()) out += '.';
    out += part;
  }
  if (out.empty()) return msg;
  return out + ": " + msg;
}

ErrorBody ParseErrorBody(std::string_view body) {
  ErrorBody out;
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.message = FirstLine(body);
    return out;
  }
  if (auto code = j.find("error_code"); code != j.end() && code->is_number_integer()) {
    out.error_code = code->get<int>();
  }
  if (auto msg = j.find("error_message"); msg != j.end() && msg->is_string()) {
    out.message = FirstLine(msg->get<std::string>());
  }
  if (auto detail = j.find("detail"); detail != j.end()) {
    if (detail->is_string()) {
      out.message = FirstLine(detail->get<std::string>());
    } else if (detail->is_array()) {
      for (const auto& d : *detail) {
        if (!d.is_object()) continue;
        FieldError f;
        if (auto loc = d.find("loc"); loc != d.end() && loc->is_array()) {
          for (const auto& p : *loc) f.loc.push_back(LocPart(p));
        }
        f.msg = FirstLine(OptionalString(d, "msg"));
        f.type = OptionalString(d, "type");
        out.fields.push_back(std::move(f));
      }
    }
  }
  if (out.message.empty() && out.fields.empty()) {
    // An unknown JSON shape: show it compactly rather than nothing.
    std::string dumped = j.dump();
    out.message = FirstLine(dumped);
  }
  return out;
}

std::string FormatGatewayError(std::string_view op, int http_status, const ErrorBody& body) {
  std::string out(op);
  out += ": ";
  out += std::to_string(http_status);
  out += " from gateway";
  std::string detail;
  for (const auto& f : body.fields) {
    if (!detail.empty()) detail += "; ";
    detail += f.ToString();
  }
  if (detail.empty()) {
    detail = body.message;
    if (body.error_code && !detail.empty() && *body.error_code != http_status) {
      detail += " (code " + std::to_string(*body.error_code) + ")";
    }
  }
  if (!detail.empty()) out += ": " + detail;
  return Redact(out);
}

json ErrorBodyToJson(int error_code, const std::string& message) {
  return json{{"error_code", error_code}, {"error_message", message}};
}

json ValidationErrorToJson(const std::vector<FieldError>& errors) {
  json detail = json::array();
  for (const auto& e : errors) {
    json loc = json::array();
    for (const auto& p : e.loc) {
      bool numeric =
          !p.empty() && p.size() <= 18 && p.find_first_not_of("0123456789") == std::string::npos;
      if (numeric) {
        loc.push_back(std::stoll(p));
      } else {
        loc.push_back(p);
      }
    }
    detail.push_back(json{{"loc", std::move(loc)}, {"msg", e.msg}, {"type", e.type}});
  }
  return json{{"detail", std::move(detail)}};
}

}  // namespace mlspace::gateway
