#include "controller/gateway/local/emulator_server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/core/address.h"
#include "controller/core/log.h"
#include "controller/core/time_util.h"
#include "controller/core/token_bucket.h"
#include "controller/gateway/gateway_json.h"
#include "controller/gateway/local/emulator_http.h"
#include "controller/gateway/local/emulator_routes.h"
#include "controller/gateway/local/request_schemas.h"
#include "controller/schema/validator.h"

namespace mlspace::gateway::emulator {
namespace {

using nlohmann::json;

constexpr const char* kRegions[] = {"DGX2-MT", "A100-MT", "SR003", "SR004",
                                    "SR005",   "SR006",   "SR008"};
constexpr const char* kStatuses[] = {"Completed",  "Completing",  "Deleted",   "Failed",
                                     "Pending",    "Running",     "Stopped",   "Succeeded",
                                     "Terminated", "Terminating", "Restarting"};

HttpResp JsonResp(int status, const json& body) {
  HttpResp r;
  r.status = status;
  r.body = body.dump();
  return r;
}

HttpResp ErrorResp(int status, int code, const std::string& message) {
  return JsonResp(status, ErrorBodyToJson(code, message));
}

HttpResp Unprocessable(const std::vector<FieldError>& errors) {
  return JsonResp(422, ValidationErrorToJson(errors));
}

// "body.health_params.log_period" / "body.include_nodes[0]" -> loc parts.
std::vector<std::string> LocParts(const std::string& path) {
  std::vector<std::string> loc;
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) loc.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) loc.push_back(cur);
  return loc;
}

// Pydantic v1 wording, which the real service (FastAPI) answers with.
FieldError ToFieldError(const schema::ValidationError& e) {
  FieldError f;
  f.loc = LocParts(e.path);
  if (f.loc.empty()) f.loc.push_back("body");
  switch (e.kind) {
    case schema::ErrorKind::kRequired:
      f.msg = "field required";
      f.type = "value_error.missing";
      break;
    case schema::ErrorKind::kUnknownField:
      f.msg = "extra fields not permitted";
      f.type = "value_error.extra";
      break;
    case schema::ErrorKind::kType:
      f.msg = e.message;
      f.type = "type_error";
      break;
    case schema::ErrorKind::kEnum:
    case schema::ErrorKind::kConst:
      f.msg = "value is not a valid enumeration member; " + e.message;
      f.type = "type_error.enum";
      break;
    case schema::ErrorKind::kRange: {
      // "must be > 0" -> "ensure this value is greater than 0" (pydantic).
      static const std::pair<const char*, const char*> kOps[] = {
          {"must be >= ", "greater than or equal to "},
          {"must be > ", "greater than "},
          {"must be <= ", "less than or equal to "},
          {"must be < ", "less than "}};
      static const char* kTypes[] = {"value_error.number.not_ge", "value_error.number.not_gt",
                                     "value_error.number.not_le", "value_error.number.not_lt"};
      f.msg = e.message;
      f.type = "value_error.number";
      for (size_t i = 0; i < 4; ++i) {
        if (e.message.rfind(kOps[i].first, 0) == 0) {
          f.msg = std::string("ensure this value is ") + kOps[i].second +
                  e.message.substr(std::strlen(kOps[i].first));
          f.type = kTypes[i];
          break;
        }
      }
      break;
    }
    default:
      f.msg = e.message;
      f.type = "value_error";
  }
  return f;
}

FieldError QueryError(const std::string& name, std::string msg, std::string type) {
  return FieldError{{"query", name}, std::move(msg), std::move(type)};
}

std::optional<FieldError> CheckEnum(const std::string& name, const std::string& value,
                                    const auto& allowed) {
  for (const char* a : allowed) {
    if (value == a) return std::nullopt;
  }
  std::string permitted;
  for (const char* a : allowed) {
    permitted += permitted.empty() ? "'" : ", '";
    permitted += a;
    permitted += "'";
  }
  return QueryError(name, "value is not a valid enumeration member; permitted: " + permitted,
                    "type_error.enum");
}

