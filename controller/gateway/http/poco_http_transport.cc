#include "controller/gateway/http/poco_http_transport.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "controller/core/redact.h"

namespace mlspace::gateway::http {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Poco::Timespan ToTimespan(Duration d) {
  return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// A session whose connection can be opened explicitly, before any byte of a
// request is written: that is what makes "not sent" provable.
class Connection {
 public:
  virtual ~Connection() = default;
  // Opens (or reopens a stale) connection. Throws Poco exceptions.
  virtual void Connect() = 0;
  virtual Poco::Net::HTTPClientSession& session() = 0;
};

template <class Base>
class ConnectionOf final : public Base, public Connection {
 public:
  template <typename... Args>
  explicit ConnectionOf(std::atomic<int>* opened, Args&&... args)
      : Base(std::forward<Args>(args)...), opened_(opened) {}

  void Connect() override {
    if (this->connected() && !this->mustReconnect()) return;
    if (this->connected()) this->close();
    this->reconnect();
    // Requests are written whole; Nagle would only hold back the tail of
    // one behind the peer's delayed ACK (up to 40 ms on Linux).
    this->socket().setNoDelay(true);
    opened_->fetch_add(1);
  }
  Poco::Net::HTTPClientSession& session() override { return *this; }

 private:
  std::atomic<int>* opened_;
};

// An HTTP session over an AF_UNIX stream socket: the same request and
// answer handling, a different address to connect to (HTTPSession::connect
// would also set TCP_NODELAY, which a unix socket refuses).
class UnixConnection final : public Poco::Net::HTTPClientSession, public Connection {
 public:
  UnixConnection(std::atomic<int>* opened, std::string path, Poco::Timespan connect_timeout,
                 Poco::Timespan io_timeout)
      : Poco::Net::HTTPClientSession("localhost", 80),
        opened_(opened),
        path_(std::move(path)),
        connect_timeout_(connect_timeout),
        io_timeout_(io_timeout) {}

  void Connect() override {
    if (connected() && !mustReconnect()) return;
    if (connected()) close();
    reconnect();  // -> connect() below
    opened_->fetch_add(1);
  }
  Poco::Net::HTTPClientSession& session() override { return *this; }

 protected:
  void connect(const Poco::Net::SocketAddress&) override {
    Poco::Net::StreamSocket s;
    s.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path_),
              connect_timeout_);
    s.setReceiveTimeout(io_timeout_);
    s.setSendTimeout(io_timeout_);
    attachSocket(s);
  }

 private:
  std::atomic<int>* opened_;
  std::string path_;
  Poco::Timespan connect_timeout_, io_timeout_;
};

std::once_flag ssl_once;

// Ends exchanges that outlive their deadline by shutting their socket down,
// which wakes a thread blocked in connect/send/recv (also inside OpenSSL)
// with an error. It works on its own dup() of the descriptor: Poco may close
// the session's descriptor at any time (e.g. on a read error) and the number
// may be reused, while the dup keeps the socket itself alive until Disarm.
// Thread-safe; one thread, started on first use.
class Watchdog {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& [id, e] : entries_) ::close(e.fd);
  }

  // Watches socket `fd` until Disarm; 0 when it cannot (the exchange is then
  // bounded by the per-operation timeouts only).
  uint64_t Arm(int fd, SteadyTime deadline) {
    if (fd < 0) return 0;
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return 0;
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    uint64_t id = next_id_++;
    entries_[id] = Entry{dup, deadline, false};
    cv_.notify_all();
    return id;
  }

  // Stops watching; true when the deadline had passed and the socket was
  // shut down.
  bool Disarm(uint64_t id) {
    if (id == 0) return false;
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    bool fired = it->second.fired;
    ::close(it->second.fd);
    entries_.erase(it);
    return fired;
  }

 private:
  struct Entry {
    int fd;
    SteadyTime deadline;
    bool fired;
  };

  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      auto now = std::chrono::steady_clock::now();
      SteadyTime next = SteadyTime::max();
      for (auto& [id, e] : entries_) {
        if (e.fired) continue;
        if (e.deadline <= now) {
          ::shutdown(e.fd, SHUT_RDWR);
          e.fired = true;
        } else {
          next = std::min(next, e.deadline);
        }
      }
      if (next == SteadyTime::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

// Disarms on every path out of Send.
class ArmedDeadline {
 public:
  ArmedDeadline(Watchdog& w, uint64_t id) : w_(w), id_(id) {}
  ~ArmedDeadline() { Disarm(); }
  bool Disarm() {
    if (id_ != 0) fired_ = w_.Disarm(id_) || fired_;
    id_ = 0;
    return fired_;
  }

 private:
  Watchdog& w_;
  uint64_t id_;
  bool fired_ = false;
};

std::string Mib(size_t bytes) {
  std::ostringstream s;
  s << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return s.str();
}

}  // namespace

