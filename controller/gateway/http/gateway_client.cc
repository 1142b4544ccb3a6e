#include "controller/gateway/http/gateway_client.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <thread>

#include "controller/core/redact.h"
#include "controller/gateway/http/list_parser.h"
#include "controller/gateway/http/poco_http_transport.h"

namespace mlspace::gateway::http {
namespace {

constexpr std::string_view kApiPrefix = "/public/v2";

// RFC 3986 unreserved characters pass; everything else is %XX.
std::string Escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Error MakeError(ErrorKind kind, const std::string& message, int http_status = 0) {
  Error e;
  e.kind = kind;
  e.message = Redact(message);
  e.http_status = http_status;
  return e;
}

std::string SubmitLabel(const SubmitRequest& req) {
  return req.label.empty() ? req.script : req.label;
}

// A failure to obtain a bearer token, as the error of the call that needed
// it. That call was never sent, so it is never kAmbiguous (nor kInvalid: the
// request itself was not judged): a rejection of the credentials stays
// kUnauthorized, a throttled token endpoint kThrottled, anything else (an
// unreachable endpoint, a malformed token answer) is kUnavailable.
Error TokenError(const std::string& op, Error e) {
  switch (e.kind) {
    case ErrorKind::kUnauthorized:
    case ErrorKind::kThrottled:
      break;
    case ErrorKind::kInvalid:
      e.kind = ErrorKind::kUnauthorized;
      break;
    default:
      e.kind = ErrorKind::kUnavailable;
      break;
  }
  e.message = Redact(op + ": " + e.message);
  return e;
}

}  // namespace

GatewayClient::GatewayClient(ClientOptions options, ParsedUrl url)
    : options_(std::move(options)),
      url_(std::move(url)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::Get()),
      bucket_(clock_, options_.rate_per_second, options_.burst),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

void GatewayClient::Sleep(Duration d) {
  if (d <= Duration::zero()) return;
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

Duration GatewayClient::Backoff(int attempt) {
  double base = std::chrono::duration<double>(options_.backoff_base).count();
  double cap = std::chrono::duration<double>(options_.backoff_max).count();
  double d = std::min(cap, base * std::pow(2.0, std::min(attempt, 30)));
  double jittered;
  {
    // "Equal jitter": half fixed, half random, so retries of many callers
    // spread out yet each still waits at least d/2.
    std::lock_guard lock(rng_mu_);
    jittered = std::uniform_real_distribution<double>(d / 2, d)(rng_);
  }
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(jittered));
}

std::optional<Duration> GatewayClient::RetryAfter(const HttpResponse& resp) const {
  std::string v = FindHeader(resp.headers, "Retry-After");
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end != v.c_str() && *end == '\0') {
    if (secs < 0 || !std::isfinite(secs)) return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs));
  }
  std::tm tm{};
  if (strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  TimePoint at = std::chrono::system_clock::from_time_t(timegm(&tm));
  Duration d = at - clock_.Now();
  return d > Duration::zero() ? d : Duration::zero();
}

HttpExchange GatewayClient::SendObserved(const std::string& endpoint, const HttpRequest& req) {
  Duration wait = bucket_.Reserve();
  Sleep(wait);
  auto start = std::chrono::steady_clock::now();
  HttpExchange ex = options_.transport->Send(req);
  auto elapsed = std::chrono::steady_clock::now() - start;
  if (options_.observer) {
    RequestRecord r;
    r.endpoint = endpoint;
    r.method = req.method;
    r.host = url_.host;
    r.transport_error = ex.kind != ExchangeKind::kResponse;
    r.code = r.transport_error ? 0 : ex.response.status;
    r.duration = std::chrono::duration_cast<Duration>(elapsed);
    r.throttled =
        r.code == 429 || (r.code == 503 && !FindHeader(ex.response.headers, "Retry-After").empty());
    r.rate_limit_wait = wait;
    options_.observer(r);
  }
  return ex;
}

std::pair<Credentials, uint64_t> GatewayClient::CurrentCredentials() const {
  if (options_.credential_files) return options_.credential_files->Current();
  return {options_.credentials, 0};
}