// An integer query parameter with a lower bound, FastAPI-style errors.
std::optional<FieldError> QueryInt(const HttpReq& req, const std::string& name, int64_t min,
                                   int64_t& out) {
  const auto v = req.Query(name);
  if (!v) return std::nullopt;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return QueryError(name, "value is not a valid integer", "type_error.integer");
  }
  if (n < min) {
    return QueryError(name, "ensure this value is greater than or equal to " + std::to_string(min),
                      "value_error.number.not_ge");
  }
  out = n;
  return std::nullopt;
}

std::string RandomHex(size_t bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes * 2);
  for (size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xff);
    s += kHex[b >> 4];
    s += kHex[b & 0xf];
  }
  return s;
}

}  // namespace

class EmulatorServer::Impl {
 public:
  Impl(EmulatorOptions opts, JobGateway& backend, const Clock& clock)
      : opts_(std::move(opts)),
        backend_(backend),
        clock_(clock),
        faults_(opts_.faults),
        rate_(clock_, opts_.rate_limit_per_minute / 60.0, opts_.rate_limit_per_minute) {}

  Status Start();
  void Stop();
  uint16_t port() const { return http_.port(); }
  void SetFaults(const FaultConfig& f) {
    std::lock_guard<std::mutex> lock(fault_mu_);
    faults_ = f;
    counters_.clear();
  }
  json Stats() const;
  HttpResp Handle(const HttpReq& req);
  void Record(const HttpReq& req, const std::string& op, const HttpResp& resp);
  void Count(const std::string& op, const HttpResp& resp);

 private:
  struct PreFaults {
    Duration latency{0};
    bool drop = false;
    int status = 0;
  };
  bool FiresLocked(const std::string& key, const FaultRule& rule, const std::string& op);
  PreFaults DecidePreFaults(const std::string& op);
  std::optional<HttpResp> RateLimit();
  std::optional<HttpResp> CheckAuth(const HttpReq& req);
  std::optional<HttpResp> ParseBody(const HttpReq& req, const char* request_key, json& body);
  HttpResp AfterCreate(const std::string& op, const std::string& name, HttpResp ok);
  void CountFault(const std::string& kind);

  HttpResp ServiceAuth(const HttpReq& req);
  HttpResp Submit(const HttpReq& req);
  HttpResp List(const HttpReq& req);
  HttpResp GetJob(const std::string& name);
  HttpResp Delete(const HttpReq& req, const std::string& name);
  HttpResp RestartJob(const HttpReq& req);
  HttpResp Logs(const HttpReq& req, const std::string& name);
  HttpResp Control(const HttpReq& req);
  // GET /metrics: the emulator's own counters in the Prometheus text format,
  // so an e2e Prometheus can scrape it beside the controller.
  HttpResp Metrics() const;
  HttpResp BackendError(const Error& e);

  const EmulatorOptions opts_;
  JobGateway& backend_;
  const Clock& clock_;
  std::optional<schema::Validator> validator_;
  HttpListener http_;
  bool running_ = false;

  mutable std::mutex fault_mu_;
  FaultConfig faults_;
  std::map<std::string, uint64_t> counters_;  // every-N counters per fault
  std::mt19937_64 rng_{std::random_device{}()};
  std::unordered_map<std::string, int> hidden_;  // job -> list answers to skip

  TokenBucket rate_;  // --rate-limit-per-minute; unused when <= 0

  std::mutex token_mu_;
  std::unordered_map<std::string, TimePoint> tokens_;

  mutable std::mutex stats_mu_;
  uint64_t requests_ = 0;
  std::map<int, uint64_t> by_status_;
  std::map<std::string, uint64_t> by_op_;
  std::map<std::string, uint64_t> faults_fired_;
  uint64_t submitted_ = 0;

  std::mutex record_mu_;
  std::ofstream record_;
};

