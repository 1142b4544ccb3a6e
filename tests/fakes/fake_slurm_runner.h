#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "controller/gateway/slurm/runner.h"

namespace mlspace::testing {

// Records every command; answers from a queue of canned results per program
// (argv[0]), or "not started" when none is queued, so a test fails loudly
// when the gateway runs something it did not expect.
class FakeSlurmRunner final : public gateway::slurm::Runner {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::string input;
  };

  void Answer(const std::string& program, gateway::slurm::CommandResult r) {
    std::lock_guard lock(mu_);
    answers_.push_back({program, std::move(r)});
  }
  void AnswerOk(const std::string& program, std::string out) {
    gateway::slurm::CommandResult r;
    r.started = true;
    r.exit_code = 0;
    r.out = std::move(out);
    Answer(program, std::move(r));
  }
  void AnswerError(const std::string& program, int code, std::string err) {
    gateway::slurm::CommandResult r;
    r.started = true;
    r.exit_code = code;
    r.err = std::move(err);
    Answer(program, std::move(r));
  }

  gateway::slurm::CommandResult Run(const std::vector<std::string>& argv, const std::string& input,
                                    Duration) override {
    std::lock_guard lock(mu_);
    calls_.push_back({argv, input});
    for (auto it = answers_.begin(); it != answers_.end(); ++it) {
      if (!argv.empty() && it->first == argv[0]) {
        auto r = std::move(it->second);
        answers_.erase(it);
        return r;
      }
    }
    gateway::slurm::CommandResult r;
    r.err = "FakeSlurmRunner: no answer queued for " + (argv.empty() ? "" : argv[0]);
    return r;
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int CountOf(const std::string& program) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += !c.argv.empty() && c.argv[0] == program;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::pair<std::string, gateway::slurm::CommandResult>> answers_;
  std::vector<Call> calls_;
};

}  // namespace mlspace::testing
