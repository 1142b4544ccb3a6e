#include "controller/source/fetch_schedule.h"

#include <algorithm>

namespace mlspace::source {

std::chrono::milliseconds NextFetchDelay(std::chrono::milliseconds interval,
                                         int consecutive_failures, double random01, double jitter,
                                         std::chrono::milliseconds max_backoff) {
  using std::chrono::milliseconds;
  if (interval.count() <= 0) interval = milliseconds(1);
  const milliseconds cap = std::max(interval, max_backoff);
  milliseconds d = interval;
  for (int i = 0; i < consecutive_failures && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  random01 = std::clamp(random01, 0.0, 1.0);
  jitter = std::max(jitter, 0.0);
  const double stretched = static_cast<double>(d.count()) * (1.0 + jitter * random01);
  return milliseconds(static_cast<long long>(stretched));
}

}  // namespace mlspace::source
