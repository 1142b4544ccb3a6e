#pragma once

// The emulator's HTTP plumbing, apart from its routes (emulator_routes.h)
// and handlers (emulator_server.cc): a Poco HTTP server on one listening
// socket that turns each request into an HttpReq, asks a handler for an
// HttpResp and writes it (or drops the connection). No Poco type leaves
// this file's .cc.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/address.h"
#include "controller/core/status.h"

namespace mlspace::gateway::emulator {

struct HttpReq {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::optional<std::string> Query(const std::string& name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

struct HttpResp {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool drop = false;  // close the connection (RST) without answering
};

class HttpListener {
 public:
  // Called on server threads, concurrently: must be thread-safe.
  using Handler = std::function<HttpResp(const HttpReq&)>;
  // The answer when reading the request or the handler threw (`what`).
  using ErrorHandler = std::function<HttpResp(const std::string& what)>;

  HttpListener();
  ~HttpListener();  // Stops.
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds `bind` (empty host: every address; port 0: a free port) and
  // serves with up to `max_threads` threads. Failure: the ListenError for
  // `flag`. Call once; `handler` and `on_error` must outlive Stop.
  Status Start(const HostPort& bind, std::string_view flag, int max_threads, Handler handler,
               ErrorHandler on_error);
  // Stops accepting, aborts requests in flight and joins the threads.
  // Idempotent.
  void Stop();
  // The bound port, after a successful Start.
  uint16_t port() const { return port_; }

 private:
  struct Server;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

}  // namespace mlspace::gateway::emulator
