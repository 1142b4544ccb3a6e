#pragma once

// N workers taking keys from a WorkQueue and calling a reconcile function,
// with controller-runtime's requeue semantics:
//  - error            → AddRateLimited(key) (after requeue_after if longer);
//  - requeue_after    → Forget(key), AddAfter(key, requeue_after);
//  - success          → Forget(key).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/status.h"
#include "controller/runtime/workqueue.h"

namespace mlspace::runtime {

struct ReconcileResult {
  // Reconcile this key again after this delay (controller-runtime's
  // RequeueAfter). With an error, the key waits the longer of this and its
  // rate-limited backoff (so a server's Retry-After is honoured).
  std::optional<Duration> requeue_after;
  Status error;
};

using ReconcileFunc = std::function<ReconcileResult(const std::string& key)>;

// Events for controller_runtime_* metrics. `result` is one of "success",
// "error", "requeue_after" (controller-runtime's labels). Called from worker
// threads; must be thread-safe.
class WorkerPoolObserver {
 public:
  virtual ~WorkerPoolObserver() = default;
  virtual void OnReconcile(const std::string& /*controller*/, std::string_view /*result*/,
                           Duration /*took*/) {}
  virtual void OnActiveWorkers(const std::string& /*controller*/, int /*active*/) {}
};

// A worker in the middle of a reconcile: which key, for how long.
struct BusyWorker {
  std::string key;
  Duration busy_for{0};
};

class WorkerPool {
 public:
  // `queue`, `clock` and `observer` (may be null) must outlive the pool.
  WorkerPool(std::string controller, WorkQueue& queue, ReconcileFunc reconcile, const Clock& clock,
             int workers, WorkerPoolObserver* observer = nullptr);
  // Stops (no grace) and joins the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the workers. Call once.
  void Start();

  // Graceful stop: workers take no new key (keys still queued are dropped —
  // the state is level-triggered, a restart reconciles everything), the
  // queue is shut down, and in-flight reconciles get until Clock::Now()
  // reaches now+grace to finish. True when every worker finished in time;
  // the threads are joined then. When false, the stragglers are joined by
  // the destructor (a reconcile step is bounded by the gateway's timeouts).
  bool Stop(Duration grace);

  // Reconciles running right now.
  int ActiveWorkers() const { return active_.load(); }

  // The worker busy longest with one key right now (nullopt when all are
  // idle), measured on the pool's clock. For the liveness probe: a worker
  // busy far past any reconcile's deadlines is stuck. Thread-safe.
  std::optional<BusyWorker> LongestBusy() const;
  int workers() const { return workers_; }

 private:
  void Run(int slot);

  const std::string controller_;
  WorkQueue& queue_;
  ReconcileFunc reconcile_;
  const Clock& clock_;
  const int workers_;
  WorkerPoolObserver* observer_;

  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable idle_cv_;
  int running_threads_ = 0;
  std::vector<std::thread> threads_;

  struct Slot {
    std::string key;  // empty while idle
    TimePoint since{};
  };
  mutable std::mutex busy_mu_;
  std::vector<Slot> busy_;  // one per worker
};

}  // namespace mlspace::runtime