Status EmulatorServer::Impl::Start() {
  if (running_) return FailedPreconditionError("emulator: already started");
  auto doc = json::parse(RequestSchemasJson(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InternalError("emulator: embedded request schemas are not JSON");
  auto v = schema::Validator::Create(std::move(doc));
  if (!v.ok()) return v.status().WithContext("emulator: request schemas");
  validator_ = std::move(v).value();
  MLSPACE_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(opts_.listen, "--bind-address"));
  if (!opts_.record_path.empty()) {
    record_.open(opts_.record_path, std::ios::out | std::ios::app);
    if (!record_) return InvalidArgumentError("--record: cannot open " + opts_.record_path);
  }
  MLSPACE_RETURN_IF_ERROR(http_.Start(
      hp, "--bind-address", opts_.max_threads, [this](const HttpReq& req) { return Handle(req); },
      [](const std::string& what) { return ErrorResp(500, 500, "emulator: " + what); }));
  running_ = true;
  return OkStatus();
}

void EmulatorServer::Impl::Stop() {
  if (!running_) return;
  running_ = false;
  http_.Stop();
  std::lock_guard<std::mutex> lock(record_mu_);
  if (record_.is_open()) record_.close();
}

void EmulatorServer::Impl::CountFault(const std::string& kind) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++faults_fired_[kind];
}

bool EmulatorServer::Impl::FiresLocked(const std::string& key, const FaultRule& rule,
                                       const std::string& op) {
  if (!rule.Matches(op)) return false;
  if (rule.every > 0) return ++counters_[key] % static_cast<uint64_t>(rule.every) == 0;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < rule.probability;
}

EmulatorServer::Impl::PreFaults EmulatorServer::Impl::DecidePreFaults(const std::string& op) {
  PreFaults out;
  std::lock_guard<std::mutex> lock(fault_mu_);
  if (faults_.latency.count() > 0 && FiresLocked("latency", faults_.latency_rule, op)) {
    out.latency = faults_.latency;
  }
  if (FiresLocked("drop", faults_.drop, op)) {
    out.drop = true;
    return out;
  }
  const std::pair<const char*, const FaultRule*> rules[] = {{"429", &faults_.status_429},
                                                            {"500", &faults_.status_500},
                                                            {"502", &faults_.status_502},
                                                            {"503", &faults_.status_503}};
  for (const auto& [key, rule] : rules) {
    if (FiresLocked(key, *rule, op)) {
      out.status = std::atoi(key);
      break;
    }
  }
  return out;
}

std::optional<HttpResp> EmulatorServer::Impl::RateLimit() {
  const int limit = opts_.rate_limit_per_minute;
  if (limit <= 0) return std::nullopt;
  Duration retry_after{};
  if (rate_.TryTake(&retry_after)) return std::nullopt;
  const double seconds = std::chrono::duration<double>(retry_after).count();
  const int wait = std::max(1, static_cast<int>(std::ceil(seconds)));
  HttpResp r = ErrorResp(429, 429, RateLimitMessage(limit));
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

std::optional<HttpResp> EmulatorServer::Impl::CheckAuth(const HttpReq& req) {
  const std::string authz = req.Header("authorization");
  if (!authz.empty()) {
    std::string scheme = authz.substr(0, 7);
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "bearer ") return ErrorResp(401, 21, "invalid access_token");
    const std::string token = authz.substr(7);
    std::lock_guard<std::mutex> lock(token_mu_);
    const auto it = tokens_.find(token);
    if (it == tokens_.end()) return ErrorResp(401, 21, "invalid access_token");
    if (clock_.Now() >= it->second) return ErrorResp(401, 20, "access_token expired");
  } else {
    const auto key = req.headers.find("x-api-key");
    if (key == req.headers.end()) {
      return ErrorResp(401, 19, "no authorization header, it is required");
    }
    if (opts_.api_key.empty() || key->second != opts_.api_key) {
      return ErrorResp(401, 10, "Invalid api-key for workspace");
    }
  }
  const std::string ws = req.Header("x-workspace-id");
  if (ws.empty() || (!opts_.workspace_id.empty() && ws != opts_.workspace_id)) {
    return ErrorResp(401, 2, "namespace not found");
  }
  return std::nullopt;
}

