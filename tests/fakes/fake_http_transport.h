#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "controller/gateway/http/http_transport.h"

namespace mlspace::testing {

// A scripted HttpTransport: records every request and answers from a queue
// of scripted exchanges; when the queue is empty the handler (if any)
// answers, else the exchange fails as not sent so a missing script shows up
// as a test failure rather than a hang. Thread-safe.
class FakeHttpTransport final : public gateway::http::HttpTransport {
 public:
  using Request = gateway::http::HttpRequest;
  using Exchange = gateway::http::HttpExchange;
  using Handler = std::function<Exchange(const Request&)>;

  static Exchange Response(int status, std::string body, gateway::http::HeaderList headers = {}) {
    Exchange e;
    e.kind = gateway::http::ExchangeKind::kResponse;
    e.response.status = status;
    e.response.body = std::move(body);
    e.response.headers = std::move(headers);
    return e;
  }
  static Exchange NotSent(std::string error = "Connection refused") {
    Exchange e;
    e.kind = gateway::http::ExchangeKind::kNotSent;
    e.error = std::move(error);
    return e;
  }
  static Exchange NoAnswer(std::string error = "Timeout") {
    Exchange e;
    e.kind = gateway::http::ExchangeKind::kNoAnswer;
    e.error = std::move(error);
    return e;
  }

  void Push(Exchange e) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(e));
  }
  void PushResponse(int status, std::string body, gateway::http::HeaderList headers = {}) {
    Push(Response(status, std::move(body), std::move(headers)));
  }
  void SetHandler(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }

  Exchange Send(const Request& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (!script_.empty()) {
      Exchange e = std::move(script_.front());
      script_.pop_front();
      return e;
    }
    if (handler_) return handler_(request);
    return NotSent("FakeHttpTransport: no scripted answer");
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t pending() const {
    std::lock_guard lock(mu_);
    return script_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<Exchange> script_;
  Handler handler_;
  std::vector<Request> requests_;
};

}  // namespace mlspace::testing
