#include "controller/core/token_bucket.h"

#include <algorithm>

namespace mlspace {
namespace {

Duration Seconds(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

}  // namespace

TokenBucket::TokenBucket(const Clock& clock, double rate_per_second, double burst)
    : clock_(clock),
      rate_(rate_per_second > 0 ? rate_per_second : 1e9),
      burst_(burst >= 1 ? burst : 1),
      tokens_(burst_),
      last_(clock.Now()) {}

void TokenBucket::RefillLocked() {
  TimePoint now = clock_.Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
}

Duration TokenBucket::Reserve() {
  std::lock_guard lock(mu_);
  RefillLocked();
  tokens_ -= 1;
  if (tokens_ >= 0) return Duration::zero();
  return Seconds(-tokens_ / rate_);
}

bool TokenBucket::TryTake(Duration* retry_after) {
  std::lock_guard lock(mu_);
  RefillLocked();
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  if (retry_after != nullptr) *retry_after = Seconds((1 - tokens_) / rate_);
  return false;
}

}  // namespace mlspace
