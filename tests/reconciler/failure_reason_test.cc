// Why a job failed: exit codes (the launcher's 200-209 translated), the
// output's redacted tail as the Failed condition's message, status.exitCode.

#include "controller/reconciler/failure_reason.h"

#include <gmock/gmock.h>

#include "controller/core/redact.h"
#include "tests/reconciler/harness.h"

namespace mlspace::reconciler::testing {
namespace {

using gateway::RemoteStatus;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(FailureReasonTest, LauncherCodesAndSignalsAreTranslated) {
  EXPECT_EQ(ExitCodeMeaning(207), "mlspace-launch: executable not found or not executable");
  EXPECT_EQ(ExitCodeMeaning(200), "mlspace-launch: usage: no spec flags given");
  EXPECT_EQ(ExitCodeMeaning(209), "mlspace-launch: fork, exec or another system call failed");
  EXPECT_EQ(ExitCodeMeaning(137), "killed by signal 9, SIGKILL");
  EXPECT_EQ(ExitCodeMeaning(143), "killed by signal 15, SIGTERM");
  EXPECT_EQ(ExitCodeMeaning(3), "");
  EXPECT_THAT(ExitCodeMeaning(210), ::testing::HasSubstr("cannot write spec files"));
  EXPECT_THAT(ExitCodeMeaning(211), ::testing::HasSubstr("is not set"));
  EXPECT_EQ(ExitCodeMeaning(212), "");
  EXPECT_EQ(ExitCodeMeaning(128), "");
}

TEST(FailureReasonTest, ReadsTheLaunchersCodeFromItsLastLineOnly) {
  EXPECT_EQ(
      LauncherExitCodeIn("mlspace-launch: executable \"nope\" not found in PATH (exit 207)\n"),
      207);
  EXPECT_EQ(LauncherExitCodeIn("step 1\r\nmlspace-launch: cannot chdir to \"/x\": No such file "
                               "or directory (exit 208)\r\n\n"),
            208);
  EXPECT_EQ(LauncherExitCodeIn("2026-12-04T16:00:00Z mlspace-launch: bad JSON: x (exit 204)\n"),
            204);
  // Not the last line: the command ran after all (its own output follows).
  EXPECT_FALSE(LauncherExitCodeIn("mlspace-launch: x (exit 207)\ntraining...\n").has_value());
  // The user's own line, or a code outside the launcher's range.
  EXPECT_FALSE(LauncherExitCodeIn("echo: (exit 207)\n").has_value());
  EXPECT_FALSE(LauncherExitCodeIn("mlspace-launch: x (exit 3)\n").has_value());
  EXPECT_FALSE(LauncherExitCodeIn("mlspace-launch: x (exit 2o7)\n").has_value());
  EXPECT_FALSE(LauncherExitCodeIn("").has_value());
}

TEST(FailureReasonTest, GatewayCodeWinsOverTheLog) {
  FailureReport r = DescribeFailure(1, "mlspace-launch: x (exit 207)\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.exit_summary, "exit code 1");
  FailureReport l = DescribeFailure(std::nullopt, "mlspace-launch: x (exit 207)\n");
  EXPECT_EQ(l.exit_code, 207);
  EXPECT_EQ(l.exit_summary,
            "exit code 207 (mlspace-launch: executable not found or not executable)");
  FailureReport none = DescribeFailure(std::nullopt, "Traceback ...\nValueError: lr\n");
  EXPECT_FALSE(none.exit_code.has_value());
  EXPECT_EQ(none.exit_summary, "");
  EXPECT_EQ(none.output, "Traceback ...\nValueError: lr");
}

TEST(FailureReasonTest, TailIsAtMost4KiBOfWholeLinesAndRedacted) {
  SecretRegistry::Get().Add("s3cr3t-wandb-key");
  std::string out;
  for (int i = 0; i < 500; ++i) out += "line " + std::to_string(i) + " key=s3cr3t-wandb-key\n";
  std::string tail = OutputTail(out);
  EXPECT_LE(tail.size(), kFailureOutputMaxBytes);
  EXPECT_GT(tail.size(), kFailureOutputMaxBytes - 40);
  EXPECT_THAT(tail, Not(HasSubstr("s3cr3t")));
  EXPECT_TRUE(tail.starts_with("line ")) << tail.substr(0, 40);
  EXPECT_THAT(tail, EndsWith("line 499 key=***"));
  // One huge line keeps its end and never starts inside a UTF-8 sequence.
  std::string wide;
  for (int i = 0; i < 3000; ++i) wide += "\xd0\xaf";  // Cyrillic Ya, 2 bytes
  std::string cut = OutputTail("x" + wide);
  EXPECT_LE(cut.size(), kFailureOutputMaxBytes);
  EXPECT_EQ(static_cast<unsigned char>(cut[0]), 0xd0);
  SecretRegistry::Get().ClearForTesting();
}

TEST_F(ReconcilerTest, FailedJobSaysWhyWithExitCodeAndOutputTail) {
  SecretRegistry::Get().Add("hunter2-api-key");
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 0;
  std::string name = SubmitAndRun(job);
  gateway_.SetLogs(name,
                   "starting with key hunter2-api-key\n"
                   "mlspace-launch: executable \"trian.py\" not found in PATH (exit 207)\n");
  gateway_.SetStatus(name, RemoteStatus::kFailed);
  Poll();
  Reconcile();
  auto rec = Record();
  ASSERT_EQ(rec.status.phase, api::Phase::kFailed);
  EXPECT_EQ(rec.status.exit_code, 207);
  const api::Condition* failed = Cond(rec, api::kCondFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_THAT(failed->message,
              HasSubstr("exit code 207 (mlspace-launch: executable not found or not executable)"));
  EXPECT_THAT(failed->message, HasSubstr("last output:\nstarting with key ***\n"
                                         "mlspace-launch: executable \"trian.py\" not found"));
  EXPECT_THAT(failed->message, Not(HasSubstr("hunter2")));
  EXPECT_THAT(rec.status.last_error, HasSubstr("exit code 207"));
  EXPECT_THAT(rec.status.last_error, Not(HasSubstr("last output")));
  EXPECT_EQ(gateway_.last_logs_tail(), kFailureTailLines);
  SecretRegistry::Get().ClearForTesting();
}

TEST_F(ReconcilerTest, GatewayExitCodeIsRecordedAndClearedByTheNextRun) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 1;
  std::string name = SubmitAndRun(job);
  gateway_.SetExitCode(name, 137);
  gateway_.SetStatus(name, RemoteStatus::kFailed);
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kPending);  // retry 1 of 1
  EXPECT_EQ(rec.status.exit_code, 137);
  EXPECT_THAT(Cond(rec, api::kCondSubmitted)->message,
              HasSubstr("exit code 137 (killed by signal 9, SIGKILL)"));
  clock_.Advance(10s);
  Reconcile();
  std::string second = Record().status.remote_job_name;
  ASSERT_NE(second, name);
  gateway_.SetStatus(second, RemoteStatus::kCompleted);
  Poll();
  Reconcile();
  rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSucceeded);
  EXPECT_FALSE(rec.status.exit_code.has_value());
}

TEST_F(ReconcilerTest, UnreadableOutputStillFailsTheJobAndSaysSo) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 0;
  std::string name = SubmitAndRun(job);
  gateway_.SetStatus(name, RemoteStatus::kFailed);
  gateway_.FailNextLogs(1);
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kFailed);
  EXPECT_FALSE(rec.status.exit_code.has_value());
  EXPECT_THAT(Cond(rec, api::kCondFailed)->message,
              HasSubstr("last output:\n(output unavailable: logs " + name + ": 503)"));
}

}  // namespace
}  // namespace mlspace::reconciler::testing
