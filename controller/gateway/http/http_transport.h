#pragma once

// The HttpTransport seam: one HTTP exchange with one origin. The Gateway v2
// client is written against it; PocoHttpTransport talks to the network and
// tests/fakes/fake_http_transport.h scripts answers.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlspace::gateway::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; empty when absent.
std::string FindHeader(const HeaderList& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET", "POST", "DELETE"
  std::string target;  // path + query, e.g. "/public/v2/jobs?region=SR003"
  HeaderList headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;
  std::string body;
};

// How an exchange ended. The split between kNotSent and kNoAnswer is what
// lets the client re-send a submit safely: only kNotSent proves the service
// never saw the request.
enum class ExchangeKind {
  kResponse,  // an HTTP answer (any status) was read
  kNotSent,   // failed before any byte of the request left: DNS, refused,
              // connect timeout, TLS handshake
  kNoAnswer,  // failed after (part of) the request was written: timeout
              // waiting for the answer, reset, truncated answer
};

struct HttpExchange {
  ExchangeKind kind = ExchangeKind::kNotSent;
  HttpResponse response;  // kResponse only
  std::string error;      // kNotSent/kNoAnswer: one line, no credentials
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Performs one exchange; never throws, never retries a request whose bytes
  // were sent. Thread-safe: concurrent calls use separate connections.
  virtual HttpExchange Send(const HttpRequest& request) = 0;
};

}  // namespace mlspace::gateway::http
