#pragma once

// The launcher's own exit codes (200-211) and what they mean: one table for
// mlspace-launch and for the controller, which translates a failed job's
// exit code into a reason (docs/launch-protocol.md). Header-only, so the
// reconciler reads it without linking the launch codec.

#include <string_view>

namespace mlspace::launchspec {

inline constexpr int kFirstLauncherExitCode = 200;
inline constexpr int kLastLauncherExitCode = 211;

// "executable not found or not executable" for 207; "" outside 200-211.
constexpr std::string_view LauncherExitMeaning(int code) {
  switch (code) {
    case 200:
      return "usage: no spec flags given";
    case 201:
      return "bad flags: unknown or duplicate flag, missing value, missing or extra part";
    case 202:
      return "bad base64 in the spec parts";
    case 203:
      return "checksum mismatch (--spec-sha256)";
    case 204:
      return "bad JSON in the decoded spec";
    case 205:
      return "unknown --spec-version";
    case 206:
      return "invalid spec: wrong field types, bad env name, NUL bytes, empty executable";
    case 207:
      return "executable not found or not executable";
    case 208:
      return "cannot change to work_dir";
    case 209:
      return "fork, exec or another system call failed";
    case 210:
      return "cannot write spec files: path outside the working directory and home, a symlink "
             "leading out of them, over the size limit, or an I/O error";
    case 211:
      return "a variable the spec takes from the environment (a secret) is not set";
    default:
      return "";
  }
}

// The suffix the launcher puts at the end of its one error line, so the
// code can be read back from a job's output when the gateway does not
// report exit codes: "mlspace-launch: <what is wrong> (exit 207)".
inline constexpr std::string_view kLauncherLinePrefix = "mlspace-launch: ";
inline constexpr std::string_view kLauncherExitSuffix = " (exit ";

}  // namespace mlspace::launchspec