Outcome<std::string> GatewayClient::BearerToken(bool force_refresh, const Credentials& c,
                                                uint64_t version) {
  if (!c.HasClientSecret()) return c.access_token;  // static, possibly empty
  std::lock_guard lock(token_mu_);
  if (!force_refresh && !token_.empty() && token_credentials_version_ == version &&
      clock_.Now() < token_refresh_at_) {
    return token_;
  }
  Call call;
  call.op = "service_auth";
  call.endpoint = "POST /service_auth";
  call.method = "POST";
  call.target = "/service_auth";
  call.body = ServiceAccountToJson(c.client_id, c.client_secret).dump();
  call.idempotent = true;  // a spare token is harmless
  call.authenticated = false;
  auto resp = Execute(call);
  if (!resp.ok()) return resp.error();
  auto tok = ParseServiceAuthResponse(resp->body);
  if (!tok.ok()) {
    return MakeError(ErrorKind::kInternal,
                     "service_auth: malformed answer: " + tok.status().message());
  }
  SecretRegistry::Get().Add(tok->access_token);
  token_ = tok->access_token;
  token_credentials_version_ = version;
  double fraction = std::clamp(options_.token_refresh_fraction, 0.0, 1.0);
  token_refresh_at_ =
      clock_.Now() + std::chrono::duration_cast<Duration>(tok->expires_in * fraction);
  return token_;
}

Outcome<HttpResponse> GatewayClient::Execute(const Call& call) {
  const auto [creds, creds_version] = CurrentCredentials();
  const int max_attempts = std::max(1, options_.max_attempts);
  bool refreshed = false;
  std::optional<Error> last;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    const bool last_attempt = attempt + 1 >= max_attempts;
    HttpRequest req;
    req.method = call.method;
    req.target = url_.path_prefix + std::string(kApiPrefix) + call.target;
    req.headers.emplace_back("Accept", "application/json");
    req.headers.emplace_back("User-Agent", options_.user_agent);
    if (!call.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    if (call.authenticated) {
      auto token = BearerToken(false, creds, creds_version);
      if (!token.ok()) return TokenError(call.op, token.error());
      if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
      if (!creds.api_key.empty()) req.headers.emplace_back("x-api-key", creds.api_key);
      if (!creds.workspace_id.empty()) {
        req.headers.emplace_back("x-workspace-id", creds.workspace_id);
      }
    }
    req.body = call.body;
    req.max_answer_bytes =
        call.max_answer_bytes != 0 ? call.max_answer_bytes : options_.max_answer_bytes;

    HttpExchange ex = SendObserved(call.endpoint, req);
    if (ex.kind == ExchangeKind::kNotSent) {
      // Provably never reached the service: safe to re-send, even a submit.
      last = MakeError(ErrorKind::kUnavailable, call.op + ": gateway unreachable: " + ex.error);
      if (!last_attempt) Sleep(Backoff(attempt));
      continue;
    }
    if (ex.kind == ExchangeKind::kNoAnswer) {
      if (ex.too_large && call.idempotent) {
        // The same request would get the same answer: not retried.
        return MakeError(ErrorKind::kInternal, call.op + ": answer too large: " + ex.error);
      }
      if (!call.idempotent) {
        return MakeError(ErrorKind::kAmbiguous,
                         call.op +
                             ": no answer after sending, the request may have been "
                             "processed: " +
                             ex.error);
      }
      last = MakeError(ErrorKind::kUnavailable, call.op + ": no answer from gateway: " + ex.error);
      if (!last_attempt) Sleep(Backoff(attempt));
      continue;
    }

    const HttpResponse& resp = ex.response;
    const int code = resp.status;
    if (code >= 200 && code < 300) return resp;

    ErrorBody body = ParseErrorBody(resp.body);
    Error err = MakeError(ErrorKind::kInternal, FormatGatewayError(call.op, code, body), code);
    for (const auto& f : body.fields) err.field_errors.push_back(Redact(f.ToString()));
    std::optional<Duration> retry_after = RetryAfter(resp);
    if (retry_after) err.retry_after = *retry_after;

    if (code == 401 && call.authenticated && creds.HasClientSecret() && !refreshed) {
      // The token expired early or was revoked: the service rejected the
      // request unprocessed, so one refresh and re-send is safe.
      refreshed = true;
      auto token = BearerToken(true, creds, creds_version);
      if (!token.ok()) return TokenError(call.op, token.error());
      --attempt;  // the refresh is not a failed attempt
      continue;
    }
    if (code == 401 || code == 403) {
      err.kind = ErrorKind::kUnauthorized;
      return err;
    }
    if (code == 429) {
      // Rejected by the rate limiter, so never processed: re-sendable.
      err.kind = ErrorKind::kThrottled;
      Duration wait = retry_after.value_or(Backoff(attempt));
      err.retry_after = wait;
      if (last_attempt || wait > options_.max_retry_after) return err;
      last = err;
      Sleep(wait);
      continue;
    }
    if (code == 404) {
      err.kind = ErrorKind::kNotFound;
      return err;
    }
    if (code >= 400 && code < 500) {
      err.kind = ErrorKind::kInvalid;
      return err;
    }
    if (code >= 500) {
      if (!call.idempotent) {
        err.kind = ErrorKind::kAmbiguous;
        return err;
      }
      err.kind = (code == 503 && retry_after) ? ErrorKind::kThrottled : ErrorKind::kUnavailable;
      Duration wait = retry_after.value_or(Backoff(attempt));
      if (last_attempt || wait > options_.max_retry_after) return err;
      last = err;
      Sleep(wait);
      continue;
    }
    err.kind = ErrorKind::kInternal;  // 1xx/3xx: nothing we asked for
    return err;
  }
  if (last) return *last;
  return MakeError(ErrorKind::kInternal, call.op + ": no attempt made");
}

