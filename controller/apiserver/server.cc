#include "controller/apiserver/server.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerDispatcher.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/core/log.h"

namespace mlspace::apiserver {
namespace {

using Clock = std::chrono::steady_clock;

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

// A Kubernetes Status body; `message` may quote client input, so it is
// JSON-escaped.
std::string StatusJson(int code, const std::string& reason, const std::string& message) {
  return nlohmann::json{
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"reason", reason},   {"code", code},
      {"message", message}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The client address a connection was accepted from, carried by its socket
// from the acceptor to the worker (the peer may be gone by then, so it is
// not asked again).
class ClientTag {
 public:
  explicit ClientTag(std::string client) : client_(std::move(client)) {}
  virtual ~ClientTag() = default;
  const std::string& client() const { return client_; }

 private:
  std::string client_;
};

// A plain-HTTP connection: the bytes of the request head the acceptor read
// come first, then the descriptor.
class PlainSocketImpl final : public Poco::Net::StreamSocketImpl, public ClientTag {
 public:
  PlainSocketImpl(poco_socket_t fd, std::string client)
      : Poco::Net::StreamSocketImpl(fd), ClientTag(std::move(client)) {}
  using Poco::Net::StreamSocketImpl::receiveBytes;
  int receiveBytes(void* buffer, int length, int flags = 0) override {
    if (pos_ < prefix_.size() && length > 0) {
      size_t n = std::min(prefix_.size() - pos_, static_cast<size_t>(length));
      std::memcpy(buffer, prefix_.data() + pos_, n);
      pos_ += n;
      if (pos_ == prefix_.size()) {
        prefix_.clear();
        prefix_.shrink_to_fit();
        pos_ = 0;
      }
      return static_cast<int>(n);
    }
    return Poco::Net::StreamSocketImpl::receiveBytes(buffer, length, flags);
  }
  // Not thread-safe: the acceptor sets it before handing the socket over.
  void SetPrefix(std::string bytes) {
    prefix_ = std::move(bytes);
    pos_ = 0;
  }
  // The prefix bytes not read yet (a pipelined request's start); clears.
  std::string TakePrefix() {
    std::string rest = prefix_.substr(pos_);
    prefix_.clear();
    pos_ = 0;
    return rest;
  }

 private:
  std::string prefix_;
  size_t pos_ = 0;
};

// A TLS connection; the handshake runs on the worker thread at first read.
class TlsSocketImpl final : public Poco::Net::SecureStreamSocketImpl, public ClientTag {
 public:
  TlsSocketImpl(Poco::Net::StreamSocketImpl* plain, Poco::Net::Context::Ptr context,
                std::string client)
      : Poco::Net::SecureStreamSocketImpl(plain, context), ClientTag(std::move(client)) {
    acceptSSL();
  }
};

// HTTPServerSession with a view of its read buffer: bytes there are the
// next (pipelined) request, answered on this thread.
class Session final : public Poco::Net::HTTPServerSession {
 public:
  using Poco::Net::HTTPServerSession::HTTPServerSession;
  bool HasBuffered() const { return buffered() > 0; }
  // Removes and returns the bytes read ahead of the last request (the
  // start of a pipelined one); never reads the socket.
  std::string TakeBuffered() {
    std::string out;
    char buf[8192];
    while (buffered() > 0) {
      int n = read(buf, std::min<std::streamsize>(buffered(), sizeof(buf)));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
};

// Request heads read on a worker thread get the acceptor's whole-head
// deadline too: TLS heads (encrypted, so the acceptor cannot read them) and
// a pipelined request's rest. The acceptor's sweep shuts down the socket of
// a worker still waiting past the deadline, which ends its blocked read;
// a read timeout alone would let a client drip a byte per timeout forever.
class HeadDeadlines {
 public:
  void Arm(int fd, Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mu_);
    deadlines_[fd] = deadline;
  }
  // Must run before `fd` is closed (the descriptor may be reused).
  void Disarm(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    deadlines_.erase(fd);
  }
  // Shuts down the sockets past their deadline; returns how many.
  int Expire(Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (now >= it->second) {
        ::shutdown(it->first, SHUT_RDWR);
        it = deadlines_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

 private:
  std::mutex mu_;
  std::unordered_map<int, Clock::time_point> deadlines_;
};

class Acceptor;

// Everything a worker needs; owned by ApiServer::Impl.
struct Shared {
  HeadDeadlines head_deadlines;
  const ApiHandler* handler = nullptr;
  ServerLimits limits;
  StreamState streams;
  ConnectionLimiter* limiter = nullptr;
  Poco::Net::HTTPServerParams::Ptr params;
  Acceptor* acceptor = nullptr;
};

// Serves one parsed request: the API's handler, the body read under the
// limits, a watch streamed on this thread.
class RequestServer {
 public:
  explicit RequestServer(Shared& shared) : shared_(shared) {}

  void Serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    ApiResponse reply;
    std::string path;
    bool close = false;
    try {
      ApiRequest req;
      req.method = request.getMethod();
      if (Status s = ParseRequestTarget(request.getURI(), req); !s.ok()) {
        reply = Refusal(400, "BadRequest", s.message(), request);
        close = true;
      } else {
        path = req.path;
        for (const auto& [k, v] : request) {
          std::string name = k;
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          req.headers[name] = v;
        }
        if (ReadBody(request, response, req.body, reply)) {
          reply = shared_.handler->Handle(req);
        } else {
          close = true;
        }
      }
    } catch (const Poco::Exception& e) {
      reply = Refusal(400, "BadRequest", "malformed request", request);
      close = true;
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
      if (shared_.streams.active.fetch_add(1) >= shared_.streams.max) {
        shared_.streams.active.fetch_sub(1);
        reply.stream = nullptr;
        reply.status = 429;
        reply.content_type = "application/json";
        reply.headers["Retry-After"] = "1";
        reply.body = StatusJson(429, "TooManyRequests", "too many concurrent watches; retry");
      } else {
        response.setKeepAlive(false);  // the connection ends with the watch
        Stream(request, response, reply);
        shared_.streams.active.fetch_sub(1);
        return;
      }
    }
    if (close) response.setKeepAlive(false);
    // The true reason phrase ("404 Not Found"): setStatus alone keeps "OK".
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    response.send() << reply.body;
  }

 private:
  static ApiResponse Refusal(int code, const std::string& reason, const std::string& message,
                             Poco::Net::HTTPServerRequest& request) {
    LogWarn("API request refused", {{"code", std::to_string(code)},
                                    {"reason", message},
                                    {"client", request.clientAddress().host().toString()}});
    ApiResponse r;
    r.status = code;
    r.body = StatusJson(code, reason, message);
    return r;
  }

  // Reads the body into `body` (at most limits.max_body_bytes, within
  // limits.body_timeout). On refusal fills `reply` and returns false; the
  // connection is then closed, as the rest of the body is never read.
  bool ReadBody(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                std::string& body, ApiResponse& reply) {
    const ServerLimits& limits = shared_.limits;
    const std::string too_large =
        "request body larger than " + std::to_string(limits.max_body_bytes) + " bytes";
    if (request.hasContentLength() &&
        request.getContentLength64() > static_cast<Poco::Int64>(limits.max_body_bytes)) {
      reply = Refusal(413, "RequestEntityTooLarge", too_large, request);
      return false;
    }
    if (request.getExpectContinue()) response.sendContinue();
    const auto deadline = Clock::now() + limits.body_timeout;
    std::istream& in = request.stream();
    char buf[16384];
    while (in) {
      in.read(buf, sizeof(buf));
      body.append(buf, static_cast<size_t>(in.gcount()));
      if (body.size() > limits.max_body_bytes) {
        reply = Refusal(413, "RequestEntityTooLarge", too_large, request);
        return false;
      }
      if (Clock::now() > deadline && !in.eof()) {
        reply = Refusal(408, "Timeout", "request body not received in time", request);
        return false;
      }
    }
    if (in.bad() || (request.hasContentLength() &&
                     static_cast<Poco::Int64>(body.size()) != request.getContentLength64())) {
      reply = Refusal(400, "BadRequest", "request body incomplete", request);
      return false;
    }
    return true;
  }

  void Stream(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
              const ApiResponse& reply) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    // HTTP/1.0 has no chunks: the body then ends when the connection does.
    if (request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_0) {
      response.setChunkedTransferEncoding(true);
    }
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    Poco::Net::StreamSocket* socket = impl ? &impl->socket() : nullptr;
    try {
      std::ostream& out = response.send();
      out.flush();  // headers now: kubectl waits for them before reading events
      bool gone = false;
      reply.stream([&](std::string_view piece) {
        if (gone || shared_.streams.stopping.load()) return false;
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

  Shared& shared_;
};

// Owns the listening socket and every connection that is not being served:
// new ones until their request head is whole, keep-alive ones between
// requests. One thread and epoll, so a connection that sends nothing or
// drips its head byte by byte costs a descriptor and a buffer of at most
// max_head_bytes, never a thread. Whole heads go to the worker pools
// (probe paths to their own); over-limit input is answered here.
class Acceptor {
 public:
  Acceptor(Shared& shared, Poco::Net::ServerSocket listener, Poco::Net::Context::Ptr tls,
           Poco::Net::TCPServerDispatcher* api, Poco::Net::TCPServerDispatcher* probes,
           int max_queued)
      : shared_(shared),
        listener_(std::move(listener)),
        tls_(std::move(tls)),
        api_(api),
        probes_(probes),
        max_queued_(max_queued) {}

  ~Acceptor() { Stop(); }

  Status Start() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_ < 0 || wake_ < 0)
      return InternalError("API acceptor: " + std::string(strerror(errno)));
    listener_.setBlocking(false);
    Watch(listener_.impl()->sockfd());
    Watch(wake_);
    thread_ = std::thread([this] { Loop(); });
    return OkStatus();
  }

  // Stops accepting and closes every connection held here. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
    thread_.join();
    for (auto& [fd, conn] : conns_) {
      shared_.limiter->Release(conn.client);
      conn.socket.close();
    }
    conns_.clear();
    for (auto& r : inbox_) CloseReturned(r.socket);
    inbox_.clear();
    if (epoll_ >= 0) close(epoll_);
    if (wake_ >= 0) close(wake_);
    epoll_ = wake_ = -1;
  }

  // A worker hands back a keep-alive connection (plain HTTP only) with the
  // bytes of the next request it already read, if any. Thread-safe.
  void Return(Poco::Net::StreamSocket socket, std::string read_ahead) {
    bool queued = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        inbox_.push_back({socket, std::move(read_ahead)});
        queued = true;
      }
    }
    if (queued) {
      Wake();
    } else {
      CloseReturned(socket);
    }
  }

 private:
  struct Conn {
    Poco::Net::StreamSocket socket;
    PlainSocketImpl* plain = nullptr;  // null for TLS
    std::string client;
    std::string head;  // bytes of the request head so far
    Clock::time_point deadline;
    bool idle = true;      // a returned keep-alive connection, no byte yet
    bool closing = false;  // answered; reading until the peer closes
  };

  void CloseReturned(Poco::Net::StreamSocket& socket) {
    if (auto* tag = dynamic_cast<ClientTag*>(socket.impl()))
      shared_.limiter->Release(tag->client());
    socket.close();
  }

  void Watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  void Wake() {
    uint64_t one = 1;
    if (wake_ >= 0) (void)!write(wake_, &one, sizeof(one));
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    const int listen_fd = listener_.impl()->sockfd();
    Clock::time_point next_sweep = Clock::now();
    Clock::time_point accept_resume{};
    bool accept_paused = false;
    for (;;) {
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd) {
          if (!AcceptAll()) {
            // Out of descriptors: stop polling the listener for a moment
            // rather than spinning on it.
            epoll_ctl(epoll_, EPOLL_CTL_DEL, listen_fd, nullptr);
            accept_paused = true;
            accept_resume = Clock::now() + std::chrono::milliseconds(100);
          }
        } else if (fd == wake_) {
          uint64_t v;
          (void)!read(wake_, &v, sizeof(v));
          TakeReturned();
        } else if (auto it = conns_.find(fd); it != conns_.end()) {
          OnReadable(it);
        }
      }
      const auto now = Clock::now();
      if (accept_paused && now >= accept_resume) {
        Watch(listen_fd);
        accept_paused = false;
      }
      if (now >= next_sweep) {
        Sweep(now);
        next_sweep = now + std::chrono::milliseconds(100);
      }
    }
  }

