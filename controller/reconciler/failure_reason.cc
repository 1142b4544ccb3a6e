#include "controller/reconciler/failure_reason.h"

#include <charconv>
#include <csignal>
#include <cstring>

#include "controller/core/redact.h"
#include "controller/launchspec/exit_codes.h"

namespace mlspace::reconciler {
namespace {

std::string_view TrimLineEnd(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string ExitCodeMeaning(int code) {
  std::string_view launcher = launchspec::LauncherExitMeaning(code);
  if (!launcher.empty()) return "mlspace-launch: " + std::string(launcher);
  if (code > 128 && code < 128 + 65) {
    int sig = code - 128;
    std::string out = "killed by signal " + std::to_string(sig);
    if (const char* abbrev = sigabbrev_np(sig)) out += std::string(", SIG") + abbrev;
    return out;
  }
  return "";
}

std::optional<int> LauncherExitCodeIn(std::string_view output) {
  output = TrimLineEnd(output);
  size_t nl = output.rfind('\n');
  std::string_view line = nl == std::string_view::npos ? output : output.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Gateway v2's logs prefix each line with a timestamp by default
  // (verbose=true), so the launcher's text may start anywhere in the line.
  if (line.find(launchspec::kLauncherLinePrefix) == std::string_view::npos ||
      !line.ends_with(")")) {
    return std::nullopt;
  }
  size_t at = line.rfind(launchspec::kLauncherExitSuffix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits =
      line.substr(at + launchspec::kLauncherExitSuffix.size(),
                  line.size() - 1 - at - launchspec::kLauncherExitSuffix.size());
  int code = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), code);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (code < launchspec::kFirstLauncherExitCode || code > launchspec::kLastLauncherExitCode) {
    return std::nullopt;
  }
  return code;
}

std::string OutputTail(std::string_view output, size_t max_bytes) {
  // Redact whole lines first: a cut could otherwise split a secret and
  // leave a part the registry no longer recognises.
  std::string text = Redact(TrimLineEnd(output));
  if (text.size() <= max_bytes) return text;
  size_t start = text.size() - max_bytes;
  size_t nl = text.find('\n', start == 0 ? 0 : start - 1);
  if (nl != std::string::npos && nl + 1 < text.size()) {
    start = nl + 1;  // drop the partial first line
  } else {
    // One long last line: keep its end, starting on a UTF-8 lead byte.
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
      ++start;
    }
  }
  return text.substr(start);
}

FailureReport DescribeFailure(std::optional<int> reported_exit_code, std::string_view output) {
  FailureReport r;
  r.exit_code = reported_exit_code;
  if (!r.exit_code) r.exit_code = LauncherExitCodeIn(output);
  if (r.exit_code) {
    r.exit_summary = "exit code " + std::to_string(*r.exit_code);
    std::string meaning = ExitCodeMeaning(*r.exit_code);
    if (!meaning.empty()) r.exit_summary += " (" + meaning + ")";
  }
  r.output = OutputTail(output);
  return r;
}

FailureReport ExplainFailure(gateway::JobGateway& gateway, const gateway::RemoteJob& job,
                             const std::string& region) {
  auto logs = gateway.Logs(job.name, region, kFailureTailLines);
  if (!logs.ok()) {
    FailureReport r = DescribeFailure(job.exit_code, "");
    r.output = "(output unavailable: " + Redact(logs.error().message) + ")";
    return r;
  }
  return DescribeFailure(job.exit_code, *logs);
}

}  // namespace mlspace::reconciler
