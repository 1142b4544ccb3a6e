#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace mlspace {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

// The only source of time for reconciler/ and runtime/, so tests can drive
// time by hand (tests/fakes/fake_clock.h).
class Clock {
 public:
  virtual ~Clock() = default;

  // Current wall time. Thread-safe.
  virtual TimePoint Now() const = 0;

  // Waits on `cv` (with `lock` held, as std::condition_variable requires)
  // until notified, or until Now() reaches `deadline`. May return early
  // (spuriously); callers re-check their predicate and Now() in a loop.
  // Thread-safe.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) const = 0;
};

// The process clock. Stateless; Get() returns a shared instance.
class SystemClock final : public Clock {
 public:
  static SystemClock& Get();
  TimePoint Now() const override;
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override;
};

}  // namespace mlspace
