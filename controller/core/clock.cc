#include "controller/core/clock.h"

namespace mlspace {

SystemClock& SystemClock::Get() {
  static SystemClock clock;
  return clock;
}

TimePoint SystemClock::Now() const { return std::chrono::system_clock::now(); }

void SystemClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            TimePoint deadline) const {
  // Waiting on a relative steady duration keeps a wall-clock step from
  // stretching the wait.
  auto remaining = deadline - Now();
  if (remaining <= Duration::zero()) return;
  cv.wait_for(lock, remaining);
}

}  // namespace mlspace
