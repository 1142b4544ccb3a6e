#include "controller/runtime/worker_pool.h"

#include <algorithm>
#include <exception>

#include "controller/core/log.h"

namespace mlspace::runtime {

WorkerPool::WorkerPool(std::string controller, WorkQueue& queue, ReconcileFunc reconcile,
                       const Clock& clock, int workers, WorkerPoolObserver* observer)
    : controller_(std::move(controller)),
      queue_(queue),
      reconcile_(std::move(reconcile)),
      clock_(clock),
      workers_(std::max(1, workers)),
      observer_(observer),
      busy_(static_cast<size_t>(workers_)) {}

WorkerPool::~WorkerPool() {
  stopping_ = true;
  queue_.ShutDown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Start() {
  std::lock_guard lock(mu_);
  running_threads_ = workers_;
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this, i] { Run(i); });
}

std::optional<BusyWorker> WorkerPool::LongestBusy() const {
  std::lock_guard lock(busy_mu_);
  const Slot* oldest = nullptr;
  for (const Slot& s : busy_) {
    if (!s.key.empty() && (oldest == nullptr || s.since < oldest->since)) oldest = &s;
  }
  if (oldest == nullptr) return std::nullopt;
  return BusyWorker{oldest->key, clock_.Now() - oldest->since};
}

void WorkerPool::Run(int slot) {
  while (auto key = queue_.Get()) {
    if (stopping_) {
      queue_.Done(*key);
      continue;
    }
    int active = ++active_;
    if (observer_) observer_->OnActiveWorkers(controller_, active);
    TimePoint start = clock_.Now();
    {
      std::lock_guard lock(busy_mu_);
      busy_[static_cast<size_t>(slot)] = Slot{*key, start};
    }
    ReconcileResult r;
    try {
      r = reconcile_(*key);
    } catch (const std::exception& e) {
      r.error = InternalError(std::string("reconcile threw: ") + e.what());
    } catch (...) {
      r.error = InternalError("reconcile threw a non-standard exception");
    }
    Duration took = clock_.Now() - start;
    {
      std::lock_guard lock(busy_mu_);
      busy_[static_cast<size_t>(slot)].key.clear();
    }
    std::string_view result = "success";
    if (!r.error.ok()) {
      result = "error";
      LogWarn("reconcile failed", {{"object", *key}, {"error", r.error.ToString()}});
      queue_.AddRateLimited(*key, r.requeue_after.value_or(Duration::zero()));
    } else if (r.requeue_after) {
      result = "requeue_after";
      queue_.Forget(*key);
      queue_.AddAfter(*key, *r.requeue_after);
    } else {
      queue_.Forget(*key);
    }
    if (observer_) observer_->OnReconcile(controller_, result, took);
    active = --active_;
    if (observer_) observer_->OnActiveWorkers(controller_, active);
    queue_.Done(*key);
  }
  std::lock_guard lock(mu_);
  --running_threads_;
  idle_cv_.notify_all();
}

bool WorkerPool::Stop(Duration grace) {
  stopping_ = true;
  queue_.ShutDown();
  TimePoint deadline = clock_.Now() + grace;
  std::unique_lock lock(mu_);
  while (running_threads_ > 0) {
    if (clock_.Now() >= deadline) return false;
    clock_.WaitUntil(idle_cv_, lock, deadline);
  }
  lock.unlock();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return true;
}

}  // namespace mlspace::runtime
