#include "controller/metrics/http_server.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "controller/core/address.h"
#include "controller/metrics/metrics.h"
#include "controller/metrics/probes.h"

namespace mlspace::metrics {
namespace {

void Reply(mg_connection* conn, int code, const char* reason, const char* content_type,
           const std::string& body, bool head) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            code, reason, content_type, body.size());
  if (!head) mg_write(conn, body.data(), body.size());
}

bool HasVerbose(const mg_request_info* info) {
  if (info->query_string == nullptr) return false;
  std::string q = info->query_string;
  return q == "verbose" || q.rfind("verbose=", 0) == 0 || q.find("&verbose") != std::string::npos;
}

// civetweb takes "port", "a.b.c.d:port" or "[v6]:port"; names are not resolved.
std::string CivetListeningPort(const HostPort& hp) {
  if (hp.host.empty()) return std::to_string(hp.port);
  std::string host = hp.host == "localhost" ? "127.0.0.1" : hp.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(hp.port);
}

// Opens and closes one connection to host:port (IPv4 only; best effort).
void WakeListener(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

}  // namespace

class HttpServer::Handler : public CivetHandler {
 public:
  // produce(verbose) returns {success, body}.
  Handler(const char* content_type, std::function<std::pair<bool, std::string>(bool)> produce)
      : content_type_(content_type), produce_(std::move(produce)) {}

  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    return Serve(conn, false);
  }
  bool handleHead(CivetServer* /*server*/, mg_connection* conn) override {
    return Serve(conn, true);
  }

 private:
  bool Serve(mg_connection* conn, bool head) {
    const mg_request_info* info = mg_get_request_info(conn);
    auto [ok, body] = produce_(HasVerbose(info));
    if (ok) {
      Reply(conn, 200, "OK", content_type_, body, head);
    } else {
      Reply(conn, 500, "Internal Server Error", content_type_, body, head);
    }
    return true;
  }

  const char* content_type_;
  std::function<std::pair<bool, std::string>(bool)> produce_;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options) {
  MLSPACE_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(options.bind_address, options.flag));
  std::unique_ptr<HttpServer> server(new HttpServer());
  std::vector<std::string> civet_options = {
      "listening_ports",    CivetListeningPort(hp),
      "num_threads",        std::to_string(options.threads < 1 ? 1 : options.threads),
      "request_timeout_ms", "10000",
  };
  try {
    server->server_ = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& e) {
    // civetweb says "null context when constructing CivetServer" for a busy
    // port; ListenError finds the real reason.
    return ListenError(options.flag, hp, e.what());
  }
  std::vector<int> ports = server->server_->getListeningPorts();
  if (ports.empty()) return ListenError(options.flag, hp, "no port bound");
  server->port_ = ports.front();
  server->wake_host_ =
      hp.host.empty() || hp.host == "0.0.0.0" || hp.host == "localhost" ? "127.0.0.1" : hp.host;
  if (options.metrics != nullptr) {
    const Metrics* m = options.metrics;
    server->metrics_handler_ =
        std::make_unique<Handler>("text/plain; version=0.0.4; charset=utf-8",
                                  [m](bool) { return std::make_pair(true, m->Serialize()); });
    server->server_->addHandler("/metrics", server->metrics_handler_.get());
  }
  if (options.probes != nullptr) {
    const Probes* p = options.probes;
    server->healthz_handler_ =
        std::make_unique<Handler>("text/plain; charset=utf-8", [p](bool verbose) {
          ProbeReport r = p->RunHealth(verbose);
          return std::make_pair(r.ok, r.body);
        });
    server->readyz_handler_ =
        std::make_unique<Handler>("text/plain; charset=utf-8", [p](bool verbose) {
          ProbeReport r = p->RunReady(verbose);
          return std::make_pair(r.ok, r.body);
        });
    server->server_->addHandler("/healthz", server->healthz_handler_.get());
    server->server_->addHandler("/readyz", server->readyz_handler_.get());
  }
  return server;
}

HttpServer::~HttpServer() {
  if (!server_) return;
  // Stop the server (joining its threads) before the handlers it calls die.
  // civetweb's accept loop polls with a 2 s quantum and checks the stop flag
  // only when woken, so connections are made to wake it while mg_stop waits.
  std::atomic<bool> stopped{false};
  std::thread closer([&] {
    server_->close();
    stopped.store(true);
  });
  while (!stopped.load()) {
    WakeListener(wake_host_, port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  closer.join();
  server_.reset();
}

}  // namespace mlspace::metrics
