#include "controller/gateway/slurm/runner.h"

#include <gtest/gtest.h>

namespace mlspace::gateway::slurm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ProcessRunnerTest, FeedsStdinAndCapturesStdout) {
  ProcessRunner r;
  std::string big(200000, 'x');  // larger than a pipe buffer
  CommandResult c = r.Run({"cat"}, big, seconds(10));
  EXPECT_TRUE(c.started);
  EXPECT_FALSE(c.timed_out);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(c.out, big);
}

TEST(ProcessRunnerTest, ReportsExitCodeAndStderrWithoutAShell) {
  ProcessRunner r;
  // The argument reaches ls verbatim: no globbing, no word splitting.
  CommandResult c = r.Run({"ls", "/nonexistent dir *"}, "", seconds(10));
  EXPECT_TRUE(c.started);
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("/nonexistent dir *"), std::string::npos) << c.err;
}

TEST(ProcessRunnerTest, MissingProgramIsNotStarted) {
  ProcessRunner r;
  CommandResult c = r.Run({"/nonexistent/sbatch"}, "", seconds(10));
  EXPECT_FALSE(c.started);
  EXPECT_NE(c.err.find("/nonexistent/sbatch"), std::string::npos);
}

TEST(ProcessRunnerTest, KillsACommandPastItsTimeout) {
  ProcessRunner r;
  const auto t0 = std::chrono::steady_clock::now();
  CommandResult c = r.Run({"sleep", "30"}, "", milliseconds(300));
  EXPECT_TRUE(c.started);
  EXPECT_TRUE(c.timed_out);
  EXPECT_EQ(c.exit_code, 128 + 9);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
}

TEST(ProcessRunnerTest, ExtraEnvironmentReachesTheCommand) {
  ProcessRunner r(std::map<std::string, std::string>{{"SLURM_CONF", "/tmp/x/slurm.conf"}});
  CommandResult c = r.Run({"printenv", "SLURM_CONF"}, "", seconds(10));
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(c.out, "/tmp/x/slurm.conf\n");
}

TEST(ProcessRunnerTest, CommandIgnoringStdinDoesNotKillTheCaller) {
  ProcessRunner r;
  CommandResult c = r.Run({"true"}, std::string(1 << 20, 'y'), seconds(10));
  EXPECT_TRUE(c.started);
  EXPECT_EQ(c.exit_code, 0);
}

}  // namespace
}  // namespace mlspace::gateway::slurm