  void TakeReturned() {
    std::deque<Returned> got;
    {
      std::lock_guard<std::mutex> lock(mu_);
      got.swap(inbox_);
    }
    for (auto& r : got) {
      auto* plain = dynamic_cast<PlainSocketImpl*>(r.socket.impl());
      if (plain == nullptr) {
        CloseReturned(r.socket);
        continue;
      }
      int fd = r.socket.impl()->sockfd();
      Conn c;
      c.socket = r.socket;
      c.plain = plain;
      c.client = plain->client();
      c.deadline = Clock::now() + shared_.limits.idle_timeout;
      c.idle = true;
      auto it = conns_.emplace(fd, std::move(c)).first;
      Watch(fd);
      if (!r.read_ahead.empty()) {
        // A pipelined request: its head is read here like any other, so a
        // client that pipelines a partial head holds no thread either.
        it->second.idle = false;
        it->second.deadline = Clock::now() + shared_.limits.head_timeout;
        pending_bytes_ += r.read_ahead.size();
        it->second.head = std::move(r.read_ahead);
        Advance(it);
      }
    }
  }

  // Returns false when accept ran out of descriptors.
  bool AcceptAll() {
    const int listen_fd = listener_.impl()->sockfd();
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          Throttled("API connection not accepted: out of descriptors", std::strerror(errno));
          return false;
        }
        return true;  // EAGAIN: all taken
      }
      std::string client = ClientAddress(addr);
      if (!shared_.limiter->Admit(client)) {
        Throttled("API connection refused: too many connections",
                  "client " + client + " has " + std::to_string(shared_.limiter->of(client)) +
                      " of at most " + std::to_string(shared_.limits.max_connections_per_client) +
                      "; " + std::to_string(shared_.limiter->total()) + " in all");
        if (!tls_) SendNow(fd, 503, "Service Unavailable", "too many connections");
        close(fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (tls_) {
        HandOffTls(fd, client);
        continue;
      }
      Conn c;
      auto* plain = new PlainSocketImpl(fd, client);
      c.socket = Poco::Net::StreamSocket(plain);  // owns the descriptor now
      c.plain = plain;
      c.client = std::move(client);
      c.deadline = Clock::now() + shared_.limits.head_timeout;
      c.idle = false;
      conns_.emplace(fd, std::move(c));
      Watch(fd);
    }
  }

