#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/core/result.h"

namespace mlspace {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

Result<LogLevel> ParseLogLevel(std::string_view s);
Result<LogFormat> ParseLogFormat(std::string_view s);

// One key=value pair of a structured log line ("object", "revision",
// "remoteJob", ...).
struct LogField {
  std::string key;
  std::string value;
};

// Process-wide structured logger. Text lines look like
//   2026-11-27T15:52:01.123Z INFO submitted job object=nlp/llama rev=ab12
// and JSON lines like {"ts":"...","level":"info","msg":"...","object":"..."}.
// Every message and field value passes through Redact(). Thread-safe; a line
// is written with one write so concurrent lines never interleave.
class Logger {
 public:
  static Logger& Get();

  void SetLevel(LogLevel level);
  void SetFormat(LogFormat format);
  // Replaces the sink (default: stderr). Used by tests to capture lines.
  void SetSink(std::function<void(std::string_view line)> sink);
  void ResetSink();

  bool Enabled(LogLevel level) const;
  void Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields);
};

inline void LogDebug(std::string_view msg, const std::vector<LogField>& f = {}) {
  Logger::Get().Log(LogLevel::kDebug, msg, f);
}
inline void LogInfo(std::string_view msg, const std::vector<LogField>& f = {}) {
  Logger::Get().Log(LogLevel::kInfo, msg, f);
}
inline void LogWarn(std::string_view msg, const std::vector<LogField>& f = {}) {
  Logger::Get().Log(LogLevel::kWarn, msg, f);
}
inline void LogError(std::string_view msg, const std::vector<LogField>& f = {}) {
  Logger::Get().Log(LogLevel::kError, msg, f);
}

}  // namespace mlspace