Outcome<std::string> GatewayClient::Submit(const SubmitRequest& req) {
  std::string op = "submit " + SubmitLabel(req);
  if (Status s = ValidateSubmitRequest(req); !s.ok()) {
    Error e = MakeError(ErrorKind::kInvalid, op + ": " + s.message());
    e.field_errors.push_back(Redact(s.message()));
    return e;
  }
  Call call;
  call.op = op;
  call.endpoint = "POST /jobs";
  call.method = "POST";
  call.target = "/jobs";
  try {
    call.body = SubmitRequestToJson(req).dump();
  } catch (const std::exception& e) {
    // nlohmann refuses invalid UTF-8: nothing was sent, so this is a
    // refusal of the request, never an ambiguous submit.
    return MakeError(ErrorKind::kInvalid, op + ": request cannot be encoded as JSON: " + e.what());
  }
  call.idempotent = false;
  auto resp = Execute(call);
  if (!resp.ok()) return resp.error();
  auto name = ParseJobNameResponse(resp->body);
  if (!name.ok()) {
    // A 2xx means a job was created, but we cannot tell which.
    return MakeError(ErrorKind::kAmbiguous, op + ": " + name.status().message(), resp->status);
  }
  return *name;
}

Outcome<RemoteJob> GatewayClient::Get(const std::string& job_name) {
  Call call;
  call.op = "get " + job_name;
  call.endpoint = "GET /jobs/{name}";
  call.method = "GET";
  call.target = "/jobs/" + Escape(job_name);
  auto resp = Execute(call);
  if (!resp.ok()) return resp.error();
  auto job = ParseGetJobStatusResponse(resp->body);
  if (!job.ok()) return MakeError(ErrorKind::kInternal, call.op + ": " + job.status().message());
  if (!job->has_value()) {
    return MakeError(ErrorKind::kNotFound, call.op + ": job not found", resp->status);
  }
  return std::move(**job);
}

Outcome<std::vector<RemoteJob>> GatewayClient::List(const ListOptions& opts) {
  std::string base = "/jobs?region=" + Escape(opts.region);
  for (RemoteStatus s : opts.statuses) base += "&status=" + Escape(RemoteStatusName(s));
  const int limit = std::max(1, opts.page_size);
  std::vector<RemoteJob> all;
  int64_t offset = 0;
  for (;;) {
    Call call;
    call.op = "list " + opts.region;
    call.endpoint = "GET /jobs";
    call.method = "GET";
    call.target = base + "&limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset);
    call.max_answer_bytes = options_.max_list_answer_bytes;
    auto resp = Execute(call);
    if (!resp.ok()) return resp.error();
    auto page = ParseListAnswer(resp->body);
    if (!page.ok()) {
      return MakeError(ErrorKind::kInternal, call.op + ": " + page.status().message());
    }
    offset += static_cast<int64_t>(page->jobs.size());
    for (auto& j : page->jobs) all.push_back(std::move(j));
    // An empty page ends the walk even if count promised more (jobs may
    // vanish between pages); so does a short page.
    if (page->jobs.empty() || offset >= page->count ||
        static_cast<int64_t>(page->jobs.size()) < limit) {
      break;
    }
  }
  return all;
}

