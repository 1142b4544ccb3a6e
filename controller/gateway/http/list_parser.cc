#include "controller/gateway/http/list_parser.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "controller/core/json_text.h"
#include "controller/core/rapidjson_include.h"
#include "controller/core/time_util.h"

namespace mlspace::gateway::http {
namespace {

// Mirrors DateTimeField in gateway_json.cc: RFC 3339, or "YYYY-MM-DD hh:mm:ss"
// without a zone (read as UTC); anything else is "not set".
std::optional<TimePoint> DateTime(std::string_view text) {
  if (text.empty()) return std::nullopt;
  auto t = ParseRfc3339(text);
  if (t.ok()) return *t;
  std::string s(text);
  if (s.find(' ') != std::string::npos) s[s.find(' ')] = 'T';
  t = ParseRfc3339(s + "Z");
  if (t.ok()) return *t;
  return std::nullopt;
}

// RapidJSON 1.1 turns an escaped lone low surrogate (\uDC00..\uDFFF) into the
// bytes ED B0..BF xx, which nlohmann rejects. Raw text is ASCII or validated
// (kParseValidateEncodingFlag), so such bytes in a decoded string can only
// come from an escape.
bool HasLoneSurrogate(const char* s, size_t n) {
  const char* end = s + n;
  for (const void* hit = std::memchr(s, 0xED, n); hit != nullptr;) {
    const char* p = static_cast<const char*>(hit);
    if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) return true;
    ++p;
    hit = std::memchr(p, 0xED, static_cast<size_t>(end - p));
  }
  return false;
}

// Whether the n bytes at s are `word`.
template <size_t N>
bool Is(const char* s, size_t n, const char (&word)[N]) {
  return n == N - 1 && std::memcmp(s, word, N - 1) == 0;
}

// The SAX handler: a state machine over the events of one ListJobsResponse
// that builds RemoteJobs as the items close. Depth 1 is the answer object,
// 2 the jobs array, 3 one item; any other container is skipped by counting.
class ListHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ListHandler> {
 public:
  // The text is JSON, nlohmann would read it alike, but the root is no object.
  bool root_not_object = false;
  // The text is not JSON although RapidJSON took it (see HasLoneSurrogate).
  bool bad_text = false;
  // RapidJSON and nlohmann may disagree on this number: nlohmann decides.
  bool ask_reference = false;

  ListPage page;
  std::optional<int64_t> count;
  bool jobs_ok = false;
  // First field error in document order; reported only if the whole body
  // is valid JSON (a syntax error wins, as with a DOM parse).
  std::optional<Status> item_error;

  bool Null() { return Scalar(); }
  bool Bool(bool) { return Scalar(); }
  bool Int(int v) { return Integer(v); }
  bool Uint(unsigned v) { return Integer(v); }
  bool Int64(int64_t v) { return Integer(v); }
  // nlohmann keeps 2^63..2^64-1 as unsigned; get<int64_t>() wraps it.
  bool Uint64(uint64_t v) { return Integer(static_cast<int64_t>(v)); }
  bool Double(double d) {
    // RapidJSON 1.1's default conversion is a few ulp off strtod (what nlohmann
    // uses, rejecting an infinite result); below 1e308 both are finite.
    if (!(std::fabs(d) < 1e308)) {
      ask_reference = true;
      return false;
    }
    return Scalar();
  }