std::string FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return {};
}

Result<ParsedUrl> ParseBaseUrl(const std::string& url) {
  try {
    Poco::URI uri(url);
    ParsedUrl out;
    out.scheme = Lower(uri.getScheme());
    if (out.scheme != "http" && out.scheme != "https") {
      return InvalidArgumentError("gateway URL \"" + url + "\": scheme must be http or https");
    }
    out.host = uri.getHost();
    if (out.host.empty()) return InvalidArgumentError("gateway URL \"" + url + "\": no host");
    out.port = uri.getPort();
    out.path_prefix = uri.getPath();
    while (!out.path_prefix.empty() && out.path_prefix.back() == '/') out.path_prefix.pop_back();
    if (!uri.getQuery().empty() || !uri.getFragment().empty()) {
      return InvalidArgumentError("gateway URL \"" + url + "\": must not have a query or fragment");
    }
    if (!uri.getUserInfo().empty()) {
      return InvalidArgumentError("gateway URL: credentials in the URL are not supported");
    }
    return out;
  } catch (const Poco::Exception& e) {
    return InvalidArgumentError("gateway URL \"" + url + "\": " + e.displayText());
  }
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = Lower(host);
  if (h == "localhost" || h == "localhost.") return true;
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  Poco::Net::IPAddress addr;
  if (!Poco::Net::IPAddress::tryParse(h, addr)) return false;
  return addr.isLoopback();
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::optional<ProxyConfig>> ProxyFromEnvironment(const ParsedUrl& target,
                                                        const EnvLookup& env) {
  auto get = [&](const std::string& upper) -> std::string {
    if (auto v = env(upper); v && !v->empty()) return *v;
    if (auto v = env(Lower(upper)); v && !v->empty()) return *v;
    return {};
  };
  if (IsLoopbackHost(target.host)) return std::optional<ProxyConfig>();
  std::string proxy = get(target.scheme == "https" ? "HTTPS_PROXY" : "HTTP_PROXY");
  if (proxy.empty()) return std::optional<ProxyConfig>();
  std::string host = Lower(target.host);
  std::stringstream no_proxy(get("NO_PROXY"));
  for (std::string entry; std::getline(no_proxy, entry, ',');) {
    entry.erase(std::remove_if(entry.begin(), entry.end(), ::isspace), entry.end());
    entry = Lower(entry);
    if (entry.empty()) continue;
    if (entry == "*") return std::optional<ProxyConfig>();
    if (auto colon = entry.rfind(':'); colon != std::string::npos && entry.find(':') == colon) {
      entry = entry.substr(0, colon);  // "host:port" entries match by host
    }
    if (entry.front() == '.') entry = entry.substr(1);
    if (host == entry) return std::optional<ProxyConfig>();
    if (host.size() > entry.size() &&
        host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
        host[host.size() - entry.size() - 1] == '.') {
      return std::optional<ProxyConfig>();
    }
  }
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
  try {
    Poco::URI uri(proxy);
    if (Lower(uri.getScheme()) != "http") {
      return InvalidArgumentError("proxy from environment: only http:// proxies are supported");
    }
    ProxyConfig cfg;
    cfg.host = uri.getHost();
    cfg.port = uri.getPort();
    const std::string& user_info = uri.getUserInfo();
    if (!user_info.empty()) {
      auto colon = user_info.find(':');
      std::string user, pass;
      Poco::URI::decode(user_info.substr(0, colon), user);
      if (colon != std::string::npos) Poco::URI::decode(user_info.substr(colon + 1), pass);
      cfg.username = user;
      cfg.password = pass;
      SecretRegistry::Get().Add(pass);
    }
    if (cfg.host.empty()) return InvalidArgumentError("proxy from environment: no host");
    return std::optional<ProxyConfig>(cfg);
  } catch (const Poco::Exception& e) {
    return InvalidArgumentError("proxy from environment: " + Redact(e.displayText()));
  }
}

struct PocoHttpTransport::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;
  std::atomic<int> opened{0};
  Poco::Net::Context::Ptr tls;  // null for http
  Watchdog watchdog;
};

