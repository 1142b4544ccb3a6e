#pragma once

#include <chrono>

namespace mlspace::source {

// The delay before the next poll/fetch: `interval` after a success,
// interval·2^failures (capped at `max_backoff`, never below `interval`)
// after consecutive failures, then stretched by up to `jitter` (0.1 = +10%)
// using `random01` in [0, 1) so many controllers never fetch in lockstep.
// Pure: the caller supplies the random number.
std::chrono::milliseconds NextFetchDelay(
    std::chrono::milliseconds interval, int consecutive_failures, double random01,
    double jitter = 0.1, std::chrono::milliseconds max_backoff = std::chrono::minutes(5));

}  // namespace mlspace::source