std::optional<HttpResp> EmulatorServer::Impl::ParseBody(const HttpReq& req, const char* schema_name,
                                                        json& body) {
  body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return Unprocessable({FieldError{
        {"body", "0"}, "Expecting value: line 1 column 1 (char 0)", "value_error.jsondecode"}});
  }
  schema::ValidateOptions vo;
  vo.root_path = "body";
  const auto errors =
      validator_->Validate(body, std::string("/components/schemas/") + schema_name, vo);
  if (errors.empty()) return std::nullopt;
  std::vector<FieldError> fields;
  fields.reserve(errors.size());
  for (const auto& e : errors) fields.push_back(ToFieldError(e));
  return Unprocessable(fields);
}

HttpResp EmulatorServer::Impl::BackendError(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kInvalid:
      return ErrorResp(400, 400, e.message);
    case ErrorKind::kThrottled:
      return ErrorResp(429, 429, e.message);
    default:
      return ErrorResp(500, 500, std::string(kInternalErrorMessage) + ": " + e.message);
  }
}

HttpResp EmulatorServer::Impl::AfterCreate(const std::string& op, const std::string& name,
                                           HttpResp ok) {
  {
    std::lock_guard<std::mutex> stats(stats_mu_);
    ++submitted_;
  }
  bool drop = false;
  bool fail = false;
  int code = 500;
  {
    std::lock_guard<std::mutex> lock(fault_mu_);
    if (faults_.hide_polls > 0) hidden_[name] = faults_.hide_polls;
    drop = FiresLocked("drop-after-create", faults_.drop_after_create, op);
    if (!drop) fail = FiresLocked("after-create", faults_.after_create, op);
    code = faults_.after_create_code;
  }
  if (drop) {
    CountFault("drop-after-create");
    HttpResp r;
    r.drop = true;
    return r;
  }
  if (fail) {
    CountFault("after-create");
    return ErrorResp(code, code, kInternalErrorMessage);
  }
  return ok;
}

HttpResp EmulatorServer::Impl::ServiceAuth(const HttpReq& req) {
  json body;
  if (auto bad = ParseBody(req, "ServiceAccount", body)) return *bad;
  if (opts_.client_id.empty() || body["client_id"] != opts_.client_id ||
      body["client_secret"] != opts_.client_secret) {
    return ErrorResp(401, 1, "invalid user credentials");
  }
  std::string token = "emu." + RandomHex(24);
  {
    std::lock_guard<std::mutex> lock(token_mu_);
    const TimePoint now = clock_.Now();
    if (tokens_.size() > 10000) {
      std::erase_if(tokens_, [&](const auto& kv) { return kv.second <= now; });
    }
    tokens_[token] = now + opts_.token_ttl;
  }
  ServiceToken t;
  t.access_token = token;
  t.expires_in = opts_.token_ttl;
  return JsonResp(200, ServiceAuthResponseToJson(t));
}

HttpResp EmulatorServer::Impl::Submit(const HttpReq& req) {
  json body;
  if (auto bad = ParseBody(req, "RunJobRequest", body)) return *bad;
  auto sreq = SubmitRequestFromJson(body);
  if (!sreq.ok()) return ErrorResp(400, 400, sreq.status().message());
  auto name = backend_.Submit(*sreq);
  if (!name.ok()) return BackendError(name.error());
  return AfterCreate("submit", *name, JsonResp(200, JobNameResponseToJson(*name, clock_.Now())));
}

HttpResp EmulatorServer::Impl::RestartJob(const HttpReq& req) {
  json body;
  if (auto bad = ParseBody(req, "RestartJobRequest", body)) return *bad;
  auto name = backend_.Restart(body["job_name"].get<std::string>());
  if (!name.ok()) {
    if (name.error().kind == ErrorKind::kNotFound) return ErrorResp(404, 1, "not found");
    return BackendError(name.error());
  }
  return AfterCreate("restart", *name, JsonResp(200, JobNameResponseToJson(*name, clock_.Now())));
}