  // TLS heads are encrypted: the connection goes to a worker at once,
  // bounded there by the read timeout (docs/api-access.md "Limits").
  void HandOffTls(int fd, const std::string& client) {
    try {
      auto* plain = new Poco::Net::StreamSocketImpl(fd);
      plain->duplicate();  // hold it while the TLS impl takes its reference
      int before = plain->referenceCount();
      Poco::Net::StreamSocket socket(new TlsSocketImpl(plain, tls_, client));
      // Whether the TLS impl duplicated the plain one differs by Poco
      // release; keep exactly its references.
      if (plain->referenceCount() > before) plain->release();
      plain->release();
      if (api_->queuedConnections() >= max_queued_) {
        shared_.limiter->Release(client);
        socket.close();
        return;
      }
      api_->enqueue(socket);
    } catch (const Poco::Exception& e) {
      shared_.limiter->Release(client);
      LogWarn("API TLS connection not started", {{"error", e.displayText()}});
    }
  }

  void OnReadable(std::unordered_map<int, Conn>::iterator it) {
    Conn& c = it->second;
    const int fd = it->first;
    char buf[16384];
    if (c.closing) {
      // Drain what the client still sends so the close does not reset the
      // answer away before the client read it.
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        Drop(it);
      }
      return;
    }
    const ServerLimits& limits = shared_.limits;
    size_t room = limits.max_head_bytes + 1 - c.head.size();
    ssize_t n = recv(fd, buf, std::min(sizeof(buf), room), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      Drop(it);
      return;
    }
    if (n < 0) return;
    if (pending_bytes_ + static_cast<size_t>(n) > limits.max_pending_head_bytes) {
      Refuse(it, 503, "Service Unavailable", "ServiceUnavailable",
             "too many partial requests; retry");
      return;
    }
    if (c.idle) {
      c.idle = false;
      c.deadline = Clock::now() + limits.head_timeout;
    }
    c.head.append(buf, static_cast<size_t>(n));
    pending_bytes_ += static_cast<size_t>(n);
    Advance(it);
  }

  // Dispatches the connection if its head is whole, answers if over a limit.
  void Advance(std::unordered_map<int, Conn>::iterator it) {
    Conn& c = it->second;
    const int fd = it->first;
    const ServerLimits& limits = shared_.limits;
    HeadScan scan = ScanRequestHead(c.head, limits);
    switch (scan.state) {
      case HeadState::kIncomplete:
        return;
      case HeadState::kTargetTooLong:
        Refuse(it, 414, "URI Too Long", "RequestURITooLong",
               "request target longer than " + std::to_string(limits.max_target_bytes) + " bytes");
        return;
      case HeadState::kHeadTooLarge:
        Refuse(it, 431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
               "request head larger than " + std::to_string(limits.max_head_bytes) + " bytes");
        return;
      case HeadState::kComplete:
        break;
    }
    Poco::Net::TCPServerDispatcher* to = IsProbeTarget(scan.target) ? probes_ : api_;
    if (to->queuedConnections() >= max_queued_) {
      Refuse(it, 503, "Service Unavailable", "ServiceUnavailable", "server busy; retry");
      return;
    }
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    pending_bytes_ -= c.head.size();
    c.plain->SetPrefix(std::move(c.head));
    Poco::Net::StreamSocket socket = c.socket;
    conns_.erase(it);
    to->enqueue(socket);
  }

  // Answers `code` and closes (after the client closes or a second passes).
  void Refuse(std::unordered_map<int, Conn>::iterator it, int code, const char* phrase,
              const std::string& reason, const std::string& message) {
    Conn& c = it->second;
    Throttled("API request refused",
              std::to_string(code) + " " + message + " (client " + c.client + ")");
    SendNow(it->first, code, phrase, message, reason);
    shutdown(it->first, SHUT_WR);
    pending_bytes_ -= c.head.size();
    c.head.clear();
    c.head.shrink_to_fit();
    c.closing = true;
    c.deadline = Clock::now() + std::chrono::seconds(1);
  }

  void Drop(std::unordered_map<int, Conn>::iterator it) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
    pending_bytes_ -= it->second.head.size();
    shared_.limiter->Release(it->second.client);
    it->second.socket.close();
    conns_.erase(it);
  }

  void Sweep(Clock::time_point now) {
    if (int n = shared_.head_deadlines.Expire(now); n > 0) {
      Throttled("API connection closed: request head not received in time",
                std::to_string(n) + " on worker threads (TLS or pipelined)");
    }
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      Conn& c = it->second;
      if (now >= c.deadline) {
        if (c.closing || c.idle) {
          Drop(it);
        } else {
          Refuse(it, 408, "Request Timeout", "Timeout",
                 "request head not received within " +
                     std::to_string(shared_.limits.head_timeout.count()) + " ms");
        }
      }
      it = next;
    }
  }

  // A fixed answer written without blocking (best effort: a client that
  // does not read gets the close only).
  static void SendNow(int fd, int code, const char* phrase, const std::string& message,
                      const std::string& reason = "ServiceUnavailable") {
    std::string body = StatusJson(code, reason, message);
    std::string out =
        "HTTP/1.1 " + std::to_string(code) + " " + phrase +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    (void)send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }

  static std::string ClientAddress(const sockaddr_storage& addr) {
    char text[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof(text));
    } else if (addr.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text,
                sizeof(text));
    }
    return text;
  }

  // One WARN line a second at most for refusals a flood can repeat
  // thousands of times; the rest are counted into the next line.
  void Throttled(const std::string& what, const std::string& detail) {
    const auto now = Clock::now();
    if (now - last_warn_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return;
    }
    LogWarn(what, {{"detail", detail}, {"suppressed", std::to_string(suppressed_)}});
    suppressed_ = 0;
    last_warn_ = now;
  }

  Shared& shared_;
  Poco::Net::ServerSocket listener_;
  Poco::Net::Context::Ptr tls_;
  Poco::Net::TCPServerDispatcher* api_;
  Poco::Net::TCPServerDispatcher* probes_;
  const int max_queued_;
  int epoll_ = -1;
  int wake_ = -1;
  std::thread thread_;
  std::unordered_map<int, Conn> conns_;  // acceptor thread only
  size_t pending_bytes_ = 0;             // sum of conns_[*].head sizes
  Clock::time_point last_warn_{};
  int suppressed_ = 0;
  std::mutex mu_;
  bool stopping_ = false;  // guarded by mu_
  struct Returned {
    Poco::Net::StreamSocket socket;
    std::string read_ahead;
  };
  std::deque<Returned> inbox_;  // guarded by mu_
};

