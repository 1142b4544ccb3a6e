#include "controller/runtime/periodic.h"

namespace mlspace::runtime {

Periodic::Periodic(std::string name, const Clock& clock, Duration interval, double jitter,
                   std::function<void()> fn, bool run_first)
    : name_(std::move(name)),
      clock_(clock),
      interval_(interval),
      jitter_(jitter),
      fn_(std::move(fn)),
      run_first_(run_first),
      rng_(std::random_device{}()) {}

Periodic::~Periodic() { Stop(); }

void Periodic::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  triggered_ = run_first_;
  thread_ = std::thread([this] { Loop(); });
}

void Periodic::Trigger() {
  {
    std::lock_guard lock(mu_);
    triggered_ = true;
  }
  cv_.notify_all();
}

void Periodic::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

int Periodic::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

Duration Periodic::NextWait() {
  if (jitter_ <= 0) return interval_;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double factor = 1.0 + jitter_ * u(rng_);
  return Duration(static_cast<Duration::rep>(static_cast<double>(interval_.count()) * factor));
}

void Periodic::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    TimePoint next = clock_.Now() + NextWait();
    while (!stopping_ && !triggered_ && clock_.Now() < next) {
      clock_.WaitUntil(cv_, lock, next);
    }
    if (stopping_) break;
    triggered_ = false;
    lock.unlock();
    fn_();
    lock.lock();
    ++runs_;
  }
}

}  // namespace mlspace::runtime