PocoHttpTransport::PocoHttpTransport(PocoTransportOptions options, ParsedUrl url)
    : options_(std::move(options)), url_(std::move(url)), pool_(std::make_unique<Pool>()) {}

PocoHttpTransport::~PocoHttpTransport() = default;

Result<std::unique_ptr<PocoHttpTransport>> PocoHttpTransport::Create(
    const PocoTransportOptions& options) {
  MLSPACE_ASSIGN_OR_RETURN(ParsedUrl url, ParseBaseUrl(options.base_url));
  if (!options.unix_socket.empty() && url.scheme != "http") {
    return InvalidArgumentError("unix socket " + options.unix_socket + ": only plain http over it");
  }
  if (url.scheme == "http" && options.unix_socket.empty() && !IsLoopbackHost(url.host) &&
      !options.allow_insecure) {
    return InvalidArgumentError("gateway URL \"" + options.base_url +
                                "\": plain http is only allowed for loopback hosts "
                                "(use https, or allow insecure explicitly)");
  }
  std::unique_ptr<PocoHttpTransport> t(new PocoHttpTransport(options, url));
  if (url.scheme == "https") {
    try {
      std::call_once(ssl_once, [] { Poco::Net::initializeSSL(); });
      t->pool_->tls = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                             Poco::Net::Context::VERIFY_RELAXED, 9,
                                             /*loadDefaultCAs=*/true);
    } catch (const Poco::Exception& e) {
      return InternalError("TLS setup: " + e.displayText());
    }
  }
  return t;
}

int PocoHttpTransport::connections_opened() const { return pool_->opened.load(); }

