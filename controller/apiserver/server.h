#pragma once

// The HTTP listener for ApiHandler: an epoll acceptor that reads request
// heads without a thread and enforces ServerLimits, in front of Poco's
// request classes on worker pools (one for the API, one for probes). Owns
// threads, sockets and transport limits only; every API decision is in the
// handler. docs/api-access.md "Limits", docs/decisions.md.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "controller/apiserver/handler.h"
#include "controller/apiserver/tls.h"
#include "controller/core/address.h"
#include "controller/core/result.h"

namespace mlspace::apiserver {

// What one client may cost the server. The defaults suit kubectl and the
// 100-watcher bench from one address; docs/api-access.md "Limits".
struct ServerLimits {
  // A request head (request line and headers) must arrive whole within
  // this long of its first byte (of the connection, for the first request);
  // later: 408 and close. Heads are read by the acceptor without a thread.
  std::chrono::milliseconds head_timeout{10000};
  // A request body must arrive within this long; each read also times out
  // after it (so does each write of a reply or watch event).
  std::chrono::milliseconds body_timeout{30000};
  // A keep-alive connection may sit idle this long between requests
  // (costing a descriptor, not a thread).
  std::chrono::milliseconds idle_timeout{60000};
  // Request target ("/apis/...?...") longer: 414. Poco's parser stops at
  // 16 KiB, so more cannot be served anyway.
  size_t max_target_bytes = 16 * 1024;
  // Whole request head longer: 431 (never buffered beyond this).
  size_t max_head_bytes = 64 * 1024;
  // Request bodies larger: 413, refused before they are read (writes send
  // manifests of up to 3 MiB).
  size_t max_body_bytes = 3 << 20;
  // Open connections per client address and in all; more are answered 503
  // and closed at once. The total is also clamped below the descriptor
  // limit (RLIMIT_NOFILE, whose soft value Start raises to the hard one).
  int max_connections_per_client = 256;
  int max_connections = 16384;
  // Bytes of partial request heads held for all connections together;
  // a connection that would exceed it is answered 503 and closed.
  size_t max_pending_head_bytes = 64 << 20;
  // /healthz, /livez and /readyz run on threads of their own, so a
  // saturated API pool cannot starve them.
  int probe_threads = 2;
};

// How the acceptor classifies the bytes of a request head read so far.
enum class HeadState { kIncomplete, kComplete, kTargetTooLong, kHeadTooLarge };
struct HeadScan {
  HeadState state = HeadState::kIncomplete;
  std::string_view target;  // the request target once the request line is whole
  size_t head_bytes = 0;    // through the blank line, when kComplete
};
// Scans `bytes` (the start of a request) against the limits; pure.
HeadScan ScanRequestHead(std::string_view bytes, const ServerLimits& limits);

// True for the probe paths (/healthz, /livez, /readyz, with or without a
// query or a sub-check path) served by the probe threads.
bool IsProbeTarget(std::string_view target);

// Counts open connections per client address and in all. Thread-safe.
class ConnectionLimiter {
 public:
  ConnectionLimiter(int per_client, int total) : per_client_(per_client), total_max_(total) {}
  // Counts a connection from `client` and returns true, or returns false
  // (counting nothing) when either cap is reached.
  bool Admit(const std::string& client);
  // Uncounts one connection Admit counted.
  void Release(const std::string& client);
  int total() const;
  int of(const std::string& client) const;

 private:
  const int per_client_;
  const int total_max_;
  mutable std::mutex mu_;
  std::map<std::string, int> by_client_;
  int total_ = 0;
};

struct ServerOptions {
  HostPort bind{"127.0.0.1", 8081};
  int max_threads = 8;
  // Non-empty when the handler requires a bearer token (--api-token-file);
  // a non-loopback bind without one is refused.
  std::string token;
  // Serve HTTPS with these files (reloaded when they change); empty: HTTP.
  TlsFiles tls = {};
  // Concurrent watches, each holding a thread of its own on top of
  // max_threads; more answer 429 (clients retry).
  int max_watches = 256;
  ServerLimits limits = {};
};

// Fills req.path and req.query (percent-decoded) from a request target
// ("/apis/...?labelSelector=a%3Db"), as the listener does for every request.
// Fails with a one-line message on a target Poco cannot parse, on bad
// percent-encoding, and on "." or ".." path segments (also encoded): the
// API has no relative paths, and a path that means another path is refused
// rather than normalized.
Status ParseRequestTarget(const std::string& target, ApiRequest& req);

class ApiServer {
 public:
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving `handler` (which must outlive the server).
  // Fails with a one-line error when the address is taken, the TLS files do
  // not load, or the bind is unsafe: a non-loopback address needs both TLS
  // and a token (kubectl sends tokens only over https).
  static Result<std::unique_ptr<ApiServer>> Start(const ApiHandler& handler,
                                                  const ServerOptions& options);

  // The bound port (the chosen one when the options asked for port 0).
  uint16_t port() const;

  // Stops accepting and waits for in-flight requests. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlspace::apiserver