  // Set when the text has an escape \uDC00..\uDFFF (see HasLoneSurrogate).
  bool check_surrogates = false;

  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (check_surrogates && HasLoneSurrogate(s, n)) return BadText();
    if (skip_ != 0) return true;
    if (depth_ == 3) {
      ItemValue(s, n, true);
      return true;
    }
    return Scalar();
  }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (check_surrogates && HasLoneSurrogate(s, n)) return BadText();
    if (skip_ != 0) return true;
    if (depth_ == 1) {
      field_ = Is(s, n, "count") ? Field::kCount : Is(s, n, "jobs") ? Field::kJobs : Field::kOther;
    } else {
      field_ = ItemField(s, n);
    }
    return true;
  }

  bool StartObject() {
    if (skip_ != 0) {
      ++skip_;
    } else if (depth_ == 0) {
      depth_ = 1;
    } else if (depth_ == 2) {
      depth_ = 3;
      StartItem();
    } else {
      Scalar();  // as a value of a field kept here, an object is the wrong type
      skip_ = 1;
    }
    return true;
  }

  bool StartArray() {
    if (skip_ != 0) {
      ++skip_;
    } else if (depth_ == 1 && field_ == Field::kJobs) {
      page.jobs.clear();
      item_error.reset();
      index_ = 0;
      jobs_ok = true;
      depth_ = 2;
    } else {
      Scalar();
      skip_ = 1;
    }
    return true;
  }

  bool EndObject(rapidjson::SizeType) {
    if (skip_ != 0) {
      --skip_;
    } else if (depth_ == 3) {
      EndItem();
      depth_ = 2;
    } else {
      depth_ = 0;  // the answer object: the parser checks nothing follows
    }
    return true;
  }

  bool EndArray(rapidjson::SizeType) {
    if (skip_ != 0) {
      --skip_;
    } else {
      depth_ = 1;  // the jobs array
    }
    return true;
  }

 private:
  enum class Field {
    kOther,
    kCount,
    kJobs,
    kJobName,
    kStatus,
    kRegion,
    kJobDesc,
    kInstanceType,
    kCreatedDt,
    kCompletedDt
  };

  static Field ItemField(const char* s, size_t n) {
    switch (n) {
      case 6:
        return Is(s, n, "status")   ? Field::kStatus
               : Is(s, n, "region") ? Field::kRegion
                                    : Field::kOther;
      case 8:
        return Is(s, n, "job_name")   ? Field::kJobName
               : Is(s, n, "job_desc") ? Field::kJobDesc
                                      : Field::kOther;
      case 10:
        return Is(s, n, "created_dt") ? Field::kCreatedDt : Field::kOther;
      case 12:
        return Is(s, n, "completed_dt") ? Field::kCompletedDt : Field::kOther;
      case 13:
        return Is(s, n, "instance_type") ? Field::kInstanceType : Field::kOther;
      default:
        return Field::kOther;
    }
  }

  bool BadText() {
    bad_text = true;
    return false;
  }

  bool Integer(int64_t v) {
    if (skip_ == 0 && depth_ == 1 && field_ == Field::kCount) {
      count = v;
      return true;
    }
    return Scalar();
  }

  // A value that is not a string (or not an integer for count) where a
  // kept field is read, or any value elsewhere.
  bool Scalar() {
    if (skip_ != 0) return true;
    switch (depth_) {
      case 0:
        root_not_object = true;
        break;
      case 1:
        if (field_ == Field::kCount) {
          count.reset();
        } else if (field_ == Field::kJobs) {
          page.jobs.clear();
          item_error.reset();
          jobs_ok = false;
        }
        break;
      case 2:
        if (!item_error) {
          item_error =
              InternalError("list answer: jobs[" + std::to_string(index_) + "]: not an object");
        }
        ++index_;
        break;
      default:
        ItemValue(nullptr, 0, false);
        break;
    }
    return true;
  }

  void StartItem() {
    has_name_ = false;
    has_status_ = false;
    job_ = RemoteJob();
    created_.clear();
    completed_.clear();
  }

  // The string a kept item field is read into, or null.
  std::string* ItemSlot() {
    switch (field_) {
      case Field::kJobName:
        return &job_.name;
      case Field::kStatus:
        return &status_;
      case Field::kRegion:
        return &job_.region;
      case Field::kJobDesc:
        return &job_.job_desc;
      case Field::kInstanceType:
        return &job_.instance_type;
      case Field::kCreatedDt:
        return &created_;
      case Field::kCompletedDt:
        return &completed_;
      default:
        return nullptr;
    }
  }

  // A later duplicate key replaces an earlier one, as in nlohmann's object.
  // A value that is not a string makes a required field missing and an
  // optional one empty ("not set" for the dates).
  void ItemValue(const char* s, size_t n, bool is_string) {
    std::string* slot = ItemSlot();
    if (slot == nullptr) return;
    if (is_string) {
      slot->assign(s, n);
    } else {
      slot->clear();
    }
    if (field_ == Field::kJobName) has_name_ = is_string;
    if (field_ == Field::kStatus) has_status_ = is_string;
  }

  void EndItem() {
    const size_t i = index_++;
    if (item_error) return;  // only the first error matters
    if (!has_name_ || !has_status_) {
      item_error = InternalError("list answer: jobs[" + std::to_string(i) + "]: field " +
                                 (has_name_ ? "status" : "job_name") + " missing or not a string");
      return;
    }
    job_.status = ParseRemoteStatus(status_);
    // An empty or unset date is "not set" either way.
    job_.created = DateTime(created_);
    job_.completed = DateTime(completed_);
    page.jobs.push_back(std::move(job_));
  }

  int depth_ = 0;     // containers open on the kept path (see the class comment)
  size_t skip_ = 0;   // > 0: inside a skipped container, this deep
  size_t index_ = 0;  // the next item's index in the jobs array
  Field field_ = Field::kOther;
  RemoteJob job_;
  bool has_name_ = false;
  bool has_status_ = false;
  std::string status_, created_, completed_;
};

}  // namespace

