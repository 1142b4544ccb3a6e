#pragma once

// The one token bucket: the gateway client's request rate, the workqueue's
// global limiter and the emulator's per-minute limit all use it.

#include <mutex>

#include "controller/core/clock.h"

namespace mlspace {

// `rate` tokens per second, at most `burst` saved; starts full. A rate <= 0
// means unlimited; a burst < 1 is 1. Thread-safe.
class TokenBucket {
 public:
  TokenBucket(const Clock& clock, double rate_per_second, double burst);

  // Reservation (golang.org/x/time/rate): always takes one token and returns
  // how long the caller must wait before using it (zero when one was there).
  // Reservations queue up: the n-th caller beyond the burst waits n/rate.
  Duration Reserve();

  // Admission: takes a token only when a whole one is there now. On refusal
  // nothing is taken and `retry_after` (if given) is set to the time until
  // one will be.
  bool TryTake(Duration* retry_after = nullptr);

 private:
  void RefillLocked();

  const Clock& clock_;
  const double rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  TimePoint last_;
};

}  // namespace mlspace
