#pragma once

// A background loop that runs a function every `interval` (with jitter),
// on demand (Trigger), and stops promptly. Time comes from Clock only.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "controller/core/clock.h"

namespace mlspace::runtime {

class Periodic {
 public:
  // `fn` runs on the loop's thread, never concurrently with itself. Each
  // wait is interval·(1 + jitter·u), u uniform in [0, 1) (wait.JitterUntil).
  // With `run_first`, fn runs as soon as Start() is called.
  Periodic(std::string name, const Clock& clock, Duration interval, double jitter,
           std::function<void()> fn, bool run_first = true);
  ~Periodic();  // Stop()
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  void Start();
  // Runs fn soon (once, however many Triggers arrive before it runs).
  void Trigger();
  // Waits for a running fn to return, then ends the loop. Idempotent.
  void Stop();
  // Completed runs of fn.
  int runs() const;

 private:
  void Loop();
  Duration NextWait();

  const std::string name_;
  const Clock& clock_;
  const Duration interval_;
  const double jitter_;
  std::function<void()> fn_;
  const bool run_first_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool triggered_ = false;
  bool stopping_ = false;
  int runs_ = 0;
  std::mt19937_64 rng_;
  std::thread thread_;
};

}  // namespace mlspace::runtime
