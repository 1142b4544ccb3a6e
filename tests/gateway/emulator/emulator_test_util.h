#pragma once

// A tiny blocking HTTP client over Poco for the emulator's tests: one
// connection per call, so every call sees a fresh socket.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <nlohmann/json.hpp>

namespace mlspace::gateway::emulator::testing {

struct Answer {
  int status = 0;  // -1: the connection ended without an answer
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;

  nlohmann::json Json() const {
    return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

inline Answer Call(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body = "", const Headers& headers = {}) {
  Answer a;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST") {
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    std::ostream& out = session.sendRequest(req);
    out << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    a.status = static_cast<int>(resp.getStatus());
    Poco::StreamCopier::copyToString(in, a.body);
    for (const auto& [k, v] : resp) a.headers[k] = v;
  } catch (const Poco::Exception& e) {
    a.status = -1;
    a.error = e.displayText();
  }
  return a;
}

}  // namespace mlspace::gateway::emulator::testing
