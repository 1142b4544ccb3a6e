#pragma once

// HTTP to the controller's API. The interface lets the commands run against
// anything that speaks HTTP; the one implementation (Poco::Net, NetSSL for
// https) is built from a Connection. Poco exceptions stop at this adapter.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "controller/cli/kubeconfig.h"
#include "controller/core/result.h"

namespace mlspace::cli {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // with the encoded query: "/apis/...?labelSelector=a%3Db"
  std::map<std::string, std::string> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // empty for a streamed answer
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // One request, the whole answer read. Errors are transport failures only
  // (connect, TLS, timeout): any HTTP status is a response. Not thread-safe.
  virtual Result<HttpResponse> Do(const HttpRequest& req) = 0;
  // A streamed answer (watch, logs -f): `on_data` gets the body as it
  // arrives and returns false to stop reading; reads have no timeout
  // except `idle_timeout` (0 = none). The head is returned once the body
  // ended, the callback stopped or the connection dropped; a non-2xx
  // answer's body is in `body` instead of being streamed.
  virtual Result<HttpResponse> Stream(const HttpRequest& req,
                                      const std::function<bool(std::string_view)>& on_data,
                                      std::chrono::milliseconds idle_timeout) = 0;
};

// The Poco implementation. Checks the connection once: a token is never
// sent over plain http to a host other than loopback (kubectl never sends
// one over http at all; the controller allows http only on loopback), a
// CA that does not load is an error naming the file. `timeout` bounds
// connect and each read of Do().
Result<std::unique_ptr<HttpClient>> NewHttpClient(const Connection& conn,
                                                  std::chrono::milliseconds timeout);

// Percent-encodes a query value (RFC 3986 unreserved kept).
std::string QueryEscape(std::string_view v);

}  // namespace mlspace::cli
