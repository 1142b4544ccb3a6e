#pragma once

#include <memory>
#include <string>

#include "controller/core/result.h"

class CivetServer;

namespace mlspace::metrics {

class Metrics;
class Probes;

struct HttpServerOptions {
  // host:port or :port (all interfaces); port 0 picks a free port.
  std::string bind_address = ":8080";
  // Names the flag in errors, e.g. "--metrics-bind-address".
  std::string flag = "--metrics-bind-address";
  // Serve GET /metrics from this registry when set (not owned; must outlive
  // the server).
  const Metrics* metrics = nullptr;
  // Serve GET /healthz and /readyz from these checks when set (not owned).
  const Probes* probes = nullptr;
  int threads = 2;
};

// The metrics and probe listener: /metrics in the Prometheus text format,
// /healthz and /readyz in the controller-runtime format (?verbose lists every
// check). One civetweb server (the library prometheus-cpp's Exposer wraps);
// used directly because Exposer cannot serve non-metrics paths. Run one
// instance on --metrics-bind-address and, when the probe address differs,
// another on --health-probe-bind-address with only `probes` set.
class HttpServer {
 public:
  // Binds and starts serving; fails with InvalidArgument for a malformed
  // address and Unavailable when the port cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options);
  // Stops accepting and waits for in-flight requests.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when the address asked for port 0).
  int port() const { return port_; }

 private:
  class Handler;
  HttpServer() = default;

  std::unique_ptr<Handler> metrics_handler_;
  std::unique_ptr<Handler> healthz_handler_;
  std::unique_ptr<Handler> readyz_handler_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
  std::string wake_host_;  // where the destructor connects to stop the loop
};

}  // namespace mlspace::metrics
