#include "controller/gateway/http/token_bucket.h"

#include <algorithm>

namespace mlspace::gateway::http {

TokenBucket::TokenBucket(const Clock& clock, double rate_per_second, double burst)
    : clock_(clock),
      rate_(rate_per_second > 0 ? rate_per_second : 1e9),
      burst_(burst >= 1 ? burst : 1),
      tokens_(burst_),
      last_(clock.Now()) {}

Duration TokenBucket::Reserve() {
  std::lock_guard lock(mu_);
  TimePoint now = clock_.Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return Duration::zero();
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / rate_));
}

}  // namespace mlspace::gateway::http
