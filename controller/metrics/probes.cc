#include "controller/metrics/probes.h"

namespace mlspace::metrics {

void Probes::AddHealthCheck(std::string name, Check check) {
  std::lock_guard<std::mutex> lock(mu_);
  health_.emplace_back(std::move(name), std::move(check));
}

void Probes::AddReadyCheck(std::string name, Check check) {
  std::lock_guard<std::mutex> lock(mu_);
  ready_.emplace_back(std::move(name), std::move(check));
}

ProbeReport Probes::RunHealth(bool verbose) const {
  std::vector<std::pair<std::string, Check>> checks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    checks = health_;
  }
  return Run("healthz", checks, verbose);
}

ProbeReport Probes::RunReady(bool verbose) const {
  std::vector<std::pair<std::string, Check>> checks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    checks = ready_;
  }
  return Run("readyz", checks, verbose);
}

ProbeReport Probes::Run(std::string_view kind,
                        const std::vector<std::pair<std::string, Check>>& checks, bool verbose) {
  ProbeReport report;
  std::string lines;
  for (const auto& [name, check] : checks) {
    Status s = check();
    if (s.ok()) {
      lines += "[+]" + name + " ok\n";
    } else {
      report.ok = false;
      lines += "[-]" + name + " failed: " + s.message() + "\n";
    }
  }
  if (report.ok && !verbose) {
    report.body = "ok";
  } else {
    report.body = lines + std::string(kind) + (report.ok ? " check passed\n" : " check failed\n");
  }
  return report;
}

Heartbeat::Heartbeat(const Clock& clock, Duration max_age)
    : clock_(clock), max_age_(max_age), last_ns_(clock.Now().time_since_epoch().count()) {}

void Heartbeat::Beat() { last_ns_.store(clock_.Now().time_since_epoch().count()); }

Status Heartbeat::Check() const {
  TimePoint last{TimePoint::duration(last_ns_.load())};
  auto age = clock_.Now() - last;
  if (age > max_age_) {
    return UnavailableError(
        "no heartbeat for " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + "s");
  }
  return OkStatus();
}

Check StuckWorkerCheck(LongestBusyFn longest, Duration max_busy) {
  return [longest = std::move(longest), max_busy]() -> Status {
    auto busy = longest();
    if (!busy || busy->second <= max_busy) return OkStatus();
    auto secs = [](Duration d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
    };
    return UnavailableError("a worker has been busy with " + busy->first + " for " +
                            secs(busy->second) + " (limit " + secs(max_busy) + ")");
  };
}

}  // namespace mlspace::metrics