HttpResp EmulatorServer::Impl::List(const HttpReq& req) {
  std::vector<FieldError> errors;
  ListOptions lo;
  lo.region = req.Query("region").value_or("DGX2-MT");
  if (auto e = CheckEnum("region", lo.region, kRegions)) errors.push_back(*e);
  int index = 0;
  for (const auto& [k, v] : req.query) {
    if (k != "status") continue;
    if (auto e = CheckEnum("status", v, kStatuses)) {
      e->loc.push_back(std::to_string(index));
      errors.push_back(*e);
    } else {
      lo.statuses.push_back(ParseRemoteStatus(v));
    }
    ++index;
  }
  int64_t limit = 6000;
  int64_t offset = 0;
  if (auto e = QueryInt(req, "limit", 1, limit)) errors.push_back(*e);
  if (auto e = QueryInt(req, "offset", 0, offset)) errors.push_back(*e);
  if (!errors.empty()) return Unprocessable(errors);
  auto jobs = backend_.List(lo);
  if (!jobs.ok()) return BackendError(jobs.error());
  std::vector<RemoteJob> all = std::move(jobs).value();
  {
    std::lock_guard<std::mutex> lock(fault_mu_);
    if (!hidden_.empty()) {
      size_t hidden_now = 0;
      std::erase_if(all, [&](const RemoteJob& j) {
        const auto it = hidden_.find(j.name);
        if (it == hidden_.end()) return false;
        if (--it->second <= 0) hidden_.erase(it);
        ++hidden_now;
        return true;
      });
      if (hidden_now > 0) {
        std::lock_guard<std::mutex> stats(stats_mu_);
        faults_fired_["hidden"] += hidden_now;
      }
    }
  }
  const size_t from = std::min(all.size(), static_cast<size_t>(offset));
  const size_t to = std::min(all.size(), from + static_cast<size_t>(limit));
  HttpResp r;
  r.body = ListJobsResponseText(static_cast<int64_t>(all.size()), all, from, to, clock_.Now());
  return r;
}

HttpResp EmulatorServer::Impl::GetJob(const std::string& name) {
  auto job = backend_.Get(name);
  if (job.ok()) return JsonResp(200, GetJobStatusResponseToJson(*job));
  if (job.error().kind == ErrorKind::kNotFound) {
    return JsonResp(200, GetJobStatusNotFoundToJson(name));
  }
  return BackendError(job.error());
}

HttpResp EmulatorServer::Impl::Delete(const HttpReq& req, const std::string& name) {
  const auto region = req.Query("region");
  if (!region)
    return Unprocessable({QueryError("region", "field required", "value_error.missing")});
  if (auto e = CheckEnum("region", *region, kRegions)) return Unprocessable({*e});
  auto res = backend_.Cancel(name, *region);
  if (!res.ok()) return BackendError(res.error());
  return JsonResp(200, DeleteJobResponseToJson(name, *res, clock_.Now()));
}

HttpResp EmulatorServer::Impl::Logs(const HttpReq& req, const std::string& name) {
  std::vector<FieldError> errors;
  int64_t tail = 0;
  if (auto e = QueryInt(req, "tail", 0, tail)) errors.push_back(*e);
  const std::string region = req.Query("region").value_or("");
  if (!region.empty()) {
    if (auto e = CheckEnum("region", region, kRegions)) errors.push_back(*e);
  }
  if (!errors.empty()) return Unprocessable(errors);
  auto text = backend_.Logs(name, region, static_cast<int>(std::min<int64_t>(tail, 1 << 30)));
  if (!text.ok()) {
    if (text.error().kind == ErrorKind::kNotFound) {
      return ErrorResp(400, 400, "job " + name + " not found");
    }
    return BackendError(text.error());
  }
  HttpResp r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(text).value();
  return r;
}