Result<ListPage> ParseListAnswer(std::string_view body) {
  // nlohmann skips a UTF-8 byte order mark at the very start.
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);

  const JsonTextBytes bytes = ClassifyJsonBytes(body);

  // RapidJSON reads a NUL-terminated, writable copy in place: strings are
  // unescaped where they lie and handed over without another copy. The
  // SSE2 scans read whole aligned 16-byte blocks, so the copy has 16 more.
  // A NUL byte in the body ends the text here, as it does for nlohmann's
  // lexer (inside a string both reject it as a control character).
  const size_t size = body.size();
  auto text = std::make_unique_for_overwrite<char[]>(size + 16);
  std::memcpy(text.get(), body.data(), size);
  std::memset(text.get() + size, 0, 16);
  rapidjson::InsituStringStream in(text.get());

  ListHandler h;
  h.check_surrogates = MayHaveLowSurrogateEscape(body);
  rapidjson::Reader reader;
  // Iterative: nesting depth is bounded by memory, not the stack (nlohmann
  // has no depth limit either).
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag;
  rapidjson::ParseResult ok;
  if (!bytes.non_ascii && !bytes.missed_control) {
    ok = reader.Parse<kFlags>(in, h);
  } else {
    // Validation turns the SIMD string scan off, so only text that needs it
    // (UTF-8 to check, or the control bytes the scan misses) pays for it.
    ok = reader.Parse<kFlags | rapidjson::kParseValidateEncodingFlag>(in, h);
  }
  if (h.ask_reference || (!ok && ok.Code() == rapidjson::kParseErrorNumberTooBig)) {
    // RapidJSON 1.1 rejects a mantissa of more than ~308 digits even when
    // an exponent brings it back in range; strtod (nlohmann) takes it.
    return ParseListJobsResponse(body);
  }
  if (!ok || h.bad_text) return InternalError("list answer: answer is not JSON");
  if (h.root_not_object) return InternalError("list answer: answer is not a JSON object");
  if (!h.count) return InternalError("list answer: field count missing or not an integer");
  h.page.count = *h.count;
  if (!h.jobs_ok) return InternalError("list answer: field jobs missing or not an array");
  if (h.item_error) return *h.item_error;
  return std::move(h.page);
}

}  // namespace mlspace::gateway::http
