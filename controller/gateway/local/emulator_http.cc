#include "controller/gateway/local/emulator_http.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include "controller/core/log.h"

namespace mlspace::gateway::emulator {
namespace {

struct Callbacks {
  HttpListener::Handler handler;
  HttpListener::ErrorHandler on_error;
};

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit RequestHandler(const Callbacks& cb) : cb_(cb) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    HttpReq req;
    HttpResp resp;
    try {
      // Headers and body go out in two writes; without TCP_NODELAY the
      // second waits for the client's delayed ACK on keep-alive connections.
      static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket().setNoDelay(true);
      req.method = request.getMethod();
      const Poco::URI uri(request.getURI());
      req.path = uri.getPath();
      req.query = uri.getQueryParameters();
      for (const auto& [k, v] : request) {
        std::string name = k;
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = v;
      }
      std::istream& in = request.stream();
      req.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      resp = cb_.handler(req);
    } catch (const std::exception& e) {
      resp = cb_.on_error(e.what());
    }
    if (resp.drop) {
      try {
        auto& impl = static_cast<Poco::Net::HTTPServerRequestImpl&>(request);
        Poco::Net::StreamSocket socket = impl.detachSocket();
        socket.setLinger(true, 0);
        socket.close();
      } catch (const Poco::Exception&) {
      }
      return;
    }
    try {
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(resp.status));
      response.setContentType(resp.content_type);
      for (const auto& [k, v] : resp.headers) response.set(k, v);
      response.setContentLength(static_cast<std::streamsize>(resp.body.size()));
      response.sendBuffer(resp.body.data(), resp.body.size());
    } catch (const Poco::Exception&) {
      // The client went away; nothing to answer.
    }
  }

 private:
  const Callbacks& cb_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(const Callbacks& cb) : cb_(cb) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new RequestHandler(cb_);
  }

 private:
  const Callbacks& cb_;
};

}  // namespace

struct HttpListener::Server {
  Callbacks cb;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
};

HttpListener::HttpListener() = default;

HttpListener::~HttpListener() { Stop(); }

Status HttpListener::Start(const HostPort& bind, std::string_view flag, int max_threads,
                           Handler handler, ErrorHandler on_error) {
  if (server_) return FailedPreconditionError("emulator: already started");
  auto server = std::make_unique<Server>();
  server->cb = Callbacks{std::move(handler), std::move(on_error)};
  try {
    Poco::Net::SocketAddress addr(bind.host.empty() ? "0.0.0.0" : bind.host, bind.port);
    Poco::Net::ServerSocket socket;
    socket.bind(addr, /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(256);
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(max_threads);
    params->setMaxQueued(1024);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    server->pool = std::make_unique<Poco::ThreadPool>(2, std::max(2, max_threads));
    server->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(server->cb), *server->pool,
                                                           socket, params);
    server->http->start();
  } catch (const Poco::Exception& e) {
    return ListenError(flag, bind, e.displayText());
  }
  server_ = std::move(server);
  return OkStatus();
}

void HttpListener::Stop() {
  if (!server_) return;
  try {
    server_->http->stopAll(/*abortCurrent=*/true);
    server_->pool->joinAll();
  } catch (const Poco::Exception& e) {
    LogWarn("emulator: stop", {{"error", e.displayText()}});
  }
  server_.reset();
}

}  // namespace mlspace::gateway::emulator