json EmulatorServer::Impl::Stats() const {
  json j;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    j["requests"] = requests_;
    json st = json::object();
    for (const auto& [code, n] : by_status_) st[std::to_string(code)] = n;
    j["by_status"] = st;
    j["by_op"] = by_op_;
    j["faults"] = faults_fired_;
    j["jobs_created"] = submitted_;
  }
  {
    std::lock_guard<std::mutex> lock(fault_mu_);
    j["active_faults"] = FaultConfigToJson(faults_);
  }
  return j;
}

HttpResp EmulatorServer::Impl::Metrics() const {
  std::string out;
  out +=
      "# HELP mlspace_emulator_requests_total Gateway API requests answered, by HTTP status.\n"
      "# TYPE mlspace_emulator_requests_total counter\n";
  std::lock_guard<std::mutex> lock(stats_mu_);
  for (const auto& [code, n] : by_status_) {
    out += "mlspace_emulator_requests_total{code=\"" + std::to_string(code) + "\"} " +
           std::to_string(n) + "\n";
  }
  out +=
      "# HELP mlspace_emulator_operations_total Gateway API requests, by operation.\n"
      "# TYPE mlspace_emulator_operations_total counter\n";
  for (const auto& [op, n] : by_op_) {
    out +=
        "mlspace_emulator_operations_total{operation=\"" + op + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP mlspace_emulator_faults_total Injected faults, by kind.\n"
      "# TYPE mlspace_emulator_faults_total counter\n";
  for (const auto& [kind, n] : faults_fired_) {
    out += "mlspace_emulator_faults_total{kind=\"" + kind + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP mlspace_emulator_jobs_created_total Jobs the emulator created.\n"
      "# TYPE mlspace_emulator_jobs_created_total counter\n"
      "mlspace_emulator_jobs_created_total " +
      std::to_string(submitted_) + "\n";
  HttpResp r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

HttpResp EmulatorServer::Impl::Control(const HttpReq& req) {
  if (req.path == "/_emulator/stats" && req.method == "GET") return JsonResp(200, Stats());
  if (req.path == "/_emulator/faults") {
    if (req.method == "GET") {
      std::lock_guard<std::mutex> lock(fault_mu_);
      return JsonResp(200, FaultConfigToJson(faults_));
    }
    if (req.method == "DELETE") {
      SetFaults(FaultConfig{});
      return JsonResp(200, FaultConfigToJson(FaultConfig{}));
    }
    if (req.method == "POST" || req.method == "PUT") {
      const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) return ErrorResp(400, 400, "faults: body is not JSON");
      auto cfg = FaultConfigFromJson(body);
      if (!cfg.ok()) return ErrorResp(400, 400, cfg.status().message());
      SetFaults(*cfg);
      return JsonResp(200, FaultConfigToJson(*cfg));
    }
    return JsonResp(405, json{{"detail", kMethodNotAllowedDetail}});
  }
  return JsonResp(404, json{{"detail", kNotFoundDetail}});
}

HttpResp EmulatorServer::Impl::Handle(const HttpReq& req) {
  if (req.path.rfind("/_emulator/", 0) == 0) return Control(req);
  if (req.path == "/metrics" && req.method == "GET") return Metrics();
  const RouteMatch match = MatchRoute(req.method, req.path);
  const std::string op = match.route ? std::string(RouteName(*match.route)) : std::string();
  const std::string& job_name = match.job_name;
  HttpResp resp;
  if (!match.route) {
    resp = JsonResp(404, json{{"detail", kNotFoundDetail}});
  } else if (!match.method_allowed) {
    resp = JsonResp(405, json{{"detail", kMethodNotAllowedDetail}});
  } else {
    const PreFaults pre = DecidePreFaults(op);
    if (pre.latency.count() > 0) {
      CountFault("latency");
      std::this_thread::sleep_for(pre.latency);
    }
    if (pre.drop) {
      CountFault("drop");
      resp.drop = true;
    } else if (auto limited = RateLimit()) {
      CountFault("rate-limit");
      resp = *limited;
    } else if (pre.status != 0) {
      CountFault(std::to_string(pre.status));
      resp = pre.status == 429 ? ErrorResp(429, 429, RateLimitMessage(opts_.rate_limit_per_minute))
                               : ErrorResp(pre.status, pre.status, kInternalErrorMessage);
      if (pre.status == 429 || pre.status == 503) {
        std::lock_guard<std::mutex> lock(fault_mu_);
        resp.headers.emplace_back("Retry-After", std::to_string(faults_.retry_after_seconds));
      }
    } else if (*match.route == Route::kPing) {
      resp = JsonResp(200, json{{"status", "ok"}});
    } else if (*match.route == Route::kAuth) {
      resp = ServiceAuth(req);
    } else if (auto denied = CheckAuth(req)) {
      resp = *denied;
    } else {
      switch (*match.route) {
        case Route::kSubmit:
          resp = Submit(req);
          break;
        case Route::kList:
          resp = List(req);
          break;
        case Route::kGet:
          resp = GetJob(job_name);
          break;
        case Route::kDelete:
          resp = Delete(req, job_name);
          break;
        case Route::kRestart:
          resp = RestartJob(req);
          break;
        case Route::kLogs:
          resp = Logs(req, job_name);
          break;
        case Route::kPing:
        case Route::kAuth:
          break;  // answered above
      }
    }
  }
  Count(op.empty() ? "unknown" : op, resp);
  Record(req, op, resp);
  return resp;
}

void EmulatorServer::Impl::Count(const std::string& op, const HttpResp& resp) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++requests_;
  ++by_status_[resp.drop ? 0 : resp.status];
  ++by_op_[op];
}

void EmulatorServer::Impl::Record(const HttpReq& req, const std::string& op, const HttpResp& resp) {
  if (opts_.record_path.empty()) return;
  json line;
  line["ts"] = FormatRfc3339Millis(clock_.Now());
  line["op"] = op;
  line["method"] = req.method;
  line["path"] = req.path;
  json query = json::object();
  for (const auto& [k, v] : req.query) query[k].push_back(v);
  line["query"] = query;
  json headers = json::object();
  for (const auto& [k, v] : req.headers) {
    const bool secret = k == "authorization" || k == "x-api-key" || k == "cookie";
    headers[k] = secret ? "<redacted>" : v;
  }
  line["headers"] = headers;
  json body =
      req.body.empty() ? json(nullptr) : json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) body = req.body;
  if (op == "auth" && body.is_object() && body.contains("client_secret")) {
    body["client_secret"] = "<redacted>";
  }
  // env_variables carry secret values (secretKeyRef, secret files, SSH keys).
  if (body.is_object()) {
    if (auto it = body.find("env_variables"); it != body.end() && it->is_object()) {
      for (auto& [name, value] : it->items()) value = "<redacted>";
    }
  }
  line["body"] = body;
  line["dropped"] = resp.drop;
  line["status"] = resp.drop ? 0 : resp.status;
  json answer = nullptr;
  if (!resp.drop) {
    if (resp.content_type == "application/json") {
      answer = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
      if (answer.is_discarded()) answer = resp.body;
    } else {
      answer = resp.body;
    }
    if (op == "auth" && answer.is_object() && answer.contains("token")) {
      answer["token"]["access_token"] = "<redacted>";
    }
  }
  line["answer"] = answer;
  const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(record_mu_);
  if (record_.is_open()) {
    record_ << text;
    record_.flush();
  }
}

EmulatorServer::EmulatorServer(EmulatorOptions opts, JobGateway& backend, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(opts), backend, clock)) {}

EmulatorServer::~EmulatorServer() { Stop(); }

Status EmulatorServer::Start() { return impl_->Start(); }
uint16_t EmulatorServer::port() const { return impl_->port(); }
void EmulatorServer::Stop() { impl_->Stop(); }
void EmulatorServer::SetFaults(const FaultConfig& faults) { impl_->SetFaults(faults); }
nlohmann::json EmulatorServer::Stats() const { return impl_->Stats(); }

}  // namespace mlspace::gateway::emulator