// One connection on a worker thread: requests until the client stops
// sending, then (plain HTTP) back to the acceptor to wait without a thread.
class Connection final : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, Shared& shared)
      : Poco::Net::TCPServerConnection(socket), shared_(shared) {}

  void run() override {
    auto* plain = dynamic_cast<PlainSocketImpl*>(socket().impl());
    auto* tag = dynamic_cast<ClientTag*>(socket().impl());
    const std::string client = tag ? tag->client() : "";
    Poco::Net::StreamSocket back;
    std::string read_ahead;
    bool hand_back = false;
    {
      Session session(socket(), shared_.params);
      const int fd = socket().impl()->sockfd();
      // Destroyed before `session` closes the descriptor.
      struct Disarm {
        HeadDeadlines& d;
        int fd;
        ~Disarm() { d.Disarm(fd); }
      } disarm{shared_.head_deadlines, fd};
      try {
        Poco::Net::StreamSocket s = socket();
        s.setSendTimeout(Poco::Timespan(shared_.limits.body_timeout.count() * 1000));
        // TLS: wait for the handshake and first head (bounded by the read
        // timeout); plain HTTP: the acceptor has the head already.
        auto arm = [&] {
          shared_.head_deadlines.Arm(fd, Clock::now() + shared_.limits.head_timeout);
        };
        if (plain == nullptr) arm();  // the handshake and first head
        bool more = plain != nullptr || session.hasMoreRequests();
        while (more && !shared_.streams.stopping.load()) {
          arm();
          if (!ServeOne(session)) break;
          if (plain) {
            // Plain HTTP: a next request whose whole head is here at once
            // (pipelined, or sent within kLinger) is served on this
            // thread; anything less goes to the acceptor with the bytes
            // read so far, so a partial head never holds a thread.
            read_ahead = session.TakeBuffered() + plain->TakePrefix();
            if (!HeadIsWhole(read_ahead)) {
              pollfd p{fd, POLLIN, 0};
              if (::poll(&p, 1, kLinger) > 0) {
                char buf[16384];
                ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0) break;  // the client closed: so do we
                if (n > 0) read_ahead.append(buf, static_cast<size_t>(n));
              }
            }
            if (HeadIsWhole(read_ahead)) {
              plain->SetPrefix(std::move(read_ahead));
              read_ahead.clear();
              continue;
            }
            hand_back = true;
            break;
          }
          more = session.hasMoreRequests();
        }
      } catch (const Poco::Exception& e) {
        LogDebug("API connection ended", {{"error", e.displayText()}});
      }
      if (hand_back) back = session.detachSocket();
    }
    if (hand_back && shared_.acceptor != nullptr) {
      shared_.acceptor->Return(std::move(back), std::move(read_ahead));
    } else {
      shared_.limiter->Release(client);
    }
  }

 private:
  // How long a worker waits for a keep-alive client's next request before
  // handing the connection back (ms): clients that send at once (kubectl,
  // a benchmark loop) skip the acceptor hop.
  static constexpr int kLinger = 5;

  bool HeadIsWhole(std::string_view bytes) const {
    return !bytes.empty() && ScanRequestHead(bytes, shared_.limits).state == HeadState::kComplete;
  }

  // One request and its answer; false when the connection is to close.
  bool ServeOne(Session& session) {
    try {
      Poco::Net::HTTPServerResponseImpl response(session);
      Poco::Net::HTTPServerRequestImpl request(response, session, shared_.params.get());
      shared_.head_deadlines.Disarm(session.socket().impl()->sockfd());
      response.setDate(Poco::Timestamp());
      response.setVersion(request.getVersion());
      response.setKeepAlive(shared_.params->getKeepAlive() && request.getKeepAlive());
      RequestServer(shared_).Serve(request, response);
      return response.getKeepAlive() && response.sent();
    } catch (const Poco::Net::NoMessageException&) {
      return false;
    } catch (const Poco::Net::MessageException&) {
      try {
        Poco::Net::HTTPServerResponseImpl response(session);
        response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
        response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
        response.setKeepAlive(false);
        response.setContentLength(0);
        response.send();
      } catch (const Poco::Exception&) {
        // The client is gone; nothing to tell it.
      }
      return false;
    }
  }

  Shared& shared_;
};

