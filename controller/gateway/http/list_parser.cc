#include "controller/gateway/http/list_parser.h"

#include <charconv>
#include <cstring>
#include <optional>
#include <string>

#include "controller/core/time_util.h"

namespace mlspace::gateway::http {
namespace {

constexpr int kMaxDepth = 512;

// Mirrors DateTimeField in gateway_json.cc: RFC 3339, or "YYYY-MM-DD hh:mm:ss"
// without a zone (read as UTC); anything else is "not set".
std::optional<TimePoint> DateTime(std::string s) {
  if (s.empty()) return std::nullopt;
  auto t = ParseRfc3339(s);
  if (t.ok()) return *t;
  if (s.find(' ') != std::string::npos) s[s.find(' ')] = 'T';
  t = ParseRfc3339(s + "Z");
  if (t.ok()) return *t;
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool failed() const { return failed_; }
  bool AtEnd() {
    SkipWs();
    return p_ == end_;
  }

  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  // The next significant character, or 0 at the end.
  char Peek() {
    SkipWs();
    return p_ < end_ ? *p_ : '\0';
  }
  bool Consume(char c) {
    if (Peek() != c) return Fail();
    ++p_;
    return true;
  }
  bool Fail() {
    failed_ = true;
    p_ = end_;
    return false;
  }

  // A string value; `out` may be null to validate and skip.
  bool String(std::string* out) {
    if (!Consume('"')) return false;
    if (out) out->clear();
    for (;;) {
      // Copy the run of plain ASCII in one go.
      const char* run = p_;
      while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
      if (out && p_ > run) out->append(run, static_cast<size_t>(p_ - run));
      if (p_ >= end_) return Fail();
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail();
      if (c == '\\') {
        if (!Escape(out)) return false;
        continue;
      }
      if (!Utf8(out)) return false;
    }
  }

  // A number's text, checked against the JSON grammar.
  bool Number(std::string_view* text, bool* integer) {
    SkipWs();
    const char* start = p_;
    *integer = true;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_) return Fail();
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    } else {
      return Fail();
    }
    if (p_ < end_ && *p_ == '.') {
      *integer = false;
      ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return Fail();
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      *integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return Fail();
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    *text = std::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return Fail();
    p_ += n;
    return true;
  }

  // Any value, validated and dropped.
  bool Skip(int depth) {
    if (depth > kMaxDepth) return Fail();
    switch (Peek()) {
      case '"':
        return String(nullptr);
      case '{': {
        ++p_;
        if (Peek() == '}') {
          ++p_;
          return true;
        }
        for (;;) {
          if (!String(nullptr) || !Consume(':') || !Skip(depth + 1)) return false;
          const char c = Peek();
          ++p_;
          if (c == '}') return true;
          if (c != ',') return Fail();
        }
      }
      case '[': {
        ++p_;
        if (Peek() == ']') {
          ++p_;
          return true;
        }
        for (;;) {
          if (!Skip(depth + 1)) return false;
          const char c = Peek();
          ++p_;
          if (c == ']') return true;
          if (c != ',') return Fail();
        }
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default: {
        std::string_view text;
        bool integer = false;
        return Number(&text, &integer);
      }
    }
  }

  // After a member's value: true when another member follows, false at the
  // closing `close` (or on a syntax error: see failed()).
  bool Next(char close) {
    const char c = Peek();
    if (c == ',') {
      ++p_;
      return true;
    }
    if (c == close) {
      ++p_;
      return false;
    }
    Fail();
    return false;
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool Hex4(uint32_t* v) {
    if (end_ - p_ < 4) return Fail();
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = Hex(p_[i]);
      if (h < 0) return Fail();
      *v = (*v << 4) | static_cast<uint32_t>(h);
    }
    p_ += 4;
    return true;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (!out) return;
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Escape(std::string* out) {
    ++p_;  // the backslash
    if (p_ >= end_) return Fail();
    const char e = *p_++;
    char plain = 0;
    switch (e) {
      case '"':
        plain = '"';
        break;
      case '\\':
        plain = '\\';
        break;
      case '/':
        plain = '/';
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!Hex4(&cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed by an escaped low one.
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail();
          p_ += 2;
          uint32_t lo = 0;
          if (!Hex4(&lo)) return false;
          if (lo < 0xDC00 || lo > 0xDFFF) return Fail();
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return Fail();
        }
        AppendUtf8(out, cp);
        return true;
      }
      default:
        return Fail();
    }
    if (out) out->push_back(plain);
    return true;
  }

  // One multi-byte UTF-8 sequence, validated (no overlongs, surrogates or
  // code points above U+10FFFF), as nlohmann's lexer does.
  bool Utf8(std::string* out) {
    const auto* u = reinterpret_cast<const unsigned char*>(p_);
    const auto left = static_cast<size_t>(end_ - p_);
    const unsigned char c = u[0];
    size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return Fail();
    }
    if (left < n) return Fail();
    if (u[1] < lo || u[1] > hi) return Fail();
    for (size_t i = 2; i < n; ++i) {
      if (u[i] < 0x80 || u[i] > 0xBF) return Fail();
    }
    if (out) out->append(p_, n);
    p_ += n;
    return true;
  }

