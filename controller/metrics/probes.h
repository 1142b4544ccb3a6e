#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/status.h"

namespace mlspace::metrics {

// A named liveness or readiness check. Called on the probe server's threads,
// so it must be thread-safe and quick (no I/O that can hang).
using Check = std::function<Status()>;

// The answer of /healthz or /readyz in the controller-runtime format:
// "ok" when every check passes, else one "[+]name ok" / "[-]name failed:
// reason" line per check and a closing "<kind> check failed".
struct ProbeReport {
  bool ok = true;
  std::string body;
};

// Named checks behind /healthz and /readyz. Thread-safe; checks may be added
// while the server runs. With no checks a probe passes (the process answers).
class Probes {
 public:
  void AddHealthCheck(std::string name, Check check);
  void AddReadyCheck(std::string name, Check check);
  ProbeReport RunHealth(bool verbose) const;
  ProbeReport RunReady(bool verbose) const;

 private:
  static ProbeReport Run(std::string_view kind, const std::vector<std::pair<std::string, Check>>&,
                         bool verbose);
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Check>> health_;
  std::vector<std::pair<std::string, Check>> ready_;
};

// "Worker loop not stuck": the loop calls Beat() each iteration (or while
// idle-waiting); Check() fails when the last beat is older than max_age.
// Thread-safe.
class Heartbeat {
 public:
  Heartbeat(const Clock& clock, Duration max_age);
  void Beat();
  Status Check() const;
  // Adapter for Probes::AddHealthCheck; the Heartbeat must outlive it.
  metrics::Check AsCheck() const {
    return [this] { return Check(); };
  }

 private:
  const Clock& clock_;
  const Duration max_age_;
  std::atomic<int64_t> last_ns_;
};

// Liveness "no worker stuck": fails, naming the object, when the worker busy
// longest has been busy with one object for more than `max_busy` (every
// gateway call has an overall deadline, so a reconcile past its calls'
// deadlines plus a margin is stuck, not slow). `longest` returns that
// object's key and busy time, nullopt while all workers are idle; it must be
// thread-safe and quick.
using LongestBusyFn = std::function<std::optional<std::pair<std::string, Duration>>()>;
Check StuckWorkerCheck(LongestBusyFn longest, Duration max_busy);

// A readiness flag for conditions that become true once ("store open",
// "source synced once"). Thread-safe.
class ReadyFlag {
 public:
  explicit ReadyFlag(std::string what) : what_(std::move(what)) {}
  void Set() { set_.store(true); }
  Status Check() const { return set_.load() ? OkStatus() : UnavailableError(what_ + " not yet"); }
  metrics::Check AsCheck() const {
    return [this] { return Check(); };
  }

 private:
  std::string what_;
  std::atomic<bool> set_{false};
};

}  // namespace mlspace::metrics
