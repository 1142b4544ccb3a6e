#include "controller/core/time_util.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace mlspace {
namespace {

std::string FormatImpl(TimePoint t, bool millis) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf);
  if (millis) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
    char frac[8];
    std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(ms));
    out += frac;
  }
  out += 'Z';
  return out;
}

bool ReadInt(std::string_view s, size_t& pos, size_t digits, int& out) {
  if (pos + digits > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  pos += digits;
  out = v;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || (s[pos] != c && !(c == 'T' && (s[pos] == 't' || s[pos] == ' ')))) {
    return false;
  }
  ++pos;
  return true;
}

}  // namespace

std::string FormatRfc3339(TimePoint t) { return FormatImpl(t, false); }
std::string FormatRfc3339Millis(TimePoint t) { return FormatImpl(t, true); }

Result<TimePoint> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return InvalidArgumentError("time \"" + std::string(s) + "\": expected RFC 3339");
  };
  size_t pos = 0;
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!ReadInt(s, pos, 4, year) || !Expect(s, pos, '-') || !ReadInt(s, pos, 2, mon) ||
      !Expect(s, pos, '-') || !ReadInt(s, pos, 2, day) || !Expect(s, pos, 'T') ||
      !ReadInt(s, pos, 2, hour) || !Expect(s, pos, ':') || !ReadInt(s, pos, 2, min) ||
      !Expect(s, pos, ':') || !ReadInt(s, pos, 2, sec)) {
    return bad();
  }
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000;
    size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int offset_sec = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!ReadInt(s, pos, 2, oh) || !Expect(s, pos, ':') || !ReadInt(s, pos, 2, om)) return bad();
    offset_sec = sign * (oh * 3600 + om * 60);
  } else {
    return bad();
  }
  if (pos != s.size() || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
      sec > 60) {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  return TimePoint(std::chrono::seconds(tt - offset_sec)) +
         std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(nanos));
}

Result<Duration> ParseDuration(std::string_view s) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("duration \"" + std::string(s) + "\": " + why +
                                " (examples: 500ms, 30s, 5m, 1h30m)");
  };
  if (s.empty()) return bad("empty");
  if (s == "0") return Duration::zero();
  if (s.front() == '-') return bad("must not be negative");
  size_t pos = 0;
  long double total_ns = 0;
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) {
      ++pos;
    }
    if (pos == start) return bad("expected a number");
    long double value;
    try {
      value = std::stold(std::string(s.substr(start, pos - start)));
    } catch (...) {
      return bad("bad number");
    }
    size_t ustart = pos;
    while (pos < s.size() && std::isalpha(static_cast<unsigned char>(s[pos]))) ++pos;
    std::string_view unit = s.substr(ustart, pos - ustart);
    long double mult;
    if (unit == "ns")
      mult = 1;
    else if (unit == "us" || unit == "µs")
      mult = 1e3;
    else if (unit == "ms")
      mult = 1e6;
    else if (unit == "s")
      mult = 1e9;
    else if (unit == "m")
      mult = 60e9;
    else if (unit == "h")
      mult = 3600e9;
    else if (unit.empty())
      return bad("missing unit");
    else
      return bad("unknown unit \"" + std::string(unit) + "\"");
    total_ns += value * mult;
  }
  if (total_ns > 9.2e18L) return bad("too large");
  return Duration(static_cast<int64_t>(total_ns));
}

std::string FormatDuration(Duration d) {
  using std::chrono::duration;
  using std::chrono::duration_cast;
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  if (d == Duration::zero()) return "0s";
  std::string out;
  if (d < Duration::zero()) {
    out = "-";
    d = -d;
  }
  if (d < seconds(1)) {
    auto ns = d.count();
    if (ns % 1'000'000 == 0) return out + std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return out + std::to_string(ns / 1'000) + "us";
    return out + std::to_string(ns) + "ns";
  }
  auto h = duration_cast<hours>(d);
  d -= h;
  auto m = duration_cast<minutes>(d);
  d -= m;
  double s = duration<double>(d).count();
  if (h.count() > 0) out += std::to_string(h.count()) + "h";
  if (h.count() > 0 || m.count() > 0) out += std::to_string(m.count()) + "m";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", s);
  out += buf;
  out += "s";
  return out;
}

}  // namespace mlspace
