#pragma once

#include <string>
#include <string_view>

#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace {

// "2026-11-27T15:52:01Z" (Kubernetes metav1.Time).
std::string FormatRfc3339(TimePoint t);
// "2026-11-27T15:52:01.123Z" (log lines).
std::string FormatRfc3339Millis(TimePoint t);
// Parses RFC 3339 with optional fraction and Z or ±hh:mm offset.
Result<TimePoint> ParseRfc3339(std::string_view s);

// Parses a Go/Kubernetes duration: "500ms", "30s", "5m", "1h30m", "0".
// Units: ns, us, ms, s, m, h. Negative durations are rejected.
Result<Duration> ParseDuration(std::string_view s);
// The inverse, shortest form: "1h30m0s" style like Go's time.Duration.
std::string FormatDuration(Duration d);

}  // namespace mlspace
