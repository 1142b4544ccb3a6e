#pragma once

// The HTTP listener for ApiHandler, on Poco::Net::HTTPServer. Owns threads
// and sockets only; every decision is in the handler.

#include <memory>
#include <string>

#include "controller/apiserver/handler.h"
#include "controller/apiserver/tls.h"
#include "controller/core/address.h"
#include "controller/core/result.h"

namespace mlspace::apiserver {

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
};

// Fills req.path and req.query (percent-decoded) from a request target
// ("/apis/...?labelSelector=a%3Db"), as the listener does for every request.
// Fails with a one-line message on a target Poco cannot parse.
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
