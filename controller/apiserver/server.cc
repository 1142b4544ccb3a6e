#include "controller/apiserver/server.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <mutex>
#include <sstream>

#include "controller/apiserver/writes.h"
#include "controller/core/log.h"

namespace mlspace::apiserver {
namespace {

// One byte past the write limit: enough to tell "at the limit" from "over
// it" (413, answered by WriteApi) without reading the rest.
constexpr size_t kMaxBodyBytes = kMaxWriteBodyBytes + 1;

// Reads at most `limit` bytes of the body (Poco's copyToString has no
// limit: its third argument is a buffer size).
std::string ReadBody(std::istream& in, size_t limit) {
  std::string body;
  char buf[8192];
  while (body.size() < limit && in) {
    in.read(buf, static_cast<std::streamsize>(std::min(sizeof(buf), limit - body.size())));
    body.append(buf, static_cast<size_t>(in.gcount()));
  }
  return body;
}

// Shared by the listener and its handlers: whether the server is stopping
// and how many streams (watches) hold a thread now.
struct StreamState {
  std::atomic<bool> stopping{false};
  std::atomic<int> active{0};
  int max = 0;
};

// True once the peer closed its end: a watch waiting for changes notices a
// client that hung up within a second instead of at its next event. Peeks
// at the raw descriptor (never consumes; with TLS a pending record counts
// as "still there", and the next write finds out).
bool PeerClosed(Poco::Net::StreamSocket& socket) {
  char c;
  ssize_t n = ::recv(socket.impl()->sockfd(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  RequestHandler(const ApiHandler& handler, StreamState& streams)
      : handler_(handler), streams_(streams) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    ApiResponse reply;
    std::string path;
    bool oversized = false;
    try {
      ApiRequest req;
      req.method = request.getMethod();
      if (Status s = ParseRequestTarget(request.getURI(), req); !s.ok()) {
        throw Poco::SyntaxException(s.message());
      }
      path = req.path;
      for (const auto& [k, v] : request) {
        std::string name = k;
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = v;
      }
      // A declared length over the limit is refused without reading the
      // body; the connection is closed, as the unread bytes follow.
      if (request.hasContentLength() &&
          request.getContentLength64() > static_cast<Poco::Int64>(kMaxWriteBodyBytes)) {
        oversized = true;
        req.body.assign(kMaxBodyBytes, ' ');
      } else {
        req.body = ReadBody(request.stream(), kMaxBodyBytes);
        oversized = req.body.size() > kMaxWriteBodyBytes;
      }
      reply = handler_.Handle(req);
    } catch (const Poco::Exception& e) {
      reply = ApiResponse{};
      reply.status = 400;
      reply.body =
          R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400,"message":"malformed request"})";
    }
    if (reply.status == 401) {
      LogWarn("API request refused: no valid bearer token",
              {{"method", request.getMethod()},
               {"path", path},
               {"client", request.clientAddress().host().toString()}});
    } else {
      LogDebug("API request", {{"method", request.getMethod()},
                               {"path", path},
                               {"code", std::to_string(reply.status)},
                               {"user", reply.user}});
    }
    if (reply.stream) {
      // Watches hold their thread for as long as they last: cap them so
      // plain requests always find one.
      if (streams_.active.fetch_add(1) >= streams_.max) {
        streams_.active.fetch_sub(1);
        reply.stream = nullptr;
        reply.status = 429;
        reply.content_type = "application/json";
        reply.headers["Retry-After"] = "1";
        reply.body =
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"TooManyRequests","code":429,"message":"too many concurrent watches; retry"})";
      } else {
        Stream(request, response, reply);
        streams_.active.fetch_sub(1);
        return;
      }
    }
    // The true reason phrase ("404 Not Found"): setStatus alone keeps "OK".
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    if (oversized) response.setKeepAlive(false);
    response.send() << reply.body;
  }

 private:
  void Stream(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
              const ApiResponse& reply) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    response.setChunkedTransferEncoding(true);
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    Poco::Net::StreamSocket* socket = impl ? &impl->socket() : nullptr;
    try {
      std::ostream& out = response.send();
      out.flush();  // headers now: kubectl waits for them before reading events
      bool gone = false;
      reply.stream([&](std::string_view piece) {
        if (gone || streams_.stopping.load()) return false;
        if (piece.empty()) {
          gone = socket && PeerClosed(*socket);
          return !gone;
        }
        out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        out.flush();
        gone = !out.good();
        return !gone;
      });
    } catch (const Poco::Exception& e) {
      // The client went away mid-stream; nothing left to tell it.
      LogDebug("API stream ended", {{"error", e.displayText()}});
    }
  }

  const ApiHandler& handler_;
  StreamState& streams_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(const ApiHandler& handler, StreamState& streams) : handler_(handler), streams_(streams) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new RequestHandler(handler_, streams_);
  }

 private:
  const ApiHandler& handler_;
  StreamState& streams_;
};

}  // namespace