Outcome<CancelResult> GatewayClient::Cancel(const std::string& job_name,
                                            const std::string& region) {
  Call call;
  call.op = "cancel " + job_name;
  call.endpoint = "DELETE /jobs/{name}";
  call.method = "DELETE";
  call.target = "/jobs/" + Escape(job_name) + "?region=" + Escape(region);
  auto resp = Execute(call);
  if (!resp.ok()) {
    if (resp.error().kind == ErrorKind::kNotFound) return CancelResult::kNotFound;
    return resp.error();
  }
  auto result = ParseDeleteJobResponse(resp->body);
  if (!result.ok()) {
    return MakeError(ErrorKind::kInternal, call.op + ": " + result.status().message());
  }
  return *result;
}

Outcome<std::string> GatewayClient::Restart(const std::string& job_name) {
  Call call;
  call.op = "restart " + job_name;
  call.endpoint = "POST /jobs/restart";
  call.method = "POST";
  call.target = "/jobs/restart";
  call.body = RestartRequestToJson(job_name).dump();
  call.idempotent = false;  // each restart creates a new job
  auto resp = Execute(call);
  if (!resp.ok()) return resp.error();
  auto name = ParseJobNameResponse(resp->body);
  if (!name.ok()) {
    return MakeError(ErrorKind::kAmbiguous, call.op + ": " + name.status().message(), resp->status);
  }
  return *name;
}

Outcome<std::string> GatewayClient::Logs(const std::string& job_name, const std::string& region,
                                         int tail) {
  Call call;
  call.op = "logs " + job_name;
  call.endpoint = "GET /jobs/{name}/logs";
  call.method = "GET";
  call.target = "/jobs/" + Escape(job_name) + "/logs?tail=" + std::to_string(std::max(0, tail));
  if (!region.empty()) call.target += "&region=" + Escape(region);
  // A log tail is user data of any size: capped like a list page.
  call.max_answer_bytes = options_.max_list_answer_bytes;
  auto resp = Execute(call);
  if (!resp.ok()) return resp.error();
  return resp->body;
}

Result<std::unique_ptr<GatewayClient>> MakeGatewayClient(const ClientOptions& options) {
  MLSPACE_ASSIGN_OR_RETURN(ParsedUrl url, ParseBaseUrl(options.base_url));
  const Credentials c =
      options.credential_files ? options.credential_files->Current().first : options.credentials;
  if (c.workspace_id.empty()) {
    return FailedPreconditionError("gateway client: no workspace id (MLSPACE_WORKSPACE_ID)");
  }
  if (c.access_token.empty() && c.api_key.empty() && !c.HasClientSecret()) {
    return FailedPreconditionError("gateway client: no access token, api key or client secret");
  }
  for (const std::string* s :
       {&c.access_token, &c.api_key, &c.workspace_id, &c.client_id, &c.client_secret}) {
    if (!s->empty()) SecretRegistry::Get().Add(*s);
  }
  ClientOptions opts = options;
  if (!opts.transport) {
    if (url.scheme == "http" && !IsLoopbackHost(url.host) && !opts.allow_insecure) {
      return InvalidArgumentError("gateway URL \"" + options.base_url +
                                  "\": plain http is only allowed for loopback hosts");
    }
    PocoTransportOptions t;
    t.base_url = url.scheme + "://" +
                 (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" +
                 std::to_string(url.port);
    t.allow_insecure = opts.allow_insecure;
    t.connect_timeout = opts.connect_timeout;
    t.request_timeout = opts.request_timeout;
    t.total_timeout = opts.total_timeout;
    t.max_answer_bytes = opts.max_answer_bytes;
    MLSPACE_ASSIGN_OR_RETURN(t.proxy, ProxyFromEnvironment(url, ProcessEnv()));
    MLSPACE_ASSIGN_OR_RETURN(auto transport, PocoHttpTransport::Create(t));
    opts.transport = std::move(transport);
  }
  return std::make_unique<GatewayClient>(std::move(opts), std::move(url));
}

}  // namespace mlspace::gateway::http
