#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "controller/core/clock.h"
#include "controller/core/result.h"
#include "controller/core/token_bucket.h"
#include "controller/gateway/gateway_json.h"
#include "controller/gateway/http/credentials.h"
#include "controller/gateway/http/http_transport.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway::http {

// One finished HTTP exchange, for metrics (mlspace_gateway_requests_total
// {endpoint,code}, rest_client_requests_total{code,method,host},
// rest_client_request_duration_seconds, mlspace_gateway_throttled_total).
// Carries no credentials and no job names (bounded label sets).
struct RequestRecord {
  std::string endpoint;  // template: "POST /jobs", "GET /jobs/{name}", ...
  std::string method;    // "GET"
  std::string host;      // the gateway's host
  int code = 0;          // HTTP status; 0 = no answer (see transport_error)
  bool transport_error = false;
  Duration duration{0};         // this exchange only, not the rate-limit wait
  bool throttled = false;       // the gateway answered 429 (or 503 + Retry-After)
  Duration rate_limit_wait{0};  // time spent in the client's token bucket
};

using RequestObserver = std::function<void(const RequestRecord&)>;

inline constexpr size_t kMaxListAnswerBytes = size_t{64} << 20;  // 64 MiB
inline constexpr size_t kMaxAnswerBytes = size_t{1} << 20;       // 1 MiB

struct ClientOptions {
  // scheme://host[:port][/prefix]; calls go to <prefix>/public/v2/...
  std::string base_url;
  Credentials credentials;
  // When set, used instead of `credentials` and followed on every call: a
  // changed credential file takes effect at the next request (a cached
  // service_auth token from the old ones is dropped).
  std::shared_ptr<CredentialFiles> credential_files;
  bool allow_insecure = false;  // plain http to a non-loopback host
  Duration connect_timeout = std::chrono::seconds(10);
  Duration request_timeout = std::chrono::seconds(60);
  // Every exchange (connect, send, first byte, whole answer) ends by this
  // deadline, however slowly the gateway sends (PocoTransportOptions).
  Duration total_timeout = std::chrono::seconds(60);
  // Answer size caps: a list page may be large (a page of big job records),
  // every other answer is small. A longer answer is a failed call, read no
  // further: a read fails with kInternal (not retried: the same answer would
  // come again), a submit whose request was sent is kAmbiguous.
  size_t max_list_answer_bytes = kMaxListAnswerBytes;
  size_t max_answer_bytes = kMaxAnswerBytes;

  double rate_per_second = 10;  // token bucket in front of every call
  double burst = 20;

  int max_attempts = 5;  // per call, reads and provably-unsent submits
  Duration backoff_base = std::chrono::milliseconds(200);
  Duration backoff_max = std::chrono::seconds(10);
  // A Retry-After longer than this is not slept through: the call returns
  // kThrottled/kUnavailable with retry_after so the caller requeues.
  Duration max_retry_after = std::chrono::seconds(30);
  // A service_auth token is renewed once this fraction of expires_in passed.
  double token_refresh_fraction = 0.8;

  const Clock* clock = nullptr;              // default SystemClock
  std::function<void(Duration)> sleep;       // default real sleep
  RequestObserver observer;                  // optional
  std::shared_ptr<HttpTransport> transport;  // default PocoHttpTransport
  uint32_t jitter_seed = 0;                  // 0 = random
  std::string user_agent = "mlspace-operator";
};

// JobGateway over the Gateway v2 HTTP API. Thread-safe.
class GatewayClient final : public JobGateway {
 public:
  // Prefer MakeGatewayClient. `transport` must not be null.
  GatewayClient(ClientOptions options, ParsedUrl url);

  Outcome<std::string> Submit(const SubmitRequest& req) override;
  Outcome<RemoteJob> Get(const std::string& job_name) override;
  Outcome<std::vector<RemoteJob>> List(const ListOptions& opts) override;
  Outcome<CancelResult> Cancel(const std::string& job_name, const std::string& region) override;
  Outcome<std::string> Restart(const std::string& job_name) override;
  Outcome<std::string> Logs(const std::string& job_name, const std::string& region,
                            int tail) override;

 private:
  struct Call {
    std::string op;        // "submit nlp/llama": prefixes error messages
    std::string endpoint;  // "POST /jobs"
    std::string method;
    std::string target;  // path under /public/v2 with query
    std::string body;
    bool idempotent = true;       // false: never re-sent once possibly received
    bool authenticated = true;    // false for service_auth itself
    size_t max_answer_bytes = 0;  // 0 = options_.max_answer_bytes
  };

  // Runs one call with auth, rate limit and the retry rules; returns the
  // 2xx response or the Error.
  Outcome<HttpResponse> Execute(const Call& call);
  // The credentials for the next request and their version.
  std::pair<Credentials, uint64_t> CurrentCredentials() const;
  // A bearer token for the next request; fetches one when needed (or when
  // the credentials changed since the cached one was issued).
  Outcome<std::string> BearerToken(bool force_refresh, const Credentials& c, uint64_t version);
  HttpExchange SendObserved(const std::string& endpoint, const HttpRequest& req);
  Duration Backoff(int attempt);
  std::optional<Duration> RetryAfter(const HttpResponse& resp) const;
  void Sleep(Duration d);

  const ClientOptions options_;
  const ParsedUrl url_;
  const Clock& clock_;
  TokenBucket bucket_;

  std::mutex token_mu_;  // serialises service_auth calls
  std::string token_;
  uint64_t token_credentials_version_ = 0;
  TimePoint token_refresh_at_{};

  std::mutex rng_mu_;
  std::mt19937 rng_;
};

// Builds the client; without options.transport, a PocoHttpTransport for
// base_url (proxy from HTTPS_PROXY/NO_PROXY). Fails on a bad URL, plain http
// to a non-loopback host without allow_insecure, or missing credentials.
Result<std::unique_ptr<GatewayClient>> MakeGatewayClient(const ClientOptions& options);

}  // namespace mlspace::gateway::http