Status ParseRequestTarget(const std::string& target, ApiRequest& req) {
  try {
    Poco::URI uri(target);
    req.path = uri.getPath();
    for (const auto& [k, v] : uri.getQueryParameters()) req.query.emplace(k, v);
  } catch (const Poco::Exception& e) {
    return InvalidArgumentError("request target: " + e.displayText());
  }
  return OkStatus();
}

struct ApiServer::Impl {
  // Declared first so it outlives the server's threads and the context.
  std::unique_ptr<CertificateSource> certs;
  StreamState streams;
  // Each connection holds a thread (keep-alive included) and each watch
  // holds its connection's, so the pool has room for both.
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> server;
  uint16_t port = 0;
  bool stopped = false;
};

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { Stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiHandler& handler,
                                                    const ServerOptions& options) {
  if (!options.bind.IsLoopback() && (options.token.empty() || !options.tls.enabled())) {
    return InvalidArgumentError(
        "--api-bind-address " + options.bind.ToString() +
        ": a non-loopback API needs --api-token-file and --api-tls-cert-file/"
        "--api-tls-private-key-file (kubectl sends tokens only over https)");
  }
  auto impl = std::make_unique<Impl>();
  Poco::Net::Context::Ptr context;
  if (options.tls.enabled()) {
    auto certs = CertificateSource::Create(options.tls);
    if (!certs.ok()) return certs.status();
    impl->certs = std::move(certs).value();
    static std::once_flag ssl_once;
    std::call_once(ssl_once, [] { Poco::Net::initializeSSL(); });
    try {
      Poco::Net::Context::Params params;
      params.verificationMode = Poco::Net::Context::VERIFY_NONE;  // no client certificates
      params.loadDefaultCAs = false;
      params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
      context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
      context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      impl->certs->Attach(context->sslContext());
    } catch (const Poco::Exception& e) {
      return InternalError("API TLS context: " + e.displayText());
    }
  }
  try {
    std::string host = options.bind.host.empty() ? "0.0.0.0" : options.bind.host;
    if (host == "localhost") host = "127.0.0.1";
    Poco::Net::ServerSocket socket =
        context ? Poco::Net::SecureServerSocket(context) : Poco::Net::ServerSocket();
    // SO_REUSEADDR for quick restarts, but not SO_REUSEPORT: a second
    // controller on the same port must fail, not share it.
    socket.bind(Poco::Net::SocketAddress(host, options.bind.port), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(64);
    impl->port = socket.address().port();
    int threads = options.max_threads + options.max_watches;
    impl->streams.max = options.max_watches;
    impl->pool = std::make_unique<Poco::ThreadPool>(2, threads);
    auto params = new Poco::Net::HTTPServerParams;  // owned by the server
    params->setMaxThreads(threads);
    params->setKeepAlive(true);
    impl->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(handler, impl->streams),
                                                           *impl->pool, socket, params);
    impl->server->start();
  } catch (const Poco::Exception& e) {
    return ListenError("--api-bind-address", options.bind, e.displayText());
  }
  LogInfo("API server listening", {{"address", BoundAddress(options.bind, impl->port)},
                                   {"scheme", context ? "https" : "http"},
                                   {"auth", options.token.empty() ? "none" : "bearer token"}});
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

uint16_t ApiServer::port() const { return impl_->port; }

void ApiServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->streams.stopping = true;  // watches notice within a second
  try {
    impl_->server->stopAll(/*abortCurrent=*/false);
  } catch (const Poco::Exception&) {
    // Stopping is best effort: the process is on its way out.
  }
}

}  // namespace mlspace::apiserver