class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  explicit ConnectionFactory(Shared& shared) : shared_(shared) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, shared_);
  }

 private:
  Shared& shared_;
};

// Raises the soft descriptor limit to the hard one and returns the result.
rlim_t RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur;
}

bool IsDotSegment(std::string_view seg) { return seg == "." || seg == ".."; }

}  // namespace

HeadScan ScanRequestHead(std::string_view bytes, const ServerLimits& limits) {
  HeadScan scan;
  // Empty lines before the request line are allowed (RFC 9112 2.2).
  size_t begin = 0;
  while (begin < bytes.size() && (bytes[begin] == '\r' || bytes[begin] == '\n')) ++begin;
  // method SP target SP version: the method and version are short.
  constexpr size_t kLineSlack = 64;
  size_t eol = bytes.find('\n', begin);
  if (eol == std::string_view::npos) {
    if (bytes.size() - begin > limits.max_target_bytes + kLineSlack) {
      scan.state = HeadState::kTargetTooLong;
    } else if (bytes.size() > limits.max_head_bytes) {
      scan.state = HeadState::kHeadTooLarge;
    }
    return scan;
  }
  std::string_view line = bytes.substr(begin, eol - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 != std::string_view::npos && sp2 > sp1) {
    scan.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  } else if (sp1 != std::string_view::npos) {
    scan.target = line.substr(sp1 + 1);  // HTTP/0.9 style; the parser refuses it
  }
  if (scan.target.size() > limits.max_target_bytes ||
      line.size() > limits.max_target_bytes + kLineSlack) {
    scan.state = HeadState::kTargetTooLong;
    return scan;
  }
  // The head ends at an empty line (CRLF CRLF, or bare LF LF).
  size_t end = std::string_view::npos;
  for (size_t i = eol; i < bytes.size(); i = bytes.find('\n', i + 1)) {
    if (i == std::string_view::npos) break;
    size_t next = i + 1;
    if (next < bytes.size() && bytes[next] == '\r') ++next;
    if (next < bytes.size() && bytes[next] == '\n') {
      end = next + 1;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (bytes.size() > limits.max_head_bytes) scan.state = HeadState::kHeadTooLarge;
    return scan;
  }
  if (end > limits.max_head_bytes) {
    scan.state = HeadState::kHeadTooLarge;
    return scan;
  }
  scan.state = HeadState::kComplete;
  scan.head_bytes = end;
  return scan;
}

bool IsProbeTarget(std::string_view target) {
  for (std::string_view p : {"/healthz", "/livez", "/readyz"}) {
    if (target.substr(0, p.size()) != p) continue;
    if (target.size() == p.size() || target[p.size()] == '?' || target[p.size()] == '/') {
      return true;
    }
  }
  return false;
}

bool ConnectionLimiter::Admit(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  if (total_ >= total_max_) return false;
  int& n = by_client_[client];
  if (n >= per_client_) {
    if (n == 0) by_client_.erase(client);
    return false;
  }
  ++n;
  ++total_;
  return true;
}

void ConnectionLimiter::Release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_client_.find(client);
  if (it == by_client_.end()) return;
  if (--it->second <= 0) by_client_.erase(it);
  --total_;
}

