#pragma once

// The seam between the Slurm gateway and the Slurm command-line tools: argv
// in, exit code and captured output out. ProcessRunner runs real processes
// (no shell); unit tests substitute a fake that records the argv.

#include <map>
#include <string>
#include <vector>

#include "controller/core/clock.h"

namespace mlspace::gateway::slurm {

struct CommandResult {
  // False when the program could not be started at all (missing binary,
  // fork failure): the command provably had no effect.
  bool started = false;
  // True when the command was killed after the timeout: whatever it was
  // asked to do may or may not have happened.
  bool timed_out = false;
  // The exit status, or 128+N when killed by signal N; -1 if not started.
  int exit_code = -1;
  std::string out;  // stdout, whole
  std::string err;  // stderr, or why it could not be started
};

// Runs one command to completion. Thread-safe; never throws.
class Runner {
 public:
  virtual ~Runner() = default;
  // argv[0] is resolved through PATH unless it contains a '/'. `input` is
  // written to the command's stdin, which is then closed.
  virtual CommandResult Run(const std::vector<std::string>& argv, const std::string& input,
                            Duration timeout) = 0;
};

// fork/exec with pipes for stdin, stdout and stderr. `extra_env` is set over
// the inherited environment (e.g. SLURM_CONF). A command still running after
// the timeout gets SIGKILL (its process group).
class ProcessRunner final : public Runner {
 public:
  explicit ProcessRunner(std::map<std::string, std::string> extra_env = {});
  CommandResult Run(const std::vector<std::string>& argv, const std::string& input,
                    Duration timeout) override;

 private:
  std::vector<std::string> env_;  // the full child environment, NAME=value
};

}  // namespace mlspace::gateway::slurm
