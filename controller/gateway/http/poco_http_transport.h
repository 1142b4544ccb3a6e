#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/result.h"
#include "controller/gateway/http/http_transport.h"

namespace mlspace::gateway::http {

// scheme://host[:port][/prefix] split up.
struct ParsedUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  int port = 0;
  std::string path_prefix;  // "" or "/something" without a trailing slash
};
Result<ParsedUrl> ParseBaseUrl(const std::string& url);

// 127.0.0.0/8, localhost, ::1.
bool IsLoopbackHost(const std::string& host);

struct ProxyConfig {
  std::string host;
  int port = 0;
  std::string username;
  std::string password;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
EnvLookup ProcessEnv();

// The proxy for `target` from HTTPS_PROXY/https_proxy (https targets) or
// HTTP_PROXY/http_proxy (http targets), unless NO_PROXY/no_proxy matches the
// host (exact, domain suffix, ".suffix", or "*") or the host is loopback.
Result<std::optional<ProxyConfig>> ProxyFromEnvironment(const ParsedUrl& target,
                                                        const EnvLookup& env);

struct PocoTransportOptions {
  std::string base_url;         // scheme://host[:port]; a path here is ignored
  bool allow_insecure = false;  // plain http to a non-loopback host
  Duration connect_timeout = std::chrono::seconds(10);
  Duration request_timeout = std::chrono::seconds(60);  // per send / receive
  // The whole exchange (connect, send, first byte, whole answer) ends by
  // this deadline however slowly the peer sends: Poco's timeouts are per
  // socket operation, so a peer dripping a byte per second would otherwise
  // hold the call indefinitely. Enforced by shutting the socket down.
  Duration total_timeout = std::chrono::seconds(60);
  // Answer bodies longer than this (unless HttpRequest::max_answer_bytes
  // says otherwise) are abandoned: HttpExchange::too_large.
  size_t max_answer_bytes = size_t{1} << 20;
  // Idle connections kept for reuse; more concurrent calls open more.
  int max_idle_connections = 8;
  // Connections idle longer than this are reopened rather than reused, so a
  // request is not written into a socket the server already closed.
  Duration keep_alive_idle = std::chrono::seconds(4);
  std::optional<ProxyConfig> proxy;  // see ProxyFromEnvironment
  // When set, every connection goes to this AF_UNIX socket path (e.g.
  // slurmrestd's unix:/run/slurmrestd.socket) instead of base_url's host and
  // port, which then only name the Host header; base_url must be http.
  std::string unix_socket;
};

// HttpTransport over Poco::Net with keep-alive connection reuse. HTTPS uses
// OpenSSL with the system CA store and host-name verification.
class PocoHttpTransport final : public HttpTransport {
 public:
  // Fails on a malformed URL, an unknown scheme, or plain http to a
  // non-loopback host without allow_insecure.
  static Result<std::unique_ptr<PocoHttpTransport>> Create(const PocoTransportOptions& options);
  ~PocoHttpTransport() override;

  HttpExchange Send(const HttpRequest& request) override;

  // Connections opened so far (for tests and the benchmark).
  int connections_opened() const;

 private:
  struct Pool;
  PocoHttpTransport(PocoTransportOptions options, ParsedUrl url);

  const PocoTransportOptions options_;
  const ParsedUrl url_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace mlspace::gateway::http