HttpExchange PocoHttpTransport::Send(const HttpRequest& request) {
  const auto deadline = std::chrono::steady_clock::now() + options_.total_timeout;
  const size_t cap =
      request.max_answer_bytes != 0 ? request.max_answer_bytes : options_.max_answer_bytes;
  const std::string deadline_text =
      "no complete answer within the deadline of " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.total_timeout).count()) +
      " ms";
  HttpExchange out;
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard lock(pool_->mu);
    if (!pool_->idle.empty()) {
      conn = std::move(pool_->idle.back());
      pool_->idle.pop_back();
    }
  }
  try {
    if (!conn) {
      auto port = static_cast<Poco::UInt16>(url_.port);
      if (!options_.unix_socket.empty()) {
        conn = std::make_unique<UnixConnection>(
            &pool_->opened, options_.unix_socket,
            ToTimespan(std::min(options_.connect_timeout, options_.total_timeout)),
            ToTimespan(options_.request_timeout));
      } else if (pool_->tls) {
        conn = std::make_unique<ConnectionOf<Poco::Net::HTTPSClientSession>>(
            &pool_->opened, url_.host, port, pool_->tls);
      } else {
        conn = std::make_unique<ConnectionOf<Poco::Net::HTTPClientSession>>(&pool_->opened,
                                                                            url_.host, port);
      }
      auto& s = conn->session();
      s.setKeepAlive(true);
      s.setKeepAliveTimeout(ToTimespan(options_.keep_alive_idle));
      s.setTimeout(ToTimespan(std::min(options_.connect_timeout, options_.total_timeout)),
                   ToTimespan(options_.request_timeout), ToTimespan(options_.request_timeout));
      if (options_.proxy) {
        s.setProxy(options_.proxy->host, static_cast<Poco::UInt16>(options_.proxy->port));
        if (!options_.proxy->username.empty()) {
          s.setProxyCredentials(options_.proxy->username, options_.proxy->password);
        }
      }
    }
    conn->Connect();
  } catch (const Poco::Exception& e) {
    out.kind = ExchangeKind::kNotSent;
    out.error = Redact("connect to " +
                       (options_.unix_socket.empty() ? url_.host + ":" + std::to_string(url_.port)
                                                     : "unix:" + options_.unix_socket) +
                       ": " + e.displayText());
    return out;
  } catch (const std::exception& e) {
    out.kind = ExchangeKind::kNotSent;
    out.error = Redact(std::string("connect: ") + e.what());
    return out;
  }

  // From here on a dripping or stalled peer is cut off at the deadline (the
  // connect above is bounded by connect_timeout).
  ArmedDeadline armed(
      pool_->watchdog,
      pool_->watchdog.Arm(static_cast<int>(conn->session().socket().impl()->sockfd()), deadline));
  auto no_answer = [&](const std::string& what) {
    HttpExchange e;
    e.kind = ExchangeKind::kNoAnswer;
    e.error =
        Redact(request.method + " " + url_.host + ": " + (armed.Disarm() ? deadline_text : what));
    return e;
  };
  try {
    auto& s = conn->session();
    Poco::Net::HTTPRequest req(request.method, request.target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    for (const auto& [k, v] : request.headers) req.set(k, v);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
      req.setContentLength(static_cast<std::streamsize>(request.body.size()));
    }
    std::ostream& os = s.sendRequest(req);
    os.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
    os.flush();
    Poco::Net::HTTPResponse resp;
    std::istream& is = s.receiveResponse(resp);
    if (resp.hasContentLength() && resp.getContentLength64() >= 0 &&
        static_cast<uint64_t>(resp.getContentLength64()) > cap) {
      out = no_answer("answer of " + std::to_string(resp.getContentLength64()) +
                      " bytes exceeds the limit of " + Mib(cap));
      out.too_large = true;
      return out;  // `conn` is dropped: the unread rest never is
    }
    // Read with a count so an oversized answer is never held whole.
    std::string body;
    if (resp.hasContentLength() && resp.getContentLength64() > 0) {
      body.reserve(static_cast<size_t>(resp.getContentLength64()));
    }
    char buf[16384];
    while (is) {
      is.read(buf, sizeof buf);
      const auto n = static_cast<size_t>(is.gcount());
      if (body.size() + n > cap) {
        out = no_answer("answer exceeds the limit of " + Mib(cap));
        out.too_large = true;
        return out;
      }
      body.append(buf, n);
    }
    if (is.bad() || (resp.hasContentLength() &&
                     static_cast<int64_t>(body.size()) != resp.getContentLength64())) {
      throw Poco::IOException("truncated answer");
    }
    if (armed.Disarm()) return no_answer(deadline_text);  // cut short at the deadline
    out.kind = ExchangeKind::kResponse;
    out.response.status = static_cast<int>(resp.getStatus());
    for (const auto& [k, v] : resp) out.response.headers.emplace_back(k, v);
    out.response.body = std::move(body);
    if (resp.getKeepAlive()) {
      std::lock_guard lock(pool_->mu);
      if (static_cast<int>(pool_->idle.size()) < options_.max_idle_connections) {
        pool_->idle.push_back(std::move(conn));
      }
    }
  } catch (const Poco::Exception& e) {
    out = no_answer(e.displayText());
  } catch (const std::exception& e) {
    out = no_answer(e.what());
  }
  return out;
}

}  // namespace mlspace::gateway::http
