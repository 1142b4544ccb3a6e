#pragma once

// The HttpTransport seam: one HTTP exchange with one origin. The Gateway v2
// client is written against it; PocoHttpTransport talks to the network and
// tests/fakes/fake_http_transport.h scripts answers.

#include <cstddef>
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
  // The largest answer body accepted, in bytes; 0 = the transport's default.
  // A longer answer is abandoned unread (see HttpExchange::too_large).
  size_t max_answer_bytes = 0;
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
  // kNoAnswer because the answer was longer than the request's cap (its
  // Content-Length, or the bytes read so far): the rest was never read, so a
  // hostile or broken peer cannot make the caller hold it. Re-sending would
  // get the same answer.
  bool too_large = false;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Performs one exchange; never throws, never retries a request whose bytes
  // were sent. The exchange ends within the transport's overall deadline
  // however slowly the peer answers. Thread-safe: concurrent calls use
  // separate connections.
  virtual HttpExchange Send(const HttpRequest& request) = 0;
};

}  // namespace mlspace::gateway::http
