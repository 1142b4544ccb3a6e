#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include "controller/core/clock.h"

namespace mlspace::testing {

// A clock that moves only when told. WaitUntil returns after a short real
// pause so waiters re-check Now() after each Advance().
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)))
      : now_ns_(start.time_since_epoch().count()) {}

  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_ns_.load())); }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override {
    if (Now() >= deadline) return;
    cv.wait_for(lock, std::chrono::milliseconds(1));
  }

  void Advance(Duration d) {
    now_ns_ += std::chrono::duration_cast<TimePoint::duration>(d).count();
  }
  void Set(TimePoint t) { now_ns_ = t.time_since_epoch().count(); }

 private:
  std::atomic<TimePoint::duration::rep> now_ns_;
};

}  // namespace mlspace::testing