  const char* p_;
  const char* end_;
  bool failed_ = false;
};

// The fields of one ListJobsItem the client keeps; a later duplicate key
// replaces an earlier one, as in nlohmann's object.
struct ItemFields {
  std::optional<std::string> job_name, status;  // nullopt: absent or not a string
  std::optional<std::string> region, job_desc, instance_type, created_dt, completed_dt;
};

// Reads a member value into `slot` when it is a string, else skips it and
// leaves the slot "not a string".
bool StringMember(Reader& r, std::optional<std::string>& slot) {
  if (r.Peek() == '"') {
    std::string s;
    if (!r.String(&s)) return false;
    slot = std::move(s);
    return true;
  }
  slot.reset();
  return r.Skip(1);
}

}  // namespace

Result<ListPage> ParseListAnswer(std::string_view body) {
  const auto not_json = [] { return InternalError("list answer: answer is not JSON"); };
  Reader r(body);
  if (r.Peek() != '{') {
    // Valid JSON that is not an object, or not JSON at all.
    if (!r.Skip(0) || !r.AtEnd()) return not_json();
    return InternalError("list answer: answer is not a JSON object");
  }
  r.Consume('{');

  ListPage page;
  std::optional<int64_t> count;
  bool jobs_ok = false;
  // First field error in document order; reported only if the whole body
  // is valid JSON (a syntax error wins, as with a DOM parse).
  std::optional<Status> item_error;
  std::string key;

  if (r.Peek() == '}') {
    r.Consume('}');
  } else {
    do {
      if (!r.String(&key) || !r.Consume(':')) return not_json();
      if (key == "count") {
        if (r.Peek() == '-' || (r.Peek() >= '0' && r.Peek() <= '9')) {
          std::string_view text;
          bool integer = false;
          if (!r.Number(&text, &integer)) return not_json();
          int64_t v = 0;
          const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (integer && ec == std::errc() && ptr == text.data() + text.size()) {
            count = v;
          } else {
            count.reset();
          }
        } else {
          if (!r.Skip(1)) return not_json();
          count.reset();
        }
      } else if (key == "jobs") {
        page.jobs.clear();
        item_error.reset();
        if (r.Peek() != '[') {
          if (!r.Skip(1)) return not_json();
          jobs_ok = false;
          continue;
        }
        jobs_ok = true;
        r.Consume('[');
        if (r.Peek() == ']') {
          r.Consume(']');
          continue;
        }
        size_t index = 0;
        do {
          const size_t i = index++;
          if (r.Peek() != '{') {
            if (!r.Skip(2)) return not_json();
            if (!item_error) {
              item_error =
                  InternalError("list answer: jobs[" + std::to_string(i) + "]: not an object");
            }
            continue;
          }
          r.Consume('{');
          ItemFields f;
          if (r.Peek() == '}') {
            r.Consume('}');
          } else {
            do {
              if (!r.String(&key) || !r.Consume(':')) return not_json();
              bool ok = true;
              if (key == "job_name") {
                ok = StringMember(r, f.job_name);
              } else if (key == "status") {
                ok = StringMember(r, f.status);
              } else if (key == "region") {
                ok = StringMember(r, f.region);
              } else if (key == "job_desc") {
                ok = StringMember(r, f.job_desc);
              } else if (key == "instance_type") {
                ok = StringMember(r, f.instance_type);
              } else if (key == "created_dt") {
                ok = StringMember(r, f.created_dt);
              } else if (key == "completed_dt") {
                ok = StringMember(r, f.completed_dt);
              } else {
                ok = r.Skip(3);
              }
              if (!ok) return not_json();
            } while (r.Next('}'));
            if (r.failed()) return not_json();
          }
          if (item_error) continue;  // only the first error matters
          if (!f.job_name || !f.status) {
            item_error =
                InternalError("list answer: jobs[" + std::to_string(i) + "]: field " +
                              (f.job_name ? "status" : "job_name") + " missing or not a string");
            continue;
          }
          RemoteJob job;
          job.name = std::move(*f.job_name);
          job.status = ParseRemoteStatus(*f.status);
          if (f.region) job.region = std::move(*f.region);
          if (f.job_desc) job.job_desc = std::move(*f.job_desc);
          if (f.instance_type) job.instance_type = std::move(*f.instance_type);
          if (f.created_dt) job.created = DateTime(std::move(*f.created_dt));
          if (f.completed_dt) job.completed = DateTime(std::move(*f.completed_dt));
          page.jobs.push_back(std::move(job));
        } while (r.Next(']'));
        if (r.failed()) return not_json();
      } else {
        if (!r.Skip(1)) return not_json();
      }
    } while (r.Next('}'));
    if (r.failed()) return not_json();
  }
  if (!r.AtEnd()) return not_json();

  if (!count) {
    return InternalError("list answer: field count missing or not an integer");
  }
  page.count = *count;
  if (!jobs_ok) return InternalError("list answer: field jobs missing or not an array");
  if (item_error) return *item_error;
  return page;
}

}  // namespace mlspace::gateway::http
