#pragma once

// Rate limiters for the workqueue, after client-go's util/workqueue: a
// per-key exponential backoff, a global token bucket, and the max of several
// (controller-runtime's default controller rate limiter).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/token_bucket.h"

namespace mlspace::runtime {

// How long a key must wait before it is processed again.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // The delay before `key` may be re-added; records one more failure of
  // `key` where the limiter counts them. Thread-safe.
  virtual Duration When(const std::string& key) = 0;

  // Stops tracking `key` (its backoff restarts from the base). Thread-safe.
  virtual void Forget(const std::string& key) = 0;

  // How many times `key` has been rate-limited since its last Forget.
  // Thread-safe.
  virtual int NumRequeues(const std::string& key) = 0;
};

// base·2ⁿ for the n-th consecutive failure of a key, capped at `max`.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(Duration base, Duration max);
  Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  const Duration base_;
  const Duration max_;
  std::mutex mu_;
  std::map<std::string, int> failures_;
};

// A token bucket shared by all keys (golang.org/x/time/rate reservation
// semantics): each When() takes a token, and the delay is how long until
// that token exists. Keys are not tracked.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(const Clock& clock, double qps, int burst);
  Duration When(const std::string&) override { return bucket_.Reserve(); }
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  TokenBucket bucket_;
};

// The longest delay of its limiters.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// controller-runtime's default: max(5ms·2ⁿ capped at 1000s, bucket of 10 qps
// with burst 100).
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock& clock);

}  // namespace mlspace::runtime
