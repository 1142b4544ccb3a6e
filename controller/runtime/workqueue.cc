#include "controller/runtime/workqueue.h"

#include <algorithm>
#include <chrono>

namespace mlspace::runtime {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

size_t Index(Priority p) { return p == Priority::kNormal ? 0 : 1; }

}  // namespace

WorkQueue::WorkQueue(std::string name, const Clock& clock, std::unique_ptr<RateLimiter> limiter,
                     WorkQueueObserver* observer)
    : name_(std::move(name)),
      clock_(clock),
      limiter_(std::move(limiter)),
      observer_(observer),
      delay_thread_([this] { DelayLoop(); }) {}

WorkQueue::~WorkQueue() {
  ShutDown();
  if (delay_thread_.joinable()) delay_thread_.join();
}

void WorkQueue::Add(const std::string& key, Priority priority) {
  std::lock_guard lock(mu_);
  AddLocked(key, priority);
}

void WorkQueue::AddLocked(const std::string& key, Priority priority) {
  if (shutting_down_) return;
  auto it = dirty_.find(key);
  if (it != dirty_.end()) {
    if (priority != Priority::kNormal || it->second == Priority::kNormal) return;
    it->second = Priority::kNormal;      // raise it
    if (processing_.count(key)) return;  // Done() re-queues it as kNormal
    // The kLow entry goes stale (PopLocked skips it) and stops counting.
    --waiting_;
    --low_waiting_;
    PushLocked(key, Priority::kNormal);
    return;
  }
  dirty_.emplace(key, priority);
  if (observer_) observer_->OnAdd(name_);
  added_at_.emplace(key, clock_.Now());
  if (processing_.count(key)) return;  // Done() re-queues it
  PushLocked(key, priority);
}

void WorkQueue::PushLocked(const std::string& key, Priority priority) {
  queue_[Index(priority)].push_back(key);
  ++waiting_;
  if (priority == Priority::kLow) ++low_waiting_;
  if (observer_) observer_->OnDepth(name_, waiting_);
  cv_.notify_one();
}

std::string WorkQueue::PopLocked() {
  for (Priority p : {Priority::kNormal, Priority::kLow}) {
    auto& q = queue_[Index(p)];
    while (!q.empty()) {
      std::string key = std::move(q.front());
      q.pop_front();
      auto it = dirty_.find(key);
      if (it == dirty_.end() || it->second != p || processing_.count(key)) continue;  // stale
      --waiting_;
      if (p == Priority::kLow) --low_waiting_;
      return key;
    }
  }
  return {};  // unreachable while waiting_ > 0
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay <= Duration::zero()) {
    AddLocked(key, Priority::kNormal);
    return;
  }
  TimePoint ready = clock_.Now() + delay;
  auto it = delayed_at_.find(key);
  if (it != delayed_at_.end()) {
    if (it->second <= ready) return;  // an earlier wake-up is already set
    auto range = delayed_.equal_range(it->second);
    for (auto r = range.first; r != range.second; ++r) {
      if (r->second == key) {
        delayed_.erase(r);
        break;
      }
    }
  }
  delayed_.emplace(ready, key);
  delayed_at_[key] = ready;
  delay_cv_.notify_one();
}

void WorkQueue::AddRateLimited(const std::string& key, Duration at_least) {
  Duration d = std::max(limiter_->When(key), at_least);
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    if (observer_) observer_->OnRetry(name_);
  }
  AddAfter(key, d);
}

void WorkQueue::Forget(const std::string& key) { limiter_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) { return limiter_->NumRequeues(key); }

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return waiting_ > 0 || shutting_down_; });
  if (waiting_ == 0) return std::nullopt;
  std::string key = PopLocked();
  TimePoint now = clock_.Now();
  if (observer_) {
    observer_->OnDepth(name_, waiting_);
    auto it = added_at_.find(key);
    if (it != added_at_.end()) observer_->OnQueueLatency(name_, now - it->second);
  }
  added_at_.erase(key);
  processing_[key] = now;
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = processing_.find(key);
  if (it == processing_.end()) return;
  if (observer_) observer_->OnWorkDuration(name_, clock_.Now() - it->second);
  processing_.erase(it);
  if (auto d = dirty_.find(key); d != dirty_.end()) {
    PushLocked(key, d->second);
  } else if (processing_.empty()) {
    cv_.notify_all();  // drain waiters
  }
}

void WorkQueue::ShutDown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    delayed_.clear();
    delayed_at_.clear();
  }
  cv_.notify_all();
  delay_cv_.notify_all();
}

bool WorkQueue::ShutDownWithDrain(std::optional<TimePoint> deadline) {
  ShutDown();
  std::unique_lock lock(mu_);
  while (waiting_ > 0 || !processing_.empty()) {
    if (deadline) {
      if (clock_.Now() >= *deadline) return false;
      clock_.WaitUntil(cv_, lock, *deadline);
    } else {
      cv_.wait(lock);
    }
  }
  return true;
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

size_t WorkQueue::LowLen() const {
  std::lock_guard lock(mu_);
  return low_waiting_;
}

size_t WorkQueue::DelayedLen() const {
  std::lock_guard lock(mu_);
  return delayed_.size();
}

size_t WorkQueue::ProcessingLen() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

double WorkQueue::UnfinishedWorkSeconds() const {
  std::lock_guard lock(mu_);
  TimePoint now = clock_.Now();
  double total = 0;
  for (const auto& [key, start] : processing_) total += Seconds(now - start);
  return total;
}

double WorkQueue::LongestRunningProcessorSeconds() const {
  std::lock_guard lock(mu_);
  TimePoint now = clock_.Now();
  double longest = 0;
  for (const auto& [key, start] : processing_) longest = std::max(longest, Seconds(now - start));
  return longest;
}

void WorkQueue::DelayLoop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    if (delayed_.empty()) {
      delay_cv_.wait(lock);
      continue;
    }
    TimePoint now = clock_.Now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      std::string key = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      delayed_at_.erase(key);
      AddLocked(key, Priority::kNormal);
    }
    if (delayed_.empty()) continue;
    clock_.WaitUntil(delay_cv_, lock, delayed_.begin()->first);
  }
}

}  // namespace mlspace::runtime
