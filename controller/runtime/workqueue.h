#pragma once

// A rate-limited, delaying work queue with client-go semantics
// (k8s.io/client-go/util/workqueue):
//  - Add(key) collapses repeated adds of a key that is waiting (dirty set);
//  - a key handed out by Get() is "processing" until Done(key); adding it
//    meanwhile marks it dirty, and Done() re-queues it, so one key is never
//    processed by two workers at once;
//  - AddAfter(key, d) holds the key back until Clock::Now() reaches now+d
//    (several pending delays of one key keep the earliest);
//  - AddRateLimited(key) = AddAfter(key, limiter.When(key)).
// Plus two priorities, like controller-runtime's priority queue: kLow keys
// (a poll's status changes, the periodic resync) are handed out only when no
// kNormal key (a manifest change, a retry) is waiting, so a commit's key
// never waits behind thousands of status-only reconciles. Adding a waiting
// key again with a higher priority raises it; a lower one never lowers it.
// Keys are strings ("namespace/name").

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "controller/core/clock.h"
#include "controller/runtime/rate_limiter.h"

namespace mlspace::runtime {

// Queue events for metrics (workqueue_* of client-go: depth, adds_total,
// queue_duration_seconds, work_duration_seconds, retries_total). The gauges
// unfinished_work_seconds and longest_running_processor_seconds are read
// from the queue (UnfinishedWorkSeconds, LongestRunningProcessorSeconds).
// Callbacks run on the calling thread with the queue's lock held: they must
// be quick and must not call back into the queue.
class WorkQueueObserver {
 public:
  virtual ~WorkQueueObserver() = default;
  virtual void OnAdd(const std::string& /*queue*/) {}
  virtual void OnDepth(const std::string& /*queue*/, size_t /*depth*/) {}
  virtual void OnQueueLatency(const std::string& /*queue*/, Duration /*waited*/) {}
  virtual void OnWorkDuration(const std::string& /*queue*/, Duration /*took*/) {}
  virtual void OnRetry(const std::string& /*queue*/) {}
};

enum class Priority { kNormal, kLow };

class WorkQueue {
 public:
  // `clock` and `observer` (may be null) must outlive the queue. Starts one
  // thread that moves delayed keys into the queue when they are due.
  WorkQueue(std::string name, const Clock& clock, std::unique_ptr<RateLimiter> limiter,
            WorkQueueObserver* observer = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  const std::string& name() const { return name_; }

  // Queues `key` unless it is already waiting (then only raises its
  // priority); ignored after ShutDown.
  void Add(const std::string& key, Priority priority = Priority::kNormal);
  // Queues `key` with kNormal priority once `delay` has passed (immediately
  // when delay <= 0).
  void AddAfter(const std::string& key, Duration delay);
  // AddAfter with the rate limiter's delay for `key`, or `at_least` when
  // that is longer (a server's Retry-After); counts a retry.
  void AddRateLimited(const std::string& key, Duration at_least = Duration::zero());
  // Resets the rate limiter's memory of `key`.
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

  // Blocks until a key is available and marks it processing; the caller
  // must call Done(key). Returns nullopt once the queue is shut down and
  // empty (keys queued before ShutDown are still handed out, as in client-go).
  std::optional<std::string> Get();
  // Ends processing of `key`; re-queues it if it was added meanwhile.
  void Done(const std::string& key);

  // Stops accepting keys; drops delayed keys; wakes every Get().
  void ShutDown();
  // ShutDown, then waits until every queued and processing key is Done, or
  // until Clock::Now() reaches `deadline`. True when drained.
  bool ShutDownWithDrain(std::optional<TimePoint> deadline = std::nullopt);
  bool ShuttingDown() const;

  // Keys waiting to be handed out (not delayed, not processing).
  size_t Len() const;
  // Of those, the kLow ones.
  size_t LowLen() const;
  // Keys held back by AddAfter.
  size_t DelayedLen() const;
  size_t ProcessingLen() const;

  // Sum of the time every processing key has been processing (seconds).
  double UnfinishedWorkSeconds() const;
  // The longest time one processing key has been processing (seconds).
  double LongestRunningProcessorSeconds() const;

 private:
  void AddLocked(const std::string& key, Priority priority);
  // Puts a waiting key (dirty, not processing) on its priority's deque and
  // counts it.
  void PushLocked(const std::string& key, Priority priority);
  // Pops the next waiting key (kNormal first), skipping entries left behind
  // when a key was raised to kNormal. Requires waiting_ > 0.
  std::string PopLocked();
  void DelayLoop();

  const std::string name_;
  const Clock& clock_;
  std::unique_ptr<RateLimiter> limiter_;
  WorkQueueObserver* observer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // Get() waiters and drain waiters
  std::condition_variable delay_cv_;  // the delay thread
  // One FIFO per priority. Raising a waiting key pushes it onto the kNormal
  // deque and leaves a stale entry in the kLow one, which PopLocked skips
  // (an entry is live when its key is dirty, not processing, and of the
  // deque's priority).
  std::deque<std::string> queue_[2];
  size_t waiting_ = 0;                                     // live entries over both deques
  size_t low_waiting_ = 0;                                 // of those, kLow
  std::unordered_map<std::string, Priority> dirty_;        // added since last Get
  std::unordered_map<std::string, TimePoint> processing_;  // key → start
  std::unordered_map<std::string, TimePoint> added_at_;    // for latency
  std::multimap<TimePoint, std::string> delayed_;
  std::unordered_map<std::string, TimePoint> delayed_at_;  // key → ready time
  bool shutting_down_ = false;
  std::thread delay_thread_;
};

}  // namespace mlspace::runtime