int ConnectionLimiter::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

int ConnectionLimiter::of(const std::string& client) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_client_.find(client);
  return it == by_client_.end() ? 0 : it->second;
}

Status ParseRequestTarget(const std::string& target, ApiRequest& req) {
  try {
    Poco::URI uri(target);
    // Raw segments too: "%2e%2e" decodes to ".." only in getPath().
    std::string raw = target.substr(0, target.find_first_of("?#"));
    for (const std::string& p : {uri.getPath(), raw}) {
      size_t pos = 0;
      while (pos <= p.size()) {
        size_t slash = p.find('/', pos);
        if (slash == std::string::npos) slash = p.size();
        std::string_view seg(p.data() + pos, slash - pos);
        std::string lower(seg);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (IsDotSegment(lower) || lower == "%2e" || lower == "%2e%2e" || lower == ".%2e" ||
            lower == "%2e.") {
          return InvalidArgumentError(
              "request target: \".\" and \"..\" path segments are not allowed");
        }
        pos = slash + 1;
      }
    }
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
  std::unique_ptr<ConnectionLimiter> limiter;
  Shared shared;
  // Each connection being served holds a thread (a watch for as long as it
  // lasts), so the API pool has room for both; probes have their own.
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::ThreadPool> probe_pool;
  Poco::Net::TCPServerDispatcher* api = nullptr;     // reference held
  Poco::Net::TCPServerDispatcher* probes = nullptr;  // reference held
  std::unique_ptr<Acceptor> acceptor;
  uint16_t port = 0;
  bool stopped = false;

  ~Impl() {
    if (api) api->release();
    if (probes) probes->release();
  }
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
  ServerLimits limits = options.limits;
  // Every connection is a descriptor; keep room for the store, git and
  // the gateway's own.
  const rlim_t fds = RaiseDescriptorLimit();
  const int fd_room = fds > 512 ? static_cast<int>(std::min<rlim_t>(fds - 256, 1 << 30)) : 256;
  limits.max_connections = std::max(1, std::min(limits.max_connections, fd_room));
  impl->limiter = std::make_unique<ConnectionLimiter>(limits.max_connections_per_client,
                                                      limits.max_connections);
  Shared& shared = impl->shared;
  shared.handler = &handler;
  shared.limits = limits;
  shared.limiter = impl->limiter.get();
  shared.streams.max = options.max_watches;
  const int threads = options.max_threads + options.max_watches;
  // Heads are whole when queued, so the queue holds answerable requests;
  // a full one answers 503 at the acceptor.
  const int max_queued = 1024;
  auto* params = new Poco::Net::HTTPServerParams;
  shared.params = params;
  params->setMaxThreads(threads);
  params->setMaxQueued(max_queued);
  params->setKeepAlive(true);
  params->setMaxKeepAliveRequests(1000000);  // idle ones wait in the acceptor
  // TLS connections wait on their thread between requests: briefly.
  params->setKeepAliveTimeout(Poco::Timespan(5, 0));
  // Each read (a body's, a TLS head's) times out; plain heads are whole
  // before a thread reads them.
  params->setTimeout(Poco::Timespan(limits.head_timeout.count() * 1000));
  params->setThreadIdleTime(Poco::Timespan(10, 0));
  try {
    std::string host = options.bind.host.empty() ? "0.0.0.0" : options.bind.host;
    if (host == "localhost") host = "127.0.0.1";
    Poco::Net::ServerSocket socket;
    // SO_REUSEADDR for quick restarts, but not SO_REUSEPORT: a second
    // controller on the same port must fail, not share it.
    socket.bind(Poco::Net::SocketAddress(host, options.bind.port), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(1024);
    impl->port = socket.address().port();
    impl->pool = std::make_unique<Poco::ThreadPool>(2, threads, 10);
    impl->probe_pool = std::make_unique<Poco::ThreadPool>(1, std::max(1, limits.probe_threads), 10);
    Poco::Net::TCPServerConnectionFactory::Ptr factory(new ConnectionFactory(shared));
    auto* probe_params = new Poco::Net::HTTPServerParams;
    probe_params->setMaxThreads(std::max(1, limits.probe_threads));
    probe_params->setMaxQueued(max_queued);
    probe_params->setThreadIdleTime(Poco::Timespan(10, 0));
    impl->api = new Poco::Net::TCPServerDispatcher(
        factory, *impl->pool, Poco::Net::TCPServerParams::Ptr(params, /*shared=*/true));
    impl->probes = new Poco::Net::TCPServerDispatcher(factory, *impl->probe_pool, probe_params);
    impl->acceptor =
        std::make_unique<Acceptor>(shared, socket, context, impl->api, impl->probes, max_queued);
    shared.acceptor = impl->acceptor.get();
    if (Status s = impl->acceptor->Start(); !s.ok()) return s;
  } catch (const Poco::Exception& e) {
    return ListenError("--api-bind-address", options.bind, e.displayText());
  }
  LogInfo("API server listening", {{"address", BoundAddress(options.bind, impl->port)},
                                   {"scheme", context ? "https" : "http"},
                                   {"auth", options.token.empty() ? "none" : "bearer token"},
                                   {"maxConnections", std::to_string(limits.max_connections)}});
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

uint16_t ApiServer::port() const { return impl_->port; }

void ApiServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->shared.streams.stopping = true;  // watches notice within a second
  try {
    if (impl_->acceptor) impl_->acceptor->Stop();
    if (impl_->api) impl_->api->stop();
    if (impl_->probes) impl_->probes->stop();
    if (impl_->pool) impl_->pool->joinAll();
    if (impl_->probe_pool) impl_->probe_pool->joinAll();
  } catch (const Poco::Exception&) {
    // Stopping is best effort: the process is on its way out.
  }
}

}  // namespace mlspace::apiserver
