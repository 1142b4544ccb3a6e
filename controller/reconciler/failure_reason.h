#pragma once

// Why a remote job failed, in the words a Kubernetes user expects from a
// pod's termination message: the exit code (the launcher's own 200-209
// translated, 128+N named as a signal) and the last lines of the job's
// output, secret values redacted, at most 4 KiB.
//
// Gateway v2 reports no exit codes. LocalGateway does (RemoteJob::exit_code);
// otherwise the code is read from mlspace-launch's own error line, which
// ends with "(exit N)". A job that failed on its own exit code through the
// real service shows its output without a code.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "controller/gateway/job_gateway.h"

namespace mlspace::reconciler {

inline constexpr size_t kFailureOutputMaxBytes = 4096;
// Lines asked of the gateway; the 4 KiB cut is applied after redaction.
inline constexpr int kFailureTailLines = 50;

struct FailureReport {
  std::optional<int> exit_code;
  // "exit code 207 (mlspace-launch: executable not found or not
  // executable)", "exit code 137 (killed by signal 9, SIGKILL)", "exit code
  // 3"; "" when the code is unknown.
  std::string exit_summary;
  // The output's last lines, redacted, <= kFailureOutputMaxBytes; "" when
  // there was none. When the output could not be read: a note saying why.
  std::string output;
};

// "mlspace-launch: executable not found or not executable" for 207,
// "killed by signal 9, SIGKILL" for 137; "" for other codes.
std::string ExitCodeMeaning(int code);

// The code at the end of mlspace-launch's own error line ("... (exit 207)")
// when that line is the output's last non-empty line (possibly behind a
// timestamp the gateway added); nullopt otherwise.
std::optional<int> LauncherExitCodeIn(std::string_view output);

// The last whole lines of `output` after Redact(), within `max_bytes` (a
// single longer last line keeps its end, cut on a UTF-8 boundary).
std::string OutputTail(std::string_view output, size_t max_bytes = kFailureOutputMaxBytes);

// Pure: the report for a job whose gateway reported `reported_exit_code`
// (may be nullopt) and whose output ends with `output`.
FailureReport DescribeFailure(std::optional<int> reported_exit_code, std::string_view output);

// Reads the last kFailureTailLines of `job`'s output through `gateway`
// (one Logs call) and describes the failure. A Logs error does not fail:
// the report says the output was unavailable. Thread-safe if the gateway is.
FailureReport ExplainFailure(gateway::JobGateway& gateway, const gateway::RemoteJob& job,
                             const std::string& region);

}  // namespace mlspace::reconciler
