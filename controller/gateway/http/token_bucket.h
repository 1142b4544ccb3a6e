#pragma once

#include <mutex>

#include "controller/core/clock.h"

namespace mlspace::gateway::http {

// Client-side rate limit: `rate` tokens per second, at most `burst` saved.
// Thread-safe.
class TokenBucket {
 public:
  TokenBucket(const Clock& clock, double rate_per_second, double burst);

  // Takes one token and returns how long the caller must wait before using
  // it (zero when one was available). Reservations queue up: the n-th caller
  // beyond the burst waits n/rate.
  Duration Reserve();

 private:
  const Clock& clock_;
  const double rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  TimePoint last_;
};

}  // namespace mlspace::gateway::http
