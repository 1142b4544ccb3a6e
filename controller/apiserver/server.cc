#include "controller/apiserver/server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <cctype>
#include <sstream>

#include "controller/core/log.h"

namespace mlspace::apiserver {
namespace {

constexpr size_t kMaxBodyBytes = 4 << 20;

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit RequestHandler(const ApiHandler& handler) : handler_(handler) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    ApiResponse reply;
    try {
      ApiRequest req;
      req.method = request.getMethod();
      Poco::URI uri(request.getURI());
      req.path = uri.getPath();
      for (const auto& [k, v] : uri.getQueryParameters()) req.query.emplace(k, v);
      for (const auto& [k, v] : request) {
        std::string name = k;
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = v;
      }
      std::string body;
      Poco::StreamCopier::copyToString(request.stream(), body, kMaxBodyBytes);
      req.body = std::move(body);
      reply = handler_.Handle(req);
    } catch (const Poco::Exception& e) {
      reply.status = 400;
      reply.body =
          R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400,"message":"malformed request"})";
    }
    response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    response.send() << reply.body;
  }

 private:
  const ApiHandler& handler_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(const ApiHandler& handler) : handler_(handler) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new RequestHandler(handler_);
  }

 private:
  const ApiHandler& handler_;
};

}  // namespace

struct ApiServer::Impl {
  std::unique_ptr<Poco::Net::HTTPServer> server;
  uint16_t port = 0;
  bool stopped = false;
};

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { Stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiHandler& handler,
                                                    const ServerOptions& options) {
  if (!options.bind.IsLoopback() && options.token.empty()) {
    return InvalidArgumentError("--api-bind-address " + options.bind.ToString() +
                                ": a non-loopback API needs --api-token-file");
  }
  auto impl = std::make_unique<Impl>();
  try {
    std::string host = options.bind.host.empty() ? "0.0.0.0" : options.bind.host;
    if (host == "localhost") host = "127.0.0.1";
    Poco::Net::ServerSocket socket;
    // SO_REUSEADDR for quick restarts, but not SO_REUSEPORT: a second
    // controller on the same port must fail, not share it.
    socket.bind(Poco::Net::SocketAddress(host, options.bind.port), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(64);
    impl->port = socket.address().port();
    auto params = new Poco::Net::HTTPServerParams;  // owned by the server
    params->setMaxThreads(options.max_threads);
    params->setKeepAlive(true);
    impl->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(handler), socket, params);
    impl->server->start();
  } catch (const Poco::Exception& e) {
    return ListenError("--api-bind-address", options.bind, e.displayText());
  }
  LogInfo("API server listening", {{"address", BoundAddress(options.bind, impl->port)}});
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

uint16_t ApiServer::port() const { return impl_->port; }

void ApiServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  try {
    impl_->server->stopAll(/*abortCurrent=*/false);
  } catch (const Poco::Exception&) {
    // Stopping is best effort: the process is on its way out.
  }
}

}  // namespace mlspace::apiserver
