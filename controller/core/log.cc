#include "controller/core/log.h"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "controller/core/redact.h"
#include "controller/core/time_util.h"

namespace mlspace {
namespace {

struct LoggerState {
  std::atomic<LogLevel> level{LogLevel::kInfo};
  std::atomic<LogFormat> format{LogFormat::kText};
  std::mutex mu;
  std::function<void(std::string_view)> sink;
};

LoggerState& State() {
  static LoggerState s;
  return s;
}

std::string_view LevelName(LogLevel l, bool upper) {
  switch (l) {
    case LogLevel::kDebug:
      return upper ? "DEBUG" : "debug";
    case LogLevel::kInfo:
      return upper ? "INFO" : "info";
    case LogLevel::kWarn:
      return upper ? "WARN" : "warn";
    case LogLevel::kError:
      return upper ? "ERROR" : "error";
  }
  return "info";
}

// Text values with spaces, quotes or '=' are quoted so lines stay parseable
// as logfmt.
std::string QuoteIfNeeded(const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(" \"=\t\n") == std::string::npos;
  if (plain) return v;
  return nlohmann::json(v).dump();
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn" || s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return InvalidArgumentError("log level \"" + std::string(s) +
                              "\": expected debug, info, warn or error");
}

Result<LogFormat> ParseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return InvalidArgumentError("log format \"" + std::string(s) + "\": expected text or json");
}

Logger& Logger::Get() {
  static Logger logger;
  return logger;
}

void Logger::SetLevel(LogLevel level) { State().level = level; }
void Logger::SetFormat(LogFormat format) { State().format = format; }

void Logger::SetSink(std::function<void(std::string_view)> sink) {
  std::lock_guard lock(State().mu);
  State().sink = std::move(sink);
}

void Logger::ResetSink() { SetSink(nullptr); }

bool Logger::Enabled(LogLevel level) const { return level >= State().level.load(); }

void Logger::Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields) {
  if (!Enabled(level)) return;
  auto& s = State();
  std::string ts = FormatRfc3339Millis(std::chrono::system_clock::now());
  std::string line;
  if (s.format.load() == LogFormat::kJson) {
    nlohmann::json j;
    j["ts"] = ts;
    j["level"] = LevelName(level, false);
    j["msg"] = Redact(msg);
    for (const auto& f : fields) j[f.key] = Redact(f.value);
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = ts;
    line += ' ';
    line += LevelName(level, true);
    line += ' ';
    line += Redact(msg);
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += QuoteIfNeeded(Redact(f.value));
    }
  }
  line += '\n';
  std::lock_guard lock(s.mu);
  if (s.sink) {
    s.sink(line);
    return;
  }
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace mlspace
